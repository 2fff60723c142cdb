"""Benchmarks: ratios against a baseline measured in the same run, printed as tables.

Run them with ``make bench`` (all) or ``python -m bench NAME…``. They use their own database,
``<DATABASE_URL's name>_bench``, seeded once and reused while its contents still match.
"""
