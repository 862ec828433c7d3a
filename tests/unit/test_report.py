import json

from edgebench.report.markdown import render
from edgebench.results import parse
from edgebench.results.schema import RunResults


def typed(r: dict) -> RunResults:
    """A schema-1 results dict as the reports take it: migrated and validated, as results.load does."""
    return parse(json.loads(json.dumps(r)), "test results")


def _results():
    return {
        "schema_version": 1, "status": "partial", "created_at": "2026-11-27T00:00:00+00:00",
        "edgebench_version": "0.1.0",
        "config": {"model": {"input_size": 784, "hidden": [64], "num_classes": 10}, "epochs": 2,
                   "batch_size": 64, "threads": 2, "seed": 0,
                   "optimizer": {"name": "adam", "learning_rate": 0.001, "beta1": 0.9, "beta2": 0.999,
                                 "epsilon": 1e-8, "epsilon_placement": "aligned"}},
        "model": {"parameter_count": 50890, "macs_per_sample": 50816},
        "dataset": {"name": "mnist", "train_samples": 60000, "test_samples": 10000},
        "trainings": [
            {"framework": "tensorflow", "status": "ok", "train_time_s": 12.5, "test_accuracy": 0.97123,
             "test_loss": 0.1, "peak_rss_bytes": 2**30,
             "epochs": [{"epoch": 1, "loss": 0.3, "accuracy": 0.9, "time_s": 7.0},
                        {"epoch": 2, "loss": 0.2, "accuracy": 0.95, "time_s": 5.5}]},
            {"framework": "pytorch", "status": "skipped",
             "error": "pytorch is not installed (module 'torch' not found; pip install 'edgebench[torch]')",
             "epochs": []},
        ],
        "artifacts": [
            {"framework": "tensorflow", "format": "tflite", "precision": "float32",
             "file": "tensorflow/model.tflite", "size_bytes": 205036, "runtime": "litert", "status": "ok",
             "runtime_version": "2.3.0", "test_accuracy": 0.97123, "accuracy_change": 0.0,
             "top1_agreement": 1.0, "disagreements": 0, "max_abs_diff": 9.5e-6, "within_tolerance": True,
             "tolerance": {"max_abs_diff": 1e-3, "min_agreement": 0.999, "max_accuracy_drop": 0.001,
                           "reason": "r"},
             "latency_ms": {"p50": 0.006, "p99": 0.009}, "throughput": {"images_per_s": 5e5},
             "graph": {"parameters": 50890, "macs_per_sample": 50816}},
        ],
    }


def test_table1_and_missing_rows():
    md = render(typed(_results()))
    assert "| Framework | Training Time (s) | 95% CI | Median (range) | Test Accuracy |" in md
    assert "| TensorFlow | 12.50 | single run (n=1) | - | 0.9712 |" in md
    assert "| PyTorch | - | - | - | - (skipped) |" in md
    assert "**PyTorch skipped**: pytorch is not installed" in md
    assert ("| TensorFlow -> tflite float32 | litert | 205.0 | 4.03 | 0.9712 | +0.00 | 100.00% | 9.50e-06 "
            "| 0.0060 | 0.0090 | 500,000 | - | yes |") in md
    assert "**smallest**: TensorFlow -> tflite float32" in md
    assert "**fastest** (batch-1 p50): TensorFlow -> tflite float32 on litert (6.0 us)" in md
    assert "| TensorFlow -> tflite float32 | 50,890 | 50,816 | yes |" in md
    assert "| TensorFlow | 0.1000 | 1024 | 7.00 | 5.50 |" in md


def test_render_without_results_yet():
    assert "no results yet" in render(RunResults())


def test_speed_section_and_significance():
    from edgebench.measure.stats import diff_ci, mean_ci
    from edgebench.report.view import build

    r = _results()
    r["config"]["repeats"] = 3
    r["speed_limit"] = {"gemm_peak": {"gflops": 100.0, "threads": 2, "method": "m", "blas": []},
                        "train_flops_per_sample": {"total": 204544, "forward": 101632, "weight_grad": 101632,
                                                   "input_grad": 1280},
                        "train_flops_per_epoch": 204544 * 60000, "steps_per_epoch": 938}
    times = {"tensorflow": [12.0, 12.5, 13.0], "pytorch": [6.0, 6.2, 6.1]}
    r["trainings"][1] = dict(r["trainings"][0], framework="pytorch", train_time_s=6.1)
    for t in r["trainings"]:
        t["timing"] = {"train_time_s": mean_ci(times[t["framework"]]), "first_epoch_s": mean_ci([3.0, 3.1, 2.9]),
                       "steady_epoch_s": mean_ci([2.0, 2.1, 1.9]),
                       "efficiency": {"gflops": 6.1, "fraction_of_peak": 0.061, "overhead_per_step_us": 2000.0},
                       "peak_rss_bytes": 2**30, "test_accuracy": {"mean": 0.97, "min": 0.97, "max": 0.97, "identical": True},
                       "repeats_counted": [1, 2, 3], "stability": {"unstable": False}}
    r["timing_comparisons"] = [{"a": "tensorflow", "b": "pytorch", **diff_ci(times["tensorflow"], times["pytorch"])}]
    (sentence,) = build(typed(r)).comparisons
    assert sentence.startswith("PyTorch is faster than TensorFlow by 6.40 s, 95% CI [")
    md = render(typed(r))
    assert "## How fast, and how sure" in md and "| TensorFlow | 12.50 [" in md and "| 6.1 | 6.1% | 2000 | - | 1024 |" in md
    assert "**100.0 GFLOP/s**" in md and "12.27 GFLOP per epoch" in md
    # With the step-shaped GEMM bound (runs since it was added): ratios to both bounds.
    r["speed_limit"].update(step_gemm={"gflops": 50.0, "step_s": 2.6e-4, "batch": 64, "method": "m2"},
                            step_gemm_bound_epoch_s=0.25)
    for t in r["trainings"]:
        t["timing"].update(epoch_s_for_efficiency=2.0, steady_vs_flop_bound=2.0 / 0.1227,
                           steady_vs_step_gemm_bound=2.0 / 0.25)
    md = render(typed(r))
    assert "| 2000 | 16.3x / 8.0x | 1024 |" in md
    assert "**0.250 s** an epoch" in md and "So no epoch can beat it with this BLAS (the step-GEMM bound)" in md
    assert "16.3x the FLOP figure and 8.0x the step-GEMM figure" in md and "no bound" not in md
    # A step-GEMM figure above a measured epoch is no bound, and the report says so (issue 16, item 3).
    r["speed_limit"]["step_gemm_bound_epoch_s"] = 4.56
    for t in r["trainings"]:
        t["timing"].update(epoch_s_for_efficiency=0.64, steady_vs_step_gemm_bound=0.64 / 4.56)
    md = render(typed(r))
    assert "That is no bound either: TensorFlow took 0.640 s an epoch, less than the step's GEMMs alone" in md
    assert "the step-GEMM bound" not in md
