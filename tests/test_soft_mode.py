"""Soft residuals: the pre-decoder's per-edge confidences reach the global matcher."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pipelines import PredecoderPipeline, main
from predecoder import (
    CommitPolicy,
    EdgeLayout,
    ModelConfig,
    PreDecoderNet,
    corrections,
    load_model,
    save_weights,
    shot_logits,
)
from qec import (
    BlossomMatcher,
    MatchingDecoder,
    NoiseModel,
    Task,
    edge_ids_of_pairs,
    pack_bits,
    sample_detectors,
    unpack_bits,
)


def _shots(task: Task, shots: int, seed: int):
    chunk = next(sample_detectors(task.circuit(), shots=shots, seed=seed, chunk_shots=shots))
    return chunk, torch.from_numpy(unpack_bits(chunk.dets, task.circuit().num_detectors))


def test_soft_residual_is_matching_the_raw_syndrome_with_weights_minus_logit():
    """Matching the residual of the commits l > 0 with weights |l| makes the same decision as
    minimum-weight matching of the RAW syndrome with weights -l: the final correction (commits
    XOR matched edges) minimises sum(-l) over all corrections of the syndrome. The reference
    is PyMatching, which accepts negative weights, rebuilt per shot with weights -l."""
    task = Task(distance=3, noise=NoiseModel.uniform(0.01))
    layout = EdgeLayout.from_task(task)
    _, dets = _shots(task, 150, seed=4)
    logits = shot_logits(load_model("small").net, dets, layout)
    corr = corrections(logits, dets, layout, CommitPolicy.soft(cap=1e6))   # no cap: exact
    matcher = BlossomMatcher.from_graph(layout.graph, cap=1e6)
    for s in range(dets.shape[0]):
        matched = matcher.solve(np.flatnonzero(corr.residual[s].numpy()), *corr.weights.row(s))
        final = corr.edges[s].numpy().copy()
        final[matched] ^= True
        assert np.array_equal(layout.graph.syndrome_of(final[None])[0], dets[s].numpy()), s
        weights = -logits[s].double().numpy()
        reference = layout.graph.to_pymatching(weights).decode_to_edges_array(
            dets[s].numpy().astype(np.uint8))
        ref = np.zeros(layout.num_edges, dtype=bool)
        np.logical_xor.at(ref, edge_ids_of_pairs(layout.graph, reference), True)
        # equal objective up to the solver's 0.02 weight resolution (ties may pick other edges)
        assert weights[final].sum() <= weights[ref].sum() + 0.01 * (final.sum() + ref.sum()), s


def test_soft_mode_beats_pymatching_and_the_hard_rule_on_the_same_shots():
    """The shipped model in soft mode makes fewer errors than uncorrelated PyMatching at
    d = 5, p = 0.006 (the gain is ~1.3x; 6000 shots give ~270 PM errors, so the check cannot
    flake) and fewer than the eager hard rule (commit logit > 0, static weights)."""
    task = Task(distance=5, noise=NoiseModel.uniform(0.006))
    chunk, _ = _shots(task, 6000, seed=21)
    soft = PredecoderPipeline.from_task(task, mode="soft")
    eager = PredecoderPipeline.from_task(task, mode="hard", policy=CommitPolicy.hard(0.0))
    pm = MatchingDecoder.from_dem(task.dem())
    errors = {name: int(np.any(dec.decode_batch(chunk.dets) != chunk.obs, axis=1).sum())
              for name, dec in (("pm", pm), ("soft", soft), ("eager", eager))}
    assert errors["soft"] * 1.15 < errors["pm"], errors
    assert errors["soft"] < errors["eager"], errors
    assert soft.metrics()["sdr"] > 5


def test_soft_weights_are_sparse_below_the_cap_and_capped_edges_keep_the_cap():
    task = Task(distance=5, noise=NoiseModel.uniform(0.006))
    layout = EdgeLayout.from_task(task)
    _, dets = _shots(task, 50, seed=3)
    logits = shot_logits(load_model("small").net, dets, layout)
    corr = corrections(logits, dets, layout, CommitPolicy.soft(cap=8.0))
    sent = corr.weights.edge.size / (dets.shape[0] * layout.num_edges)
    assert 0 < sent < 0.5                                  # sparse: most edges are confident
    assert np.all(corr.weights.weight < 8.0)
    s = 0
    e, w = corr.weights.row(s)
    np.testing.assert_allclose(w, logits[s, e].abs().double().numpy())
    assert torch.equal(corr.edges, logits > 0)


def test_nan_logits_are_refused():
    task = Task(distance=3, noise=NoiseModel.uniform(0.006))
    layout = EdgeLayout.from_task(task)
    _, dets = _shots(task, 4, seed=1)
    logits = torch.zeros((4, layout.num_edges))
    logits[1, 3] = float("nan")
    with pytest.raises(ValueError, match="non-finite logits"):
        corrections(logits, dets, layout, CommitPolicy.soft())


def _model(path, *, soft_cap, nan=False):
    torch.manual_seed(0)
    net = PreDecoderNet(ModelConfig(widths=(4,))).eval()
    if nan:
        with torch.no_grad():
            next(net.parameters()).fill_(float("nan"))
    save_weights(path, net, threshold=1.0, soft_cap=soft_cap)
    return path


@pytest.mark.parametrize("case,message", [
    ("no_soft_cap", "has no soft-mode metadata ('soft_cap')"),
    ("nan_weights", "must hold finite floating-point numbers"),
])
def test_cli_bad_model_files_for_soft_mode_exit_2(tmp_path, capsys, case, message):
    path = _model(tmp_path / "m.safetensors", soft_cap=None if case == "no_soft_cap" else 8.0,
                  nan=case == "nan_weights")
    rc = main(["run", "--distance", "3", "--max-shots", "100", "--decoder",
               "predecoder+soft-matching", "--model", str(path)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and message in err


def test_policy_validation():
    with pytest.raises(ValueError, match="soft mode commits logit > 0"):
        CommitPolicy(mode="soft", threshold=2.0)
    with pytest.raises(ValueError, match="cap=0.0 must be a finite weight > 0"):
        CommitPolicy.soft(0.0)
    with pytest.raises(ValueError, match="threshold=nan must be a finite logit"):
        CommitPolicy.hard(float("nan"))
    with pytest.raises(ValueError, match="mode='medium' must be one of hard, soft"):
        CommitPolicy(mode="medium")


def test_run_warns_when_the_model_was_trained_on_other_noise(capsys, caplog):
    rc = main(["run", "--distance", "3", "--max-shots", "100", "--noise", "si1000", "--json",
               "--decoder", "predecoder+soft-matching", "--model", "small"])
    assert rc == 0 and json.loads(capsys.readouterr().out)["decoders"]
    assert "trained on uniform noise, not on the task's si1000 noise" in caplog.text


def test_soft_pipeline_metrics_and_packed_contract():
    task = Task(distance=3, noise=NoiseModel.uniform(0.006))
    chunk, _ = _shots(task, 500, seed=2)
    dec = PredecoderPipeline.from_task(task, mode="soft")
    out = dec.decode_batch(chunk.dets)
    assert out.dtype == np.uint8 and out.shape == (500, 1)
    m = dec.metrics()
    assert m["sdr"] > 1 and m["residual_density"] > 0
    assert np.array_equal(dec.decode_batch(chunk.dets[:0]), np.zeros((0, 1), np.uint8))
    assert pack_bits(np.zeros((1, 3), bool)).shape == (1, 1)
