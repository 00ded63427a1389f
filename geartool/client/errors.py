"""Errors raised by the client and worker library, each named for what went wrong.

Every class derives from :class:`geartool.protocol.GearmanError`; the timeouts also derive from
the built-in :class:`TimeoutError` so ``except TimeoutError`` catches them.
"""

from __future__ import annotations

from geartool.protocol import GearmanError, ServerError

__all__ = [
    "ConnectError", "ConnectTimeout", "ConnectionLost", "SubmitTimeout", "JobTimeout",
    "RequestTimeout", "ServerError", "GearmanError",
]


class ConnectError(GearmanError):
    """No connection could be made (to one server, or to any of them for a submit)."""


class ConnectTimeout(ConnectError, TimeoutError):
    """A TCP connect did not finish within ``connect_timeout``."""


class ConnectionLost(GearmanError):
    """The server's connection closed while a request or a job was waiting on it."""


class SubmitTimeout(GearmanError, TimeoutError):
    """A submit got no JOB_CREATED within ``submit_timeout`` (the job may exist on the server)."""


class JobTimeout(GearmanError, TimeoutError):
    """A job did not end (WORK_COMPLETE / FAIL / EXCEPTION) within the whole-job timeout."""


class RequestTimeout(GearmanError, TimeoutError):
    """A GET_STATUS, ECHO or OPTION request got no reply in time."""
