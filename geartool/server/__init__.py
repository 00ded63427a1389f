"""The Gearman job server: a pure scheduler core driven by an asyncio transport."""
