"""The pre-decoder's Python API: bit-packed numpy in (the library's convention), clear errors
for anything else, and results a matcher decodes directly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipelines import PredecoderPipeline
from predecoder import EdgeLayout, load_model, predecode
from qec import (
    BlossomMatcher,
    NoiseModel,
    Task,
    pack_bits,
    popcount_rows,
    sample_detectors,
    unpack_bits,
)

TASK = Task(distance=3, noise=NoiseModel.uniform(0.008))


@pytest.fixture(scope="module")
def setup():
    model, layout = load_model("small"), EdgeLayout.from_task(TASK)
    chunk = next(sample_detectors(TASK.circuit(), shots=300, seed=5))
    return model, layout, chunk


def test_packed_numpy_and_unpacked_torch_give_the_same_corrections(setup):
    model, layout, chunk = setup
    policy = model.policy("soft")
    packed = predecode(model.net, chunk.dets, layout, policy=policy)
    bits = torch.from_numpy(unpack_bits(chunk.dets, layout.geometry.num_detectors))
    unpacked = predecode(model.net, bits, layout, policy=policy)
    assert torch.equal(packed.edges, unpacked.edges)
    assert np.array_equal(packed.residual_bit_packed, pack_bits(unpacked.residual.numpy()))
    assert np.array_equal(packed.weights.weight, unpacked.weights.weight)


def test_decoding_the_corrections_is_the_soft_pipeline(setup):
    """residual_bit_packed + weights + flip_bit_packed: exactly predecoder+soft-matching."""
    model, layout, chunk = setup
    policy = model.policy("soft")
    corr = predecode(model.net, chunk.dets, layout, policy=policy)
    assert corr.residual_bit_packed.dtype == np.uint8
    assert corr.residual_bit_packed.shape == chunk.dets.shape
    assert corr.flip_bit_packed.shape == chunk.obs.shape
    assert popcount_rows(corr.residual_bit_packed).sum() < popcount_rows(chunk.dets).sum()
    matcher = BlossomMatcher.from_graph(layout.graph, cap=policy.cap)
    mine = matcher.decode_batch(corr.residual_bit_packed, corr.weights) ^ corr.flip_bit_packed
    pipeline = PredecoderPipeline.from_task(TASK, mode="soft").decode_batch(chunk.dets)
    assert np.array_equal(mine, pipeline)


@pytest.mark.parametrize(("dets", "kind", "message"), [
    ([[0, 1]], TypeError, r"dets_bit_packed is a list; expected a \(shots, 3\) uint8 numpy"),
    (np.zeros((4, 24), dtype=bool), TypeError,
     r"dtype bool and shape \(4, 24\); expected uint8 \(shots, 3\).*pack them with "
     r"qec.pack_bits"),
    (np.zeros((4, 3), dtype=np.int64), TypeError, r"dtype int64 and shape \(4, 3\)"),
    (np.zeros((4, 5), dtype=np.uint8), ValueError,
     r"shape \(4, 5\); expected \(shots, 3\): the layout's 24 detectors"),
    (np.zeros(3, dtype=np.uint8), ValueError, r"shape \(3,\); expected \(shots, 3\)"),
    (torch.zeros((4, 24), dtype=torch.float32), TypeError,
     r"torch tensor of dtype torch.float32; a tensor must be bool \(S, 24\)"),
    (torch.zeros((4, 23), dtype=torch.bool), ValueError,
     r"bool tensor of shape \(4, 23\); expected \(shots, 24\)"),
])
def test_wrong_dets_are_refused_naming_the_argument(setup, dets, kind, message):
    model, layout, _ = setup
    with pytest.raises(kind, match=message):
        predecode(model.net, dets, layout, policy=model.policy("hard"))


def test_wrong_net_layout_or_policy_are_refused_by_name(setup):
    model, layout, chunk = setup
    with pytest.raises(TypeError, match=r"net is a LoadedModel; expected a torch.nn.Module "
                                        r"\(a LoadedModel's .net\)"):
        predecode(model, chunk.dets, layout, policy=model.policy("soft"))
    with pytest.raises(TypeError, match="layout is a Task; expected a predecoder.EdgeLayout"):
        predecode(model.net, chunk.dets, TASK, policy=model.policy("soft"))
    with pytest.raises(TypeError, match="policy is a str; expected a predecoder.CommitPolicy"):
        predecode(model.net, chunk.dets, layout, policy="soft")
