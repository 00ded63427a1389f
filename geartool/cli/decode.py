"""``geartool decode``: dissect captured (or live) Gearman traffic."""

from __future__ import annotations

import typer

from .common import die


def register(app: typer.Typer) -> None:
    app.command("decode", no_args_is_help=True)(decode)


def decode(
    capture: str | None = typer.Argument(
        None, metavar="[FILE]", help="A pcap or pcapng file, or '-' for standard input."),
    live: str | None = typer.Option(
        None, "--live", "-i", metavar="IFACE",
        help="Capture live on this interface with tcpdump (needs root or CAP_NET_RAW)."),
    port: list[int] = typer.Option(
        [], "--port", "-p", help="Also decode this TCP port as Gearman (4730 always); repeatable."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line, Wireshark's "
                                                       "gearman.* field names."),
    full: bool = typer.Option(False, "--full", help="Show whole arguments and data, uncut."),
    summary: bool = typer.Option(False, "--summary", "-s", help="Counts per packet type and "
                                 "function, job wait/run time percentiles, anomalies."),
    jobs: bool = typer.Option(False, "--jobs", help="Every job from SUBMIT to its end, with its "
                                                    "wait and run times."),
    ptype: list[str] = typer.Option(
        [], "--type", "-t", help="Only these packet types: names, numbers, shell patterns "
                                 "(SUBMIT_*), TEXT for admin lines, ANOMALY; repeatable."),
    function: list[str] = typer.Option(
        [], "--function", "-f", help="Only packets of jobs of this function; repeatable."),
    handle: list[str] = typer.Option(
        [], "--handle", help="Only packets about this job handle (or unique id); repeatable."),
    stream: list[int] = typer.Option([], "--stream", help="Only this TCP stream (the #N shown); "
                                                          "repeatable."),
    color: bool | None = typer.Option(None, "--color/--no-color",
                                      help="Colour the text view [default: on a terminal]."),
    count: int | None = typer.Option(None, "--count", "-c", min=1,
                                     help="Stop after this many records."),
    scapy: bool = typer.Option(False, "--scapy", help="Also show scapy's field-by-field "
                                                      "dissection of each packet (slower)."),
) -> None:
    """Decode Gearman traffic from a capture file, standard input or a live interface.

    Every TCP stream on port 4730 (and any --port) is reassembled in both directions: reordered,
    repeated and overlapping segments are handled; missing bytes are reported as anomalies and
    decoding resumes at the next valid packet. Exit status: 0 decoded; 1 no Gearman traffic;
    2 usage; 5 not a capture or unreadable; 6 capture truncated or corrupt (what came before
    was decoded); 7 live capture impossible.
    """
    from geartool.decode.app import EXIT_USAGE, DecodeOptions, run

    if (capture is None) == (live is None):
        die("give a capture FILE (or '-') or --live IFACE, not both", EXIT_USAGE)
    for p in port:
        if not 0 < p < 65536:
            die(f"--port {p} is not a TCP port", EXIT_USAGE)
    opts = DecodeOptions(source=capture, live=live, ports=port, json=as_json, full=full,
                         summary=summary, jobs=jobs, types=ptype, functions=function,
                         handles=handle, streams=stream, color=color, count=count,
                         scapy=scapy)
    code = run(opts)
    if code:
        raise typer.Exit(code)
