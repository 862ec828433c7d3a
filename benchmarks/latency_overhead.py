"""Latency-measurement overhead: edgebench's batch-1 p50 for a .tflite artifact vs a bare
set_tensor / invoke / get_tensor loop on the same file, in this process, one thread.

python benchmarks/latency_overhead.py RUN_DIR/tensorflow/model.tflite
"""

import sys
import time

import numpy as np


def main(path: str) -> None:
    from ai_edge_litert.interpreter import Interpreter

    from edgebench.measure.latency import time_calls
    from edgebench.measure.stats import summarize_ns
    from edgebench.runtimes.litert import LiteRTSession

    x = np.random.default_rng(0).random((1, 784), dtype=np.float32)
    results = {"edgebench": [], "bare": []}
    for _ in range(5):  # alternate, so drift hits both alike
        sess = LiteRTSession(path, threads=1)
        if sess._in["dtype"] != np.float32:
            raise SystemExit("use a float32 .tflite")
        results["edgebench"].append(summarize_ns(time_calls(sess.batch_call(x), min_iters=200, min_time_s=1.0,
                                                            warmup=20))["p50"])
        it = Interpreter(model_path=path, num_threads=1)
        it.allocate_tensors()
        i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
        for _ in range(20):
            it.set_tensor(i, x)
            it.invoke()
            it.get_tensor(o)
        samples = []
        end = time.perf_counter() + 1.0
        while time.perf_counter() < end or len(samples) < 200:
            t0 = time.perf_counter_ns()
            it.set_tensor(i, x)
            it.invoke()
            it.get_tensor(o)
            samples.append(time.perf_counter_ns() - t0)
        results["bare"].append(float(np.median(samples)) / 1e6)
    eb, bare = np.median(results["edgebench"]), np.median(results["bare"])
    print(f"batch-1 p50: edgebench {eb * 1000:.2f} us, bare loop {bare * 1000:.2f} us, ratio {eb / bare:.3f} "
          f"(median of 5 alternating rounds)")


if __name__ == "__main__":
    main(sys.argv[1])
