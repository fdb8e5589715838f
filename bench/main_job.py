"""The README's main job, as a user runs it: ``qecpipe run --distance 13``, timed end to end.

    python -m bench main-job            # ~1 min on 2 CPU cores
    python -m bench main-job --quick    # d = 5, 2,000 shots (smoke test)

Runs the installed ``qecpipe`` in a subprocess with ``--json`` added (the same run: decoders
and stopping rule are the defaults) and ``--seed 1``: ``run`` draws a fresh seed by default,
and the README's quoted counts must be reproducible. Writes bench/results/main_job.{json,md}:
errors per decoder, the paired comparisons, and the wall time of the whole command on this
machine (named in the metadata: a CPU time, not a GPU one), with the CPU seconds the command
used and the machine's load average before and after it: on a shared machine the wall time
grows with the load, the CPU seconds much less.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench._meta import RESULTS, run_metadata, write_suite_files, write_text

COMMAND = ("run", "--distance", "13", "--seed", "1")
QUICK_COMMAND = ("run", "--distance", "5", "--max-shots", "2000", "--seed", "1")


def markdown(data: dict) -> str:
    run, hw = data["run"], data["meta"]["hardware"]
    model = run.get("model") or {}
    lines = [f"`qecpipe {' '.join(data['command'])}` (defaults otherwise: p = "
             f"{run['task']['p']}, {run['task']['basis']} basis, rounds = "
             f"{run['task']['rounds']}, true weights, model {model.get('name')} "
             f"sha256 {model.get('sha256')}): "
             f"{run['shots']:,} shots, {data['wall_seconds']:.0f} s wall time for the whole "
             f"command on {hw['cpu_cores']} cores of {hw['cpu_model']} (no GPU)"
             + _load_text(data) + ".", "",
             "| decoder | errors | LER per shot [95%] |", "|---|---|---|"]
    for name, d in run["decoders"].items():
        lines.append(f"| {name} | {d['errors']} | {d['ler']:.2e} [{d['ler_low']:.1e}, "
                     f"{d['ler_high']:.1e}] |")
    lines += ["", "| decoder A | decoder B | only A wrong | only B wrong | McNemar p |",
              "|---|---|---|---|---|"]
    for p in run["paired"]:
        lines.append(f"| {p['a']} | {p['b']} | {p['only_a_wrong']} | {p['only_b_wrong']} | "
                     f"{p['mcnemar_p']:.2g} |")
    return "\n".join(lines) + "\n"


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _load_text(data: dict) -> str:
    """', using N CPU-seconds, at load average A before / B after' (older files: none)."""
    if "load_average_1min" not in data:
        return ""
    load = data["load_average_1min"]
    return (f", using {data['cpu_seconds']:.0f} CPU-seconds, at a 1-minute load average of "
            f"{load['before']:.1f} before and {load['after']:.1f} after "
            f"({data['meta']['hardware']['cpu_cores']} = every core busy)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench main-job",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run (smoke test)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    command = QUICK_COMMAND if args.quick else COMMAND
    qecpipe = Path(sys.executable).parent / "qecpipe"
    load_before, cpu_before = os.getloadavg()[0], _children_cpu_seconds()
    start = time.perf_counter()
    proc = subprocess.run([str(qecpipe), *command, "--json"], capture_output=True, text=True,
                          check=True)
    data = {"meta": run_metadata(), "command": list(command),
            "wall_seconds": time.perf_counter() - start,
            "cpu_seconds": _children_cpu_seconds() - cpu_before,
            "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
            "run": json.loads(proc.stdout)}
    write_suite_files(args.out, "main_job_quick" if args.quick else "main_job", data,
                      markdown=lambda path: write_text(path, markdown(data)))
    print(markdown(data))
    return 0
