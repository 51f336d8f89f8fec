"""Errors the pendant core raises for a request it refuses; each carries the HTTP status the web layer sends.

The message is written for the operator who sees it: it names the field or the thing at fault and never
says more than the requester may know (a failed login does not tell whether the user exists).
"""

from __future__ import annotations


class PendantError(Exception):
    """A refused request; nothing was changed."""

    status = 500


class BadRequest(PendantError):
    """Malformed or invalid input: a bad field, a bad document."""

    status = 400


class TooLarge(BadRequest):
    """Input over its size limit (a BadRequest, so parsers raise only the BadRequest family)."""

    status = 413


class Unauthorized(PendantError):
    """Not logged in, the session expired, or the credentials are wrong."""

    status = 401


class Forbidden(PendantError):
    """Logged in, but the role or the CSRF token does not allow this request."""

    status = 403


class NotFound(PendantError):
    status = 404


class Conflict(PendantError):
    """The request clashes with the stored state (a name taken, a stale version, the last admin)."""

    status = 409


class Unsafe(PendantError):
    """A motion the safety checks refuse (the reason is the supervisor's): a waypoint outside the workspace, say."""

    status = 422


class Unavailable(PendantError):
    """The cell cannot answer now: a ROS 2 node does not respond, no fresh joint state."""

    status = 503


class RateLimited(PendantError):
    """Too many failed logins; ``retry_after`` (whole seconds) goes into the Retry-After header."""

    status = 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class InvalidState(PendantError):
    """What the server would send holds a value JSON cannot carry (NaN, infinity): a check upstream missed it."""

    status = 500
