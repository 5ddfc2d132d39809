"""Benchmarks that print tables: load, image steps, bake times."""
