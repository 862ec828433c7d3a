#!/usr/bin/env bash
# End-to-end wall time of `edgebench run`: the default settings, and the lab's setup only.
# Usage: bash benchmarks/end_to_end.sh   (from the repository root, after `make setup`)
set -euo pipefail
bin=${EDGEBENCH:-.venv/bin/edgebench}
py=${PYTHON:-.venv/bin/python}
out=$(mktemp -d)
for name in default lab; do
  args=()
  [ "$name" = lab ] && args=(--preset lab)
  start=$(date +%s.%N)
  "$bin" run "${args[@]}" --out "$out/$name" > "$out/$name.log" 2>&1
  end=$(date +%s.%N)
  printf '%-8s %7.1f s end to end (%s)\n' "$name" "$(echo "$end - $start" | bc)" "$out/$name"
  # Where the time went, and wall time over the timed work, from the run's own record.
  "$py" benchmarks/timed_share.py "$out/$name"
done
