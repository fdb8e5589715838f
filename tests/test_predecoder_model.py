"""Model presets and receptive field, tiled == whole inference, weights files, commit rules."""

import json

import numpy as np
import pytest
import torch

from predecoder import (
    PRESETS,
    CommitPolicy,
    EdgeLayout,
    ModelConfig,
    PreDecoderNet,
    apply_edges,
    commit,
    edge_logits,
    encode,
    load_weights,
    predecode,
    save_weights,
    volume_logits,
)
from predecoder.device_bits import pack_from_device, unpack_to_device
from predecoder.weights import resolve_model
from qec import NoiseModel, Task, sample_detectors, unpack_bits


def _net(preset="small", seed=0):
    torch.manual_seed(seed)
    return PreDecoderNet(PRESETS[preset]).eval()


def test_presets_and_receptive_field():
    assert PRESETS["fast"].widths == (128, 128, 128) and PRESETS["fast"].receptive_field == 9
    assert PRESETS["accurate"].widths == (128,) * 5 and PRESETS["accurate"].receptive_field == 13
    assert PRESETS["small"].receptive_field == 9
    assert ModelConfig(widths=(8,), kernel=5).receptive_field == 9     # 1 + 2 * (5 - 1)
    with pytest.raises(ValueError, match=r"kernel=4 must be an odd integer in \[3, 9\]"):
        ModelConfig(widths=(8,), kernel=4)
    with pytest.raises(ValueError, match="activation='tanh' must be one of"):
        ModelConfig(widths=(8,), activation="tanh")


def test_receptive_field_is_exact():
    """A single event changes logits exactly within (R-1)/2 cells, and nowhere beyond."""
    net = _net()
    x = torch.zeros(1, 4, 15, 15, 15)
    base = net(x)
    x[0, 0, 7, 7, 7] = 1
    changed = (net(x) - base).abs().amax(dim=(0, 1)) > 0          # (T, H, W)
    idx = torch.nonzero(changed)
    assert idx.min().item() == 7 - 4 and idx.max().item() == 7 + 4


@pytest.mark.parametrize("tile", [(2, 3, 4), (4, 6, 5)])
def test_tiled_equals_whole_volume(tile):
    task = Task(distance=5, rounds=7, basis="Z", noise=NoiseModel.uniform(0.01))
    layout = EdgeLayout.from_task(task)
    chunk = next(sample_detectors(task.circuit(), shots=8, seed=3, chunk_shots=8))
    dets = torch.from_numpy(unpack_bits(chunk.dets, layout.geometry.num_detectors))
    net = _net(seed=1)
    with torch.inference_mode():
        x = encode(dets, layout.geometry)
        whole, tiled = volume_logits(net, x), volume_logits(net, x, tile=tile)
    torch.testing.assert_close(tiled, whole, rtol=1e-5, atol=1e-5)
    from predecoder.inference import shot_logits

    full = shot_logits(net, dets, layout)
    torch.testing.assert_close(shot_logits(net, dets, layout, max_cells=700), full)  # 2 shots/pass
    a = predecode(net, dets, layout, policy=CommitPolicy.hard(-0.5))
    b = predecode(net, dets, layout, policy=CommitPolicy.hard(-0.5), tile=tile)
    assert a.edges.any() and torch.equal(a.edges, b.edges)


def test_weights_round_trip_with_metadata(tmp_path):
    net = _net("small", seed=2)
    path = tmp_path / "m.safetensors"
    save_weights(path, net, preset="small", threshold=3.5, rule="supported",
                 training={"steps": 7, "p_min": 0.002, "p_max": 0.008})
    loaded = load_weights(path)
    assert loaded.threshold == 3.5 and loaded.rule == "supported"
    meta = loaded.metadata
    assert meta["preset"] == "small" and meta["receptive_field"] == 9
    assert meta["widths"] == [32, 32, 32] and meta["training"]["steps"] == 7
    assert meta["package_version"]
    x = torch.randn(2, 4, 4, 5, 5)
    torch.testing.assert_close(loaded.net(x), net(x))
    assert b"pickle" not in path.read_bytes()[:64]


