"""bench's entry point (dispatch, missing suites) and the provenance every result file carries."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import pytest

from bench import __main__ as bench_main
from bench._meta import REPO_ROOT, run_metadata, write_sidecar


def _fake_suite(monkeypatch, name, code, calls):
    module = types.ModuleType(bench_main.SUITES[name])
    module.main = lambda argv: calls.append((name, argv)) or code
    monkeypatch.setitem(sys.modules, bench_main.SUITES[name], module)


def test_dispatches_one_suite_with_its_arguments(monkeypatch, capsys):
    calls = []
    _fake_suite(monkeypatch, "noise", 0, calls)
    assert bench_main.main(["noise", "--quick", "--seed", "3"]) == 0
    assert calls == [("noise", ["--quick", "--seed", "3"])]
    assert "bench: noise ok in" in capsys.readouterr().err
    assert bench_main.main(["noise", "--help"]) == 0  # the suite's help, not the dispatcher's
    assert calls[-1] == ("noise", ["--help"])


def test_all_runs_every_suite_and_reports_missing_and_failed_ones(monkeypatch, capsys):
    calls = []
    # Every suite faked: the real ones take minutes and rewrite tracked files.
    ran = [name for name in bench_main.SUITES if name != "noise"]
    for name in ran:
        _fake_suite(monkeypatch, name, 3 if name == "predecoder" else 0, calls)
    monkeypatch.setitem(bench_main.SUITES, "noise", "bench._no_such_suite")
    assert bench_main.main(["all", "--quick"]) == 1
    assert calls == [(name, ["--quick"]) for name in ran]
    assert ran[-1] == "readme"       # last, so it copies the regenerated tables
    err = capsys.readouterr().err
    assert "bench: predecoder FAILED (exit 3)" in err
    assert "skipped: suite 'noise' is not available: bench/_no_such_suite.py does not exist" in err
    assert "not regenerated: predecoder, noise" in err


def test_a_missing_suite_exits_2_with_its_path(monkeypatch, capsys):
    monkeypatch.setitem(bench_main.SUITES, "streaming", "bench._no_such_suite")
    assert bench_main.main(["streaming"]) == 2
    assert capsys.readouterr().err.strip() == (
        "bench: error: suite 'streaming' is not available: bench/_no_such_suite.py does not "
        "exist")


def test_a_missing_dependency_inside_a_suite_is_not_reported_as_a_missing_suite(monkeypatch):
    def fail(name):
        raise ModuleNotFoundError("No module named 'somedep'", name="somedep")

    monkeypatch.setattr(bench_main.importlib, "import_module", fail)
    with pytest.raises(ModuleNotFoundError, match="somedep"):
        bench_main.main(["baseline"])


def test_metadata_records_command_commit_hardware_and_versions(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(REPO_ROOT / "bench" / "__main__.py"), "all",
                                      "--quick"])
    meta = run_metadata()
    assert meta["command"] == "python -m bench all --quick"
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                          text=True, check=True).stdout.strip()
    assert meta["git_commit"] == head and isinstance(meta["git_dirty"], bool)
    assert meta["hardware"]["cpu_model"] and meta["hardware"]["cpu_cores"] >= 1
    assert meta["packages"]["stim"] and meta["packages"]["qecpipe"]
    assert meta["date"].endswith("+00:00")
    from qec import file_sha256

    assert meta["models"]["small"] == file_sha256(
        REPO_ROOT / "predecoder" / "weights" / "small.safetensors")
    assert run_metadata(command=["python", "-m", "bench", "x y"])["command"] == \
        "python -m bench 'x y'"
    sidecar = write_sidecar(tmp_path / "ler.csv", meta)
    assert sidecar.name == "ler.csv.meta.json" and json.loads(sidecar.read_text()) == meta
