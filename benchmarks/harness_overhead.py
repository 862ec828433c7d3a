"""Harness overhead: edgebench's reported training time vs the bare loop of bare_train.py on the
same model, data, batches, initial weights and threads, each in fresh processes, interleaved.

python benchmarks/harness_overhead.py [--model mlp|lenet5] [--repeats 3] [--epochs 5]
    [--frameworks tensorflow,pytorch,jax] [--threads N] [--limit-train N --limit-test N]

--model is passed to `edgebench run`; the bare loops read it (and everything else) from that run's
folder. --limit-train/--limit-test are for smoke tests of this script only: the overhead is
measured on the full data set.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bare_train import MODELS  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mlp", help=f"one of {', '.join(MODELS)} (the models bare_train.py writes out)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--frameworks", default="tensorflow,pytorch,jax")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--limit-train", type=int, help="smoke tests only: the first N training images")
    ap.add_argument("--limit-test", type=int, help="smoke tests only: the first N test images")
    args = ap.parse_args()
    if args.model not in MODELS:
        ap.error(f"--model {args.model}: bare_train.py writes out only {', '.join(MODELS)}")
    fws = args.frameworks.split(",")
    tmp = tempfile.mkdtemp(prefix="edgebench-overhead-")
    # The environment edgebench gives each training process (thread knobs, KERAS_BACKEND, JAX on the
    # CPU); bare_train.py pins itself to the same cores as edgebench's worker does.
    from edgebench.pipeline.runner import child_env

    env = child_env(args.threads)
    # Alternate: one edgebench run (every framework, one repeat), then the bare loop of each
    # framework on that run's inputs, and again; a slow spell of the machine then lands on both.
    eb = {fw: [] for fw in fws}
    bare = {fw: [] for fw in fws}
    last, r = {}, None
    for k in range(args.repeats):
        order = fws[k % len(fws):] + fws[:k % len(fws)]
        run = os.path.join(tmp, f"run{k + 1}")
        cmd = [sys.executable, "-m", "edgebench", "run", "--model", args.model, "--frameworks", ",".join(order),
               "--epochs", str(args.epochs), "--repeats", "1", "--threads", str(args.threads),
               "--formats", "none", "--no-mcu", "--out", run]
        for flag, value in (("--limit-train", args.limit_train), ("--limit-test", args.limit_test)):
            if value is not None:
                cmd += [flag, str(value)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        r = json.load(open(os.path.join(run, "results.json")))
        for t in r["trainings"]:
            if t["status"] == "ok":
                eb[t["framework"]].append(t["train_time_s"])
        for fw in order:
            out = subprocess.run([sys.executable, os.path.join(HERE, "bare_train.py"), fw, run], env=env,
                                 capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"bare_train.py {fw} failed:\n{out.stderr[-3000:]}")
            last[fw] = json.loads(out.stdout.strip().splitlines()[-1])
            bare[fw].append(last[fw]["train_time_s"])
    from edgebench.measure.stats import diff_ci

    print(f"model {args.model}, {args.epochs} epochs, {r['dataset']['train_samples']} training images, "
          f"{args.threads} threads")
    print(f"{'framework':<12} {'edgebench (s)':>14} {'bare loop (s)':>14} {'ratio':>7}   overhead, 95% CI (Welch t)")
    for t in r["trainings"]:
        fw = t["framework"]
        if fw not in bare or t["status"] != "ok":
            continue
        times = eb[fw]
        ratio = np.mean(times) / np.mean(bare[fw])
        d = diff_ci(times, bare[fw])
        ci = (f"[{d['ci_low'] / np.mean(bare[fw]) * 100:+.0f}%, {d['ci_high'] / np.mean(bare[fw]) * 100:+.0f}%]"
              if d["ci_low"] is not None else "(one run each)")
        print(f"{fw:<12} {np.mean(times):>9.2f} ±{np.std(times, ddof=1) if len(times) > 1 else 0:4.2f} "
              f"{np.mean(bare[fw]):>9.2f} ±{np.std(bare[fw], ddof=1) if len(bare[fw]) > 1 else 0:4.2f} "
              f"{ratio:>7.3f}   {ci}")
    print(f"(mean ± std over {args.repeats} fresh processes each, edgebench's and the bare loop's alternating; ratio > 1 means edgebench's figure is slower; "
          "the interval is the difference of means as a share of the bare loop's)")
    print("sanity: test accuracy edgebench / bare loop; largest |bare - edgebench| final weight")
    for t in r["trainings"]:
        fw = t["framework"]
        if fw in last:
            diff = last[fw]["max_abs_weight_diff"]
            print(f"  {fw:<12} {t['test_accuracy']:.4f} / {last[fw]['test_accuracy']:.4f}   "
                  f"{'n/a' if diff is None else f'{diff:.2e}'}")


if __name__ == "__main__":
    main()
