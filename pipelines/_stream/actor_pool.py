"""Calls to a set of restartable Ray actors, each lost call run again: exactly-once results.

Both stages' Ray pools are built on :class:`ActorPool`. A call goes to the live actor with the
fewest calls in flight. When a call fails because its actor died, the call is re-submitted to
another live actor (or held until one is live); the dead actor gets no new work until a probe
call shows Ray restarted it, so the calls run again are exactly the ones it held. After
``max_restarts`` deaths an actor is given up. When every actor is given up, or one call keeps
failing, the pool raises :class:`ServiceFailure` with one line saying so. A call's result is
handed out once: the refs of a lost call are forgotten, so nothing is answered twice.

What Ray reports, and what each outcome means here (Ray 2.60, measured with a spin loop on the
other core of a 2-core machine, ``tests/test_actor_pool.py`` scripts each order):

* a call of the actor's current life fails (``ActorUnavailableError`` when Ray will restart
  it, ``ActorDiedError`` when it will not): ONE death, whatever else of that life fails later;
* a call of an earlier life fails after the pool has seen that life end (``ray.wait`` hands
  results back in no particular order, so it can come after the probe showed the restart):
  no new death, the call is run again;
* a probe fails with ``ActorUnavailableError``: Ray is still restarting the actor (it holds a
  call to a restarting actor for about a second, then fails it; a restart that rebuilds the
  matchers on a loaded machine takes longer). No new death: the actor is probed again after
  ``probe_interval_s``, and given up if it has not come back within ``restart_timeout_s``;
* a probe fails with ``ActorDiedError``: Ray will not restart the actor (killed for good, or
  out of restarts): it is given up at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from qec import RunFailure

MAX_RESTARTS = 4
MAX_RERUNS_PER_CALL = 4
PROBE_INTERVAL_S = 0.5       # least time between two probes of a restarting actor
RESTART_TIMEOUT_S = 300.0    # an actor not back this long after its death is given up


class ServiceFailure(RunFailure):
    """The decoding service cannot go on (its workers keep dying); the message says why."""


@dataclass
class _Call:
    tag: Any          # the caller's handle for the call (its jobs)
    method: str
    args: tuple
    worker: int
    start: float
    tries: int
    epoch: int = 0    # deaths of ``worker`` known when the call was sent to it


class ActorPool:
    """Restartable actors of one stage (see the module docstring).

    Args:
        actors: Ray actor handles created with ``max_restarts``.
        what: the stage's name in messages ("decoder", "pre-decoder").
        unit: what a call's tag (a sequence of jobs) holds, in messages ("windows", "blocks").
        max_restarts: deaths after which an actor is given up.
        probe_interval_s: least seconds between two probes of a restarting actor.
        restart_timeout_s: an actor not back this long after a death is given up.
    """

    def __init__(self, actors: list, *, what: str, unit: str,
                 max_restarts: int = MAX_RESTARTS, probe_interval_s: float = PROBE_INTERVAL_S,
                 restart_timeout_s: float = RESTART_TIMEOUT_S) -> None:
        self.actors, self.what, self.unit, self.max_restarts = actors, what, unit, max_restarts
        self.probe_interval_s, self.restart_timeout_s = probe_interval_s, restart_timeout_s
        self.load = [0] * len(actors)
        self.state = ["ok"] * len(actors)       # ok | probing | dead
        self.deaths = [0] * len(actors)
        self.down_since = [0.0] * len(actors)   # monotonic time of the last death seen
        self.probes: dict = {}                  # ObjectRef -> actor whose restart it checks
        self.reprobe: dict[int, float] = {}     # actor -> when to probe it again
        self.pending: dict[Any, _Call] = {}     # ObjectRef -> call
        self.waiting: list[_Call] = []          # held while no actor is live
        self.lost: list[tuple[int, Any]] = []   # (actor, tag) of every call run again

    @property
    def calls_in_flight(self) -> int:
        return len(self.pending) + len(self.waiting)

    def calls(self) -> list[_Call]:
        """The calls in flight or held (read-only view for reports and tests)."""
        return [*self.pending.values(), *self.waiting]

    def submit(self, tag: Any, method: str, *args, tries: int = 0) -> None:
        self._send(_Call(tag, method, args, -1, time.perf_counter(), tries))

    def _send(self, call: _Call) -> None:
        live = [w for w, st in enumerate(self.state) if st == "ok"]
        if not live:
            call.worker = -1          # held by no actor
            self.waiting.append(call)
            return
        call.worker = min(live, key=lambda w: self.load[w])
        call.epoch = self.deaths[call.worker]
        ref = getattr(self.actors[call.worker], call.method).remote(*call.args)
        self.load[call.worker] += 1
        self.pending[ref] = call

    def refs(self) -> list:
        return [*self.pending, *self.probes]

    def wait(self, timeout: float | None) -> list[tuple[Any, Any, int, float]]:
        """Finished calls as (tag, value, actor, seconds since submission), waiting up to
        ``timeout`` s for the first; lost calls are re-submitted, not returned."""
        import ray

        self._send_due_probes()
        refs = self.refs()
        if self.reprobe:   # wake up for the next probe of a restarting actor
            due = max(0.0, min(self.reprobe.values()) - time.monotonic())
            timeout = due if timeout is None else min(timeout, due)
        if not refs:
            if timeout:
                time.sleep(timeout)
            return []
        ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        if ready:  # collect everything else that is already done, without waiting
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        done = []
        for ref in ready:
            if ref in self.probes:
                self._probed(ref)
            else:
                done += self._collected(ref)
        return done

    def _collected(self, ref) -> list[tuple[Any, Any, int, float]]:
        import ray
        from ray.exceptions import RayActorError

        call = self.pending.pop(ref)
        self.load[call.worker] -= 1
        try:
            value = ray.get(ref)
        except RayActorError:  # the actor died with this call: run it elsewhere
            if call.tries >= MAX_RERUNS_PER_CALL:
                raise ServiceFailure(f"a {self.what} call failed {call.tries + 1} times: the "
                                     f"{self.what} actors keep dying") from None
            self._died(call.worker, call.epoch)
            self.lost.append((call.worker, call.tag))
            call.tries += 1
            self._send(call)
            return []
        return [(call.tag, value, call.worker, time.perf_counter() - call.start)]

    def _died(self, worker: int, epoch: int) -> None:
        """A call of ``worker`` failed: stop using it until a probe shows it restarted."""
        # Already known: the actor is being probed, or the call was sent before a death the
        # pool has seen (its failure can arrive after the probe showed the restart).
        if self.state[worker] != "ok" or epoch < self.deaths[worker]:
            return
        self.deaths[worker] += 1
        self.down_since[worker] = time.monotonic()
        self._probe(worker)

    def _probe(self, worker: int) -> None:
        if self.deaths[worker] > self.max_restarts:
            self._give_up(worker)
            return
        self.state[worker] = "probing"
        self.probes[self.actors[worker].where.remote()] = worker

    def _give_up(self, worker: int) -> None:
        self.state[worker] = "dead"
        self.reprobe.pop(worker, None)
        if all(st == "dead" for st in self.state):
            raise ServiceFailure(
                f"all {len(self.actors)} {self.what} actors died (each more than "
                f"{self.max_restarts} times, or killed for good); the stream stops with "
                f"{sum(len(c.tag) for c in self.calls())} {self.unit} undecoded")

    def _send_due_probes(self) -> None:
        now = time.monotonic()
        for worker in [w for w, due in self.reprobe.items() if due <= now]:
            del self.reprobe[worker]
            self._probe(worker)

    def _probed(self, ref) -> None:
        import ray
        from ray.exceptions import ActorUnavailableError, RayActorError

        worker = self.probes.pop(ref)
        try:
            ray.get(ref)
        except ActorUnavailableError:   # still restarting: not a new death (module docstring)
            if time.monotonic() - self.down_since[worker] > self.restart_timeout_s:
                self._give_up(worker)
            else:
                self.reprobe[worker] = time.monotonic() + self.probe_interval_s
            return
        except RayActorError:   # ActorDiedError: Ray will not restart it
            self._give_up(worker)
            return
        self.state[worker] = "ok"
        held, self.waiting = self.waiting, []
        for call in held:
            self._send(call)

    def close(self) -> None:
        import ray

        for a in self.actors:
            ray.kill(a, no_restart=True)
        self.actors, self.pending, self.probes, self.waiting = [], {}, {}, []
        self.reprobe = {}
