"""Parallel-window decoding: tiling, template graphs, exact commits, agreement with global."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines import WindowedDecoder, WindowPlan, WindowWorker
from pipelines._windows.graphs import WindowGraphs, restrict_graph
from pipelines._windows.slices import SliceLayout
from qec import MatchingDecoder, MatchingGraph, NoiseModel, Task, sample_detectors, unpack_bits


def _sample(task: Task, shots: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    circuit = task.circuit()
    chunk = next(sample_detectors(circuit, shots=shots, seed=seed))
    dets = unpack_bits(chunk.dets, circuit.num_detectors)
    return dets, unpack_bits(chunk.obs, 1), chunk.dets


def _syndrome(edges: np.ndarray, num_detectors: int) -> np.ndarray:
    syn = np.zeros(num_detectors, dtype=bool)
    np.bitwise_xor.at(syn, edges[:, 0], True)
    inner = edges[:, 1] >= 0
    np.bitwise_xor.at(syn, edges[inner, 1], True)
    return syn


@pytest.mark.parametrize("num_slices,n_com,n_buf", [(31, 3, 3), (40, 5, 2), (7, 2, 9), (2, 1, 1)])
def test_plan_commit_regions_tile_time_in_order(num_slices, n_com, n_buf):
    plan = WindowPlan(num_slices=num_slices, n_com=n_com, n_buf=n_buf)
    regions = [(w.commit_lo, w.commit_hi) for w in plan.windows]
    assert regions[0][0] == 0 and regions[-1][1] == num_slices
    assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(regions, regions[1:]))
    for w in plan.windows:
        assert w.index == plan.windows.index(w)
        if w.layer == "A":
            assert w.lo == max(0, w.commit_lo - n_buf)
            assert w.hi == min(num_slices, w.commit_hi + n_buf)
        else:  # B: between two A windows, no buffer, never last
            assert (w.lo, w.hi) == (w.commit_lo, w.commit_hi) and w.hi - w.lo == n_buf
            assert [plan.windows[a].layer for a in w.depends] == ["A", "A"]


def test_plan_rejects_bad_values():
    with pytest.raises(ValueError, match=r"n_buf=0 must be an integer >= 1"):
        WindowPlan(num_slices=10, n_com=3, n_buf=0)
    with pytest.raises(ValueError, match=r"num_slices=1 must be >= 2"):
        WindowPlan(num_slices=1, n_com=3, n_buf=3)


def test_slice_layout_matches_geometry():
    from qec import Geometry

    task = Task(distance=5, rounds=9, basis="Z", noise=NoiseModel.si1000(0.002))
    geo = Geometry.from_circuit(task.circuit())
    lay = SliceLayout.of_task(task)
    assert lay.num_detectors == geo.num_detectors
    for t in range(lay.num_slices):
        ids = np.flatnonzero(geo.det_round == t)
        assert (ids.min(), ids.max() + 1) == (lay.start(t), lay.start(t + 1))


def _graph_table(graph):
    return graph.edge_keys, graph.edge_obs, graph.edge_prob


@pytest.mark.parametrize("basis,noise,rounds,n_com,n_buf", [
    ("X", NoiseModel.uniform(0.004), 40, 3, 3),
    ("Z", NoiseModel.si1000(0.003), 33, 2, 4),
])
def test_template_windows_equal_the_full_dem_restricted(basis, noise, rounds, n_com, n_buf):
    """Every window built from the short template is the full experiment's window exactly."""
    task = Task(distance=3, rounds=rounds, basis=basis, noise=noise)
    plan = WindowPlan(num_slices=rounds + 1, n_com=n_com, n_buf=n_buf)
    short, full = WindowGraphs(task, plan), WindowGraphs(task, plan, full=True)
    assert short.template_slices < rounds + 1
    for w in plan.windows:
        (ka, oa, pa), (kb, ob, pb) = _graph_table(short.for_window(w)), _graph_table(
            full.for_window(w))
        assert np.array_equal(ka, kb) and np.array_equal(oa, ob), w
        np.testing.assert_allclose(pa, pb, rtol=1e-9, err_msg=str(w))


def test_restrict_graph_cuts_open_sides_to_boundary_and_drops_closed_sides():
    import stim

    g = MatchingGraph.from_dem(stim.DetectorErrorModel("""
        error(0.1) D0 D1
        error(0.2) D1 D2
        error(0.05) D2 D3 L0
        error(0.3) D1
    """))
    open_ = restrict_graph(g, 1, 3, open_left=True, open_right=True)
    # Local detectors 0, 1 (= D1, D2); key a * 3 + (b + 1). (0, -1) merges D1's own boundary
    # edge 0.3 with the cut edge D0-D1 0.1 (same observable); (1, -1) is the cut D2-D3.
    assert open_.edge_keys.tolist() == [0 * 3 + 0, 0 * 3 + 2, 1 * 3 + 0]
    np.testing.assert_allclose(open_.edge_prob, [0.3 + 0.1 - 2 * 0.03, 0.2, 0.05])
    assert open_.edge_obs.tolist() == [0, 0, 1]
    closed = restrict_graph(g, 1, 3, open_left=False, open_right=False)
    np.testing.assert_allclose(closed.edge_prob, [0.3, 0.2])


