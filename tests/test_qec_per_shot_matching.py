"""The per-shot-weight matcher against PyMatching: same decisions up to exact ties."""

import numpy as np
import pytest

from qec import (
    BlossomMatcher,
    MatchingDecoder,
    MatchingGraph,
    NoiseModel,
    PerShotWeightMatcher,
    SparseEdgeWeights,
    Task,
    edge_ids_of_pairs,
    sample_detectors,
    unpack_bits,
    weight_of_prob,
)


def _shots(task, shots, seed):
    chunk = next(sample_detectors(task.circuit(), shots=shots, seed=seed, chunk_shots=shots))
    return chunk, unpack_bits(chunk.dets, task.circuit().num_detectors)


@pytest.mark.parametrize("distance", [5, 9])
def test_static_weights_agree_with_pymatching_up_to_ties(distance):
    task = Task(distance=distance, noise=NoiseModel.uniform(0.006))
    graph = MatchingGraph.from_dem(task.dem())
    blossom = BlossomMatcher.from_graph(graph)
    pm = MatchingDecoder.from_dem(task.dem())
    chunk, dets = _shots(task, 5000, seed=11)
    ours = blossom.decode_batch(chunk.dets)
    theirs = pm.decode_batch(chunk.dets)
    assert isinstance(blossom, PerShotWeightMatcher)
    differ = np.flatnonzero(np.any(ours != theirs, axis=1))
    weights = weight_of_prob(graph.edge_prob)
    for s in differ:   # a disagreement must be an exact tie between two minimum matchings
        mine = blossom.solve(np.flatnonzero(dets[s]))
        pm_edges = edge_ids_of_pairs(graph, pm.decode_to_edges(dets[s]))
        gap = abs(weights[mine].sum() - weights[pm_edges].sum())
        assert gap <= blossom.resolution * (len(mine) + len(pm_edges)), (s, gap)
    assert len(differ) <= 5, f"{len(differ)} disagreements in 5000 shots"
    # Matching the wrong way round would flip the observable on many shots: the check bites.
    assert np.mean(ours[:, 0] != chunk.obs[:, 0]) < 0.1


def test_per_shot_weights_agree_with_a_rebuilt_pymatching():
    task = Task(distance=5, noise=NoiseModel.uniform(0.006))
    graph = MatchingGraph.from_dem(task.dem())
    blossom = BlossomMatcher.from_graph(graph, cap=8.0)
    chunk, dets = _shots(task, 300, seed=3)
    rng = np.random.default_rng(5)
    rows, full = [], []
    for _ in range(dets.shape[0]):
        # a few hundred edges per shot get weights on the solver's grid, the rest keep 8
        edges = np.sort(rng.choice(graph.num_edges, size=200, replace=False))
        w = np.round(rng.uniform(0.0, 8.0, size=edges.size) / 0.02) * 0.02
        rows.append(dict(zip(edges.tolist(), w.tolist())))
        shot_w = np.full(graph.num_edges, 8.0)
        shot_w[edges] = w
        full.append(shot_w)
    sparse = SparseEdgeWeights.from_rows(rows)
    ours = blossom.decode_bool(dets, sparse)[:, 0]
    ties = 0
    for s in range(dets.shape[0]):
        ref = graph.to_pymatching(full[s])   # rebuilt per shot: slow, obviously right
        if ref.decode(dets[s].astype(np.uint8))[0] != ours[s]:
            mine = blossom.solve(np.flatnonzero(dets[s]), *sparse.row(s))
            theirs = edge_ids_of_pairs(graph, ref.decode_to_edges_array(dets[s].astype(np.uint8)))
            assert abs(full[s][mine].sum() - full[s][theirs].sum()) < 1e-6, s
            ties += 1
    assert ties <= 3
    # The per-shot weights matter: the static-weight answer differs on many shots.
    assert np.sum(blossom.decode_bool(dets)[:, 0] != ours) > 10


def test_sparse_weights_validate_and_slice():
    w = SparseEdgeWeights.from_rows([{3: 1.0}, {}, {0: 0.5, 2: 2.0}])
    assert w.shots == 3 and w.row(2)[0].tolist() == [0, 2]
    assert w.take(np.array([2, 0])).row(0)[1].tolist() == [0.5, 2.0]
    with pytest.raises(ValueError, match=r"weight\[0\]=nan must be finite"):
        SparseEdgeWeights.from_rows([{1: float("nan")}])
    with pytest.raises(ValueError, match="weight\\[0\\]=-1.0 must be finite and >= 0"):
        SparseEdgeWeights.from_rows([{1: -1.0}])
    with pytest.raises(ValueError, match="edge has shape"):
        SparseEdgeWeights(shot_ptr=np.array([0, 2]), edge=np.array([1]), weight=np.array([1.0]))


def test_matcher_refuses_bad_shapes_and_edges():
    task = Task(distance=3, noise=NoiseModel.uniform(0.006))
    graph = MatchingGraph.from_dem(task.dem())
    m = BlossomMatcher.from_graph(graph, cap=8.0)
    with pytest.raises(ValueError, match="base_weights has shape"):
        BlossomMatcher(graph, np.ones(3))
    with pytest.raises(ValueError, match="weights has 1 rows; expected one per shot \\(2\\)"):
        m.decode_bool(np.zeros((2, graph.num_detectors), bool),
                      SparseEdgeWeights.from_rows([{}]))
    bad = SparseEdgeWeights.from_rows([{graph.num_edges: 1.0}])
    one = np.zeros((1, graph.num_detectors), bool)
    one[0, 0] = True
    with pytest.raises(ValueError, match=f"edge index {graph.num_edges} is out of range"):
        m.decode_bool(one, bad)
    with pytest.raises(ValueError, match="cap=nan must be a finite weight > 0"):
        BlossomMatcher.from_graph(graph, cap=float("nan"))
