"""What a researcher meets first: run's stop rules and report, CSV rows that merge with sinter's,
the files the README's examples need (circuit, DEM), calibration, the decoder list."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sinter
import stim

from pipelines import main
from qec import NoiseModel, Task


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def test_run_stops_at_max_errors_or_max_shots_like_sinter(capsys):
    base = ["run", "--distance", "3", "--p", "0.02", "--json", "--seed", "1", "--decoder",
            "pymatching", "--decoder", "pymatching-correlated"]
    assert main([*base, "--max-errors", "30", "--max-shots", "100000"]) == 0
    out = _json(capsys)
    errors = [d["errors"] for d in out["decoders"].values()]
    assert out["shots"] < 100_000 and min(errors) >= 30        # every decoder reached 30
    assert main([*base, "--max-errors", "100000", "--max-shots", "3000"]) == 0
    assert _json(capsys)["shots"] == 3000                      # the shot cap came first


def test_run_reports_pairs_with_a_verdict_and_a_title(capsys):
    assert main(["run", "--distance", "3", "--p", "0.01", "--max-shots", "4000", "--decoder",
                 "pymatching", "--decoder", "pymatching-correlated", "--seed", "5"]) == 0
    text = capsys.readouterr().out
    assert "seed=5" in text and "weights=true" in text
    assert "paired comparison" in text and "McNemar" in text
    verdicts = [line for line in text.splitlines() if "shots only one got wrong, p = " in line]
    assert len(verdicts) == 1                      # one pair, its verdict on one whole line
    assert "beats" in verdicts[0] or "no significant difference" in verdicts[0]
    assert verdicts[0].endswith((")", "resolve a smaller one"))


def test_the_verdict_names_the_better_decoder_only_when_the_difference_is_significant():
    from pipelines._command.report import paired_verdicts
    from qec import PairedCounts

    clear, level = PairedCounts("pm", "soft", 249, 40), PairedCounts("corr", "soft", 60, 59)
    assert paired_verdicts([clear, level]) == [
        "soft beats pm on these shots (249 vs 40 shots only one got wrong, p = 4.7e-38)",
        "corr vs soft: no significant difference on these shots (60 vs 59 shots only one got "
        "wrong, p = 1); more shots (--max-errors) resolve a smaller one"]
    assert paired_verdicts([PairedCounts("a", "b", 3, 30)])[0].startswith("a beats b")


def test_run_json_has_paired_counts_that_add_up(capsys):
    assert main(["run", "--distance", "3", "--p", "0.01", "--max-shots", "4000", "--json",
                 "--seed", "1", "--decoder", "pymatching", "--decoder",
                 "pymatching-correlated"]) == 0
    out = _json(capsys)
    (pair,) = out["paired"]
    a, b = out["decoders"]["pymatching"], out["decoders"]["pymatching-correlated"]
    assert a["errors"] - b["errors"] == pair["only_a_wrong"] - pair["only_b_wrong"]
    assert 0 <= pair["mcnemar_p"] <= 1


def test_out_appends_to_a_sinter_csv_and_rows_merge_with_sinters(tmp_path, capsys):
    out = tmp_path / "stats.csv"
    args = ["run", "--distance", "3", "--p", "0.01", "--max-shots", "2000", "--decoder",
            "pymatching", "--out", str(out)]
    assert main([*args, "--seed", "1"]) == 0 and main([*args, "--seed", "2"]) == 0
    capsys.readouterr()
    ours = sinter.read_stats_from_csv_files(out)     # sinter merges rows of one task
    assert len(ours) == 1 and ours[0].shots == 4000   # two seeds, one task, one row
    assert "seed" not in ours[0].json_metadata
    task = Task(distance=3, noise=NoiseModel.uniform(0.01))
    theirs = sinter.collect(num_workers=1, max_shots=1000, decoders=["pymatching"],
                            tasks=[sinter.Task(circuit=task.circuit(),
                                               json_metadata=ours[0].json_metadata)])
    merged = ours[0] + theirs[0]                                # TaskStats.__add__ agrees
    assert merged.shots == 5000
    theirs_csv = tmp_path / "theirs.csv"
    theirs_csv.write_text(sinter.CSV_HEADER + "\n" + theirs[0].to_csv_line() + "\n")
    combine = Path(sys.executable).with_name("sinter")
    proc = subprocess.run([str(combine), "combine", str(out), str(theirs_csv)],
                          capture_output=True, text=True, check=True)
    rows = [line for line in proc.stdout.splitlines() if line.strip()][1:]
    assert len(rows) == 1 and rows[0].split(",")[0].strip() == "5000"


def test_out_refuses_a_file_that_is_not_a_sinter_csv(tmp_path, capsys):
    out = tmp_path / "notes.csv"
    out.write_text("name,value\nx,1\n")
    rc = main(["run", "--distance", "3", "--max-shots", "100", "--decoder", "pymatching",
               "--out", str(out)])
    assert rc == 2 and "is not a sinter CSV" in capsys.readouterr().err
    assert out.read_text() == "name,value\nx,1\n"


def test_circuit_command_writes_what_sinter_and_stim_read(tmp_path, capsys):
    c, d = tmp_path / "d5.stim", tmp_path / "d5.dem"
    assert main(["circuit", "--distance", "5", "--noise", "si1000", "--p", "0.003",
                 "--multipliers-seed", "3", "--out", str(c), "--dem", str(d)]) == 0
    capsys.readouterr()
    circuit = stim.Circuit.from_file(str(c))
    assert circuit.num_detectors == 120
    assert str(stim.DetectorErrorModel.from_file(str(d))) == str(
        circuit.detector_error_model(decompose_errors=True, approximate_disjoint_errors=True))
    plain = stim.Circuit(str(Task(distance=5, noise=NoiseModel.si1000(0.003)).circuit()))
    assert str(plain) != str(circuit)                        # the multipliers are in it


def test_decoders_lists_every_registered_name(capsys):
    from pipelines import DECODER_NAMES

    assert main(["decoders", "--json"]) == 0
    assert list(_json(capsys)["decoders"]) == list(DECODER_NAMES)


@pytest.mark.slow
def test_calibrate_writes_a_calibrated_copy_and_run_stops_warning(tmp_path, capsys, caplog):
    model = tmp_path / "m.safetensors"
    assert main(["train", "--steps", "20", "--batch", "8", "--distances", "3",
                 "--eval-every", "0", "--out", str(model)]) == 0
    capsys.readouterr()
    run = ["run", "--distance", "3", "--max-shots", "200", "--decoder", "predecoder+pymatching",
           "--model", str(model), "--json"]
    assert main(run) == 0 and "was never calibrated" in caplog.text
    capsys.readouterr()
    caplog.clear()
    assert main(["calibrate", str(model), "--shots", "200"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(run) == 0 and "never calibrated" not in caplog.text
    from predecoder import load_weights

    loaded = load_weights(model)
    assert loaded.calibrated and loaded.soft_cap is not None
    assert loaded.metadata["training"]["calibration"]["points"]
    assert main(["calibrate", "small"]) == 2                      # a shipped model needs --out
    assert "needs" not in capsys.readouterr().out
