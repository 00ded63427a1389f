"""Decode captured Gearman traffic; the only place scapy is imported (by ``layers`` alone).

This package imports nothing itself, so ``geartool.decode.render`` stays cheap for the shell and
the proxy. The reusable pieces:

- ``render``: ``format_frame``, ``format_admin_line``, ``frame_fields`` (Wireshark ``gearman.*``
  names), ``field_names``/``FIELD_NAMES``, ``preview`` — pure, no scapy.
- ``stream.GearmanStream``: bytes of one direction in, ``Frame`` / ``AdminLine`` / ``Anomaly``
  out, resynchronising after gaps and garbage (``feed``, ``gap``, ``close``).
- ``reassembly.HalfStream``: TCP reassembly of one direction (``syn``, ``segment``, ``flush``);
  gaps come out as ints, never as zero bytes.
- ``pcap``: ``open_capture(path or "-")`` -> ``CaptureReader`` yielding
  ``(time, linktype, bytes, wire length)``; ``CaptureError``.
- ``dissect``: ``Dissector(ports)`` and ``decode(reader, dissector)`` -> ``Record``\\ s
  ``(frame, time, stream, to_server, item)``; ``Dissector.streams`` lists ``StreamInfo``.
- ``timeline``: ``Timeline`` (feed Records; ``jobs``, ``by_type``, ``anomalies``), ``Job``,
  ``by_function``, ``percentile``.
- ``output.Renderer``: ``text(record)`` and ``json(record)`` lines.
- ``app``: ``DecodeOptions`` and ``run(options)`` — the whole ``geartool decode`` command.
- ``writer``: a small pcap writer and TCP/IPv4 frame builder.
- ``layers`` (imports scapy): ``Gearman``, ``GearmanText``, one layer per packet type
  (``LAYERS``), ``bind_port``, ``gearman_layers``.
"""
