"""Server configuration, shared by the CLI, the app and the tests."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from geartool.protocol import DEFAULT_PORT
from geartool.protocol.codec import DEFAULT_MAX_PAYLOAD

# gearmand refuses uniques longer than 64 bytes; geartool stores up to 64 whole (no truncation).
MAX_UNIQUE = 64
MAX_CLIENT_ID = 127


def default_handle_prefix() -> str:
    return "H:" + socket.gethostname().split(".")[0]


@dataclass
class ServerConfig:
    """Everything ``geartool server`` can be told. Defaults are safe for a single machine."""

    listen: list[str] = field(default_factory=lambda: ["127.0.0.1"])
    port: int = DEFAULT_PORT
    queue: str = "sqlite"  # "sqlite" (default file), "sqlite:///PATH", or "memory"
    job_retries: int = 0  # gearmand 1.1.x meaning: 0 = unlimited, N = drop on the Nth failure
    worker_wakeup: int = 0  # NOOPs per new job; 0 = every sleeping worker
    job_handle_prefix: str = field(default_factory=default_handle_prefix)
    keepalive: bool = False
    keepalive_idle: int = 60
    keepalive_interval: int = 10
    keepalive_count: int = 5
    max_packet_size: int = DEFAULT_MAX_PAYLOAD
    exceptions: bool = False
    log_level: str = "WARNING"
    graceful_timeout: float = 30.0
    allow_remote_shutdown: bool = False
    backlog: int = 1024
    version: str = ""

    @staticmethod
    def port_from_env(explicit: int | None) -> int:
        """--port wins; else GEARMAND_PORT, as gearmand does; else 4730."""
        if explicit is not None:
            return explicit
        env = os.environ.get("GEARMAND_PORT", "")
        return int(env) if env.isdigit() else DEFAULT_PORT
