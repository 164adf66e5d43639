"""Benchmarks and load harnesses; run by name, never part of the default test run."""
