"""The stream on a real local Ray: actor pool, actor kill, CLI, and two Ray nodes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from pipelines import RoundSource, StreamConfig, StreamService, main, run_stream
from qec import NoiseModel

pytestmark = pytest.mark.ray


def _config(**kw) -> StreamConfig:
    base = dict(distance=3, rounds=60, noise=NoiseModel.uniform(0.004), shots=8, cycle_us=0.0,
                workers=2)
    return StreamConfig(**{**base, **kw})


def test_ray_pool_decodes_like_in_process(ray_local):
    from pipelines import RayPool

    cfg = _config()
    source = RoundSource.from_task(cfg.task(), shots=cfg.shots, seed=6, cycle_us=0.0)
    result = run_stream(cfg, pool=RayPool(config=cfg), source=source)
    offline = StreamService(config=cfg).worker.decode_all(source.dets)
    assert result.errors == int(np.any(offline != source.obs, axis=1).sum())
    assert result.windows_committed == len(cfg.plan().windows)
    assert sorted(result.per_worker()) == ["0", "1"]  # both actors decoded windows
    assert sum(w["windows"] for w in result.per_worker().values()) == result.windows_committed


def _slow_worker_class():
    """A window worker that sleeps: keeps a window in flight long enough to kill its actor.
    Defined in a function so that Ray pickles the class by value."""
    import time

    from pipelines import WindowWorker

    class SlowWorker(WindowWorker):
        def decode(self, index, dets, **kw):
            time.sleep(0.3)
            return super().decode(index, dets, **kw)

    return SlowWorker


def _in_flight(pool, worker: int) -> set[int]:
    """Windows currently held by actor ``worker``."""
    return {entry[1] for entry in pool.pending.values() if entry[4] == worker}


def _wait_until(svc, condition, timeout_s: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        svc.poll(0.05)


def test_killed_actors_rerun_exactly_their_windows_and_commit_each_once(ray_local):
    """Two kills, one per actor, with windows of both layers in flight: the windows decoded
    again are exactly the ones the killed actors held, each window commits once, and the
    result is the offline decoder's."""
    from pipelines import RayPool

    cfg = _config(rounds=60, max_in_flight=4)
    plan = cfg.plan()
    layer = {w.index: w.layer for w in plan.windows}
    source = RoundSource.from_task(cfg.task(), shots=cfg.shots, seed=7, cycle_us=0.0)
    pool = RayPool(config=cfg, worker_class=_slow_worker_class())
    svc = StreamService(config=cfg, pool=pool)
    svc.open("s", shots=cfg.shots)
    for t, dets in source:
        svc.push("s", t, dets)
    lost_by_kill = []
    for victim in (0, 1):
        # wait until a B window is in flight somewhere and the victim holds work
        _wait_until(svc, lambda v=victim: _in_flight(pool, v) and any(
            layer[e[1]] == "B" for e in pool.pending.values()))
        before = len(pool.lost)
        ray_local.kill(pool.actors[victim], no_restart=False)   # dies mid-call; Ray restarts it
        _wait_until(svc, lambda v=victim: pool.deaths[v] == 1)   # the pool noticed,
        _wait_until(svc, lambda v=victim: pool.state[v] == "ok")  # and it is back
        lost_by_kill.append(pool.lost[before:])
    svc.close(drain=True)
    state = svc.streams["s"]
    # Decoded again: only windows the killed actor held (in flight at the kill, or sent to it
    # between its death and the failed call that revealed it), each once, at least one each.
    for victim, lost in enumerate(lost_by_kill):
        assert lost and all(actor == victim for actor, _ in lost), lost
    assert len(set(pool.lost)) == len(pool.lost) == pool.reruns
    assert pool.deaths == [1, 1]
    assert state.committed == len(plan.windows) == len(state.results)
    assert len(svc.calls) == len(plan.windows)      # each window completed (committed) once
    assert sorted(state.commit_time) == list(range(len(plan.windows)))
    assert np.array_equal(svc.prediction("s"), svc.worker.decode_all(source.dets))


