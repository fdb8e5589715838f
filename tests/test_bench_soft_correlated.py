"""The second-pass experiment's baseline is the product's soft mode, shot for shot, and its
second pass only ever raises the logits of edges correlated with a fired one."""

from __future__ import annotations

import numpy as np
import torch

from bench.soft_correlated import correlated_pairs, second_pass_logits, soft_pass
from pipelines import PredecoderPipeline
from predecoder import load_model
from predecoder.edges import EdgeLayout
from predecoder.inference import shot_logits
from qec import BlossomMatcher, NoiseModel, Task, sample_detectors, unpack_bits


def test_pass_one_is_the_products_soft_mode_and_pass_two_only_raises_partners():
    task = Task(distance=5, noise=NoiseModel.uniform(0.006))
    layout = EdgeLayout.from_task(task)
    chunk = next(sample_detectors(task.circuit(), shots=300, seed=4, chunk_shots=300))
    dets = torch.from_numpy(unpack_bits(chunk.dets, layout.geometry.num_detectors))
    loaded = load_model("small")
    policy = loaded.policy("soft")
    logits = shot_logits(loaded.net, dets, layout)
    first, fired = soft_pass(logits, dets, layout, policy,
                             BlossomMatcher.from_graph(layout.graph, cap=policy.cap))
    product = PredecoderPipeline.from_task(task, mode="soft").decode_batch(chunk.dets)
    assert np.array_equal(first, unpack_bits(product, 1)[:, 0])
    assert np.array_equal(layout.graph.syndrome_of(fired), dets.numpy())   # a valid matching

    pairs = correlated_pairs(layout.graph)
    es, fs, implied = pairs
    assert len(es) > 0 and np.all(implied <= 0)          # conditional probabilities <= 1/2
    raised = second_pass_logits(logits.numpy(), fired, pairs)
    assert np.all(raised >= logits.numpy())
    changed = raised != logits.numpy()
    s, f = np.nonzero(changed)
    partners = {(int(a), int(b)) for a, b in zip(es, fs)}
    assert len(s) > 0
    assert all(any(fired[i, e] and (e, j) in partners for e in np.flatnonzero(fired[i]))
               for i, j in zip(s[:200], f[:200]))
