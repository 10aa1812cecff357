"""Benchmarks for cfwf-emulator: ``python -m benchmarks`` prints the performance table."""
