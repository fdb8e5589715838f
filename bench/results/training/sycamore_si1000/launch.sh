#!/bin/bash
# (b) the density-matched baseline: fine-tune the shipped `small` on SI1000 noise with
# p in [0.005, 0.008], where d=5 shots show 12-18 % of detectors firing (Google's d=5 data:
# 14.0 % at 5 rounds, 15.9 % at 25; SI1000 p = 0.006: 14.1 % / 14.3 %).
# (Run here: started with --steps 2500, stopped at step 200 and resumed with --steps 1300
# to end within the session's CPU time.) Resume: add --resume "$OUT/ckpt.safetensors".
set -euo pipefail
OUT=$(dirname "$0")
exec qecpipe train --preset small --init predecoder/weights/small.safetensors \
  --noise si1000 --p-min 0.005 --p-max 0.008 --distances 3,5,7 \
  --steps 1300 --batch 64 --lr 1e-3 --seed 7 --threads 1 \
  --eval-every 250 --eval-shots 1000 --eval-p 0.006 \
  --checkpoint "$OUT/ckpt.safetensors" --checkpoint-every 50 \
  --snapshots 400,800 --snapshot-dir "$OUT/snapshots" \
  --log "$OUT/log.csv" --out "$OUT/final.safetensors" "$@"
