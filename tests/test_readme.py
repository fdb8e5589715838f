"""The README is run as a user would run it: its shell blocks top to bottom in one scratch
folder (with .venv linked in, so `. .venv/bin/activate` works verbatim), its Python blocks as
scripts, its tables equal to the result files, its set-up commands equal to CI's."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
SKIP = re.compile(r"<!-- readme-test: skip \((?P<why>[^)]+)\) -->\s*$")
# Sizes a test can afford on 2 cores; each keeps the command valid and only shrinks its work.
SMALLER = ((r"--max-shots \d[\d_]*", "--max-shots 2000"), (r"--shots \d{5,}", "--shots 2000"),
           (r"--distance 13\b", "--distance 5"), (r"--distance 9\b", "--distance 5"),
           (r"--rounds \d{4,}", "--rounds 40"), (r"--max_shots \d+", "--max_shots 2000"),
           (r"--workers 16\b", "--workers 1"), (r"--max-errors \d+", "--max-errors 20"),
           (r"--blocks \d+", "--blocks 10"), (r"--steps \d+", "--steps 50"),
           (r"(calibrate \S+ --shots )\d+", r"\g<1>300"))
# Shell state a user's terminal keeps from earlier blocks (each block runs in a new bash).
STATE = re.compile(r"^(\. |source |export |cd )")


def _blocks(lang: str) -> list[tuple[str, str | None]]:
    """(code, skip reason or None) of every ``lang`` block, in order."""
    out = []
    for m in re.finditer(rf"```{lang}\n(.*?)```", README, flags=re.DOTALL):
        before = README[:m.start()].rstrip("\n").splitlines()[-1:] or [""]
        skip = SKIP.search(before[0])
        out.append((m.group(1), skip.group("why") if skip else None))
    return out


def _smaller(code: str) -> str:
    for pattern, replacement in SMALLER:
        code = re.sub(pattern, replacement, code)
    # A run that stops at its default error count takes minutes; cap its shots instead.
    return re.sub(r"^(qecpipe run )(?!.*--max-shots)", r"\1--max-shots 2000 ", code,
                  flags=re.MULTILINE)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("readme_user")
    (folder / ".venv").symlink_to(Path(sys.executable).parents[1])
    return folder


SHELL = _blocks("bash")


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(SHELL)))
def test_shell_blocks_run_top_to_bottom(index, scratch):
    code, skip = SHELL[index]
    if skip is not None:
        pytest.skip(skip)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    prelude = [line for earlier, why in SHELL[:index] if why is None
               for line in earlier.splitlines() if STATE.match(line)]
    proc = subprocess.Popen(["bash", "-euo", "pipefail", "-c", "\n".join(
        [*prelude, _smaller(code)])], cwd=scratch, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=600)
    finally:   # a block that failed half-way must not leave a server behind
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    assert proc.returncode == 0, f"{code}\n--- stderr ---\n{err[-3000:]}"
    assert "Traceback" not in err


def test_every_skipped_shell_block_says_why():
    skipped = [why for _, why in SHELL if why is not None]
    assert all(len(why) > 10 for why in skipped)
    assert len(skipped) < len(SHELL) / 2       # most of the README runs in the test


@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_python_examples_run_as_scripts(index, tmp_path):
    """Each Python block, saved as a script and run in a fresh interpreter from an empty
    folder, as a user would: it exits 0 and prints its results (decoder names among them)."""
    script = tmp_path / f"readme_example_{index}.py"
    script.write_text(_blocks("python")[index][0])
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert "pymatching" in proc.stdout


def test_exactly_two_setup_commands_and_ci_runs_the_test_one():
    setup = README.split("## Set up: two commands")[1].split("\n## ")[0]
    commands = [b.strip() for b in re.findall(r"```bash\n(.*?)```", setup, flags=re.DOTALL)]
    assert len(commands) == 2
    assert commands[0].endswith("qecpipe run --distance 13")
    assert "torch==2.13.0" in commands[0] and "torch==2.13.0" in commands[1]
    assert commands[1] in (ROOT / ".ci" / "run").read_text()


def test_readme_points_only_inside_the_repository():
    assert "pip install qecpipe" not in README
    assert "../" not in README
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target


def test_readme_tables_equal_the_result_files():
    from bench.readme import render

    assert render(README, ROOT / "bench" / "results") == README


def test_predecode_example_prints_what_the_pipeline_computes(tmp_path):
    """The README's step-by-step pre-decoder block: its residual has fewer events than the
    shots, its soft weights cover some of the edges, and its errors are exactly those of
    ``predecoder+soft-matching`` and ``pymatching`` on the same shots."""
    import numpy as np

    from pipelines import make_decoder
    from qec import NoiseModel, Task, popcount_rows, sample_detectors

    code = next(c for c, _ in _blocks("python") if "predecode(model.net" in c)
    script = tmp_path / "predecode_example.py"
    script.write_text(code)
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    events, weights, *errors = proc.stdout.splitlines()
    got = re.fullmatch(r"detection events: (\d+) in, (\d+) left in the residual", events)
    assert got and 0 < int(got[2]) < int(got[1])
    got = re.fullmatch(r"soft weights: ([\d.]+) of (\d+) edges per shot; shot 0: (\d+), "
                       r"smallest ([\d.]+)", weights)
    assert got and 0 < float(got[1]) < int(got[2]) and float(got[4]) >= 0
    task = Task(distance=5, noise=NoiseModel.uniform(0.006))
    chunk = next(sample_detectors(task.circuit(), shots=1000, seed=3))
    assert int(popcount_rows(chunk.dets).sum()) == int(re.findall(r"\d+", events)[0])
    for line, name in zip(errors, ("predecoder+soft-matching", "pymatching"), strict=True):
        wrong = np.any(make_decoder(name, task).decode_batch(chunk.dets) != chunk.obs, axis=1)
        assert line == f"{name} {int(wrong.sum())} errors in 1000 shots"
