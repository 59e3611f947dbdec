#!/usr/bin/env bash
# Generate a blind world, label its notes, run vigile detect on it and score the alerts.
# Usage: bench/blindworld/run.sh SEED [OUT_DIR] [extra gen.py flags, e.g. --refused-ids]
set -euo pipefail
cd "$(dirname "$0")/../.."
SEED=${1:-1}
OUT=${2:-/tmp/blindworld-$SEED}
shift $(( $# > 2 ? 2 : $# ))
.venv/bin/python bench/blindworld/gen.py --out "$OUT" --seed "$SEED" "$@"
# sensitive notes (INTERFACE §5) via vigile's own classifier: detect reads context/note_labels.csv
.venv/bin/vigile notes --annotations "$OUT/context/annotations.csv" --out "$OUT/context/note_labels.csv" >/dev/null
/usr/bin/time -f "detect: %U s user, %S s sys, %M KiB max RSS" \
  .venv/bin/vigile detect --events "$OUT/events.jsonl" --context "$OUT/context" \
  --alerts "$OUT/alerts.jsonl" --incidents "$OUT/incidents.json" --json > "$OUT/detect.json"
.venv/bin/python bench/blindworld/score.py --world "$OUT" --json "$OUT/score.json" | tee "$OUT/score.txt"
