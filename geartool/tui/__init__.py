"""``geartool top``; the only place textual is imported."""
