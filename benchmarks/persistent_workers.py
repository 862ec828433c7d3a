"""A run both ways in the same hour: long-lived workers (the default) against one process per task
(--fresh-process-per-repeat).

python benchmarks/persistent_workers.py OUT_DIR [edgebench run options...]    (runs both, then compares)
python benchmarks/persistent_workers.py --read FRESH_DIR PERSISTENT_DIR         (compares two run folders)

Runs `edgebench run` with the given options twice, fresh-process first, then persistent (the order
is printed; rerun with --persistent-first to swap it), and prints for each: wall time, timed work
(results.json's cost: every training loop's timed epochs, warm-ups included, and every latency and
throughput window), their ratio (the issue's bar: 1.4 on the default run, 1.3 on lenet5), each
framework's counted training times (geometric mean and 95% interval, the values, first epochs);
then every figure that should not change (accuracies, artifact sizes and agreements, TFLite Micro
and firmware RAM/flash) side by side with the differences named, and `edgebench compare`'s verdicts
on the training times.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def edgebench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgebench", *args], capture_output=True, text=True)


def load(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


def summary(name: str, r: dict) -> None:
    c = r["cost"]
    print(f"{name}: wall {c['wall_s']:.1f} s, timed work {c['total_s']:.1f} s (training {c['training_s']:.1f} s, "
          f"latency/throughput {c['latency_and_throughput_s']:.1f} s, microcontroller {c['microcontroller_latency_s']:.1f}"
          f" s): wall / timed = {c['wall_over_timed']:.2f}")
    print("  stages: " + "; ".join(f"{k} {v:.1f} s" for k, v in r["wall_time_breakdown_s"].items()))
    for t in r["trainings"]:
        tm = t.get("timing") or {}
        tt = tm.get("train_time_s") or {}
        reps = [x for x in t["repeats"] if x["status"] == "ok"]
        print(f"  {t['framework']:<10} train {tt.get('geomean', 0):.3f} s [{tt.get('ci_low') or 0:.3f}, "
              f"{tt.get('ci_high') or 0:.3f}] n={tt.get('n')}; values "
              + ", ".join(f"r{x['repeat']}{'' if x.get('attempt', 1) == 1 else 'a' + str(x['attempt'])}"
                          f"{'(w)' if x['warmup'] else ''}{'(rerun)' if x.get('rerun') else ''}="
                          f"{x['train_time_s']:.3f}" for x in reps)
              + "; first epochs " + ", ".join(f"{x['first_epoch_s']:.3f}" for x in reps)
              + "; imports " + ", ".join(f"{x.get('import_time_s') or 0:.1f}" for x in reps))


def unchanging(r: dict) -> dict:
    """Every figure the process model must not change, by name."""
    out = {}
    for t in r["trainings"]:
        out[f"{t['framework']} test accuracy"] = t.get("test_accuracy")
        out[f"{t['framework']} repeat accuracies"] = [x.get("test_accuracy") for x in t["repeats"]
                                                      if x["status"] == "ok" and not x.get("rerun")]
        out[f"{t['framework']} bit-identical weights"] = (t.get("determinism") or {}).get("bit_identical_weights")
    for a in r["artifacts"]:
        name = f"{a['framework']}/{a['format']}-{a['precision']}"
        out[f"{name} size_bytes"] = a.get("size_bytes")
        for x in a.get("results", []):
            key = f"{name} on {x['runtime']}"
            out[f"{key} status"] = x["status"]
            for field in ("test_accuracy", "agreement", "max_abs_diff", "ram_bytes", "flash_bytes", "arena_bytes"):
                if x.get(field) is not None:
                    out[f"{key} {field}"] = x[field]
    return out


def differences(a: dict, b: dict) -> list[str]:
    ua, ub = unchanging(a), unchanging(b)
    return [f"{k}: {ua.get(k)} -> {ub.get(k)}" for k in sorted(set(ua) | set(ub)) if ua.get(k) != ub.get(k)]


def compare(fresh: Path, persistent: Path) -> None:
    a, b = load(fresh), load(persistent)
    summary(f"fresh process per task ({fresh})", a)
    summary(f"persistent workers ({persistent})", b)
    ratio = b["cost"]["wall_s"] / a["cost"]["wall_s"]
    print(f"persistent / fresh wall time: {ratio:.2f}")
    diff = differences(a, b)
    print(f"figures that should not change: {len(unchanging(a))} compared, {len(diff)} differ")
    for d in diff:
        print("  " + d)
    p = edgebench("compare", str(fresh), str(persistent), "--format", "md", "--out", str(persistent / "compare.md"))
    print("edgebench compare (A = fresh, B = persistent), training:")
    lines = p.stdout.split("## Training", 1)[-1].split("## Artifacts", 1)[0].strip().splitlines()
    for line in lines:
        print("  " + line)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--read"]:
        compare(Path(argv[1]), Path(argv[2]))
        return 0
    persistent_first = "--persistent-first" in argv
    argv = [a for a in argv if a != "--persistent-first"]
    out, extra = Path(argv[0]), argv[1:]
    out.mkdir(parents=True, exist_ok=True)
    order = [("persistent", []), ("fresh", ["--fresh-process-per-repeat"])]
    if not persistent_first:
        order.reverse()
    for name, flags in order:
        print(f"running {name} ...", flush=True)
        p = edgebench("run", *extra, *flags, "--out", str(out / name))
        if p.returncode != 0:
            print(p.stderr[-3000:])
            return p.returncode
    compare(out / "fresh", out / "persistent")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
