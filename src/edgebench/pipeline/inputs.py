"""The shared inputs of a run (initial weights, batch order, calibration images), made once from
the seed, and the results skeleton that records them with every fairness choice."""

from __future__ import annotations

import numpy as np

from edgebench import data, results
from edgebench.version import __version__
from edgebench.config import RunConfig
from edgebench.models import is_file
from edgebench.models import weights as init
from edgebench.models.network import Network
from edgebench.pipeline.store import INPUTS, RunStore
from edgebench.results.schema import RunResults

ADAM_EPSILON_NOTE = (
    "Keras and PyTorch place Adam's epsilon differently. Keras: "
    "w -= lr*sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps), i.e. eps is added before the bias "
    "correction ('epsilon hat' in Kingma & Ba, sec. 2); PyTorch: "
    "w -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps). With the same eps, Keras' effective "
    "epsilon is eps/sqrt(1-b2^t) in PyTorch's terms: 31.6x eps at step 1, 1.26x at step 1000. "
    "It matters where sqrt(v_hat) is small (rare pixels, dead units)."
)
PLACEMENT_NOTE = {
    "aligned": "Placement aligned: every framework follows Keras' rule; PyTorch's stock Adam gets "
               "eps_t = eps/sqrt(1-b2^t) before step t, which makes its update algebraically equal.",
    "native": "Placement native: each framework runs its stock rule, so the updates differ as above.",
}


def dropout_note(net: Network) -> str:
    """What this run's twin check does with Dropout: rate 0 (no active Dropout layer), or not a twin."""
    from edgebench.models.layers import Dropout

    active = [f"{n.layer.name} (rate {n.layer.rate:g})" for n in net.nodes
              if isinstance(n.layer, Dropout) and n.layer.rate > 0]
    if not active:
        return "no Dropout at a rate above 0 in this model: the twin check compares like for like (rate 0)"
    return (f"Dropout active in {', '.join(active)}: each framework draws its own masks, so this run's "
            "frameworks are not twins (the twin drift measures the masks too)")


def write_calibration(cfg, ds, store: RunStore) -> int:
    """Indices of the training images that calibrate every static int8 export, drawn without
    replacement from the seed (run and deploy alike); returns how many."""
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 2]))
    n_cal = min(cfg.calibration_samples, len(ds.x_train))
    np.save(store.input_path(INPUTS[2]), np.sort(rng.choice(len(ds.x_train), size=n_cal, replace=False)).astype(np.int64))
    return n_cal


def skeleton(cfg, ds, store: RunStore) -> dict:
    """The head of every results.json: versions, time, status and the whole configuration."""
    config = cfg.to_dict()
    config["out"] = str(store.dir)
    config["dataset_sha256"] = ds.checksums
    return {"schema_version": results.SCHEMA_VERSION, "edgebench_version": __version__,
            "created_at": results.now_iso(), "status": "running", "config": config}


def inference(cfg) -> dict:
    """How every artifact is timed."""
    return {"threads": cfg.bench_threads,
            "latency": f"batch 1, session loaded once, 20 warm-up calls, then at least "
                       f"{cfg.latency_min_iters} calls and {cfg.latency_min_time_s:g} s timed "
                       "one by one with perf_counter_ns; raw samples in latency/",
            "throughput": f"batch {cfg.throughput_batch} where the artifact takes a "
                          "dynamic batch: images / median batch time"}


def boards_record(boards: list) -> dict:
    return {"boards": [b.to_dict() for b in boards],
            "boards_note": "fit counts the model bytes in flash and the TFLM tensor arena (inputs and "
                           "outputs live inside it) in RAM; it leaves out the TFLM runtime's code, the "
                           "application's code, stack and buffers, and RAM reserved by an RTOS or radio stack",
            "environment": results.environment()}


def run_warnings(cfg: RunConfig) -> list[dict]:
    """What makes this run's figures harder to read, said before it starts (the CLI prints each,
    the report lists them)."""
    out = []
    cores = results.usable_cores()
    for name, n in (("--threads", cfg.threads), ("--bench-threads", cfg.bench_threads)):
        if n > cores:
            out.append({"about": name.lstrip("-"), "message":
                        f"{name} {n} is above the {cores} cores this process may use: the threads take turns on "
                        "the cores, so times are slower than the machine allows"
                        + (", and the GEMM peak and step-GEMM bound measured with them are no bounds"
                           if name == "--threads" else "")})
    return out


def isolation_note(cfg) -> str:
    if getattr(cfg, "fresh_process_per_repeat", False):
        return ("--fresh-process-per-repeat: one child process per training (warm-ups included) and per "
                "artifact check; each pays its own imports and cold start")
    return ("one long-lived worker process per framework and mode for all of its trainings (imports and data "
            "loaded once; the warm-ups run in it first, so the counted repeats are warm), and one per runtime for "
            "all of its artifacts; never the parent's process. Every training builds its model afresh from the "
            "same initial weights and batch order, with the framework's global RNG reset as a fresh process has "
            "it; the repeats share the process's allocator and caches")


