"""Typed errors. Each protocol error carries the wire ERROR code a server would send for it."""

from __future__ import annotations


class ErrorCode:
    """ERROR packet codes exactly as gearmand spells them (libgearman names minus ``GEARMAN_``)."""

    INVALID_MAGIC = "INVALID_MAGIC"
    INVALID_COMMAND = "INVALID_COMMAND"
    ARGUMENT_TOO_LARGE = "ARGUMENT_TOO_LARGE"
    QUEUE_ERROR = "QUEUE_ERROR"
    UNKNOWN_OPTION = "UNKNOWN_OPTION"
    JOB_NOT_FOUND = "JOB_NOT_FOUND"
    # Used by geartool for framing violations gearmand never reports (it mis-frames instead).
    INVALID_PACKET = "INVALID_PACKET"


class GearmanError(Exception):
    """Base of every error geartool raises about Gearman."""


class ProtocolError(GearmanError):
    """The byte stream broke the protocol.

    ``code`` is the wire ERROR code to report, or None when gearmand would close the connection
    without a word (bad magic, unknown packet type). After a ProtocolError the stream cannot be
    trusted and the connection should be closed.
    """

    def __init__(self, message: str, code: str | None = ErrorCode.INVALID_PACKET) -> None:
        super().__init__(message)
        self.code = code
        self.text = message


class LocalProtocolError(ProtocolError):
    """We were asked to send something the protocol cannot carry."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol does not allow."""


class ServerError(GearmanError):
    """A server answered with an ERROR packet (or an ``ERR`` admin line)."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"{code}: {text}" if text else code)
        self.code = code
        self.text = text
