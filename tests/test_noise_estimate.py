"""Correlation estimators: recovery, graph-neighbour boundaries, backends, chunking, errors."""

import logging

import numpy as np
import pytest
import stim

from noise import (
    NoiseStructure,
    ParityAccumulator,
    clamp_probabilities,
    count_parities,
    estimate_from_counts,
    estimate_noise,
    graph_edge_prob_like,
    matching_dem,
    uniform_dem,
)
from qec import MatchingDecoder, MatchingGraph, NoiseModel, Task, pack_bits, sample_dem
from qec import sample_detectors as sample

# A hyperedge "D0 D1 ^ D2" correlates detectors 0 and 2, which are NOT graph neighbours.
TOY = stim.DetectorErrorModel("""
    error(0.1) D0 D1
    error(0.05) D0
    error(0.05) D1
    error(0.05) D2
    error(0.08) D0 D1 ^ D2
    error(0.03) D2 D3
    error(0.04) D3
    error(0.02) D0 D3 ^ D1 D2
""")


def _toy_counts(shots=400_000, seed=3, dem=TOY):
    structure = NoiseStructure.from_dem(dem)
    chunks = sample_dem(dem, shots=shots, seed=seed)
    return structure, count_parities(chunks, structure=structure)


def test_mechanisms_method_recovers_every_mechanism_including_hyperedges():
    structure, counts = _toy_counts()
    est = estimate_from_counts(counts, structure=structure, method="mechanisms")
    truth = structure.graph.error_prob
    # 400k shots: standard error of each estimate is below 2.5e-3; 0.008 is > 3 sigma.
    np.testing.assert_allclose(est.mechanism_prob, truth, atol=0.008)
    np.testing.assert_allclose(est.edge_prob, structure.graph.edge_prob, atol=0.008)


def test_pairwise_boundary_uses_graph_neighbours_only():
    # Without the 4-detector mechanism (which the pairwise boundary formula double-counts
    # once per graph neighbour: the 'mechanisms' method exists for that).
    toy3 = stim.DetectorErrorModel("\n".join(
        line for line in str(TOY).splitlines() if "D0 D3 ^ D1 D2" not in line))
    structure, counts = _toy_counts(dem=toy3)
    est = estimate_from_counts(counts, structure=structure, method="pairwise")
    g = structure.graph
    b0 = int(np.flatnonzero((g.edge_dets[:, 0] == 0) & g.is_boundary)[0])
    # Truth for the boundary of D0 is 0.05. The hyperedge makes <x0 x2> correlated (~0.08);
    # summing S_0 over all detectors would subtract it and give ~-0.04.
    assert est.edge_prob[b0] == pytest.approx(0.05, abs=0.01)
    e01 = int(np.flatnonzero((g.edge_dets[:, 0] == 0) & (g.edge_dets[:, 1] == 1))[0])
    assert est.edge_prob[e01] == pytest.approx(g.edge_prob[e01], abs=0.01)


def test_estimates_match_true_dem_on_a_circuit():
    qubits = Task(distance=5, noise=NoiseModel.uniform(0.004)).circuit().num_qubits
    noise = NoiseModel.si1000(0.004).with_random_multipliers(qubits, seed=2)
    task = Task(distance=5, noise=noise)
    structure = NoiseStructure.from_task(task)
    est = estimate_noise(sample(task.circuit(), shots=300_000, seed=5), structure=structure)
    truth = graph_edge_prob_like(MatchingGraph.from_dem(task.dem()), structure.graph)
    rel = np.abs(est.edge_prob - truth) / truth
    bulk = ~structure.graph.is_boundary
    # Seeded; measured 0.04 (bulk). Boundary edges carry the nominal split of symptoms
    # that syndromes cannot tell apart, so they are looser.
    assert np.median(rel[bulk]) < 0.06
    assert np.median(rel) < 0.08


def test_structure_never_reads_the_true_noise():
    a = NoiseStructure.from_task(Task(distance=3, noise=NoiseModel.uniform(0.001)))
    b = NoiseStructure.from_task(Task(distance=3, noise=NoiseModel.si1000(0.009)))
    assert a.fingerprint == b.fingerprint
    np.testing.assert_array_equal(a.graph.edge_prob, b.graph.edge_prob)


def test_numpy_and_torch_backends_agree_exactly():
    pytest.importorskip("torch")
    task = Task(distance=3, noise=NoiseModel.uniform(0.01))
    structure = NoiseStructure.from_task(task)
    chunks = list(sample(task.circuit(), shots=6000, seed=1, chunk_shots=2500))
    a = count_parities(chunks, structure=structure, backend="numpy")
    b = count_parities(chunks, structure=structure, backend="torch", device="cpu")
    np.testing.assert_array_equal(a.odd, b.odd)
    ea = estimate_from_counts(a, structure=structure)
    eb = estimate_from_counts(b, structure=structure)
    np.testing.assert_array_equal(ea.edge_prob, eb.edge_prob)