def timed_sections_note(cfg: RunConfig) -> dict:
    if cfg.parallel <= 1:
        return {"parallel": 1, "how": "one child process at a time: nothing else of the run runs beside a timed section"}
    return {"parallel": cfg.parallel,
            "how": f"up to {cfg.parallel} child processes do untimed work at once (imports, data loading, "
                   "exports, test-set passes); before each timed section (a training loop, a latency or "
                   "throughput window with its warm-up calls, TFLite Micro's host timing) the child asks the "
                   "run for the timing gate, which pauses every other child (SIGSTOP, then waits until each of "
                   "their threads is stopped) and resumes them (SIGCONT) when the section ends: no other process "
                   "of the run runs during a timed section. Untimed durations recorded beside results "
                   "(import_time_s, load_time_s, export_time_s, data_load_s) are wall times that may include "
                   "time the child spent paused or sharing the cores"}


def write_inputs(cfg: RunConfig, ds, store: RunStore, boards: list, net: Network) -> RunResults:
    """The shared inputs, made once in NumPy from the seed and saved in inputs/, and the results
    skeleton that records them and every fairness choice."""
    inputs = store.inputs
    inputs.mkdir()
    w_path = inputs / INPUTS[0]
    init.save(init.initial(net, cfg.seed), w_path)
    if is_file(cfg.model.name):  # the user's own model file: kept with the run, as it was
        import shutil

        shutil.copyfile(cfg.model.name, inputs / "model.toml")
    o_path = inputs / INPUTS[1]
    order = data.batch_order(len(ds.y_train), cfg.epochs, cfg.seed)
    np.save(o_path, order)
    n_cal = write_calibration(cfg, ds, store)
    return RunResults.model_validate({
        **skeleton(cfg, ds, store),
        "dataset": ds.describe(),
        "model": {**net.describe(), "layer_table": net.layer_table()},
        "fairness": {
            "initial_weights": {"file": "inputs/initial_weights.npz", "sha256": data.sha256_file(w_path),
                                "scheme": init.SCHEME, "seed": cfg.seed},
            "batch_order": {"file": "inputs/batch_order.npy", "sha256": data.sha256_file(o_path),
                            "shape": list(order.shape), "seed": cfg.seed,
                            "note": "one permutation per epoch, shared by every framework; "
                                    "the last batch of an epoch may be short"},
            "optimizer": {**cfg.to_dict()["optimizer"], "epsilon_note": ADAM_EPSILON_NOTE + " "
                          + PLACEMENT_NOTE[cfg.optimizer.epsilon_placement]},
            "calibration": {"file": "inputs/calibration_indices.npy", "samples": n_cal,
                            "note": "training images drawn without replacement from the seed; the "
                                    "same images calibrate every static int8 export"},
            "inference": inference(cfg),
            "loss": "softmax cross-entropy from logits, mean over the batch",
            "layers": {"padding": "explicit (top, bottom), (left, right) pads in every framework; 'same' puts "
                                  "an odd extra row or column at the bottom/right (TensorFlow's and Flax's rule), "
                                  "which PyTorch gets as an explicit pad",
                       "layout": "images channels-last (NHWC) into every framework; PyTorch converts to NCHW "
                                 "inside its model, explicitly; flatten in channels-last order everywhere",
                       "batchnorm": "the layer's momentum (weight of the old running value; PyTorch's momentum "
                                    "is 1 minus it) and epsilon in every framework; the running variance is the "
                                    "biased batch variance everywhere (PyTorch's own unbiased update replaced)",
                       "dropout": dropout_note(net)},
            "dtype": "float32",
            "threads": {"count": cfg.threads,
                        "how": "each child pinned to N cores (sched_setaffinity) when N is below the "
                               "core count: every timed section on the first N cores, untimed work on the "
                               "next N in turn per child (so single-threaded children spread over the "
                               "machine); TensorFlow intra/inter-op = N; PyTorch set_num_threads(N) and "
                               "set_num_interop_threads(N); JAX/XLA: the affinity, plus single-threaded "
                               "Eigen when N = 1; OMP/MKL/OpenBLAS env = N"},
            "isolation": isolation_note(cfg),
            "timed_sections": timed_sections_note(cfg),
            "modes": {"eager": "what a typical user writes: Keras fit (jit_compile=False), a PyTorch "
                               "eager loop, a jax.jit step per batch",
                      "compiled": "each framework's fast path: Keras jit_compile=True with "
                                  "steps_per_execution=100, torch.compile (Inductor) on the model with "
                                  "an eager optimizer, a whole JAX epoch in one jitted lax.scan"},
            "train_time": "sum of per-epoch wall times (time.perf_counter); each epoch covers its "
                          "batches, gathered by the shared permutation from the framework's own copy "
                          "of the training set (TensorFlow: tf.gather per epoch, then fit; PyTorch: "
                          "index per batch; JAX: jnp.take per batch inside the jitted step), and all "
                          "its training steps; excludes reading data, the one-time copy of the "
                          "training set into the framework (data_load_s), building the model, "
                          "evaluation and export",
            "evaluation": "test loss and accuracy from the framework's logits on all test images, "
                          "loss computed by edgebench in float64 from those logits",
        },
        **boards_record(boards),
        "warnings": run_warnings(cfg),
        "trainings": [],
        "artifacts": [],
        "progress": {"done": [], "note": "ids of the finished jobs (ok, failed or skipped): what --resume skips"},
    })
