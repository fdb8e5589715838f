"""Does a correlated second pass help soft mode? (It does not: a negative result, kept.)

    python -m bench soft-correlated            # d = 5, 9, 13, X and Z, p = 0.006 (~5 min)
    python -m bench soft-correlated --quick    # d = 5, X, 400 shots (smoke test)

Correlated PyMatching matches twice: after the first matching, the edges correlated with a
matched edge (the other graphlike pieces of one DEM mechanism, e.g. the X and Z halves of a Y
error) get the weight of their conditional probability, and the syndrome is matched again.
Soft mode already ties correlated PyMatching, and the network sees both halves of a Y error,
so the question is whether the two gains add. The second pass here: pass 1 is the product's
soft mode (commit l > 0, match the residual with weights |l|); F = the edges it finally
fires (commits XOR matched). For every mechanism m with two or more distinct edges and every
edge e of m in F, each other edge f of m gets logit max(l_f, logit(min(p_m / p_e, 1/2)));
pass 2 is soft mode again on those logits. Same shots for PyMatching, correlated PyMatching,
soft and soft + second pass; paired counts with an exact McNemar p-value.

Writes bench/results/soft_correlated.{json,md}.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench._meta import RESULTS, rate, run_metadata, write_suite_files, write_text

POINTS = ((5, "X", 20_000), (5, "Z", 20_000), (9, "X", 8_000), (9, "Z", 8_000),
          (13, "X", 3_000), (13, "Z", 3_000))
QUICK_POINTS = ((5, "X", 400),)
P = 0.006
SEED = 77
PAIRS = (("soft+second-pass", "soft"), ("soft+second-pass", "pymatching-correlated"),
         ("soft", "pymatching-correlated"))


def correlated_pairs(graph) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(e, f, logit of f given e) for every ordered pair of distinct edges of one mechanism."""
    es, fs, logits = [], [], []
    for ids, p_m in zip(graph.error_edges, graph.error_prob):
        edges = sorted(set(ids))
        for e in edges if len(edges) > 1 else ():
            q = min(p_m / graph.edge_prob[e], 0.5)
            for f in edges:
                if f != e:
                    es.append(e)
                    fs.append(f)
                    logits.append(np.log(q) - np.log1p(-q))
    return np.array(es, dtype=np.int64), np.array(fs, dtype=np.int64), np.array(logits)


def soft_pass(logits, dets, layout, policy, matcher) -> tuple[np.ndarray, np.ndarray]:
    """Soft mode on (S, E) logits: (S,) predicted observable-0 flips, (S, E) fired edges."""
    from predecoder.inference import corrections

    corr = corrections(logits, dets, layout, policy)
    fired = corr.edges.numpy().copy()
    for s, matched in enumerate(matcher.matched_edges(corr.residual.numpy(), corr.weights)):
        fired[s, matched] ^= True
    obs = layout.graph.edge_obs
    flips = np.array([np.bitwise_xor.reduce(obs[row]) if row.any() else 0 for row in fired])
    return (flips & 1).astype(bool), fired


def second_pass_logits(logits: np.ndarray, fired: np.ndarray, pairs) -> np.ndarray:
    """Raise the logits of the edges correlated with a fired edge (never lower one)."""
    es, fs, implied = pairs
    out = logits.copy()
    for s in range(out.shape[0]):
        active = fired[s, es]
        np.maximum.at(out[s], fs[active], implied[active])
    return out


def point(loaded, distance: int, basis: str, shots: int) -> dict:
    import torch

    from predecoder.edges import EdgeLayout
    from predecoder.inference import shot_logits
    from qec import (
        BlossomMatcher,
        MatchingDecoder,
        NoiseModel,
        PairedCounts,
        Task,
        sample_detectors,
        unpack_bits,
    )

    task = Task(distance=distance, basis=basis, noise=NoiseModel.uniform(P))
    layout = EdgeLayout.from_task(task)
    chunk = next(sample_detectors(task.circuit(), shots=shots, seed=SEED, chunk_shots=shots))
    dets = torch.from_numpy(unpack_bits(chunk.dets, layout.geometry.num_detectors))
    truth = unpack_bits(chunk.obs, 1)[:, 0]
    policy = loaded.policy("soft")
    matcher = BlossomMatcher.from_graph(layout.graph, cap=policy.cap)
    logits = shot_logits(loaded.net, dets, layout)
    first, fired = soft_pass(logits, dets, layout, policy, matcher)
    raised = second_pass_logits(logits.numpy(), fired, correlated_pairs(layout.graph))
    second, _ = soft_pass(torch.from_numpy(raised), dets, layout, policy, matcher)
    wrong = {"soft": first != truth, "soft+second-pass": second != truth}
    for name in ("pymatching", "pymatching-correlated"):
        predicted = unpack_bits(MatchingDecoder.named(name, task.dem()).decode_batch(chunk.dets), 1)
        wrong[name] = predicted[:, 0] != truth
    return {"distance": distance, "basis": basis, "p": P, "rounds": task.rounds,
            "shots": shots, "seed": SEED,
            "decoders": {k: rate(int(w.sum()), shots, task.rounds) for k, w in wrong.items()},
            "pairs": [PairedCounts.of(a, wrong[a], b, wrong[b]).to_json() for a, b in PAIRS]}


def markdown(rows: list[dict]) -> str:
    names = ("pymatching", "pymatching-correlated", "soft", "soft+second-pass")
    lines = [f"Soft mode with a correlated second pass (bench/soft_correlated.py), uniform noise "
             f"p = {P}, rounds = d, the shipped `small` model; errors on the same shots.", "",
             f"| d | basis | shots | {' | '.join(names)} | second pass vs soft: only 2nd / "
             "only soft wrong (McNemar p) | second pass vs correlated PM (McNemar p) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        pairs = {(p["a"], p["b"]): p for p in r["pairs"]}
        cells = [f"{pairs[k]['only_a_wrong']} / {pairs[k]['only_b_wrong']} "
                 f"({pairs[k]['mcnemar_p']:.2g})" for k in PAIRS[:2]]
        lines.append(f"| {r['distance']} | {r['basis']} | {r['shots']:,} | "
                     + " | ".join(str(r["decoders"][n]["errors"]) for n in names)
                     + f" | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n\n" + pooled(rows) + "\n"


def pooled(rows: list[dict]) -> str:
    """One line: the second pass vs soft over every point's shots (exact McNemar test)."""
    from qec import PairedCounts

    only = np.sum([[p["only_a_wrong"], p["only_b_wrong"]] for r in rows for p in r["pairs"]
                   if (p["a"], p["b"]) == PAIRS[0]], axis=0)
    test = PairedCounts(*PAIRS[0], int(only[0]), int(only[1]))
    return (f"Pooled over the {len(rows)} points: {test.only_a} shots only the second pass "
            f"got wrong, {test.only_b} only soft mode got wrong, McNemar p = "
            f"{test.p_value:.2g}.")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench soft-correlated",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small point (smoke test)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    from predecoder import load_model

    loaded = load_model("small")
    rows = []
    for d, basis, shots in QUICK_POINTS if args.quick else POINTS:
        rows.append(point(loaded, d, basis, shots))
        print(f"d={d} {basis}: " + ", ".join(f"{k} {v['errors']}" for k, v in
                                              rows[-1]["decoders"].items()))
    stem = "soft_correlated_quick" if args.quick else "soft_correlated"
    write_suite_files(args.out, stem, {"meta": run_metadata(), "rows": rows},
                      markdown=lambda path: write_text(path, markdown(rows)))
    return 0
