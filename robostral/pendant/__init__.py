"""The teach pendant: users and roles, programs, jogging and running them, and its web app.

Layered, each package importing only those above it in this list:

- ``errors``, ``json_input``: the refusals (``PendantError``, each with its HTTP ``status``) and input checks;
- ``tls``: how the server may listen (HTTPS with a checked certificate, plain HTTP on loopback only), certificates;
- ``access``: the SQLite store, roles, the audit log, users and sessions (who may do what);
- ``programs``: programs as values with their JSON document format, and the program library;
- ``motion``: kinematics, jogs, timed paths, the planner, streaming motions, the program runner;
- ``service.Pendant`` (the database's parts on one clock), ``policies`` (the bundles on offer) and
  ``demonstrations`` (demonstrations recorded at the cell, kept in a dataset);
- ``web``: the Starlette app, one routes module per screen, the live websocket, the page.

Plain Python, no ROS: the cell is a protocol (``web.cell.PendantCell``) that the ROS 2 node
(``ros.pendant_bridge.PendantBridge``) implements and passes in. Start with ``service.Pendant.open``.
"""
