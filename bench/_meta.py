"""Provenance for benchmark result files: what ran, from which commit, on which machine, when.

API (used by every bench script):

    run_metadata(*, command=None) -> dict
        {"command": "python -m bench baseline --quick",   # str; default: this process's argv
         "git_commit": "7228b76...",                       # None when git is unavailable
         "git_dirty": True,                                 # uncommitted changes in the tree
         "hardware": {"cpu_model": "AMD EPYC", "cpu_cores": 2, "machine": "x86_64",
                      "gpu": None},                         # GPU name when torch sees CUDA
         "python": "3.11.9",
         "packages": {"qecpipe": "0.1.0", "stim": "1.16.0", ...},  # None if not installed
         "models": {"small": "8c1f0e...", ...},             # shipped models: 12-digit SHA-256
         "date": "2026-11-22T08:50:00+00:00"}               # UTC, ISO 8601

    write_sidecar(result_path, meta) -> Path
        Writes ``meta`` as JSON next to a file that cannot carry it (CSV, PNG):
        bench/results/ler.csv -> bench/results/ler.csv.meta.json.

Convention: a JSON result file embeds the dict under the key ``"meta"``; a CSV or PNG gets a
sidecar. Sinter-format CSVs stay plain sinter CSV so ``sinter plot`` reads them unchanged.

Examples:
    >>> meta = run_metadata(command="python -m bench baseline --quick")
    >>> meta["command"], sorted(meta["hardware"])
    ('python -m bench baseline --quick', ['cpu_cores', 'cpu_model', 'gpu', 'machine'])
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "bench" / "results"
PACKAGES = ("qecpipe", "stim", "sinter", "pymatching", "numpy", "scipy", "torch", "ray",
            "matplotlib")


def run_metadata(*, command: str | Sequence[str] | None = None) -> dict:
    """Return the provenance dict described in the module docstring.

    Args:
        command: the command that produced the results, as a string or an argv list.
            Default: this process's command line, with ``python -m pkg.mod`` restored when the
            script was started with ``-m``.
    """
    if command is None:
        command = _default_command()
    elif not isinstance(command, str):
        command = shlex.join(list(command))
    commit, dirty = _git_state()
    return {
        "command": command,
        "git_commit": commit,
        "git_dirty": dirty,
        "hardware": {"cpu_model": _cpu_model(), "cpu_cores": os.cpu_count(),
                     "machine": platform.machine(), "gpu": _gpu_name()},
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in PACKAGES},
        "models": shipped_model_hashes(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def shipped_model_hashes() -> dict[str, str]:
    """``{name: 12-digit SHA-256}`` of the pre-decoder weights shipped in this tree, so a
    result file names the exact models it was made with (a retrained ``small`` is another)."""
    from qec import file_sha256

    folder = REPO_ROOT / "predecoder" / "weights"
    return {p.stem: file_sha256(p) for p in sorted(folder.glob("*.safetensors"))}


def write_sidecar(result_path: str | Path, meta: dict) -> Path:
    """Write ``meta`` to ``<result_path>.meta.json`` and return that path."""
    from qec import atomic_write

    path = Path(str(result_path) + ".meta.json")
    atomic_write(path, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return path


def _default_command() -> str:
    argv = list(sys.argv)
    script = Path(argv[0]).resolve() if argv and argv[0] else None
    if script is not None and script.suffix == ".py" and script.is_relative_to(REPO_ROOT):
        parts = list(script.relative_to(REPO_ROOT).with_suffix("").parts)
        if parts[-1] == "__main__":
            parts = parts[:-1]
        return shlex.join(["python", "-m", ".".join(parts), *argv[1:]])
    return shlex.join(argv)


def _git_state() -> tuple[str | None, bool | None]:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, check=True,
                                capture_output=True, text=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                cwd=REPO_ROOT, check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        # No git binary or not a checkout (e.g. an installed copy): provenance says so.
        return None, None
    return commit, bool(status.strip())


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: fall back to what the platform module knows
        return platform.processor() or platform.machine()
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _gpu_name() -> str | None:
    if "torch" not in sys.modules:  # never import torch just to ask; scripts that use it have it
        return None
    torch = sys.modules["torch"]
    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_name(0)


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def save_figure(fig, path: Path) -> None:
    """Lay out, save at the suite's resolution (120 dpi) and close a matplotlib figure."""
    import matplotlib.pyplot as plt

    from qec import atomic_path

    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format=Path(path).suffix.lstrip("."))
    plt.close(fig)


def mean_sd(values: Sequence[float]) -> str:
    """'1,234 ± 56': mean and sample standard deviation over repeated runs (0 for one run)."""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):,.0f} ± {sd:,.0f}"


def rate(errors: int, shots: int, rounds: int) -> dict:
    """Errors, LER per shot with its 95% Wilson interval, and per round."""
    from qec import per_round, wilson_interval

    lo, hi = wilson_interval(errors, shots)
    return {"errors": errors, "ler": errors / shots, "ler_low": lo, "ler_high": hi,
            "ler_per_round": per_round(errors / shots, rounds)}


def num(x) -> str:
    return "inf" if x is None else f"{x:.3g}"


def finite(x: float) -> float | None:
    return None if math.isinf(x) else x


def write_text(path: Path, text: str) -> None:
    """Every result file is written atomically (``qec.atomic_write``): all or nothing."""
    from qec import atomic_write

    atomic_write(path, text)


def write_suite_files(out: Path, stem: str, data: dict, *, markdown: Callable[[Path], None],
                      plot: Callable[[Path], None] | None = None) -> None:
    """A suite's results: ``STEM.json`` (``data``, which holds its ``meta``), ``STEM.md``
    (``markdown(path)``) and, with ``plot``, ``STEM.png`` with its provenance sidecar."""
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / f"{stem}.json", json.dumps(data, indent=1))
    markdown(out / f"{stem}.md")
    if plot is not None:
        plot(out / f"{stem}.png")
        write_sidecar(out / f"{stem}.png", data["meta"])


def write_json(path: Path, obj: dict) -> None:
    write_text(path, json.dumps(no_inf(obj), indent=2, sort_keys=True) + "\n")
    print(f"wrote {path.relative_to(REPO_ROOT)}")


def no_inf(obj):
    """Strict JSON: an infinite SDR (nothing left after the pre-decoder) becomes null."""
    if isinstance(obj, float) and math.isinf(obj):
        return None
    if isinstance(obj, dict):
        return {k: no_inf(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [no_inf(v) for v in obj]
    return obj
