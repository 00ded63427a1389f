"""The sans-IO Gearman protocol core: standard library only, no sockets, clocks or asyncio."""

from .codec import NEED_DATA, AdminLine, Decoder, Event
from .errors import (
                     ErrorCode,
                     GearmanError,
                     LocalProtocolError,
                     ProtocolError,
                     RemoteProtocolError,
                     ServerError,
)
from .frames import Frame, encode, pack_bytes, req, res, split_args
from .spec import (
                     DEFAULT_PORT,
                     HEADER_SIZE,
                     SPECS,
                     Magic,
                     PacketSpec,
                     PacketType,
                     Priority,
                     spec_for,
                     submit_type,
)

__all__ = [
    "NEED_DATA", "AdminLine", "Decoder", "Event", "ErrorCode", "GearmanError",
    "LocalProtocolError", "ProtocolError", "RemoteProtocolError", "ServerError", "Frame",
    "encode", "pack_bytes", "req", "res", "split_args", "DEFAULT_PORT", "HEADER_SIZE", "SPECS",
    "Magic", "PacketSpec", "PacketType", "Priority", "spec_for", "submit_type",
]
