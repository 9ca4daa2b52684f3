"""Benchmarks that produce the numbers in docs/PERFORMANCE.md.

Run them all with ``python bench/run.py`` (``--quick`` for a smoke run), or one at a time with
``python -m bench.<name>`` from the repository root. Each writes ``bench/results/<name>.json`` and
``bench/results/<name>.md``; ``bench/run.py`` also puts the tables into docs/PERFORMANCE.md.
"""
