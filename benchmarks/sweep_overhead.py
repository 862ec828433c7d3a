"""What a sweep costs beyond its points, locally and on a Ray cluster (issue 15).

    python benchmarks/sweep_overhead.py [--points N] [--out DIR]

The same N points three ways, one after another on this machine:
  1. N `edgebench run` commands (each a CLI process, as a user would type them);
  2. `edgebench sweep GRID.toml` (local: the points one after another in one process);
  3. `edgebench sweep GRID.toml --cluster ADDR` on a loopback Ray cluster started here: a head with no
     CPUs and one node that builds and is the only device, so its jobs run one at a time as the
     local ones do.

Checked and printed:
  - per point, the trainings' and artifacts' test accuracies of 2 and 3 against 1 (must be identical:
    same inputs, same code) and the training time ratios (noise only);
  - the local sweep's own overhead per point: sweep wall time minus the sum of its runs' own
    wall_time_s (everything the run measured from its start to its reports), over N;
  - the cluster sweep's overhead per point: sweep wall time minus connecting and checking the cluster
    (once per sweep, reported apart) minus the sum of the jobs' own wall time on the node (build and
    measure jobs, timed inside the job), over N: dispatch, fresh worker processes, object transfer,
    merging and reports;
  - each as a share of a point's time (the mean of the runs' wall_time_s).
Times by time.perf_counter around each subprocess; one round, so noisy: read the shares, not the
digits. Prints one JSON document.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIXED = {"frameworks": "torch", "model": "mlp", "epochs": 2, "repeats": 2, "formats": "onnx", "no-mcu": True,
         "latency-min-time": 0.5}
HIDDEN = ["32", "64", "128", "256"]


def toml_value(v):
    return json.dumps(v) if not isinstance(v, bool) else str(v).lower()


def edgebench(*args, env=None):
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "edgebench", *args], capture_output=True, text=True,
                       env=env or dict(os.environ))
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"edgebench {' '.join(args)} failed: {p.stderr[-2000:]}")
    return wall


def figures(folder: Path) -> dict:
    r = json.loads((folder / "results.json").read_text())
    return {"wall_time_s": r["wall_time_s"],
            "trainings": {t["framework"]: {"acc": t["test_accuracy"], "time": t["train_time_s"]} for t in r["trainings"]},
            "artifacts": {f"{a['framework']}:{a['format']}:{a['precision']}": a.get("test_accuracy")
                          for a in r["artifacts"]}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--analyse", action="store_true", help="only read the folders of an earlier --out")
    args = ap.parse_args()
    hidden = HIDDEN[:args.points]
    root = args.out or Path(tempfile.mkdtemp(prefix="edgebench-sweep-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    grid = root / "grid.toml"
    grid.write_text('devices = ["here"]\n[fixed]\n' + "".join(f"{k} = {toml_value(v)}\n" for k, v in FIXED.items())
                    + f"[axes]\nhidden = {json.dumps(hidden)}\n")

    if args.analyse:
        saved = json.loads((root / "walls.json").read_text())
        return report(root, hidden, saved["run_walls"], saved["local_wall"], saved["cluster_wall"])

    # 1. The runs, as commands.
    run_walls = []
    for h in hidden:
        flags = [f"--{k}" if v is True else f"--{k}={v}" for k, v in FIXED.items()]
        run_walls.append(edgebench("run", *flags, f"--hidden={h}", "--out", str(root / f"run-{h}")))

    # 2. The local sweep (its figures are read in report()).
    local_wall = edgebench("sweep", str(grid), "--out", str(root / "local"))

    # 3. The cluster sweep, on one node that builds and measures.
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, connect=False,
                head_node_args={"num_cpus": 0, "node_ip_address": "127.0.0.1", "include_dashboard": False})
    c.add_node(num_cpus=1, resources={"edgebench_slot": 1}, node_ip_address="127.0.0.1",
               labels={"edgebench-device": "here", "edgebench-build": "true"})
    try:
        cluster_wall = edgebench("sweep", str(grid), "--out", str(root / "cluster"), "--cluster", c.address)
    finally:
        c.shutdown()
    (root / "walls.json").write_text(json.dumps({"run_walls": run_walls, "local_wall": local_wall,
                                                  "cluster_wall": cluster_wall}))
    report(root, hidden, run_walls, local_wall, cluster_wall)


def report(root, hidden, run_walls, local_wall, cluster_wall):
    runs = [figures(root / f"run-{h}") for h in hidden]
    state = json.loads((root / "local" / "sweep.json").read_text())
    local = [figures(root / "local" / p["name"]) for p in state["points"]]
    cstate = json.loads((root / "cluster" / "sweep.json").read_text())
    cluster = [figures(root / "cluster" / p["name"] / "here") for p in cstate["points"]]
    job_wall = sum(j["wall_s"] for j in cstate["jobs"])

    n = len(hidden)
    point_s = sum(r["wall_time_s"] for r in runs) / n

    def same(a, b):
        return ({k: v["acc"] for k, v in a["trainings"].items()} == {k: v["acc"] for k, v in b["trainings"].items()}
                and a["artifacts"] == b["artifacts"])

    local_over = (local_wall - sum(r["wall_time_s"] for r in local)) / n
    cluster_over = (cluster_wall - cstate["connect_s"] - job_wall) / n
    out = {
        "machine": {"cpu_count": os.cpu_count()}, "points": n, "grid": FIXED | {"hidden": hidden},
        "point_time_s_mean": point_s,
        "run_commands_wall_s": run_walls,
        "local": {"sweep_wall_s": local_wall, "identical_accuracies": [same(a, b) for a, b in zip(runs, local)],
                  "train_time_ratio_vs_run": [b["trainings"]["pytorch"]["time"] / a["trainings"]["pytorch"]["time"]
                                              for a, b in zip(runs, local)],
                  "overhead_per_point_s": local_over, "overhead_share_of_point": local_over / point_s,
                  "sweep_vs_run_commands_wall": local_wall / sum(run_walls)},
        "cluster": {"sweep_wall_s": cluster_wall, "jobs": len(cstate["jobs"]), "job_wall_s_sum": job_wall,
                    "identical_accuracies": [same(a, b) for a, b in zip(runs, cluster)],
                    "train_time_ratio_vs_run": [b["trainings"]["pytorch"]["time"] / a["trainings"]["pytorch"]["time"]
                                                for a, b in zip(runs, cluster)],
                    "overhead_per_point_s": cluster_over, "overhead_share_of_point": cluster_over / point_s,
                    "connect_check_describe_s": cstate["connect_s"]},
        "folder": str(root),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
