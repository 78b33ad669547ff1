"""Run every benchmark: ``python -m benchmarks [--quick] [name ...]``.

Each ``benchmarks/bench_<name>.py`` exposes ``run(quick: bool) -> list[Figure]``.
``--quick`` shrinks the data sets (for a smoke run); the figures in closing
notes come from the full run.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import benchmarks
from benchmarks._report import Figure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="small data sets, smoke run")
    args = parser.parse_args(argv)
    found = sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules(benchmarks.__path__)
        if m.name.startswith("bench_")
    )
    names = args.names or found
    unknown = sorted(set(names) - set(found))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(found)}")
    missed = 0
    for name in names:
        print(f"== {name}", flush=True)
        module = importlib.import_module(f"benchmarks.bench_{name}")
        figures: list[Figure] = module.run(quick=args.quick)
        for fig in figures:
            print("  " + fig.line(), flush=True)
            missed += fig.met is False
    print(f"{missed} target(s) missed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
