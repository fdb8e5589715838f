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
