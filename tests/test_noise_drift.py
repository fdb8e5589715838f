"""Sliding-window estimation tracks a step change of the noise strength."""

import numpy as np
import pytest

from noise import NoiseStructure, SlidingWindowEstimator, count_parities, estimate_from_counts
from qec import MatchingGraph, NoiseModel, Task, sample_detectors


def test_window_tracks_a_doubling_and_static_does_not():
    before = Task(distance=3, noise=NoiseModel.si1000(0.004))
    after = Task(distance=3, noise=NoiseModel.si1000(0.004).scaled(2.0))
    structure = NoiseStructure.from_task(before)
    truth = {t: MatchingGraph.from_dem(t.dem()).edge_prob.mean() for t in (before, after)}
    win = SlidingWindowEstimator(structure=structure, window_shots=40_000)
    for k in range(12):  # 6 chunks of 10k before the change, 6 after
        task = before if k < 6 else after
        win.add(next(sample_detectors(task.circuit(), shots=10_000, seed=100 + k)).dets)
        if k == 5:
            static = win.estimate().edge_prob.mean()
    tracked = win.estimate().edge_prob.mean()
    assert win.shots == 40_000  # only post-change chunks remain
    assert tracked == pytest.approx(truth[after], rel=0.05)
    assert static == pytest.approx(truth[before], rel=0.05)
    assert abs(static - truth[after]) > 0.3 * truth[after]


def test_window_equals_a_fresh_estimate_over_the_same_shots():
    task = Task(distance=3, noise=NoiseModel.uniform(0.01))
    structure = NoiseStructure.from_task(task)
    chunks = [c.dets for c in sample_detectors(task.circuit(), shots=9000, seed=1,
                                               chunk_shots=1500)]
    win = SlidingWindowEstimator(structure=structure, window_shots=3000)
    for c in chunks:
        win.add(c)
    fresh = estimate_from_counts(count_parities(chunks[-2:], structure=structure),
                                 structure=structure)
    np.testing.assert_array_equal(win.estimate().edge_prob, fresh.edge_prob)


def test_window_length_is_validated():
    structure = NoiseStructure.from_task(Task(distance=3, noise=NoiseModel.uniform(0.01)))
    with pytest.raises(ValueError, match=r"window_shots=0 must be an integer >= 1"):
        SlidingWindowEstimator(structure=structure, window_shots=0)