@pytest.mark.parametrize("distance,rounds,n_com,n_buf", [(3, 30, 3, 3), (5, 40, 4, 5)])
def test_committed_edges_explain_every_defect_exactly_once(distance, rounds, n_com, n_buf):
    task = Task(distance=distance, rounds=rounds, noise=NoiseModel.si1000(0.004))
    worker = WindowWorker(task=task, plan=WindowPlan(num_slices=rounds + 1, n_com=n_com,
                                                     n_buf=n_buf))
    dets, _, _ = _sample(task, 150, seed=11)
    pred, edges = worker.decode_all(dets, return_edges=True)
    full = MatchingGraph.from_dem(task.dem())
    known = {tuple(e) for e in full.edge_dets.tolist()}
    obs_of = dict(zip(map(tuple, full.edge_dets.tolist()), full.edge_obs.tolist()))
    for s in range(len(dets)):
        assert np.array_equal(_syndrome(edges[s], dets.shape[1]), dets[s]), s
        pairs = [tuple(sorted(p)) if p[1] >= 0 else tuple(p) for p in edges[s].tolist()]
        assert len(set(pairs)) == len(pairs)  # no edge committed twice
        assert set(pairs) <= known  # only real edges of the experiment
        flip = np.bitwise_xor.reduce([obs_of[p] for p in pairs]) if pairs else 0
        assert bool(flip & 1) == pred[s, 0]


def test_windowed_agrees_with_global_matching():
    task = Task(distance=5, rounds=50, noise=NoiseModel.uniform(0.004))
    dets, obs, packed = _sample(task, 600, seed=3)
    windowed = WindowedDecoder.for_task(task, n_com=5, n_buf=5)
    pred = unpack_bits(windowed.decode_batch(packed), 1)
    glob = unpack_bits(MatchingDecoder.from_dem(task.dem()).decode_batch(packed), 1)
    disagree = int((pred != glob).sum())
    assert disagree <= 0.03 * len(dets), disagree
    # Both are real decoders: far better than the 50% of guessing.
    assert (pred != obs).mean() < 0.25 and (glob != obs).mean() < 0.25


def test_one_window_spanning_the_experiment_is_global_matching():
    task = Task(distance=3, rounds=12, noise=NoiseModel.uniform(0.01))
    dets, _, packed = _sample(task, 500, seed=4)
    plan = WindowPlan(num_slices=13, n_com=13, n_buf=13)
    assert len(plan.windows) == 1
    pred = WindowWorker(task=task, plan=plan).decode_all(dets)
    glob = unpack_bits(MatchingDecoder.from_dem(task.dem()).decode_batch(packed), 1)
    assert np.array_equal(pred, glob.astype(bool))


def test_decode_rejects_malformed_window_input():
    task = Task(distance=3, rounds=12, noise=NoiseModel.uniform(0.01))
    worker = WindowWorker(task=task, plan=WindowPlan(num_slices=13, n_com=3, n_buf=3))
    lo, hi = worker.window_range(worker.plan.windows[0])
    with pytest.raises(TypeError, match=r"window 0 has dtype float64"):
        worker.decode(0, np.zeros((2, hi - lo)))
    with pytest.raises(ValueError,
                       match=rf"window 0 has shape \(2, 3\); expected \(shots, {hi - lo}\)"):
        worker.decode(0, np.zeros((2, 3), dtype=bool))
    with pytest.raises(ValueError, match=r"plan.num_slices=10 must be task.rounds \+ 1 = 13"):
        WindowWorker(task=task, plan=WindowPlan(num_slices=10, n_com=3, n_buf=3))


# --- the AI pre-decoder, block by block ----------------------------------------------------

def _net(seed: int):
    torch = pytest.importorskip("torch")
    from predecoder import ModelConfig, PreDecoderNet

    torch.manual_seed(seed)
    return PreDecoderNet(ModelConfig(widths=(8, 8))).eval()


