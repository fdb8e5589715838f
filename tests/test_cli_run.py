import json
import multiprocessing
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sinter
import stim

from noise.task_weights import learn_seed
from pipelines import main
from pipelines._command.provenance import model_record
from predecoder.weights import resolve_model
from qec import file_sha256, update_text


def test_json_is_one_object_following_the_contract(capsys):
    code = main(["run", "--distance", "3", "--max-shots", "3000", "--p", "0.01", "--json",
                 "--decoder", "pymatching", "--decoder", "pymatching-correlated", "--seed", "1"])
    out = capsys.readouterr().out
    assert code == 0
    obj = json.loads(out)  # exactly one JSON document, nothing else on stdout
    assert obj["task"] == {"code": "rotated_surface_memory", "distance": 3, "rounds": 3,
                           "basis": "X", "noise": "uniform", "p": 0.01,
                           "noise_fingerprint": obj["task"]["noise_fingerprint"], "seed": 1}
    # what made it: seed, noise (multipliers' seed included), weights source, model (none)
    assert obj["seed"] == 1 and obj["model"] is None and obj["weights"] == "true"
    assert obj["weights_source"] == {"source": "true"}
    assert obj["noise"] == {"name": "uniform", "p": 0.01, "multipliers_seed": None,
                            "fingerprint": obj["task"]["noise_fingerprint"]}
    assert obj["shots"] == 3000 and 0 < obj["detection_event_density"] < 0.5
    for name in ("pymatching", "pymatching-correlated"):
        d = obj["decoders"][name]
        for key in ("errors", "ler", "ler_low", "ler_high", "ler_per_round", "seconds",
                    "us_per_round"):
            assert key in d
        assert d["ler_low"] <= d["ler"] <= d["ler_high"] and d["errors"] > 0


def test_same_seed_same_errors_and_both_bases(capsys):
    args = ["run", "--distance", "3", "--max-shots", "2000", "--p", "0.01", "--json",
            "--basis", "both", "--decoder", "pymatching", "--seed", "4"]
    main(args)
    first = json.loads(capsys.readouterr().out)
    main(args)
    second = json.loads(capsys.readouterr().out)
    assert set(first["bases"]) == {"X", "Z"} and first["seed"] == 4
    assert [first["bases"][b]["decoders"]["pymatching"]["errors"] for b in "XZ"] == \
        [second["bases"][b]["decoders"]["pymatching"]["errors"] for b in "XZ"]


