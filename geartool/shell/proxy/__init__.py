"""``geartool proxy``: a transparent, decoding Gearman relay with optional pcap output."""

from .pcap import PcapWriter, TcpFlow
from .relay import Proxy, ProxyConfig, run

__all__ = ["PcapWriter", "TcpFlow", "Proxy", "ProxyConfig", "run"]
