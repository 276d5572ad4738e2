"""Kernel micro-benchmarks and training throughput (see bench/README.md)."""