def test_chunked_equals_unchunked_and_counts_are_exact():
    task = Task(distance=3, noise=NoiseModel.uniform(0.01))
    structure = NoiseStructure.from_task(task)
    dets = np.concatenate([c.dets for c in sample(task.circuit(), shots=3001, seed=2)])
    whole = count_parities([dets], structure=structure)
    parts = count_parities([dets[:1000], dets[1000:1001], dets[1001:]], structure=structure)
    np.testing.assert_array_equal(whole.odd, parts.odd)
    bits = np.unpackbits(dets, axis=1, count=structure.num_detectors, bitorder="little")
    k = structure.subsets.index(structure.subsets[-1])
    brute = int((bits[:, list(structure.subsets[k])].sum(axis=1) % 2).sum())
    assert whole.odd[k] == brute


def test_clamping_warns_and_bounds(caplog):
    with caplog.at_level(logging.WARNING, logger="noise.reweight"):
        out = clamp_probabilities(np.array([0.01, -0.1, 0.6, np.nan]), p_min=1e-5, eps=1e-3)
    assert out.tolist() == [0.01, 1e-5, 0.499, 1e-5]
    assert "clamped 3 of 4" in caplog.text


def test_silent_detector_warns_and_matcher_still_builds(caplog):
    structure = NoiseStructure.from_dem(TOY)
    bits = np.random.default_rng(0).random((5000, 4)) < 0.2
    bits[:, 3] = False  # detector 3 never fires
    with caplog.at_level(logging.WARNING):
        est = estimate_noise([pack_bits(bits)], structure=structure)
        dem = matching_dem(est, correlated=True)
    assert "detectors [3] never fired" in caplog.text
    assert "clamped" in caplog.text
    MatchingDecoder.from_dem(dem, correlated=True)  # PyMatching accepts it


def test_too_few_shots_and_mismatched_detectors_raise():
    structure = NoiseStructure.from_dem(TOY)
    few = pack_bits(np.zeros((10, 4), dtype=bool))
    with pytest.raises(ValueError, match=r"shots=10 is below min_shots=1000"):
        estimate_noise([few], structure=structure)
    wide = pack_bits(np.zeros((2000, 24), dtype=bool))
    with pytest.raises(ValueError, match=r"the circuit has 4 detectors"):
        estimate_noise([wide], structure=structure)
    with pytest.raises(ValueError, match=r"backend='jax'"):
        ParityAccumulator(subsets=((0,),), num_detectors=4, backend="jax")
    est = estimate_noise(sample_dem(TOY, shots=2000, seed=1), structure=structure,
                         method="pairwise")
    with pytest.raises(ValueError, match=r"method='pairwise' gives edges only"):
        matching_dem(est, correlated=True)


def test_reweighted_matchers_decode_like_the_true_dem_and_beat_uniform():
    qubits = Task(distance=5, noise=NoiseModel.uniform(0.004)).circuit().num_qubits
    noise = NoiseModel.si1000(0.004).with_random_multipliers(qubits, seed=2)
    task = Task(distance=5, noise=noise)
    structure = NoiseStructure.from_task(task)
    est = estimate_noise(sample(task.circuit(), shots=300_000, seed=5), structure=structure)
    dems = {"true": (task.dem(), False), "est": (matching_dem(est), False),
            "true-c": (task.dem(), True), "est-c": (matching_dem(est, correlated=True), True),
            "uniform": (uniform_dem(structure, p=0.01), False)}
    errors = dict.fromkeys(dems, 0)
    for chunk in sample(task.circuit(), shots=40_000, seed=77):
        for k, (dem, corr) in dems.items():
            pred = MatchingDecoder.from_dem(dem, correlated=corr).decode_batch(chunk.dets)
            errors[k] += int(np.any(pred != chunk.obs, axis=1).sum())
    # ~1500 errors each on the same shots; measured ratios est/true ~1.03, uniform/true ~1.5.
    assert errors["est"] < 1.10 * errors["true"]
    assert errors["est-c"] < 1.10 * errors["true-c"]
    assert errors["uniform"] > 1.25 * errors["est"]


@pytest.mark.gpu
def test_torch_cuda_backend_agrees_with_numpy():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    task = Task(distance=5, noise=NoiseModel.uniform(0.01))
    structure = NoiseStructure.from_task(task)
    chunks = list(sample(task.circuit(), shots=20_000, seed=1))
    a = count_parities(chunks, structure=structure, backend="numpy")
    b = count_parities(chunks, structure=structure, backend="torch", device="cuda")
    np.testing.assert_array_equal(a.odd, b.odd)