def test_when_every_actor_is_gone_the_pool_says_so_in_one_line(ray_local):
    from pipelines import RayPool
    from pipelines._stream.ray_pool import ServiceFailure

    cfg = _config(rounds=30, max_in_flight=4)
    source = RoundSource.from_task(cfg.task(), shots=cfg.shots, seed=3, cycle_us=0.0)
    pool = RayPool(config=cfg, worker_class=_slow_worker_class())
    svc = StreamService(config=cfg, pool=pool)
    svc.open("s", shots=cfg.shots)
    for t, dets in source:
        svc.push("s", t, dets)
    ray_local.kill(pool.actors[0], no_restart=True)             # gone for good
    _wait_until(svc, lambda: pool.state[0] == "dead")          # its windows moved to actor 1
    assert pool.state[1] == "ok"
    ray_local.kill(pool.actors[1], no_restart=True)
    with pytest.raises(ServiceFailure, match=r"all 2 decoder actors died .*windows undecoded"):
        svc.drain()
    pool.close()


def test_the_cli_reports_a_failed_service_in_one_line(monkeypatch, capsys):
    from pipelines._stream.ray_pool import ServiceFailure

    def failing(*args, **kwargs):
        raise ServiceFailure("all 2 decoder actors died")

    monkeypatch.setattr("pipelines._stream.result.run_stream", failing)
    rc = main(["stream", "--distance", "3", "--rounds", "10", "--workers", "0", "--json"])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1 and "the run failed: all 2 decoder actors" in err


def test_cli_stream_on_the_running_ray(ray_local, capsys):
    rc = main(["stream", "--distance", "3", "--rounds", "40", "--workers", "1", "--shots", "4",
               "--cycle-us", "1", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["workers"] == 1 and out["kept_up"] is False and out["n_par"] >= 1
    assert ray_local.is_initialized()  # the caller's Ray is left running


TWO_NODES = textwrap.dedent("""
    import contextlib, io, json
    import numpy as np
    from ray.cluster_utils import Cluster
    from pipelines import main
    from pipelines import RoundSource, StreamConfig, StreamService
    from qec import NoiseModel

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    try:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):  # the CLI joins the cluster, then leaves it
            rc = main(["stream", "--address", cluster.address, "--workers", "2",
                       "--distance", "3", "--rounds", "40", "--shots", "4", "--p", "0.004",
                       "--cycle-us", "0", "--seed", "3", "--json"])
        result = json.loads(out.getvalue())
        cfg = StreamConfig(distance=3, rounds=40, noise=NoiseModel.uniform(0.004), shots=4,
                           cycle_us=0.0, seed=3)
        source = RoundSource.from_task(cfg.task(), shots=4, seed=3, cycle_us=0.0)
        offline = StreamService(config=cfg).worker.decode_all(source.dets)
        print(json.dumps({
            "rc": rc, "nodes": result["ray_nodes"], "workers_used": sorted(result["per_worker"]),
            "windows": result["windows_committed"], "expected": len(cfg.plan().windows),
            "errors": result["decoders"]["windowed-pymatching"]["errors"],
            "offline_errors": int(np.any(offline != source.obs, axis=1).sum())}))
    finally:
        cluster.shutdown()
""")


@pytest.mark.slow
def test_stream_across_two_ray_nodes():
    """``qecpipe stream --address`` joins a cluster of two Ray nodes on this machine
    (ray.cluster_utils.Cluster, 1 CPU each, so one actor lands on each), in a subprocess:
    one Ray per driver process, and it must not touch the session's local Ray."""
    proc = subprocess.run([sys.executable, "-c", TWO_NODES], capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["rc"] == 0 and out["nodes"] == 2  # one actor on each node
    assert out["workers_used"] == ["0", "1"]
    assert out["windows"] == out["expected"]
    assert out["errors"] == out["offline_errors"]
