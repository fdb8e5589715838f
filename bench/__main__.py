"""The benchmark suite's one entry point: regenerate bench/results/ for the README.

    python -m bench all [--quick]           # every suite, in order
    python -m bench main-job [--quick]      # qecpipe run --distance 13, timed (main_job.py)
    python -m bench baseline [--quick]      # PyMatching baseline (bench/baseline.py)
    python -m bench predecoder [--quick]    # pre-decoder accuracy ladder (bench/predecoder.py)
    python -m bench training [--quick]      # learning curves, model choice (predecoder_training)
    python -m bench noise [--quick]         # noise learning (bench/noise_learning.py)
    python -m bench streaming [--quick]     # Ray streaming throughput (bench/streaming.py)
    python -m bench overhead [--quick]      # Ray overhead per job (bench/stream_overhead.py)
    python -m bench service [--quick]       # the decoding service under load (bench/service.py)
    python -m bench soft-correlated [--quick]  # a second pass for soft mode (soft_correlated)
    python -m bench hardware DATA_DIR | --quick  # Google's Sycamore data (bench/hardware.py)
    python -m bench device-model --data DIR  # device-trained models on Sycamore data
    python -m bench layered [--quick]       # the layered decoder's ladder (bench/layered.py)
    python -m bench figures                 # summary figures from the JSON (bench/figures.py)
    python -m bench readme                  # README tables from bench/results (bench/readme.py)

Arguments after the suite name go to the suite's ``main(argv) -> int`` unchanged; with ``all``
each suite gets them, so use only flags every suite knows (``--quick``). Run from the
repository root. ``all`` runs every suite even when one fails or is missing and exits 1 if any
did; a single missing suite exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Callable, Sequence

SUITES = {
    "main-job": "bench.main_job",  # qecpipe run --distance 13, as the README's set-up runs it
    "baseline": "bench.baseline",
    "predecoder": "bench.predecoder",
    "training": "bench.predecoder_training",  # learning curves and the model comparison
    "noise": "bench.noise_learning",
    "streaming": "bench.streaming",
    "overhead": "bench.stream_overhead",  # Ray transport overhead per job, by way of calling
    "service": "bench.service",  # qecpipe loadtest against qecpipe serve
    "soft-correlated": "bench.soft_correlated",  # a second pass for soft mode (negative)
    "hardware": "bench.hardware",  # Google's Sycamore experiments (DATA_DIR, or --quick)
    "device-model": "bench.device_model",  # device-trained pre-decoders on real held-out shots
    "layered": "bench.layered",  # consensus decoders: referees on the contested shots
    "figures": "bench.figures",  # draws summary figures from the suites' JSON
    "readme": "bench.readme",  # last: copies the regenerated tables into README.md
}
EXIT_MISSING = 2


class SuiteMissing(Exception):
    """A suite's module, or its ``main``, does not exist (yet)."""


def load_suite(name: str) -> Callable[[list[str]], int]:
    """The ``main(argv) -> int`` of suite ``name`` (a key of :data:`SUITES`)."""
    module_name = SUITES[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:  # the suite exists but one of its imports is missing
            raise
        path = module_name.replace(".", "/") + ".py"
        raise SuiteMissing(f"suite {name!r} is not available: {path} does not exist") from exc
    entry = getattr(module, "main", None)
    if not callable(entry):
        raise SuiteMissing(f"suite {name!r}: {module_name} has no main(argv) -> int")
    return entry


def run_suite(name: str, argv: list[str]) -> int:
    """Run one suite with ``argv``; print one status line on stderr; return its exit code."""
    entry = load_suite(name)
    start = time.perf_counter()
    code = int(entry(list(argv)) or 0)
    status = "ok" if code == 0 else f"FAILED (exit {code})"
    print(f"bench: {name} {status} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("suite", choices=["all", *SUITES],
                        help="which results to regenerate")
    parser.add_argument("suite_args", nargs=argparse.REMAINDER,
                        help="passed to the suite's main (e.g. --quick; --help for its flags)")
    args = parser.parse_args(argv)
    rest = args.suite_args
    if args.suite != "all":
        try:
            return run_suite(args.suite, rest)
        except SuiteMissing as exc:
            print(f"bench: error: {exc}", file=sys.stderr)
            return EXIT_MISSING
    failed = []
    for name in SUITES:
        try:
            code = run_suite(name, rest)
        except SuiteMissing as exc:
            print(f"bench: skipped: {exc}", file=sys.stderr)
            code = EXIT_MISSING
        if code != 0:
            failed.append(name)
    if failed:
        print(f"bench: not regenerated: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
