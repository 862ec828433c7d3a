"""What a run cost against the work it timed: the timed sections (every training loop, warm-ups
included, and every latency and throughput window, TFLite Micro's host timing included) against
the run's wall time. Read from results.json alone, so it works on any run folder."""

from __future__ import annotations


def _window_s(summary: dict | None) -> float:
    """Seconds inside a timing window: calls x mean per-call time (ms)."""
    if not summary or not summary.get("n") or summary.get("mean") is None:
        return 0.0
    return summary["n"] * summary["mean"] / 1000.0


def timed_work(r: dict) -> dict:
    train = sum(x.get("train_time_s") or 0.0 for t in r.get("trainings", []) for x in t.get("repeats", [])
                if x.get("status") == "ok")
    latency = sum(_window_s(a.get("latency_ms")) + _window_s((a.get("throughput") or {}).get("batch_latency_ms"))
                  for a in r.get("artifacts", []))
    mcu = sum(_window_s((a.get("microcontroller") or {}).get("host_latency_ms")) for a in r.get("artifacts", []))
    return {"training_s": train, "latency_and_throughput_s": latency, "tflm_host_latency_s": mcu,
            "total_s": train + latency + mcu}


def cost(r: dict, wall_s: float) -> dict:
    """results.json's `cost`: the timed work, the wall time, and their ratio (1.0: nothing but timing)."""
    work = timed_work(r)
    return {**work, "wall_s": wall_s, "timed_share": work["total_s"] / wall_s if wall_s else None,
            "wall_over_timed": wall_s / work["total_s"] if work["total_s"] else None,
            "note": "timed work = every training loop's timed epochs (warm-ups included) + every latency and "
                    "throughput window (calls x mean time); the rest of the wall time is imports, child "
                    "processes, data, exports, conversions, verification outside the windows and reports"}
