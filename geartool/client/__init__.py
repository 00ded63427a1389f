"""asyncio Gearman client, worker and admin client (never imports geartool.server)."""
