"""Run benchmarks: ``python -m bench`` (all) or ``python -m bench jurisdiction …``.

Each module in ``BENCHMARKS`` has a ``main()`` that measures and prints its own table.
"""

import importlib
import sys

BENCHMARKS = ("jurisdiction", "layers", "analytics", "triage")


def main(names: list[str]) -> None:
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        sys.exit(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    for name in names or BENCHMARKS:
        importlib.import_module(f"bench.{name}").main()


if __name__ == "__main__":
    main(sys.argv[1:])
