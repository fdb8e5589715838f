"""Progress you can see: every long step writes one start line and one summary line on stderr
when stderr is not a terminal (a pipe, a log, CI), and standard output stays exactly what the
command prints (``--json``: one JSON object)."""

from __future__ import annotations

import io
import json
import re

import pytest

from pipelines import main
from pipelines._command.report import ProgressBar


def lines(err: str, label: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith(f"qecpipe: {label}: ")]


def test_run_json_stdout_is_the_object_and_stderr_has_start_and_summary(capsys):
    assert main(["run", "--distance", "3", "--max-shots", "3000", "--p", "0.01", "--json",
                 "--decoder", "pymatching", "--decoder", "pymatching-correlated"]) == 0
    out, err = capsys.readouterr()
    obj = json.loads(out)                          # stdout: exactly one JSON object
    assert out == json.dumps(obj) + "\n"
    start, summary = lines(err, "run d=3 X")
    assert "pymatching, pymatching-correlated on up to 3,000 shots" in start
    errors = obj["decoders"]["pymatching"]["errors"]
    assert re.fullmatch(rf"qecpipe: run d=3 X: 3,000/3,000 shots in \d+ s; errors pymatching "
                        rf"{errors}, pymatching-correlated \d+", summary)


def test_run_both_bases_report_each_basis(capsys):
    assert main(["run", "--distance", "3", "--max-shots", "1000", "--basis", "both",
                 "--decoder", "pymatching"]) == 0
    out, err = capsys.readouterr()
    assert len(lines(err, "run d=3 X")) == len(lines(err, "run d=3 Z")) == 2
    assert "qecpipe:" not in out                   # the tables only


def test_train_progress_is_two_plain_lines_when_piped(tmp_path, capsys):
    """The rich bar used to be drawn into pipes (garbled control characters)."""
    assert main(["train", "--steps", "3", "--batch", "4", "--distances", "3", "--eval-every",
                 "0", "--device", "cpu", "--out", str(tmp_path / "m.safetensors")]) == 0
    out, err = capsys.readouterr()
    start, summary = lines(err, "train")
    assert "3 steps of 4 shots (uniform noise, d = 3) on cpu" in start
    assert re.fullmatch(r"qecpipe: train: 3/3 steps in \d+ s; loss \d+\.\d{4}", summary)
    assert "\x1b" not in err and "━" not in err
    assert out.startswith("wrote ")


@pytest.mark.slow
def test_calibrate_reports_start_and_each_point_in_the_summary(tmp_path, capsys):
    """`qecpipe calibrate` printed nothing for minutes."""
    assert main(["calibrate", "small", "--shots", "200",
                 "--out", str(tmp_path / "c.safetensors")]) == 0
    out, err = capsys.readouterr()
    start, summary = lines(err, "calibrate small.safetensors")
    assert "8 held-out points (uniform noise, X and Z) of 200 shots" in start
    assert re.match(r"qecpipe: calibrate small.safetensors: 8/8 points in \d+ s; last d=9 "
                    r"p=0.006 Z: PyMatching \d+ errors", summary)
    assert out.startswith("wrote ")


def test_decode_reports_its_shots(d3_samples, tmp_path, capsys):
    folder, _ = d3_samples(700)
    assert main(["decode", "--circuit", str(folder / "circuit.stim"), "--dets",
                 str(folder / "dets.b8"), "--decoder", "pymatching", "--out",
                 str(tmp_path / "p.b8"), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["shots"] == 700
    assert [line.split(": ", 2)[2].split(" in ")[0] for line in lines(err, "decode pymatching")
            ] == ["700 shots", "700/700 shots"]


def test_a_failed_step_says_where_it_stopped(capsys):
    with pytest.raises(RuntimeError), ProgressBar("job", unit="shots") as bar:
        bar.update(10, 100)
        raise RuntimeError("boom")
    assert lines(capsys.readouterr().err, "job")[1].startswith("qecpipe: job: stopped at 10/100")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_short_work_prints_nothing(monkeypatch):
    """On a terminal the bar is drawn only for work longer than delay_s; no plain lines."""
    fake = _Terminal()
    monkeypatch.setattr("sys.stderr", fake)
    with ProgressBar("job", unit="shots", delay_s=60) as bar:
        bar.update(5, 10)
    assert fake.getvalue() == ""


def test_disabled_prints_nothing(capsys):
    with ProgressBar("job", enabled=False) as bar:
        bar.update(1, 2)
    assert capsys.readouterr().err == ""


def test_a_step_that_fails_before_any_progress_prints_nothing(capsys):
    """Without a start text the start line waits for the first update, so an error raised
    before it (bad input found late, e.g. an unreachable cluster) stays the only line."""
    with pytest.raises(ValueError), ProgressBar("stream d=3"):
        raise ValueError("bad input")
    assert capsys.readouterr().err == ""


def test_run_refuses_a_bad_weights_file_before_its_start_line(tmp_path, capsys):
    bad = tmp_path / "w.json"
    bad.write_text("not json")
    assert main(["run", "--distance", "3", "--max-shots", "100", "--decoder", "pymatching",
                 "--weights", str(bad)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "is not JSON" in err[0]
