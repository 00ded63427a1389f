"""``geartool shell`` and ``geartool proxy``; the only place prompt_toolkit is imported."""