def test_mismatched_architecture_is_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    path = tmp_path / "m.safetensors"
    save_weights(path, _net("small"), preset="small")
    tensors = load_file(str(path))
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["qecpipe"])
    meta["model"]["widths"] = [64, 32, 32]               # declares a different architecture
    bad = tmp_path / "bad.safetensors"
    save_file(tensors, str(bad), metadata={"qecpipe": json.dumps(meta)})
    with pytest.raises(ValueError, match="does not match its declared architecture"):
        load_weights(bad)
    with pytest.raises(ValueError, match="expected ModelConfig"):
        load_weights(path, expect=PRESETS["fast"])
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="is not a safetensors file"):
        load_weights(junk)
    with pytest.raises(ValueError,
                       match=r"must be a shipped model \(small, small-si1000, sycamore\), or"):
        resolve_model("huge")


def _logits_and_dets(d=5, p=0.008, shots=64):
    task = Task(distance=d, noise=NoiseModel.uniform(p))
    layout = EdgeLayout.from_task(task)
    chunk = next(sample_detectors(task.circuit(), shots=shots, seed=5, chunk_shots=shots))
    dets = torch.from_numpy(unpack_bits(chunk.dets, layout.geometry.num_detectors))
    with torch.inference_mode():
        logit = edge_logits(volume_logits(_net(seed=4), encode(dets, layout.geometry)), layout)
    return layout, dets, logit


def test_threshold_semantics():
    layout, dets, logit = _logits_and_dets()
    for t in (-1.0, 0.0, 0.3):
        assert torch.equal(commit(logit, dets, layout, threshold=t), logit > t)
    counts = [int(commit(logit, dets, layout, threshold=t).sum()) for t in (-1, 0, 1, 30)]
    assert counts == sorted(counts, reverse=True) and counts[-1] == 0 and counts[0] > 0
    none = apply_edges(dets, commit(logit, dets, layout, threshold=30.0), layout)
    assert torch.equal(none.residual, dets.bool()) and not none.flip.any()
    with pytest.raises(ValueError, match="rule='greedy' must be one of"):
        commit(logit, dets, layout, threshold=0.0, rule="greedy")


def test_supported_rule_only_removes_whole_defect_pairs():
    layout, dets, logit = _logits_and_dets()
    edges = commit(logit - 10, dets, layout, threshold=-20.0, rule="supported")
    corr = apply_edges(dets, edges, layout)
    assert edges.any()
    assert not (corr.residual & ~dets.bool()).any()            # never creates a defect
    removed = int(dets.sum() - corr.residual.sum())
    boundary = torch.as_tensor(layout.graph.is_boundary)
    assert removed == 2 * int(edges[:, ~boundary].sum()) + int(edges[:, boundary].sum())
    plain = commit(logit, dets, layout, threshold=0.0)
    supported = commit(logit, dets, layout, threshold=0.0, rule="supported")
    assert not (supported & ~plain).any()                       # a subset of the plain commits


def test_layout_volume_round_trip():
    layout, _, _ = _logits_and_dets(d=3)
    e = np.random.default_rng(1).random((4, layout.num_edges)) < 0.3
    vol = layout.edges_to_volume(e)
    assert vol.shape == (4, 9, 4, 4, 4) and not vol[:, ~layout.valid].any()
    assert np.array_equal(layout.volume_to_edges(vol).astype(bool), e)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_pipeline_matches_cpu(tmp_path):
    from pipelines import PredecoderPipeline

    task = Task(distance=5, noise=NoiseModel.uniform(0.006))
    chunk = next(sample_detectors(task.circuit(), shots=256, seed=1, chunk_shots=256))
    num_det = task.circuit().num_detectors
    bits = unpack_to_device(chunk.dets, num_det, "cuda")
    assert bits.device.type == "cuda"
    assert np.array_equal(pack_from_device(bits), chunk.dets)
    path = tmp_path / "w.safetensors"
    save_weights(path, _net(seed=3), preset="small", threshold=-0.2)
    cpu = PredecoderPipeline.from_task(task, model=path, device="cpu")
    gpu = PredecoderPipeline.from_task(task, model=path, device="cuda")
    res_cpu = cpu.predecode(chunk.dets).residual.cpu().numpy()
    res_gpu = gpu.predecode(chunk.dets).residual.cpu().numpy()
    # bf16 autocast may flip a commit whose logit sits within rounding of the threshold
    assert (res_cpu != res_gpu).any(axis=1).mean() < 0.05
