"""geartool: a Gearman job server, client, worker, admin tool, monitor, shell and decoder."""

from geartool import _compiled

__version__ = "0.1.0"

# Before anything imports the server or the codec: use their compiled modules, or the sources.
COMPILED: str = _compiled.install()
