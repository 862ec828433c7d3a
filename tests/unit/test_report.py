from edgebench.report.markdown import render


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
    md = render(_results())
    assert "| Framework | Training Time (s) | Test Accuracy |" in md
    assert "| TensorFlow | 12.50 | 0.9712 |" in md
    assert "| PyTorch | - | - (skipped) |" in md
    assert "**PyTorch skipped**: pytorch is not installed" in md
    assert ("| TensorFlow -> tflite float32 | litert | 205.0 | 4.03 | 0.9712 | +0.00 | 100.00% | 9.50e-06 "
            "| 0.0060 | 0.0090 | 500,000 | yes |") in md
    assert "**smallest**: TensorFlow -> tflite float32" in md
    assert "**fastest** (batch-1 p50): TensorFlow -> tflite float32 on litert (6.0 us)" in md
    assert "| TensorFlow -> tflite float32 | 50,890 | 50,816 | yes |" in md
    assert "| TensorFlow | 0.1000 | 1024 | 7.00 | 5.50 |" in md


def test_render_without_results_yet():
    assert "no results yet" in render({})
