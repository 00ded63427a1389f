from __future__ import annotations

import sys

from geartool.decode.render import format_admin_line, format_frame, frame_fields, preview
from geartool.protocol import Frame, Magic, PacketType


def test_format_frame() -> None:
    f = Frame(Magic.REQ, PacketType.SUBMIT_JOB, (b"reverse", b"", b"hel\0lo"))
    assert format_frame(f) == "SUBMIT_JOB function='reverse' unique='' data=6B 'hel\\x00lo'"
    long = Frame(Magic.RES, PacketType.WORK_DATA, (b"H:1", b"x" * 100))
    assert format_frame(long, limit=4).endswith("data=100B 'xxxx'...")
    assert "x" * 100 in format_frame(long, full=True)
    assert "\x1b[" in format_frame(long, color=True)


def test_fields_and_admin() -> None:
    f = Frame(Magic.RES, PacketType.JOB_ASSIGN_UNIQ, (b"H:1", b"f", b"u", b"d"))
    fields = frame_fields(f)
    assert fields["gearman.pkt_type"] == 31 and fields["gearman.job.handle"] == "H:1"
    assert fields["gearman.uniq_id"] == "u" and fields["gearman.magic"] == "RES"
    assert format_admin_line(b"status") == "TEXT 'status'"
    assert preview(b"\xff'") == "'\\xff\\''"


def test_render_does_not_import_scapy() -> None:
    import subprocess
    out = subprocess.run([sys.executable, "-c",
                          "import geartool.decode.render, sys; print('scapy' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_fields_use_wireshark_names_per_type() -> None:
    echo = frame_fields(Frame(Magic.REQ, PacketType.ECHO_REQ, (b"hi",)))
    assert echo["gearman.echo_text"] == "hi" and echo["gearman.data"] == "hi"
    done = frame_fields(Frame(Magic.REQ, PacketType.WORK_COMPLETE, (b"H:1", b"r")))
    assert done["gearman.func.result"] == "r" and done["gearman.job.handle"] == "H:1"
    err = frame_fields(Frame(Magic.RES, PacketType.ERROR, (b"UNKNOWN_OPTION", b"no")))
    assert (err["gearman.err.code"], err["gearman.err.text"]) == ("UNKNOWN_OPTION", "no")
    st = frame_fields(Frame(Magic.RES, PacketType.STATUS_RES, (b"H", b"1", b"0", b"1", b"2")))
    assert (st["gearman.job.known"], st["gearman.numerator"]) == ("1", "1")
    assert "gearman.data" not in st
