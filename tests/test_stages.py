"""The streaming stages without Ray: batched pre-decoding, block dependencies, the pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines import (
    BlockPredecoder,
    InProcessPool,
    InProcessPredecoderPool,
    RoundSource,
    StreamConfig,
    StreamService,
    WindowedDecoder,
    run_stream,
)
from qec import NoiseModel, Task

NOISE = NoiseModel.uniform(0.006)


@pytest.fixture(scope="module")
def loaded():
    from predecoder import load_model

    return load_model("small")


def _pre(loaded, task: Task, mode: str, block_slices: int = 3) -> BlockPredecoder:
    return BlockPredecoder(task=task, net=loaded.net, policy=loaded.policy(mode),
                           block_slices=block_slices)


def _outputs_equal(a, b) -> None:
    assert (a.t0, a.t1, a.det_lo, a.det_hi) == (b.t0, b.t1, b.det_lo, b.det_hi)
    assert np.array_equal(a.syndrome, b.syndrome) and np.array_equal(a.flip, b.flip)
    assert a.committed_edges == b.committed_edges
    for name in ("shot_ptr", "edge", "weight"):
        assert np.array_equal(getattr(a.weights, name), getattr(b.weights, name))


def test_a_batch_of_blocks_from_two_streams_equals_each_block_alone(loaded):
    """One forward pass over blocks of different positions (first, bulk, last) and of two
    streams with different shot counts gives each block exactly its own output."""
    task = Task(distance=3, rounds=20, noise=NOISE)
    pre = _pre(loaded, task, "soft")
    rng = np.random.default_rng(5)
    jobs = []
    for shots in (3, 5):
        dets = rng.random((shots, task.circuit().num_detectors)) < 0.08
        for t0, t1 in (pre.blocks()[0], pre.blocks()[3], pre.blocks()[-1]):
            e0, e1 = pre.extended(t0, t1)
            jobs.append((t0, t1, dets[:, pre.layout.start(e0):pre.layout.start(e1)]))
    batch = pre.run_batch(jobs)
    assert sum(int(o.syndrome.any()) for o in batch) >= 4   # the blocks did commit edges
    for job, out in zip(jobs, batch):
        _outputs_equal(out, pre.run(*job))


def test_a_block_input_of_the_wrong_shape_is_refused(loaded):
    task = Task(distance=3, rounds=20, noise=NOISE)
    pre = _pre(loaded, task, "hard")
    with pytest.raises(ValueError, match=r"block \(3, 6\) reads slices 0\.\.\d+: expected"):
        pre.run_batch([(3, 6, np.zeros((2, 5), dtype=bool))])
    with pytest.raises(ValueError, match=r"block \(6, 3\) must satisfy 0 <= t0 < t1 <= 21"):
        pre.run_batch([(6, 3, np.zeros((2, 5), dtype=bool))])


class _HeldBlocks(InProcessPredecoderPool):
    """Finishes blocks at once but hands back only the newest call while an older one is
    held (all of them, newest first, when the service drains)."""

    def wait(self, timeout):
        if timeout is not None and timeout >= 0.05:
            done, self._done = self._done[::-1], []
            return done
        if len(self._done) < 2:
            return []
        return [self._done.pop()]


def test_windows_wait_for_every_block_before_them_and_blocks_commit_once(loaded):
    """Blocks returned out of order: a window is sent only when all blocks up to its last
    slice are applied, every block is applied once, and the result is the offline one."""
    cfg = StreamConfig(distance=3, rounds=30, noise=NOISE, shots=6, cycle_us=0.0,
                       batch_blocks=1)
    pre = _pre(loaded, cfg.task(), "soft")
    svc = StreamService(config=cfg, predecoder=pre, predecoder_pool=_HeldBlocks(pre))
    state_checks = []
    original = StreamService._dispatch

    def checked(self):  # every window sent has all of its slices final
        for sid, index in self.queue:
            st = self.streams[sid]
            state_checks.append(st.plan.windows[index].hi <= st.final_slices)
        original(self)

    svc._dispatch = checked.__get__(svc)
    source = RoundSource.from_task(cfg.task(), shots=cfg.shots, seed=8, cycle_us=0.0)
    svc.open("s", shots=cfg.shots)
    for t, dets in source:
        svc.push("s", t, dets)
    svc.drain()
    state = svc.streams["s"]
    assert state_checks and all(state_checks)
    assert state.blocks_done == set(range(len(pre.blocks()))) == set(range(state.predecoded))
    offline = WindowedDecoder.for_task(cfg.task(), n_com=3, n_buf=3, predecoder=pre)
    from qec import pack_bits, unpack_bits

    expected = unpack_bits(offline.decode_batch(pack_bits(source.dets)), 1)
    assert np.array_equal(svc.prediction("s"), expected)
    with pytest.raises(RuntimeError, match="block 0 completed twice"):
        state.block_complete(0, pre.run(*state.block_input(0)))


@pytest.mark.parametrize("mode", ["soft", "hard"])
def test_the_stage_pipeline_batches_blocks_and_windows_and_equals_offline(loaded, mode):
    cfg = StreamConfig(distance=3, rounds=60, noise=NOISE, shots=8, cycle_us=0.0,
                       batch_blocks=4, batch_windows=3, max_in_flight=2)
    pre = _pre(loaded, cfg.task(), mode)
    source = RoundSource.from_task(cfg.task(), shots=cfg.shots, seed=9, cycle_us=0.0)

    class Lazy(InProcessPool):   # results only on a real wait: work piles up into batches
        def wait(self, timeout):
            return super().wait(timeout) if timeout else []

    svc_pool = Lazy(StreamService(config=cfg, predecoder=pre).worker)
    result = run_stream(cfg, pool=svc_pool, source=source, predecoder=pre)
    offline = WindowedDecoder.for_task(cfg.task(), n_com=3, n_buf=3, predecoder=pre)
    from qec import pack_bits, unpack_bits

    expected = unpack_bits(offline.decode_batch(pack_bits(source.dets)), 1)
    assert result.errors == int(np.any(expected != source.obs, axis=1).sum())
    assert np.array_equal(result.predictions, expected)
    blocks, windows = result.stage("predecoder"), result.stage("matcher")
    assert blocks["jobs"] == len(pre.blocks()) and windows["jobs"] == len(cfg.plan().windows)
    assert blocks["mean_jobs_per_call"] > 1 and windows["mean_jobs_per_call"] > 1
    assert max(c.jobs for c in result.stage_calls if c.stage == "matcher") <= 3
    assert max(c.jobs for c in result.stage_calls if c.stage == "predecoder") <= 4
    out = result.to_json()
    assert set(out["stages"]) == {"predecoder", "matcher"}
    assert out["stages"]["predecoder"]["n_par_1us"] >= 1
