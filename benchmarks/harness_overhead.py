"""Harness overhead: edgebench's reported training time vs the bare loop of bare_train.py on the
same data, batches, initial weights and threads, each in fresh processes, interleaved.

python benchmarks/harness_overhead.py [--repeats 3] [--epochs 5] [--frameworks tensorflow,pytorch,jax]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--frameworks", default="tensorflow,pytorch,jax")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    fws = args.frameworks.split(",")
    run = os.path.join(tempfile.mkdtemp(prefix="edgebench-overhead-"), "run")
    subprocess.run([sys.executable, "-m", "edgebench", "run", "--frameworks", args.frameworks, "--epochs",
                    str(args.epochs), "--repeats", str(args.repeats), "--threads", str(args.threads),
                    "--formats", "none", "--no-mcu", "--out", run], check=True, stdout=subprocess.DEVNULL)
    r = json.load(open(os.path.join(run, "results.json")))
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "TF_CPP_MIN_LOG_LEVEL": "2",
           "JAX_PLATFORMS": "cpu"}
    bare = {fw: [] for fw in fws}
    for k in range(args.repeats):
        for fw in fws[k % len(fws):] + fws[:k % len(fws)]:
            out = subprocess.run([sys.executable, os.path.join(HERE, "bare_train.py"), fw, run], env=env,
                                 capture_output=True, text=True, check=True).stdout
            bare[fw].append(json.loads(out.strip().splitlines()[-1])["train_time_s"])
    from edgebench.measure.stats import diff_ci

    print(f"{'framework':<12} {'edgebench (s)':>14} {'bare loop (s)':>14} {'ratio':>7}   overhead, 95% CI (Welch t)")
    for t in r["trainings"]:
        fw = t["framework"]
        eb = [x["train_time_s"] for x in t["repeats"]]
        ratio = np.mean(eb) / np.mean(bare[fw])
        d = diff_ci(eb, bare[fw])
        ci = (f"[{d['ci_low'] / np.mean(bare[fw]) * 100:+.0f}%, {d['ci_high'] / np.mean(bare[fw]) * 100:+.0f}%]"
              if d["ci_low"] is not None else "(one run each)")
        print(f"{fw:<12} {np.mean(eb):>9.2f} ±{np.std(eb, ddof=1) if len(eb) > 1 else 0:4.2f} "
              f"{np.mean(bare[fw]):>9.2f} ±{np.std(bare[fw], ddof=1) if len(eb) > 1 else 0:4.2f} {ratio:>7.3f}   {ci}")
    print(f"(mean ± std over {args.repeats} fresh processes each; ratio > 1 means edgebench's figure is slower; "
          "the interval is the difference of means as a share of the bare loop's)")


if __name__ == "__main__":
    main()
