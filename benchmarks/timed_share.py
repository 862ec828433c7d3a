"""Where a run's wall time went, and how it compares with the work it timed.

python benchmarks/timed_share.py RUN_DIR [RUN_DIR ...]

For each run folder: the stages (results.json's wall_time_breakdown_s), the timed work (every
training loop's timed epochs, warm-ups included, and every latency and throughput window: calls x
mean time) and wall / timed, computed from results.json alone (edgebench.measure.cost), so runs of
any version can be compared side by side.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from edgebench import results  # noqa: E402
from edgebench.measure.cost import cost  # noqa: E402

for folder in sys.argv[1:]:
    r = results.load(Path(folder))  # any version's results.json, brought to the current shape
    c = cost(r, r.wall_time_s)
    stages = "; ".join(f"{k} {v:.1f} s" for k, v in r.wall_time_breakdown_s.items())
    print(f"{folder}: wall {c.wall_s:.1f} s; timed work {c.total_s:.1f} s (training {c.training_s:.1f} s, "
          f"latency and throughput {c.latency_and_throughput_s:.1f} s, microcontroller host timing "
          f"{c.microcontroller_latency_s:.1f} s); wall / timed = {c.wall_over_timed:.2f}")
    print(f"  {stages}")
