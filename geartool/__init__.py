"""geartool: a Gearman job server, client, worker, admin tool, monitor, shell and decoder."""

__version__ = "0.1.0"
