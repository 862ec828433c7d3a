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
  # Where the time went, from the run's own record.
  "$py" -c 'import json, sys
d = json.load(open(sys.argv[1]))
print("         " + "; ".join(f"{k} {v:.1f} s" for k, v in d.get("wall_time_breakdown_s", {}).items()))' \
    "$out/$name/results.json"
done
