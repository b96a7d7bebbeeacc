"""Atelier's benchmarks: `make bench` (or `python -m bench.run [--quick] [--only NAME,...]`)."""
