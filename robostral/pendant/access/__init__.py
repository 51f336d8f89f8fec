"""Who may do what, on one SQLite file: the store, roles and permissions, the audit log, users and sessions."""
