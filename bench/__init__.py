"""Kernel micro-benchmarks, training throughput and film decoding speed (see bench/README.md)."""
