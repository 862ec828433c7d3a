"""The timing gate (pipeline/gate.py): while one child times, every other child of the run is
paused, and resumed afterwards; a run with overlapping children sends every timed section through
the gate, and gives the same results as one child at a time."""

import json
import subprocess
import sys
import time

from edgebench.pipeline.gate import Gate
from tests.results_view import host

COUNTER = """
import os, sys
path, n = sys.argv[1], 0
while True:
    n += 1
    if n % 2000 == 0:  # written whole (a pause between truncating and writing would leave it empty)
        with open(path + ".tmp", "w") as f:
            f.write(str(n))
        os.replace(path + ".tmp", path)
"""


def _count(path) -> int:
    for _ in range(100):
        try:
            return int(path.read_text())
        except (OSError, ValueError):  # between open and write
            time.sleep(0.01)
    raise AssertionError("the counter never wrote")


def test_the_other_children_stop_while_one_times_and_go_on_after(tmp_path):
    gate = Gate()
    counters = [tmp_path / "a", tmp_path / "b"]
    busy = [gate.spawn(lambda p=p: subprocess.Popen([sys.executable, "-c", COUNTER, str(p)])) for p in counters]
    timer = gate.spawn(lambda: subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]))
    try:
        time.sleep(1.0)
        before = [_count(p) for p in counters]
        time.sleep(0.2)
        assert all(_count(p) > b for p, b in zip(counters, before)), "the busy children were not running"
        gate.enter(timer)
        frozen = [_count(p) for p in counters]
        time.sleep(0.5)
        assert [_count(p) for p in counters] == frozen, "a child ran during a timed section"
        for proc in busy:  # every thread stopped, as the kernel sees it
            state = open(f"/proc/{proc.pid}/stat").read().rsplit(")", 1)[1].split()[0]
            assert state in ("T", "t")
        gate.leave(timer)
        time.sleep(0.5)
        assert all(_count(p) > f for p, f in zip(counters, frozen)), "a paused child was not resumed"
        assert gate.sections == 1 and gate.paused_s >= 2 * 0.5
        # A child that ends while it holds the gate gives it back.
        gate.enter(busy[0])
        assert timer.poll() is None and open(f"/proc/{timer.pid}/stat").read().rsplit(")", 1)[1].split()[0] == "T"
        busy[0].kill()
        busy[0].wait()
        gate.forget(busy[0])
        time.sleep(0.3)
        assert _count(counters[1]) > frozen[1]
    finally:
        gate.terminate_all()
        for proc in [*busy, timer]:
            proc.kill()
            proc.wait()


def test_an_overlapping_run_times_every_section_alone_and_matches_one_at_a_time(tmp_path):
    from edgebench import pipeline
    from edgebench.config import RunConfig

    def run(parallel: int, out):
        cfg = RunConfig(frameworks=("numpy",), dataset="mnist", epochs=2, limit_train=512, limit_test=128, threads=1,
                        repeats=2, warmup=1, microcontroller=False, latency_min_time_s=0.05, latency_min_iters=20,
                        parallel=parallel, out=out)
        return pipeline.Run(cfg).execute().model_dump(mode="json")

    a, b = run(2, tmp_path / "a"), run(1, tmp_path / "b")
    for r in (a, b):
        assert r["status"] == "complete"
    # 3 training loops, and per artifact a latency and a throughput window: each through the gate.
    windows = sum(1 + ("batch_latency_ms" in (host(x)["throughput"] or {})) for x in a["artifacts"])
    assert a["overlap"]["timed_sections"] == 3 + windows and b["overlap"] is None
    assert a["fairness"]["timed_sections"]["parallel"] == 2 and "SIGSTOP" in a["fairness"]["timed_sections"]["how"]
    # The same trainings and artifacts, in the same order, with the same numbers.
    assert [x["repeat"] for x in a["trainings"][0]["repeats"]] == [1, 2, 3]
    assert [x["test_accuracy"] for x in a["trainings"][0]["repeats"]] == \
        [x["test_accuracy"] for x in b["trainings"][0]["repeats"]]
    key = [(x["framework"], x["format"], x["precision"], x["status"], host(x)["test_accuracy"]) for x in a["artifacts"]]
    assert key == [(x["framework"], x["format"], x["precision"], x["status"], host(x)["test_accuracy"])
                   for x in b["artifacts"]]
    assert json.loads((tmp_path / "a" / "results.json").read_text())["progress"]["done"]


def _state(pid: int) -> str:
    return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]


def test_an_interruption_resumes_every_paused_process_and_starts_nothing_new(tmp_path):
    """A paused child's own subprocess (as TFLite Micro's probe server) is resumed too, and after
    terminate_all no child starts or times (a handler thread that comes late gets KeyboardInterrupt)."""
    import pytest

    gate = Gate()
    pidfile = tmp_path / "grandchild"
    parent_code = ("import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', 'import time; "
                   f"time.sleep(60)']); open({str(pidfile)!r}, 'w').write(str(p.pid)); time.sleep(60)")
    with_child = gate.spawn(lambda: subprocess.Popen([sys.executable, "-c", parent_code]))
    timer = gate.spawn(lambda: subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
    grandchild = None
    try:
        for _ in range(200):
            if pidfile.exists() and pidfile.read_text():
                break
            time.sleep(0.02)
        grandchild = int(pidfile.read_text())
        gate.enter(timer)
        assert _state(with_child.pid) == "T" and _state(grandchild) == "T"
        gate.terminate_all()
        time.sleep(0.2)
        assert _state(grandchild) != "T"  # resumed, not left stopped for good
        with_child.wait(timeout=10)
        with pytest.raises(KeyboardInterrupt):
            gate.spawn(lambda: subprocess.Popen([sys.executable, "-c", "pass"]))
        with pytest.raises(KeyboardInterrupt):
            gate.enter(timer)
    finally:
        for proc in (with_child, timer):
            proc.kill()
            proc.wait()
        if grandchild:
            import os
            import signal

            try:
                os.kill(grandchild, signal.SIGKILL)
            except ProcessLookupError:
                pass