def test_table_output_and_sinter_csv(tmp_path, capsys):
    out = tmp_path / "stats.csv"
    assert main(["run", "--distance", "3", "--max-shots", "2000", "--p", "0.01",
                 "--decoder", "pymatching", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "pymatching" in text and "LER per round" in text
    rows = sinter.read_stats_from_csv_files(out)
    assert len(rows) == 1 and rows[0].shots == 2000 and rows[0].decoder == "pymatching"
    assert rows[0].json_metadata["d"] == 3 and rows[0].json_metadata["r"] == 3


def test_max_errors_stops_early(capsys):
    main(["run", "--distance", "3", "--max-shots", "200000", "--p", "0.02", "--json",
          "--decoder", "pymatching", "--max-errors", "20", "--seed", "1"])
    obj = json.loads(capsys.readouterr().out)
    assert obj["shots"] < 200000 and obj["decoders"]["pymatching"]["errors"] >= 20




# --- rows of concurrent runs, and rows that merge exactly when they should -------------------

QECPIPE = Path(sys.executable).with_name("qecpipe")
SINTER = Path(sys.executable).with_name("sinter")


def _append_many(path: str, worker: int, count: int) -> None:
    for i in range(count):
        update_text(path, lambda old, line=f"{worker},{i}\n": old + line)


def test_update_text_from_concurrent_processes_loses_nothing(tmp_path):
    """Six processes each append 40 lines to one file at once: all 240 are there, each once.
    (Without the lock, read-append-rename lets the last rename win and drops lines.)"""
    path = str(tmp_path / "rows.txt")
    ctx = multiprocessing.get_context("fork")    # real processes, started at once
    workers = [ctx.Process(target=_append_many, args=(path, w, 40)) for w in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert [w.exitcode for w in workers] == [0] * 6
    lines = Path(path).read_text().splitlines()
    assert sorted(lines) == sorted(f"{w},{i}" for w in range(6) for i in range(40))
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.slow
def test_six_concurrent_runs_to_one_csv_keep_every_row(tmp_path):
    out = tmp_path / "stats.csv"
    procs = [subprocess.Popen(
        [str(QECPIPE), "run", "--distance", "3", "--p", str(p), "--max-shots", "500",
         "--decoder", "pymatching", "--seed", "7", "--out", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for p in (0.001, 0.002, 0.003, 0.004, 0.005, 0.006)]
    errs = [proc.communicate(timeout=300)[1] for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 6, errs
    lines = out.read_text().splitlines()
    assert lines[0].strip() == sinter.CSV_HEADER.strip() and len(lines) == 7
    stats = sinter.read_stats_from_csv_files(out)
    assert sorted(s.json_metadata["p"] for s in stats) == [0.001, 0.002, 0.003, 0.004, 0.005,
                                                           0.006]
    assert all(s.shots == 500 for s in stats)


def _combine(*paths: Path) -> list[sinter.TaskStats]:
    """The rows `sinter combine` (the CLI) makes of ``paths``."""
    proc = subprocess.run([str(SINTER), "combine", *map(str, paths)], capture_output=True,
                          text=True, check=True, timeout=120)
    combined = paths[0].with_name("combined.csv")
    combined.write_text(proc.stdout)
    return sinter.read_stats_from_csv_files(combined)


def _run_json(capsys, *argv: str) -> dict:
    assert main(["run", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_two_default_runs_draw_fresh_seeds_and_merge_into_one_row(tmp_path, capsys):
    out = tmp_path / "dup.csv"
    args = ("--distance", "3", "--p", "0.01", "--decoder", "pymatching", "--max-shots", "1000",
            "--out", str(out))
    first, second = _run_json(capsys, *args), _run_json(capsys, *args)
    assert first["seed"] != second["seed"]                       # independent shots
    assert first["task"]["seed"] == first["seed"]
    (row,) = _combine(out)
    assert row.shots == 2000 and row.errors == sum(
        r["decoders"]["pymatching"]["errors"] for r in (first, second))
    assert "seed" not in row.json_metadata
    again = _run_json(capsys, *args[:-2], "--seed", str(first["seed"]))   # --seed repeats it
    assert again["seed"] == first["seed"]
    assert again["decoders"]["pymatching"]["errors"] == first["decoders"]["pymatching"]["errors"]


def test_runs_with_other_weights_stay_separate_rows(tmp_path, capsys):
    out = tmp_path / "wts.csv"
    args = ("--distance", "3", "--noise", "si1000", "--p", "0.004", "--decoder", "pymatching",
            "--max-shots", "1000", "--seed", "3", "--out", str(out))
    runs = {w: _run_json(capsys, *args, "--weights", w) for w in ("true", "uniform")}
    assert {w: r["weights_source"]["source"] for w, r in runs.items()} == {
        "true": "true", "uniform": "uniform"}
    rows = _combine(out)
    assert sorted(r.json_metadata["weights"] for r in rows) == ["true", "uniform"]
    assert all(r.shots == 1000 for r in rows)


def test_runs_with_other_models_stay_separate_rows_for_the_predecoder_only(tmp_path, capsys):
    out = tmp_path / "models.csv"
    args = ("--distance", "3", "--p", "0.004", "--decoder", "pymatching", "--decoder",
            "predecoder+soft-matching", "--max-shots", "300", "--device", "cpu", "--out",
            str(out))
    runs = [_run_json(capsys, *args, "--model", m) for m in ("small", "small-si1000")]
    assert [r["model"]["name"] for r in runs] == ["small", "small-si1000"]
    assert runs[0]["model"]["sha256"] != runs[1]["model"]["sha256"]
    rows = _combine(out)
    soft = [r for r in rows if r.decoder == "predecoder+soft-matching"]
    matching = [r for r in rows if r.decoder == "pymatching"]
    assert sorted(r.json_metadata["model"] for r in soft) == ["small", "small-si1000"]
    assert {r.json_metadata["model_sha256"] for r in soft} == {
        r["model"]["sha256"] for r in runs}
    # PyMatching does not depend on the model: its rows of the two runs are one experiment
    assert len(matching) == 1 and matching[0].shots == 600
    assert "model" not in matching[0].json_metadata


# --- provenance: every output says what made it ----------------------------------------------

def test_run_records_learned_weights_and_warns_when_they_are_of_other_noise(tmp_path, capsys,
                                                                            caplog):
    weights = tmp_path / "w.json"
    assert main(["learn-noise", "--simulate", "si1000", "--distance", "3", "--p", "0.004",
                 "--multipliers-seed", "3", "--shots", "20000", "--out", str(weights),
                 "--json"]) == 0
    learned = json.loads(capsys.readouterr().out)
    assert learned["source"]["simulate"]["multipliers_seed"] == 3
    args = ["--distance", "3", "--noise", "si1000", "--p", "0.004", "--decoder", "pymatching",
            "--max-shots", "500", "--seed", "1", "--weights", str(weights)]
    other = _run_json(capsys, *args)                      # no multipliers: other noise
    assert "learned from other noise" in caplog.text and "multipliers-seed=3" in caplog.text
    assert other["noise"]["multipliers_seed"] is None
    caplog.clear()
    same = _run_json(capsys, *args, "--multipliers-seed", "3")
    assert "learned from other noise" not in caplog.text
    assert same["noise"]["multipliers_seed"] == 3
    source = same["weights_source"]
    assert source["source"] == "file" and source["sha256"] == file_sha256(weights)
    assert source["learned_from"]["simulate"]["multipliers_seed"] == 3
    assert _run_json(capsys, *args[:-2], "--weights", "learned", "--learn-shots", "5000")[
        "weights_source"] == {"source": "learned", "method": "mechanisms", "shots": 5000,
                              "seed": learn_seed(1)}


def test_decode_and_stream_json_name_the_model_by_hash(tmp_path, capsys):
    model = model_record(None)
    assert model["name"] == "small" and len(model["sha256"]) == 12
    assert model["sha256"] == file_sha256(resolve_model("small"))
    circuit = tmp_path / "c.stim"
    assert main(["circuit", "--distance", "3", "--p", "0.005", "--out", str(circuit)]) == 0
    dets = tmp_path / "d.b8"
    stim.Circuit.from_file(str(circuit)).compile_detector_sampler(seed=1).sample_write(
        shots=50, filepath=str(dets), format="b8")
    capsys.readouterr()
    assert main(["decode", "--circuit", str(circuit), "--dets", str(dets), "--decoder",
                 "predecoder+soft-matching", "--out", str(tmp_path / "p.b8"), "--json"]) == 0
    decoded = json.loads(capsys.readouterr().out)
    assert decoded["model"] == model and decoded["circuit_sha256"] == file_sha256(circuit)
    assert main(["stream", "--distance", "3", "--rounds", "12", "--workers", "0", "--shots",
                 "2", "--cycle-us", "0", "--predecoder", "--json"]) == 0
    streamed = json.loads(capsys.readouterr().out)
    assert streamed["predecoder"]["model"] == model             # not "default"
    assert streamed["seed"] == 1 and streamed["noise"]["multipliers_seed"] is None


def test_the_table_title_prints_the_drawn_seed_and_the_multipliers_seed(capsys):
    args = ["--distance", "3", "--p", "0.02", "--max-shots", "1000", "--decoder", "pymatching",
            "--multipliers-seed", "2"]
    assert main(["run", *args]) == 0
    text = capsys.readouterr().out
    assert "multipliers-seed=2" in text
    (seed,) = re.findall(r" seed=(\d+)", text)
    assert f"seed={seed}" in text.replace("\n", "")
    repeated = _run_json(capsys, *args, "--seed", seed)           # the printed seed repeats it
    assert repeated["seed"] == int(seed)
    assert str(repeated["decoders"]["pymatching"]["errors"]) in text
