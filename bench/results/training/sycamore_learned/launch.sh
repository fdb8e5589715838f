#!/bin/bash
# (a) the device-trained pre-decoder: fine-tune the shipped `small` on DEMs that
# `qecpipe learn-noise` (mechanisms) learned from the EVEN shots of Google's d=5 X-basis
# experiments with rounds 3..11 (25,000 shots each; longer experiments cost more per step
# and add no new local structure); the ODD shots stay held out for evaluation.
# DATA: the qec3v5 folder (Zenodo doi:10.5281/zenodo.6804040, CC BY 4.0); LEARNED: the folder of
# learned_even.json files written by bench/results/training/sycamore_learned/learn.sh.
# Resume: add --resume "$OUT/ckpt.safetensors".
set -euo pipefail
DATA=${DATA:?path to google_qec3v5}; LEARNED=${LEARNED:?folder of learned DEMs}
OUT=$(dirname "$0")
args=()
for r in 03 05 07 09 11; do
  e=surface_code_bX_d5_r${r}_center_5_5
  args+=(--noise-from "$LEARNED/$e/learned_even.json" --noise-circuit "$DATA/$e/circuit_noisy.stim")
done
exec qecpipe train --preset small --init predecoder/weights/small.safetensors "${args[@]}" \
  --steps 1200 --batch 64 --lr 1e-3 --seed 7 --threads 1 \
  --eval-every 250 --eval-shots 1000 --checkpoint "$OUT/ckpt.safetensors" --checkpoint-every 50 \
  --snapshots 400,800 --snapshot-dir "$OUT/snapshots" \
  --log "$OUT/log.csv" --out "$OUT/final.safetensors" "$@"
