"""Labelled Indonesian name pairs for measuring the person-name scorer.

`build` generates `pairs.csv` (seeded, deterministic); `evaluate` scores it.
"""
