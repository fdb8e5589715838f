"""Training (schedule, resume), the composed decoder through run_task, and the CLI."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pipelines import main, make_decoder, run_task
from predecoder import PRESETS, PreDecoderNet, load_weights, save_weights
from predecoder.train import TrainConfig, learning_rate, read_log, train
from qec import NoiseModel, Task


def test_learning_rate_schedule():
    cfg = TrainConfig(steps=200, warmup_steps=20, lr=1e-3)
    lrs = [learning_rate(s, config=cfg) for s in range(201)]
    assert max(lrs) == pytest.approx(1e-3) and lrs[20] == pytest.approx(1e-3)
    assert all(a <= b for a, b in zip(lrs[:20], lrs[1:21]))            # warm-up rises
    assert all(a >= b for a, b in zip(lrs[20:], lrs[21:]))             # then decays
    assert lrs[-1] == pytest.approx(1e-4)


def test_train_config_validation():
    with pytest.raises(ValueError, match="preset='huge' must be one of small, medium, fast"):
        TrainConfig(preset="huge")
    with pytest.raises(ValueError, match="p_min=0.01, p_max=0.002 must satisfy"):
        TrainConfig(p_min=0.01, p_max=0.002)
    with pytest.raises(ValueError, match=r"distances=\(4,\) must be odd integers >= 3"):
        TrainConfig(distances=(4,))


class _Stop(Exception):
    """Raised from the progress callback to interrupt a run, as a crash would."""


def _stop_after(n):
    def progress(record):
        if record["step"] >= n:
            raise _Stop
    return progress


def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    ckpt = tmp_path / "ckpt.safetensors"
    common = dict(steps=4, batch=4, distances=(3,), eval_every=0, steps_per_draw=2, seed=3)
    straight = train(TrainConfig(**common))
    with pytest.raises(_Stop):       # interrupted after step 2's checkpoint
        train(TrainConfig(**common, checkpoint_path=str(ckpt), checkpoint_every=2),
              progress=_stop_after(2))
    resumed = train(TrainConfig(**common), resume=ckpt)
    assert resumed.step == 4 and resumed.shots_seen == 16
    for a, b in zip(straight.net.state_dict().values(), resumed.net.state_dict().values()):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="was trained with batch=4; this run has batch=8"):
        train(TrainConfig(**{**common, "batch": 8}), resume=ckpt)
    with pytest.raises(ValueError, match="is a weights file without optimizer state"):
        save_weights(tmp_path / "w.safetensors", straight.net, preset="small")
        train(TrainConfig(**common), resume=tmp_path / "w.safetensors")


def _weights(tmp_path, threshold):
    torch.manual_seed(0)
    path = tmp_path / "w.safetensors"
    save_weights(path, PreDecoderNet(PRESETS["small"]), preset="small", threshold=threshold)
    return path


def test_composed_decoder_through_run_task(tmp_path):
    task = Task(distance=3, noise=NoiseModel.uniform(0.006))
    names = ["pymatching", "predecoder+pymatching", "predecoder+pymatching-correlated"]
    # commits nothing: identical to PyMatching on every shot, SDR exactly 1
    built = {n: make_decoder(n, task, model=_weights(tmp_path, 30.0)) for n in names[1:]}
    r = run_task(task, shots=500, decoders=names, seed=2, built=built)
    assert r.stats["predecoder+pymatching"].errors == r.stats["pymatching"].errors
    m = r.extra["predecoder+pymatching"]
    assert m["sdr"] == 1.0 and m["residual_density"] == pytest.approx(
        r.detection_event_density)
    assert set(m) == {"predecoder_us_per_round", "matching_us_per_round", "residual_density",
                      "sdr"}
    # an untrained net committing at logit > -0.5 changes the residual and the errors
    eager = make_decoder("predecoder+pymatching", task, model=_weights(tmp_path, -0.5))
    r2 = run_task(task, shots=500, decoders=["pymatching", "predecoder+pymatching"], seed=2,
                  built={"predecoder+pymatching": eager})
    assert r2.extra["predecoder+pymatching"]["sdr"] != 1.0
    assert r2.stats["predecoder+pymatching"].errors > r2.stats["pymatching"].errors


def test_cli_train_then_run_with_the_model(tmp_path, capsys):
    out, log = tmp_path / "m.safetensors", tmp_path / "log.csv"
    rc = main(["train", "--preset", "small", "--steps", "2", "--batch", "4", "--distances", "3",
               "--eval-every", "2", "--device", "cpu", "--out", str(out), "--log", str(log),
               "--threshold", "30"])
    assert rc == 0 and "wrote" in capsys.readouterr().out
    meta = load_weights(out).metadata
    assert meta["training"]["steps"] == 2 and meta["training"]["shots_seen"] == 8
    assert meta["training"]["p_min"] == 0.002 and meta["threshold"] == 30.0
    row = read_log(log)[-1]
    assert row["step"] == 2 and row["eval_pm_errors"] >= 0
    rc = main(["run", "--distance", "3", "--max-shots", "300", "--model", str(out), "--decoder",
               "pymatching", "--decoder", "predecoder+pymatching", "--json"])
    res = json.loads(capsys.readouterr().out)
    dec = res["decoders"]["predecoder+pymatching"]
    assert rc == 0 and dec["errors"] == res["decoders"]["pymatching"]["errors"]
    assert {"predecoder_us_per_round", "matching_us_per_round", "residual_density",
            "sdr"} <= set(dec)


def test_shipped_default_model_runs(capsys):
    from predecoder import shipped_models

    if "small" not in shipped_models():
        pytest.fail("the package must ship predecoder/weights/small.safetensors")
    rc = main(["run", "--distance", "3", "--max-shots", "200", "--model", "small", "--json"])
    res = json.loads(capsys.readouterr().out)
    # the default comparison: both PyMatchings and the soft pipeline, on the same shots
    assert rc == 0 and list(res["decoders"]) == ["pymatching", "pymatching-correlated",
                                                 "predecoder+soft-matching"]
    assert np.isfinite(res["decoders"]["predecoder+soft-matching"]["predecoder_us_per_round"])
    assert len(res["paired"]) == 3


def test_calibration_rejects_harmful_thresholds():
    from predecoder.calibrate import calibrate

    torch.manual_seed(0)
    net = PreDecoderNet(PRESETS["small"]).eval()      # untrained: its commits are noise
    cal = calibrate(net, shots=300, points=((3, 0.006),), bases=("X",),
                    thresholds=(-1.0, 30.0), rules=("threshold",))
    rows = {r["threshold"]: r for r in cal.rows()}
    assert rows[-1.0]["pre_errors"] > rows[-1.0]["pm_errors"]
    assert cal.threshold == 30.0 and rows[30.0]["pre_errors"] == rows[30.0]["pm_errors"]
    with pytest.raises(ValueError, match="none keeps pre\\+PM at or below PM"):
        calibrate(net, shots=300, points=((3, 0.006),), bases=("X",), thresholds=(-1.0,),
                  rules=("threshold",))


def test_composed_decoder_from_dem_alone_matches_from_task(tmp_path):
    from pipelines import PredecoderPipeline
    from qec import sample_detectors

    task = Task(distance=3, basis="Z", noise=NoiseModel.uniform(0.01))
    path = _weights(tmp_path, -0.3)
    a = PredecoderPipeline.from_task(task, model=path)
    b = PredecoderPipeline.from_dem(task.dem(), model=path)
    chunk = next(sample_detectors(task.circuit(), shots=300, seed=4, chunk_shots=300))
    assert np.array_equal(a.decode_batch(chunk.dets), b.decode_batch(chunk.dets))
    assert a.metrics()["sdr"] == b.metrics()["sdr"] != 1.0


# --- training noise from a fixed DEM (a device's learned noise) ------------------------------

GOOGLE = Path(__file__).parent / "data" / "google_qec3v5"
D3R3 = GOOGLE / "surface_code_bX_d3_r03_center_3_5"


def test_dem_noise_batches_label_the_fired_edges_on_google_layout():
    """Batches sampled from Google's fitted DEM, on the layout of Google's circuit: the labels
    are exactly the fired edges (they clear the syndrome of the very events the network sees)."""
    from predecoder import apply_edges
    from predecoder.noise_source import DemNoise
    from predecoder.train import make_batch

    src = DemNoise.from_dem_file(D3R3 / "pij_from_even_for_odd.dem",
                                 circuit_path=D3R3 / "circuit_noisy.stim")
    assert src.layout.shape == (4, 4, 4) and src.source["kind"] == "dem"
    assert src.source["sha256"] == hashlib.sha256(
        (D3R3 / "pij_from_even_for_odd.dem").read_bytes()).hexdigest()
    cfg = TrainConfig(steps=2, batch=64, noise_from=(src,), eval_every=0, steps_per_draw=2)
    x, labels, valid = make_batch(cfg, 1)
    assert x.shape == (64, 4, 4, 4, 4) and labels.shape == (64, 9, 4, 4, 4)
    dets = torch.from_numpy(src.layout.geometry.from_grid(x[:, 0].numpy().astype(np.uint8)))
    edges = torch.from_numpy(src.layout.volume_to_edges(labels.numpy()).astype(bool))
    assert dets.sum() > 100 and not (labels.numpy() * ~valid.numpy()).any()
    assert not apply_edges(dets, edges, src.layout).residual.any()


def _learned_weights(tmp_path) -> Path:
    out = tmp_path / "learned.json"
    assert main(["learn-noise", "--samples", str(D3R3 / "detection_events.b8"), "--circuit",
                 str(D3R3 / "circuit_noisy.stim"), "--out", str(out)]) == 0
    return out


def test_cli_train_from_learned_noise_records_the_source(tmp_path, capsys):
    weights = _learned_weights(tmp_path)
    out, log = tmp_path / "m.safetensors", tmp_path / "log.csv"
    rc = main(["train", "--noise-from", str(weights), "--noise-circuit",
               str(D3R3 / "circuit_noisy.stim"), "--steps", "2", "--batch", "4",
               "--eval-every", "2", "--eval-shots", "200", "--device", "cpu",
               "--out", str(out), "--log", str(log)])
    assert rc == 0 and "wrote" in capsys.readouterr().out
    training = load_weights(out).metadata["training"]
    assert training["noise"] == "dem" and training["rounds"] == [3]
    (src,) = training["noise_from"]
    assert src["kind"] == "noise-weights" and src["method"] == "mechanisms"
    assert src["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert src["circuit"] == "circuit_noisy.stim" and src["learned_from_shots"] == 2000
    row = read_log(log)[-1]
    assert row["eval_shots"] == 200 and row["eval_pm_errors"] > 0   # the DEM's own samples


def test_cli_train_noise_from_refuses_bad_combinations(tmp_path, capsys):
    weights = _learned_weights(tmp_path)
    capsys.readouterr()
    base = ["train", "--steps", "1", "--out", str(tmp_path / "m.safetensors")]
    cases = [
        (["--noise-from", str(weights)], "a weights file needs --noise-circuit"),
        (["--noise-from", str(weights), "--noise-circuit", str(D3R3 / "circuit_noisy.stim"),
          "--noise-circuit", str(D3R3 / "circuit_noisy.stim")], "given 2 times for 1"),
        (["--noise-from", str(D3R3 / "pij_from_even_for_odd.dem"), "--noise", "si1000"],
         "--noise-from replaces --noise"),
        (["--noise-from", str(weights), "--noise-circuit",
          str(GOOGLE / "surface_code_bX_d5_r05_center_5_5" / "circuit_noisy.stim")],
         "detectors"),
        (["--noise-from", str(D3R3 / "circuit_noisy.stim")], "cannot be read as a stim detector"),
    ]
    for extra, message in cases:
        assert main(base + extra) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "m.safetensors").exists()


def test_resume_refuses_another_noise_source(tmp_path):
    from predecoder.noise_source import DemNoise

    ckpt = tmp_path / "ckpt.safetensors"
    even = DemNoise.from_dem_file(D3R3 / "pij_from_even_for_odd.dem")
    odd = DemNoise.from_dem_file(D3R3 / "pij_from_odd_for_even.dem")
    common = dict(steps=2, batch=4, eval_every=0, steps_per_draw=2, checkpoint_every=1)
    train(TrainConfig(**common, noise_from=(even,), checkpoint_path=str(ckpt)))
    with pytest.raises(ValueError, match="was trained with noise_from="):
        train(TrainConfig(**common, noise_from=(odd,)), resume=ckpt)
