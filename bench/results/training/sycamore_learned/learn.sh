#!/bin/bash
# Split every d=5 experiment's shots into even / odd halves and learn a DEM from the even half.
set -euo pipefail
DATA=${DATA:?path to google_qec3v5}; LEARNED=${LEARNED:?output folder}
for r in 03 05 07 09 11 13 15 17 19 21 23 25; do
  e=surface_code_bX_d5_r${r}_center_5_5; mkdir -p "$LEARNED/$e"
  python - "$DATA/$e" "$LEARNED/$e" <<'PY'
import sys, pathlib, numpy as np
src, out = map(pathlib.Path, sys.argv[1:])
props = (src / "properties.yml").read_text()
dets = int(next(l for l in props.splitlines() if l.startswith("circuit_detectors")).split()[1])
a = np.fromfile(src / "detection_events.b8", dtype=np.uint8).reshape(-1, (dets + 7) // 8)
a[0::2].tofile(out / "even.b8"); a[1::2].tofile(out / "odd.b8")
PY
  qecpipe learn-noise --samples "$LEARNED/$e/even.b8" --circuit "$DATA/$e/circuit_noisy.stim" \
    --out "$LEARNED/$e/learned_even.json"
done
