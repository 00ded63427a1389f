"""Benchmark harness: build/run the load generator, manage servers, report."""
