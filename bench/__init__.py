"""Benchmarks: scripts that print figures and ratios (not tests)."""
