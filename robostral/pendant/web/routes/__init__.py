"""The JSON API under /api, one module per screen: each ``routes(context)`` lists its endpoints."""
