"""The restartable actor pool's bookkeeping, with Ray scripted: which results arrive in which
order is what decides whether a death is counted once (a real Ray only sometimes shows it)."""

from __future__ import annotations

import sys
import types

import pytest

from pipelines._stream.actor_pool import ActorPool


class _Ref:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


class _ScriptedRay:
    """ray.wait returns the refs the test marked ready, in the order it marked them; ray.get
    returns their value or raises the actor-died error."""

    class RayActorError(Exception):
        pass

    class ActorUnavailableError(RayActorError):   # Ray: restarting or unreachable for now
        pass

    class ActorDiedError(RayActorError):          # Ray: dead, will not be restarted
        pass

    def __init__(self) -> None:
        self.ready: list[_Ref] = []
        self.outcome: dict[_Ref, object] = {}
        self.sent: list[tuple[str, _Ref]] = []

    def actor(self):
        ray = self

        class Method:
            def __init__(self, name: str) -> None:
                self.name = name

            def remote(self, *args):
                ref = _Ref(f"{self.name}#{len(ray.sent)}")
                ray.sent.append((self.name, ref))
                return ref

        return types.SimpleNamespace(decode=Method("decode"), where=Method("where"))

    def wait(self, refs, num_returns=1, timeout=None):
        ready = [r for r in self.ready if r in refs]
        return ready, [r for r in refs if r not in ready]

    def get(self, ref):
        value = self.outcome[ref]
        if isinstance(value, Exception):
            raise value
        return value

    def resolve(self, *pairs) -> None:
        """Mark refs ready, in this order, with their outcomes."""
        for ref, value in pairs:
            self.outcome[ref] = value
            self.ready.append(ref)


@pytest.fixture
def fake_ray(monkeypatch):
    ray = _ScriptedRay()
    module = types.ModuleType("ray")
    module.wait, module.get, module.kill = ray.wait, ray.get, lambda *a, **k: None
    exceptions = types.ModuleType("ray.exceptions")
    exceptions.RayActorError = _ScriptedRay.RayActorError
    exceptions.ActorUnavailableError = _ScriptedRay.ActorUnavailableError
    exceptions.ActorDiedError = _ScriptedRay.ActorDiedError
    module.exceptions = exceptions
    monkeypatch.setitem(sys.modules, "ray", module)
    monkeypatch.setitem(sys.modules, "ray.exceptions", exceptions)
    return ray


def test_a_late_failure_from_before_a_known_death_is_not_a_second_death(fake_ray):
    pool = ActorPool([fake_ray.actor()], what="decoder", unit="windows")
    pool.submit("w1", "decode", 1)
    pool.submit("w2", "decode", 2)
    (_, first), (_, second) = fake_ray.sent
    died = _ScriptedRay.RayActorError("killed")

    fake_ray.resolve((first, died))             # the first call reveals the death
    assert pool.wait(0) == [] and pool.deaths == [1] and pool.state == ["probing"]
    probe = fake_ray.sent[-1][1]
    # The probe (restart seen) arrives before the second call's failure from the old life.
    fake_ray.resolve((probe, ("node", 1)), (second, died))
    assert pool.wait(0) == []
    assert pool.deaths == [1] and pool.state == ["ok"]     # one death, counted once
    reruns = [ref for name, ref in fake_ray.sent if name == "decode"][2:]
    fake_ray.resolve(*((ref, f"result {k}") for k, ref in enumerate(reruns)))
    answered = sorted(tag for tag, *_ in pool.wait(0))
    assert answered == ["w1", "w2"]                         # each call answered once
    assert sorted(tag for _, tag in pool.lost) == ["w1", "w2"]


def test_a_failure_after_the_restart_is_a_new_death(fake_ray):
    pool = ActorPool([fake_ray.actor()], what="decoder", unit="windows")
    pool.submit("w1", "decode", 1)
    fake_ray.resolve((fake_ray.sent[0][1], _ScriptedRay.RayActorError("killed")))
    pool.wait(0)
    fake_ray.resolve((fake_ray.sent[-1][1], ("node", 1)))   # probe: restarted
    pool.wait(0)
    rerun = fake_ray.sent[-1][1]                             # w1 again, to the new life
    fake_ray.resolve((rerun, _ScriptedRay.RayActorError("killed again")))
    pool.wait(0)
    assert pool.deaths == [2] and pool.state == ["probing"]


