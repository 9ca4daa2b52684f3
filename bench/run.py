"""Regenerate every table in docs/PERFORMANCE.md: ``python bench/run.py`` (``--help``).

Run it with the project's interpreter from a checkout with the dev and bench extras installed::

    .venv/bin/pip install -e '.[dev,bench]' && .venv/bin/python bench/run.py

``--quick`` is a smoke run of every benchmark in its smallest configuration (results go to
``bench/results/quick``; the document is left alone); ``--soak`` adds the soak test.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    """Make ``bench`` and ``tests`` importable, then hand over to :mod:`bench.suite`."""
    # Run as a script, this folder comes first on sys.path, where its modules could shadow
    # the standard library's; the repository root is what the imports need.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
    sys.path.insert(0, str(HERE.parent))
    from bench.suite import main as suite  # noqa: PLC0415 - importable only after the path is set

    return suite(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
