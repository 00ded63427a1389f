"""``geartool server``: the job server."""

from __future__ import annotations

import sys

import typer

from .common import die

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def register(app: typer.Typer) -> None:
    app.command("server", no_args_is_help=False)(server)


def server(
    port: int | None = typer.Option(None, "--port", "-p",
                                    help="TCP port [default: $GEARMAND_PORT or 4730]."),
    listen: list[str] = typer.Option(
        ["127.0.0.1"], "--listen", "-L",
        help="Address to listen on; repeatable. Defaults to 127.0.0.1 only (gearmand listens on"
             " every address): pass 0.0.0.0 and/or :: to serve other machines."),
    queue: str = typer.Option(
        "sqlite", "--queue", "-q",
        help="Durable queue for background jobs: 'sqlite' (a file per port in your data"
             " directory), 'sqlite:///PATH', or 'memory' (none)."),
    job_retries: int = typer.Option(
        0, "--job-retries", "-j", min=0,
        help="Drop a job after this many failed attempts (worker lost or timed out);"
             " 0 = retry forever (gearmand 1.1 semantics)."),
    worker_wakeup: int = typer.Option(
        0, "--worker-wakeup", "-w", min=0, max=255,
        help="Sleeping workers woken per new job; 0 = all."),
    job_handle_prefix: str | None = typer.Option(
        None, "--job-handle-prefix", help="Handle prefix [default: H:<hostname>]."),
    keepalive: bool = typer.Option(False, "--keepalive",
                                   help="TCP keepalive on client and worker sockets."),
    max_packet_size: int = typer.Option(
        64 * 1024 * 1024, "--max-packet-size", min=1024,
        help="Largest packet payload accepted, in bytes."),
    exceptions: bool = typer.Option(False, "--exceptions",
                                    help="Turn the 'exceptions' option on for every connection."),
    graceful_timeout: float = typer.Option(
        30.0, "--graceful-timeout", min=0,
        help="On SIGTERM/SIGINT or 'shutdown graceful': seconds to let running jobs finish."),
    allow_remote_shutdown: bool = typer.Option(
        False, "--allow-remote-shutdown",
        help="Accept the admin 'shutdown' command from non-loopback peers too."),
    log_level: str = typer.Option("WARNING", "--log-level", "-l",
                                  help="DEBUG, INFO, WARNING, ERROR or CRITICAL."),
) -> None:
    """Run the Gearman job server (gearmand-compatible on the wire).

    Background jobs are written to the durable queue before the client is told they exist, and
    are replayed at start-up. SIGTERM or SIGINT drains running jobs, then stops; the queue is
    kept. Exit status: 0 after a clean stop, 1 if the server cannot start.
    """
    import logging
    import select

    if not hasattr(select, "epoll"):  # the server keeps its sockets in one epoll set
        die("the server needs Linux (epoll); the other commands do not", 1)
    from geartool.server.app import StartupError, run
    from geartool.server.config import ServerConfig

    level = log_level.upper()
    if level not in LOG_LEVELS:
        die(f"--log-level must be one of {', '.join(LOG_LEVELS)}", 2)
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, level),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("geartool").setLevel(getattr(logging, level))
    config = ServerConfig(listen=listen, port=ServerConfig.port_from_env(port), queue=queue,
                          job_retries=job_retries, worker_wakeup=worker_wakeup,
                          keepalive=keepalive, max_packet_size=max_packet_size,
                          exceptions=exceptions, log_level=level,
                          graceful_timeout=graceful_timeout,
                          allow_remote_shutdown=allow_remote_shutdown)
    if job_handle_prefix:
        config.job_handle_prefix = job_handle_prefix
    try:
        run(config)
    except StartupError as exc:
        die(str(exc), 1)
    except KeyboardInterrupt:
        pass
