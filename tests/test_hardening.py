"""Hardening beyond bad flags: atomic outputs under a file-size limit, paced streams under an
adversarial clock, a dead cluster address, internal errors, model and weights files."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pipelines import InProcessPool, StreamConfig, StreamService, main, run_stream
from qec import NoiseModel

ROOT = Path(__file__).resolve().parents[1]


# --- a full disk or a file-size limit never replaces a good file with a torn one -----------

def _limited(args: list[str], cwd: Path, limit_bytes: int) -> subprocess.CompletedProcess:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    qecpipe = Path(sys.executable).with_name("qecpipe")      # the command a user runs
    return subprocess.run([str(qecpipe), *args], cwd=cwd, capture_output=True, text=True,
                          preexec_fn=limit, timeout=300)


@pytest.fixture(scope="module")
def d3_files(d3_samples) -> dict[str, Path]:
    d, _ = d3_samples(20_000)
    return {"circuit": d / "circuit.stim", "dets": d / "dets.b8"}


@pytest.mark.parametrize("command", ["run", "learn-noise", "decode"])
def test_a_file_size_limit_leaves_the_previous_output_intact(command, d3_files, tmp_path):
    out = tmp_path / {"run": "stats.csv", "learn-noise": "w.json", "decode": "p.b8"}[command]
    previous = "previous contents, not to be lost\n"
    if command == "run":       # an existing sinter CSV that the run would append to
        from qec import sinter_csv_header

        previous = sinter_csv_header() + "\n"
    out.write_text(previous)
    args = {"run": ["run", "--distance", "3", "--max-shots", "20000", "--decoder",
                    "pymatching", "--out", str(out)],
            "learn-noise": ["learn-noise", "--simulate", "uniform", "--distance", "3", "--p",
                            "0.01", "--shots", "2000", "--out", str(out)],
            "decode": ["decode", "--circuit", str(d3_files["circuit"]), "--dets",
                       str(d3_files["dets"]), "--decoder", "pymatching", "--out",
                       str(out)]}[command]
    proc = _limited(args, tmp_path, limit_bytes=len(previous) + 10)
    assert proc.returncode == 2, proc.stderr
    *progress, error = proc.stderr.splitlines()     # the work ran: its progress lines and
    assert not any(": error:" in line or "Traceback" in line for line in progress)  # warnings
    assert "File too large" in error                 # exactly one error line
    assert f"{out}: cannot write it" in proc.stderr and "the previous file is unchanged" in (
        proc.stderr)
    assert out.read_text() == previous                      # the old file, byte for byte
    # no temporary left; an appended file keeps its documented lock file (qec.update_text)
    lock = [f".{out.name}.lock"] if command == "run" else []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, *lock])


@pytest.mark.parametrize("flag", ["train --out", "train --checkpoint"])
def test_a_file_size_limit_on_a_safetensors_output_is_one_line_and_keeps_the_old_file(
        flag, tmp_path):
    """safetensors outputs go through the one atomic writer: a file-size limit is exit 2 with
    the file named, the previous file byte for byte, and no temporary left (issue 20,
    finding 8: SafetensorError, an internal error, exit 1)."""
    target = tmp_path / "target.safetensors"
    previous = "previous contents, not to be lost\n"
    target.write_text(previous)
    train = ["train", "--steps", "1", "--batch", "2", "--distances", "3", "--eval-every", "0"]
    args = {"train --out": [*train, "--out", str(target)],
            "train --checkpoint": [*train, "--out", str(tmp_path / "m.safetensors"),
                                   "--checkpoint", str(target), "--checkpoint-every", "1"]
            }[flag]
    files = {p.name for p in tmp_path.iterdir()}
    proc = _limited(args, tmp_path, limit_bytes=2048)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"qecpipe: error: {target}: cannot write it: File too large; the previous file is "
        "unchanged")
    assert target.read_text() == previous
    assert {p.name for p in tmp_path.iterdir()} == files      # no temporary left


def test_save_weights_under_a_file_size_limit_raises_oserror_and_keeps_the_old_file(tmp_path):
    """What calibrate --out (and every model writer) calls: an OSError naming the file, which
    the command line reports as one line with exit 2, not a SafetensorError (a bug, exit 1).
    Run in a child with RLIMIT_FSIZE (calibrating a model through the CLI takes minutes)."""
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))\n"
        "from predecoder import ModelConfig, PreDecoderNet, save_weights\n"
        "try:\n"
        "    save_weights(sys.argv[1], PreDecoderNet(ModelConfig(widths=(8, 8))))\n"
        "except OSError as exc:\n"
        "    print(exc)\n")
    target = tmp_path / "c.safetensors"
    target.write_text("old\n")
    proc = subprocess.run([sys.executable, "-c", script, str(target)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "cannot write it: File too large; the previous file is unchanged" in proc.stdout
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.safetensors"]


def test_sigterm_during_the_final_rename_leaves_no_temporary_file(tmp_path):
    """SIGTERM arriving while an output is renamed into place removes the hidden temporary
    file on the way out (as Ctrl-C does) and exits with 143 (issue 20, finding 8)."""
    script = (
        "import os, signal, sys\n"
        "from qec import atomic_write\n"
        "real = os.replace\n"
        "def replace(src, dst):\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    real(src, dst)\n"
        "os.replace = replace\n"
        "atomic_write(sys.argv[1], 'new contents\\n')\n"
        "print('not reached')\n")
    target = tmp_path / "out.txt"
    target.write_text("old\n")
    proc = subprocess.run([sys.executable, "-c", script, str(target)], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 143, proc.stderr
    assert "not reached" not in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


# --- paced streams: one clock read per decision, never a negative wait -------------------

class _JumpyClock:
    """A clock that jumps forward by irregular amounts at every read (seeded)."""

    def __init__(self, seed: int) -> None:
        self.now, self.rng = 0.0, np.random.default_rng(seed)

    def __call__(self) -> float:
        self.now += float(self.rng.exponential(0.003))
        return self.now


class _CheckingPool(InProcessPool):
    """The in-process pool, refusing a negative or NaN wait as Ray and time.sleep do."""

    def wait(self, timeout):
        if timeout is not None and not timeout >= 0:
            raise AssertionError(f"negative wait: {timeout}")
        return super().wait(0.0)


@pytest.mark.parametrize("seed", range(20))
def test_paced_stream_with_a_jumpy_clock_never_waits_negatively(seed):
    cfg = StreamConfig(distance=3, rounds=40, noise=NoiseModel.uniform(0.003), shots=2,
                       cycle_us=1000.0, seed=seed)
    service_pool = _CheckingPool(StreamService(config=cfg).worker)
    result = run_stream(cfg, pool=service_pool, clock=_JumpyClock(seed))
    assert result.windows_committed == len(cfg.plan().windows)


def test_the_service_refuses_a_negative_poll_timeout():
    cfg = StreamConfig(distance=3, rounds=9, noise=NoiseModel.uniform(0.001))
    with pytest.raises(ValueError, match="timeout=-0.001 must be >= 0"):
        StreamService(config=cfg).poll(-0.001)


# --- a cluster address that does not answer --------------------------------------------

def test_a_dead_address_is_refused_within_the_timeout(capsys):
    start = time.perf_counter()
    rc = main(["stream", "--distance", "3", "--rounds", "10", "--workers", "1", "--address",
               "127.0.0.1:1"])
    assert rc == 2 and time.perf_counter() - start < 10
    assert "nothing answers at 127.0.0.1:1" in capsys.readouterr().err


def test_a_stale_auto_record_is_refused(tmp_path, monkeypatch, capsys):
    record = tmp_path / "ray" / "ray_current_cluster"
    record.parent.mkdir()
    record.write_text("127.0.0.1:1\n")
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(tmp_path))
    rc = main(["stream", "--distance", "3", "--rounds", "10", "--workers", "1", "--address",
               "auto"])
    assert rc == 2 and "--address='auto': nothing answers" in capsys.readouterr().err


# --- internal errors are bugs: exit 1, one line, --debug shows the traceback -------------

def test_an_internal_error_is_one_line_exit_1_and_debug_shows_it(monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("oops")

    monkeypatch.setattr("pipelines._command.run.run_task", broken)
    argv = ["run", "--distance", "3", "--max-shots", "100", "--decoder", "pymatching"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    *progress, error = err.splitlines()     # progress lines of the work that ran, one error
    assert all(line.startswith("qecpipe: run d=3 X: ") for line in progress)
    assert "internal error (a bug in qecpipe): ZeroDivisionError" in error
    with pytest.raises(ZeroDivisionError):
        main(["--debug", *argv])


# --- weights and model files are checked against the task before use ---------------------

def test_noise_weights_learned_for_x_are_refused_for_z(tmp_path, capsys):
    out = tmp_path / "wx.json"
    assert main(["learn-noise", "--simulate", "uniform", "--distance", "3", "--p", "0.01",
                 "--shots", "2000", "--basis", "X", "--out", str(out)]) == 0
    capsys.readouterr()
    rc = main(["run", "--distance", "3", "--basis", "Z", "--max-shots", "100", "--decoder",
               "pymatching", "--weights", str(out)])
    err = capsys.readouterr().err
    fingerprint = json.loads(out.read_text())["structure_fingerprint"]
    assert rc == 2 and "was learned for structure " + fingerprint in err
    assert main(["run", "--distance", "3", "--basis", "X", "--max-shots", "100", "--decoder",
                 "pymatching", "--weights", str(out), "--json"]) == 0


def test_train_writes_no_model_when_it_diverges(tmp_path, capsys, monkeypatch):
    import torch

    real_step = torch.optim.AdamW.step

    def poisoned(self, *args, **kwargs):
        out = real_step(self, *args, **kwargs)
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    p.fill_(float("nan"))
        return out

    monkeypatch.setattr(torch.optim.AdamW, "step", poisoned)
    rc = main(["train", "--steps", "2", "--batch", "2", "--distances", "3", "--eval-every",
               "0", "--out", str(tmp_path / "m.safetensors")])
    err = capsys.readouterr().err
    assert rc == 1 and "training diverged" in err and not (tmp_path / "m.safetensors").exists()


def test_decode_without_observables_says_nothing_can_be_checked(d3_files, tmp_path, caplog):
    rc = main(["decode", "--circuit", str(d3_files["circuit"]), "--dets",
               str(d3_files["dets"]), "--decoder", "pymatching", "--out",
               str(tmp_path / "p.b8")])
    assert rc == 0 and "nothing checks that --dets was sampled from --circuit" in caplog.text
