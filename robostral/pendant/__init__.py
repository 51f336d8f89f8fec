"""The teach pendant's core: users, sessions, roles, programs and the audit log on one SQLite file.

Plain Python, no web framework: the HTTP server and the ROS 2 bridge call these objects
directly and map ``errors.PendantError`` to its ``status``. Start with ``service.Pendant.open``.
"""
