"""Policies, one folder each: configuration apart from modeling (LeRobot's layout); ``factory`` builds them by name."""
