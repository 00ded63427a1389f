"""Decode captured Gearman traffic; the only place scapy is imported."""
