"""Run benchmarks: ``python -m bench`` (all) or ``python -m bench jurisdiction …``.

``python -m bench`` runs every benchmark but those in ``NAMED_ONLY``. Each module in
``BENCHMARKS`` has a ``main()`` that measures and prints its own table. Options
after a benchmark's name go to it: ``python -m bench load --duration 10`` (see ``--help``).
"""

import importlib
import sys

BENCHMARKS = ("jurisdiction", "layers", "analytics", "faults", "open311", "rollups",
              "footprints", "routing", "load", "page", "notify", "triage", "partitions",
              "scale")
NAMED_ONLY = ("scale",)  # hours at its default sizes: run only when asked for by name


def main(args: list[str]) -> None:
    runs: list[tuple[str, list[str]]] = []
    for arg in args:
        if arg in BENCHMARKS:
            runs.append((arg, []))
        elif runs and (arg.startswith("-") or runs[-1][1]):  # an option, or an option's value
            runs[-1][1].append(arg)
        else:
            sys.exit(f"unknown benchmark {arg!r}; choose from {list(BENCHMARKS)}")
    for name, options in runs or [(name, []) for name in BENCHMARKS if name not in NAMED_ONLY]:
        benchmark = importlib.import_module(f"bench.{name}")
        benchmark.main(options) if options else benchmark.main()


if __name__ == "__main__":
    main(sys.argv[1:])
