from typing import Any

from .frames import Frame
from .spec import Magic, PacketType

def frame(cls: type[Frame], magic: Magic, ptype: PacketType | None, count: int, buf: bytes,
          start: int, end: int, /) -> Frame | None: ...
def parse(cls: type[Frame], req: Magic, res: Magic, types: tuple[PacketType | None, ...],
          counts: tuple[int, ...], buf: bytes, pos: int, max_payload: int, out: list[Any], /
          ) -> tuple[int, int]: ...
def pack(magic: bytes, ptype: int, args: tuple[bytes, ...] | list[bytes], /
         ) -> bytes | None: ...
