"""The pendant's web server: the app, its routes per screen, the live websocket, HTTP plumbing and the page."""
