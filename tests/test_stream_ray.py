"""The stream on a real local Ray: actor pool, actor kill, CLI, and two Ray nodes."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from pipelines import RoundSource, StreamConfig, StreamService, main, run_stream
from pipelines._stream.actor_pool import RESTART_TIMEOUT_S
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
    return {index for _, index in pool.held_by(worker)}


def _old_life_calls(pool, worker: int) -> list:
    """Calls sent to actor ``worker`` before its last death that have not come back yet."""
    return [c for c in pool.fleet.pending.values()
            if c.worker == worker and c.epoch < pool.fleet.deaths[worker]]


def _b_in_flight(pool, layer) -> bool:
    return any(layer[index] == "B" for w in range(pool.num_workers)
               for index in _in_flight(pool, w))


def _fed(cfg: StreamConfig, source: RoundSource, **service_args) -> StreamService:
    """A service with stream "s" open and every slice of ``source`` pushed (not drained)."""
    svc = StreamService(config=cfg, **service_args)
    svc.open("s", shots=cfg.shots)
    for t, dets in source:
        svc.push("s", t, dets)
    return svc


def _wait_until(svc, condition, timeout_s: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        svc.poll(0.05)


def test_killed_actors_rerun_exactly_their_windows_and_commit_each_once(ray_local):
    """Two kills, one per actor, with windows of both layers in flight: the windows decoded
    again are exactly the ones the killed actors held, each window commits once, each actor's
    death is counted once, and the result is the offline decoder's.

    The rounds arrive in three parts, each after the previous kill is over, so that each kill
    finds work to interrupt however long a restart takes (seconds on a loaded machine: the
    restarted actor rebuilds its matchers while Ray fails the calls sent to it)."""
    from pipelines import RayPool

    cfg = _config(rounds=60, max_in_flight=4, batch_windows=2)
    plan = cfg.plan()
    layer = {w.index: w.layer for w in plan.windows}
    source = RoundSource.from_task(cfg.task(), shots=cfg.shots, seed=7, cycle_us=0.0)
    slices = list(source)
    pool = RayPool(config=cfg, worker_class=_slow_worker_class())
    svc = StreamService(config=cfg, pool=pool)
    svc.open("s", shots=cfg.shots)
    lost_by_kill, pushed = [], 0
    for victim, upto in ((0, len(slices) // 3), (1, 2 * len(slices) // 3)):
        for t, dets in slices[pushed:upto]:
            svc.push("s", t, dets)
        pushed = upto
        # wait until a B window is in flight somewhere and the victim holds work
        _wait_until(svc, lambda v=victim: _in_flight(pool, v) and _b_in_flight(pool, layer))
        before = len(pool.lost)
        ray_local.kill(pool.fleet.actors[victim], no_restart=False)  # dies mid-call; restarts
        _wait_until(svc, lambda v=victim: pool.fleet.deaths[v] == 1)   # the pool noticed,
        _wait_until(svc, lambda v=victim: pool.fleet.state[v] == "ok",  # it is back (a
                    timeout_s=RESTART_TIMEOUT_S)                      # restart can take long),
        # and every call of its old life has come back (ray.wait has no order: the failure of
        # a call Ray held while the actor restarted can come after the probe that saw it back)
        _wait_until(svc, lambda v=victim: not _old_life_calls(pool, v))
        lost_by_kill.append(pool.lost[before:])
    for t, dets in slices[pushed:]:
        svc.push("s", t, dets)
    svc.close(drain=True)
    state = svc.streams["s"]
    # Decoded again: only windows the killed actor held (in flight at the kill, or sent to it
    # between its death and the failed call that revealed it), each once, at least one each.
    for victim, lost in enumerate(lost_by_kill):
        assert lost and all(actor == victim for actor, _ in lost), lost
    assert len(set(pool.lost)) == len(pool.lost) == pool.reruns
    assert pool.fleet.deaths == [1, 1]
    assert state.committed == len(plan.windows) == len(state.results)
    assert len(svc.calls) == len(plan.windows)      # each window completed (committed) once
    assert sorted(state.commit_time) == list(range(len(plan.windows)))
    assert np.array_equal(svc.prediction("s"), svc.worker.decode_all(source.dets))


def test_when_every_actor_is_gone_the_pool_says_so_in_one_line(ray_local):
    from pipelines import RayPool
    from pipelines._stream.actor_pool import ServiceFailure

    cfg = _config(rounds=30, max_in_flight=4)
    source = RoundSource.from_task(cfg.task(), shots=cfg.shots, seed=3, cycle_us=0.0)
    pool = RayPool(config=cfg, worker_class=_slow_worker_class())
    svc = _fed(cfg, source, pool=pool)
    ray_local.kill(pool.fleet.actors[0], no_restart=True)       # gone for good
    _wait_until(svc, lambda: pool.fleet.state[0] == "dead")    # its windows moved to actor 1
    assert pool.fleet.state[1] == "ok"
    ray_local.kill(pool.fleet.actors[1], no_restart=True)
    with pytest.raises(ServiceFailure, match=r"all 2 decoder actors died .*windows undecoded"):
        svc.drain()
    pool.close()


def test_the_cli_reports_a_failed_service_in_one_line(monkeypatch, capsys):
    from pipelines._stream.actor_pool import ServiceFailure

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


def _stop_cluster(temp_dir: str) -> list[str]:
    """Stop every process of the cluster whose temp dir is ``temp_dir`` (``ray stop`` would
    also stop the test session's own Ray); return what was still alive after SIGKILL."""
    import signal
    import time
    from pathlib import Path

    def holds_temp_dir(pid: str) -> bool:
        # Ray's agents rename their process title, so only their open log files name the dir.
        with contextlib.suppress(OSError):
            return any(temp_dir in os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir())
        return False

    def alive() -> list[int]:
        out = subprocess.run(["pgrep", "-f", temp_dir], capture_output=True, text=True)
        pids = set(out.stdout.split()) | {
            pid.name for pid in Path("/proc").iterdir()
            if pid.name.isdigit() and holds_temp_dir(pid.name)}
        return [int(pid) for pid in pids if int(pid) != os.getpid()]

    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        for pid in alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while alive() and time.monotonic() < deadline:
            time.sleep(0.3)
    return [str(pid) for pid in alive()]


@pytest.mark.slow
def test_both_stages_on_a_two_node_cluster_started_with_ray_start(free_port):
    """The README's deployment: ``ray start --head``, a second node with ``ray start
    --address`` (both on this machine, 1 CPU each, token authentication as Ray 2.60 sets it
    up), then ``qecpipe stream --address ... --predecoder``: the matchers land on both nodes,
    both stages run, and the result is the in-process one on the same shots."""
    import tempfile
    from pathlib import Path

    from pipelines import BlockPredecoder, WindowedDecoder
    from predecoder import load_model
    from qec import pack_bits, unpack_bits

    bin_dir = Path(sys.executable).parent
    temp_dir = tempfile.mkdtemp(prefix="qpray", dir="/tmp")   # short: Ray's socket paths
    port = free_port
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", f"--temp-dir={temp_dir}",
              "--disable-usage-stats"]
    try:
        subprocess.run([str(bin_dir / "ray"), "get-auth-token", "--generate"], env=env,
                       capture_output=True, check=True, timeout=60)
        for args in (["--head", f"--port={port}", "--include-dashboard=false"],
                     [f"--address=127.0.0.1:{port}"]):
            subprocess.run([str(bin_dir / "ray"), "start", *args, *common], env=env,
                           capture_output=True, check=True, timeout=120)
        proc = subprocess.run(
            [str(bin_dir / "qecpipe"), "stream", "--address", f"127.0.0.1:{port}",
             "--workers", "2", "--distance", "3", "--rounds", "40", "--shots", "32", "--p",
             "0.01", "--cycle-us", "0", "--seed", "3", "--predecoder", "--json"],
            env=env, capture_output=True, text=True, timeout=300)
    finally:
        left = _stop_cluster(temp_dir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not left, f"cluster processes left: {left}"
    out = json.loads(proc.stdout)
    assert out["ray_nodes"] == 2 and sorted(out["per_worker"]) == ["0", "1"]
    assert set(out["stages"]) == {"predecoder", "matcher"}
    cfg = StreamConfig(distance=3, rounds=40, noise=NoiseModel.uniform(0.01), shots=32,
                       cycle_us=0.0, seed=3)
    source = RoundSource.from_task(cfg.task(), shots=32, seed=3, cycle_us=0.0)
    loaded = load_model(None)
    pre = BlockPredecoder(task=cfg.task(), net=loaded.net, policy=loaded.policy("soft"),
                          block_slices=3)
    offline = WindowedDecoder.for_task(cfg.task(), n_com=3, n_buf=3, predecoder=pre)
    expected = unpack_bits(offline.decode_batch(pack_bits(source.dets)), 1)
    errors = out["decoders"]["windowed-predecoder+soft-matching"]["errors"]
    assert out["windows_committed"] == len(cfg.plan().windows)
    assert errors > 0            # enough errors that equal counts mean something
    assert errors == int(np.any(expected != source.obs, axis=1).sum())


# --- the pre-decoder stage on Ray ----------------------------------------------------------

def _slow_block_class():
    """A block pre-decoder that sleeps per call (pickled by value, as above)."""
    import time

    from pipelines import BlockPredecoder

    class SlowBlocks(BlockPredecoder):
        def run_batch(self, jobs):
            time.sleep(0.3)
            return super().run_batch(jobs)

    return SlowBlocks


def _stage_setup(cfg: StreamConfig, mode: str):
    from pipelines import BlockPredecoder, WindowedDecoder
    from predecoder import load_model
    from qec import pack_bits, unpack_bits

    loaded = load_model("small")
    pre = BlockPredecoder(task=cfg.task(), net=loaded.net, policy=loaded.policy(mode),
                          block_slices=3)
    source = RoundSource.from_task(cfg.task(), shots=cfg.shots, seed=11, cycle_us=cfg.cycle_us)
    offline = WindowedDecoder.for_task(cfg.task(), n_com=cfg.plan().n_com,
                                       n_buf=cfg.plan().n_buf, predecoder=pre)
    return pre, source, unpack_bits(offline.decode_batch(pack_bits(source.dets)), 1)


def test_a_killed_predecoder_actor_reruns_its_blocks_and_each_commits_once(ray_local):
    from pipelines import RayPool, RayPredecoderPool

    cfg = _config(rounds=60, batch_blocks=2, max_in_flight=4)
    pre, source, expected = _stage_setup(cfg, "soft")
    pre_pool = RayPredecoderPool(predecoder=pre, worker_class=_slow_block_class())
    pool = RayPool(config=cfg, soft_cap=pre.policy.cap)
    svc = _fed(cfg, source, pool=pool, predecoder=pre, predecoder_pool=pre_pool)
    _wait_until(svc, lambda: svc.streams["s"].predecoded >= 2 and pre_pool.held_by(0))
    ray_local.kill(pre_pool.fleet.actors[0], no_restart=False)
    _wait_until(svc, lambda: pre_pool.fleet.deaths[0] == 1)
    # back: a restarted pre-decoder actor imports torch again (over 60 s on a loaded machine)
    _wait_until(svc, lambda: pre_pool.fleet.state[0] == "ok", timeout_s=RESTART_TIMEOUT_S)
    svc.close(drain=True)
    state = svc.streams["s"]
    lost = [key for _, key in pre_pool.lost]
    assert lost and len(set(lost)) == len(lost) == pre_pool.reruns   # re-run, each once
    assert state.blocks_done == set(range(len(pre.blocks())))
    assert sum(c.jobs for c in svc.stage_calls if c.stage == "predecoder") == len(pre.blocks())
    assert len(svc.calls) == len(cfg.plan().windows)   # each window committed once
    assert np.array_equal(svc.prediction("s"), expected)


def test_slow_matchers_never_lose_a_window_behind_the_predecoder_stage(ray_local):
    """Rounds arrive faster than the (slowed) matchers decode: the backlog grows past the
    bound a keeping-up decoder stays under, and every window still commits once, in order,
    with the in-process result."""
    from pipelines import RayPool, RayPredecoderPool

    cfg = _config(rounds=60, cycle_us=2000.0, batch_windows=2)
    pre, source, expected = _stage_setup(cfg, "hard")
    pool = RayPool(config=cfg, worker_class=_slow_worker_class())
    result = run_stream(cfg, pool=pool, source=source, predecoder=pre,
                        predecoder_pool=RayPredecoderPool(predecoder=pre))
    assert result.max_backlog_rounds > cfg.backlog_bound and not result.kept_up
    assert result.windows_committed == len(cfg.plan().windows) == len(result.calls)
    assert sorted(c.index for c in result.calls) == list(range(len(cfg.plan().windows)))
    assert result.errors == int(np.any(expected != source.obs, axis=1).sum())
    assert result.stage("predecoder")["jobs"] == len(pre.blocks())


def test_cli_stream_runs_both_stages_on_ray(ray_local, capsys):
    rc = main(["stream", "--distance", "3", "--rounds", "30", "--workers", "1", "--shots", "4",
               "--cycle-us", "0", "--predecoder", "--mode", "hard", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["stages"]) == {"predecoder", "matcher"}
    assert out["predecoder_actors"] == {"count": 1, "gpus": 0}
    assert out["stages"]["predecoder"]["jobs"] == 11 and out["blocks_rerun"] == 0


def test_an_address_other_than_the_running_ray_is_refused_not_ignored(ray_local, capsys,
                                                                      free_port):
    """A process that already runs Ray (a notebook, these tests) and asks for another cluster
    that answers gets a refusal; before, the address was silently ignored and the run used
    this process's Ray. A bad or dead address gets the same message as without Ray."""
    import socket

    from pipelines import main

    args = ["stream", "--distance", "3", "--rounds", "10", "--workers", "1", "--cycle-us", "0",
            "--shots", "2", "--address"]
    with socket.create_server(("127.0.0.1", free_port)):     # something answers there
        # stream, not serve: were the address ignored, the stream would run here and exit 0
        rc = main([*args, f"127.0.0.1:{free_port}"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith(f"qecpipe: error: --address='127.0.0.1:{free_port}': "
                                      "this process already runs Ray")
    assert main([*args, "nohost"]) == 2
    assert "must be auto or HOST:PORT" in capsys.readouterr().err
    assert ray_local.is_initialized()          # the caller's Ray is left as it was
