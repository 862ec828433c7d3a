#!/usr/bin/env bash
# End-to-end wall time of `edgebench run`: the default settings, and the lab's setup only.
# Usage: bash benchmarks/end_to_end.sh   (from the repository root, after `make setup`)
set -euo pipefail
bin=${EDGEBENCH:-.venv/bin/edgebench}
out=$(mktemp -d)
for name in default lab; do
  args=()
  [ "$name" = lab ] && args=(--frameworks tensorflow,pytorch --formats tflite,onnx --repeats 1 --no-mcu)
  start=$(date +%s.%N)
  "$bin" run "${args[@]}" --out "$out/$name" > "$out/$name.log" 2>&1
  end=$(date +%s.%N)
  printf '%-8s %7.1f s end to end (%s)\n' "$name" "$(echo "$end - $start" | bc)" "$out/$name"
done