def _probes(ray) -> list:
    return [ref for name, ref in ray.sent if name == "where"]


def test_a_probe_that_finds_the_actor_still_restarting_is_not_a_second_death(fake_ray):
    """The sequence of the loaded machine (issue 20): the kill fails the calls with
    ActorUnavailableError; the probe sent at once reaches the actor while Ray is still
    restarting it (its constructor rebuilds the matchers; Ray holds the probe about a second,
    then fails it, also with ActorUnavailableError). That is the same death, not a second one:
    the actor is probed again and comes back with deaths == 1."""
    pool = ActorPool([fake_ray.actor(), fake_ray.actor()], what="decoder", unit="windows",
                     probe_interval_s=0.0)
    for w in ("w1", "w2", "w3", "w4"):
        pool.submit(w, "decode", w)
    on_victim = [ref for name, ref in fake_ray.sent if name == "decode"][0::2]  # actor 0
    unavailable = _ScriptedRay.ActorUnavailableError("restarting")
    fake_ray.resolve(*((ref, unavailable) for ref in on_victim))
    assert pool.wait(0) == [] and pool.deaths == [1, 0] and pool.state[0] == "probing"
    fake_ray.resolve((_probes(fake_ray)[0], unavailable))    # still restarting
    assert pool.wait(0) == []
    assert pool.deaths == [1, 0] and pool.state[0] == "probing" and not pool.probes
    pool.wait(0)                                              # the next probe goes out
    assert len(_probes(fake_ray)) == 2 and pool.state[0] == "probing"
    fake_ray.resolve((_probes(fake_ray)[1], ("node", 2)))    # back
    pool.wait(0)
    assert pool.deaths == [1, 0] and pool.state == ["ok", "ok"]
    calls = [ref for name, ref in fake_ray.sent if name == "decode"]
    fake_ray.resolve(*((ref, "done") for ref in calls if ref not in on_victim))
    answered = sorted(tag for tag, *_ in pool.wait(0))
    assert answered == ["w1", "w2", "w3", "w4"]               # each once, none lost
    assert sorted(tag for _, tag in pool.lost) == ["w1", "w3"]


def test_a_probe_is_not_sent_again_before_the_probe_interval(fake_ray, monkeypatch):
    clock = [100.0]
    import time

    from pipelines._stream import actor_pool

    monkeypatch.setattr(actor_pool, "time", types.SimpleNamespace(
        monotonic=lambda: clock[0], perf_counter=time.perf_counter, sleep=time.sleep))
    pool = ActorPool([fake_ray.actor()], what="decoder", unit="windows",
                     probe_interval_s=0.5, restart_timeout_s=2.0)
    pool.submit("w1", "decode", 1)
    unavailable = _ScriptedRay.ActorUnavailableError("restarting")
    fake_ray.resolve((fake_ray.sent[0][1], unavailable))
    pool.wait(0)
    fake_ray.resolve((_probes(fake_ray)[0], unavailable))
    pool.wait(0)
    clock[0] += 0.4
    pool.wait(0)
    assert len(_probes(fake_ray)) == 1                        # not yet: no busy loop
    clock[0] += 0.2
    pool.wait(0)
    assert len(_probes(fake_ray)) == 2
    clock[0] += 2.0                                           # past restart_timeout_s
    fake_ray.resolve((_probes(fake_ray)[1], unavailable))
    with pytest.raises(Exception, match="all 1 decoder actors died"):
        pool.wait(0)
    assert pool.state == ["dead"] and pool.deaths == [1]


def test_an_actor_ray_will_not_restart_is_given_up_at_its_first_probe(fake_ray):
    pool = ActorPool([fake_ray.actor(), fake_ray.actor()], what="decoder", unit="windows")
    pool.submit("w1", "decode", 1)
    died = _ScriptedRay.ActorDiedError("killed for good")
    fake_ray.resolve((fake_ray.sent[0][1], died))
    pool.wait(0)
    fake_ray.resolve((_probes(fake_ray)[0], died))
    pool.wait(0)
    assert pool.state == ["dead", "ok"] and pool.deaths == [1, 0]
    rerun = fake_ray.sent[-1][1]                              # w1 went to actor 1
    fake_ray.resolve((rerun, "done"))
    assert [tag for tag, *_ in pool.wait(0)] == ["w1"]
