from .frames import Frame
from .spec import Magic, PacketType

def frame(cls: type[Frame], magic: Magic, ptype: PacketType | None, count: int, buf: bytes,
          start: int, end: int, /) -> Frame | None: ...
def pack(magic: bytes, ptype: int, args: tuple[bytes, ...] | list[bytes], /
         ) -> bytes | None: ...
