"""One vocabulary across subcommands: one default p, one flag name per concept (the old names
still work and mean the same), --device auto everywhere."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipelines import main
from pipelines._command.common import (
    DEFAULT_P,
    STREAM_P,
    WINDOWED_DECODERS,
    windowed_decoder,
)
from pipelines._command.main import build_parser
from pipelines._decoders.predecoder_pipeline import PREDECODER_DECODERS

TASK = ["--distance", "3"]
# the smallest valid command line of each subcommand that has task flags or a device
MINIMAL = {"run": TASK, "circuit": [*TASK, "--out", "c.stim"], "serve": TASK,
           "stream": TASK, "learn-noise": ["--simulate", "uniform", *TASK, "--out", "w.json"],
           "train": ["--out", "m.safetensors"],
           "decode": ["--circuit", "README.md", "--dets", "README.md", "--decoder",
                      "pymatching", "--out", "p.b8"]}


def parse(command: str, *extra: str):
    return build_parser().parse_args([command, *MINIMAL[command], *extra])


@pytest.mark.parametrize("command", ["run", "circuit", "serve", "learn-noise"])
def test_one_default_p(command):
    assert parse(command).p == DEFAULT_P == 0.006


def test_stream_default_p_is_the_documented_exception():
    assert parse("stream").p == STREAM_P == 0.001
    assert parse("train").eval_p == DEFAULT_P


@pytest.mark.parametrize("command", ["run", "train", "learn-noise", "decode"])
def test_device_defaults_to_auto(command):
    assert parse(command).device == "auto"


def test_learn_noise_torch_backend_runs_on_the_default_device(tmp_path, capsys):
    """`learn-noise --backend torch` used to default to --device cuda and fail on a CPU."""
    out = tmp_path / "w.json"
    assert main(["learn-noise", "--simulate", "uniform", "--distance", "3", "--shots", "2000",
                 "--backend", "torch", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    import torch

    assert summary["backend"] == f"torch:{'cuda' if torch.cuda.is_available() else 'cpu'}"


def test_learn_noise_dets_and_its_old_name_samples_read_the_same(d3_samples, tmp_path, capsys):
    folder, _ = d3_samples(3000)
    circuit, dets = folder / "circuit.stim", folder / "dets.b8"
    outs = []
    for flags in (["--dets", str(dets), "--dets-format", "b8"],
                  ["--samples", str(dets), "--format", "b8"]):
        out = tmp_path / f"w{len(outs)}.json"
        assert main(["learn-noise", *flags, "--circuit", str(circuit), "--out", str(out)]) == 0
        outs.append(json.loads(out.read_text()))
    capsys.readouterr()
    assert outs[0]["edge_prob"] == outs[1]["edge_prob"] and outs[0]["edges"]


def test_decode_takes_samples_as_the_old_name_of_dets(d3_samples, tmp_path, capsys):
    folder, _ = d3_samples(500)
    for flag in ("--dets", "--samples"):
        assert main(["decode", "--circuit", str(folder / "circuit.stim"), flag,
                     str(folder / "dets.b8"), "--decoder", "pymatching",
                     "--out", str(tmp_path / "p.b8"), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["shots"] == 500


@pytest.mark.parametrize(("old", "new"), [
    (["--predecoder"], "predecoder+soft-matching"),
    (["--predecoder", "--mode", "soft"], "predecoder+soft-matching"),
    (["--predecoder", "--mode", "hard"], "predecoder+pymatching"),
    (["--predecoder", "small"], "predecoder+soft-matching"),
    ([], "pymatching"),
])
def test_stream_old_names_mean_the_new_decoder(old, new):
    decoder, model = windowed_decoder(parse("stream", *old))
    assert decoder == new
    assert model == ("small" if old[-1:] == ["small"] else None)
    assert windowed_decoder(parse("stream", "--decoder", new)) == (new, None)


@pytest.mark.parametrize(("mode", "new"), [("pymatching", "pymatching"),
                                           ("hard", "predecoder+pymatching"),
                                           ("soft", "predecoder+soft-matching")])
def test_serve_mode_is_the_old_name_of_decoder(mode, new):
    assert windowed_decoder(parse("serve", "--mode", mode)) == (new, None)
    assert windowed_decoder(parse("serve", "--decoder", new)) == (new, None)
    assert windowed_decoder(parse("serve")) == ("predecoder+soft-matching", None)


def test_windowed_decoders_are_registered_names():
    assert set(WINDOWED_DECODERS) - {"pymatching"} <= set(PREDECODER_DECODERS)


@pytest.mark.parametrize(("command", "flags", "message"), [
    ("stream", ["--decoder", "pymatching", "--predecoder"], "disagree; give --decoder only"),
    ("stream", ["--decoder", "predecoder+soft-matching", "--mode", "hard"], "disagree"),
    ("stream", ["--mode", "hard"], "give --decoder predecoder+pymatching"),
    ("stream", ["--predecoder", "small", "--model", "other.safetensors"], "two models"),
    ("stream", ["--model", "small"], "applies to the pre-decoder only"),
    ("serve", ["--mode", "hard", "--decoder", "pymatching"], "disagree"),
    ("serve", ["--decoder", "pymatching", "--model", "small"], "applies to the pre-decoder"),
])
def test_old_and_new_names_that_disagree_are_refused(command, flags, message, capsys):
    assert main([command, *MINIMAL[command], *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_stream_decoder_flag_and_its_old_name_decode_the_same(capsys):
    """The same stream through --decoder predecoder+pymatching and --predecoder --mode hard."""
    base = ["stream", "--distance", "3", "--rounds", "12", "--shots", "8", "--workers", "0",
            "--cycle-us", "0", "--p", "0.01", "--seed", "4", "--json"]
    results = []
    for flags in (["--decoder", "predecoder+pymatching"], ["--predecoder", "--mode", "hard"]):
        assert main([*base, *flags]) == 0
        results.append(json.loads(capsys.readouterr().out))
    assert results[0]["predecoder"]["mode"] == results[1]["predecoder"]["mode"] == "hard"
    counts = [{name: (d["errors"], d["shots"]) for name, d in r["decoders"].items()}
              for r in results]
    assert counts[0] == counts[1] == {"windowed-predecoder+pymatching": counts[0][
        "windowed-predecoder+pymatching"]}


def test_help_names_the_new_flags_and_the_old_ones(capsys):
    for command, new, old in (("stream", "--decoder", "--predecoder"),
                              ("serve", "--decoder", "--mode"),
                              ("learn-noise", "--dets", "--samples")):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert new in text and old in text and "older name" in text


def test_parsed_values_are_numbers_not_strings():
    args = parse("learn-noise", "--p", "0.004")
    assert isinstance(args.p, float) and np.isclose(args.p, 0.004)