@pytest.mark.parametrize("distance,rounds,block", [(3, 30, 5), (5, 20, 7), (3, 8, 2)])
@pytest.mark.parametrize("mode", ["hard", "soft"])
def test_block_predecoder_equals_the_whole_volume(distance, rounds, block, mode):
    """Blocks with a halo commit exactly what the network commits on the whole experiment:
    same residual, same flip, same soft weights (edges named by global detector pairs)."""
    torch = pytest.importorskip("torch")
    from pipelines import BlockPredecoder
    from predecoder import CommitPolicy, EdgeLayout, predecode

    task = Task(distance=distance, rounds=rounds, basis="Z", noise=NoiseModel.uniform(0.01))
    policy = CommitPolicy.soft() if mode == "soft" else CommitPolicy.hard(-0.2)
    net = _net(seed=distance)
    dets, _, _ = _sample(task, 30, seed=2)
    layout = EdgeLayout.from_task(task)
    whole = predecode(net, torch.from_numpy(dets), layout, policy=policy)
    pre = BlockPredecoder(task=task, net=net, policy=policy, block_slices=block)
    residual, flip, weights = pre.run_all(dets)
    assert whole.edges.any() and (residual != dets).any()
    np.testing.assert_array_equal(residual, whole.residual.numpy())
    np.testing.assert_array_equal(flip, whole.flip.numpy())
    if mode == "hard":
        assert weights is None
        return
    n = dets.shape[1] + 1
    keys = layout.graph.edge_dets[:, 0] * n + layout.graph.edge_dets[:, 1] + 1
    for s in range(dets.shape[0]):
        e, w = whole.weights.row(s)
        e2, w2 = weights.row(s)
        assert dict(zip(keys[e].tolist(), w.tolist())) == pytest.approx(
            dict(zip(e2.tolist(), w2.tolist())), abs=1e-5)


@pytest.mark.parametrize("mode", ["hard", "soft"])
def test_windows_on_the_residual_explain_every_event(mode):
    """Pre-decoder commits (the residual's difference) plus the windows' committed edges
    explain every detection event exactly, and the flips add up."""
    from pipelines import BlockPredecoder
    from predecoder import CommitPolicy

    task = Task(distance=3, rounds=30, noise=NoiseModel.uniform(0.01))
    policy = CommitPolicy.soft() if mode == "soft" else CommitPolicy.hard(0.0)
    pre = BlockPredecoder(task=task, net=_net(seed=0), policy=policy, block_slices=4)
    dec = WindowedDecoder.for_task(task, n_com=3, n_buf=3, predecoder=pre)
    dets, _, packed = _sample(task, 40, seed=2)
    residual, pre_flip, weights = pre.run_all(dets)
    flip, matched = dec.worker.decode_all(residual, weights=weights, return_edges=True)
    full = MatchingGraph.from_dem(task.dem())
    obs_of = dict(zip(map(tuple, full.edge_dets.tolist()), full.edge_obs.tolist()))
    for s in range(len(dets)):
        assert np.array_equal(_syndrome(matched[s], dets.shape[1]), residual[s]), s
        parity = 0
        for p in matched[s].tolist():
            parity ^= obs_of[tuple(p)]  # KeyError if an edge is not the experiment's
        assert bool(parity & 1) == flip[s, 0]
    predicted = unpack_bits(dec.decode_batch(packed), 1)
    np.testing.assert_array_equal(predicted, flip ^ pre_flip)
    assert dec.name == f"windowed-predecoder+{'soft-matching' if mode == 'soft' else 'pymatching'}"


def test_local_weights_follow_the_restriction_rules():
    """Inside edges keep their weight, a cut edge on an open side becomes the boundary edge of
    its inner detector (the smaller weight wins), a cut edge on a closed side is dropped."""
    from qec import SparseEdgeWeights

    task = Task(distance=3, rounds=12, noise=NoiseModel.uniform(0.003))
    plan = WindowPlan(num_slices=13, n_com=3, n_buf=2)
    worker = WindowWorker(task=task, plan=plan, soft_cap=8.0)
    a_win = plan.windows[2]                     # an A window open on both sides
    b_win = plan.windows[1]                     # a B window: closed on both sides
    lo, hi = worker.window_range(a_win)
    n = worker.layout.num_detectors + 1
    graph = worker.graphs.for_window(a_win)
    inner = graph.edge_dets[graph.edge_dets[:, 1] >= 0][0]        # an edge inside the window
    bnd = int(inner[0])                                           # its boundary edge
    cut = (lo - worker.layout.n_bulk + bnd, lo + bnd)             # into the slice before
    keys = [(inner[0] + lo) * n + inner[1] + lo + 1, cut[0] * n + cut[1] + 1,
            (lo + bnd) * n + 0]
    w = SparseEdgeWeights.from_rows([{keys[0]: 1.5, keys[1]: 0.5, keys[2]: 3.0}])
    local = worker.local_weights(a_win, w)
    got = dict(zip(local.row(0)[0].tolist(), local.row(0)[1].tolist()))
    i_inner = int(graph.edge_index(np.array([inner[0]]), np.array([inner[1]]))[0])
    i_bnd = int(graph.edge_index(np.array([bnd]), np.array([-1]))[0])
    assert got == {i_inner: 1.5, i_bnd: 0.5}
    b_lo, _ = worker.window_range(b_win)
    closed = SparseEdgeWeights.from_rows([{(b_lo - 1) * n + b_lo + 1: 0.1}])
    assert worker.local_weights(b_win, closed).row(0)[0].size == 0
