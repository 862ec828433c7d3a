"""A sweep on a real Ray cluster on this machine (loopback only), through the real CLI.

`ray.cluster_utils.Cluster` starts a separate raylet per node: a head that takes no jobs, one node
that builds and is device "x86", and two nodes that are device "arm". Points run on the NumPy
reference backend (real edgebench runs, seconds each). Checked: every artifact measured on both
devices, each job on a node of the right kind, no two timed jobs overlapping on one node, a node
removed mid-sweep leaving a complete sweep, --resume after an interrupt redoing nothing finished,
and a device no node offers stopping the sweep before it starts."""

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import host, import_or_missing

ray = import_or_missing("ray", extra_name="cluster")

pytestmark = pytest.mark.framework

FIXED = """
[fixed]
frameworks = "numpy"
limit-train = 640
limit-test = 200
epochs = 1
repeats = 1
warmup = 0
threads = 1
no-mcu = true
latency-min-time = {latency}
"""


def grid_text(hidden, devices=("x86", "arm"), latency=0.5):
    return (f"devices = {json.dumps(list(devices))}\n" + FIXED.format(latency=latency)
            + f"[axes]\nhidden = {json.dumps(hidden)}\n")


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # every listener on loopback
    c = Cluster(initialize_head=True, connect=False,
                head_node_args={"num_cpus": 0, "node_ip_address": "127.0.0.1", "include_dashboard": False})
    common = dict(num_cpus=1, resources={"edgebench_slot": 1}, node_ip_address="127.0.0.1")
    nodes = {"x86": c.add_node(labels={"edgebench-device": "x86", "edgebench-build": "true"}, **common),
             "arm1": c.add_node(labels={"edgebench-device": "arm"}, **common),
             "arm2": c.add_node(labels={"edgebench-device": "arm"}, **common)}
    try:
        yield c, nodes
    finally:
        c.shutdown()


def sweep(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "edgebench", "sweep", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ), **kw)


def state_of(out):
    try:
        return json.loads((out / "sweep.json").read_text())
    except (OSError, ValueError):
        return None


def wait_for(out, condition, proc, timeout=300):
    t0 = time.time()
    while time.time() - t0 < timeout:
        s = state_of(out)
        if s is not None and condition(s):
            return s
        if proc.poll() is not None:
            raise AssertionError(f"the sweep ended first: {proc.stderr.read()[-2000:]}")
        time.sleep(0.1)
    raise AssertionError("timed out waiting on the sweep")


def node_ids(nodes):
    """Our names of the nodes -> Ray's node ids."""
    return {name: node.node_id for name, node in nodes.items()}


def results_mtimes(out):
    return {p: p.stat().st_mtime_ns for p in out.glob("p*/*/results.json")}


def test_cluster_sweep_measures_every_artifact_on_every_device_and_survives_a_node_loss(cluster, tmp_path):
    c, nodes = cluster
    ids = node_ids(nodes)
    grid = tmp_path / "grid.toml"
    grid.write_text(grid_text(["16", "32", "48"]))
    out = tmp_path / "sweep"
    proc = sweep(str(grid), "--out", str(out), "--cluster", c.address)
    # The first build is in: its arm measurements are starting on both arm nodes. Remove one.
    wait_for(out, lambda s: any(j["kind"] == "build" for j in s["jobs"]), proc)
    time.sleep(1.0)
    c.remove_node(nodes["arm1"])
    removed_at = time.time()
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-3000:]
    s = state_of(out)
    assert s["status"] == "complete", s
    assert s["executor"] == "ray" and s["devices"] == ["x86", "arm"]
    assert [p["status"] for p in s["points"]] == ["complete"] * 3

    # Each node described once: versions and the machine.
    described = json.loads((out / "nodes.json").read_text())["nodes"]
    assert sorted(n["node_id"] for n in described) == sorted(ids.values())
    for n in described:
        assert n["python"] and n["ray"] == ray.__version__ and n["machine_facts"]["cpu_count"] >= 1

    # Every artifact of every point measured on both devices, by a node of that device.
    measures = [j for j in s["jobs"] if j["kind"] == "measure"]
    assert all(j["status"] == "ok" for j in s["jobs"]), [j for j in s["jobs"] if j["status"] != "ok"]
    for j in s["jobs"]:
        if j["kind"] == "build" or j["device"] == "x86":
            assert j["node_id"] == ids["x86"], j
        else:
            assert j["node_id"] in (ids["arm1"], ids["arm2"]), j
            if j["start"] > removed_at:
                assert j["node_id"] == ids["arm2"], j
    assert len([j for j in s["jobs"] if j["kind"] == "build"]) == 3
    seen = [(j["point"], j["artifact"], j["device"]) for j in measures]
    assert len(seen) == len(set(seen)) == 3 * 2 * 2  # 3 points x 2 artifacts (npz float32, float16) x 2 devices
    for p in s["points"]:
        per_device = {}
        for device in ("x86", "arm"):
            r = json.loads((out / p["name"] / device / "results.json").read_text())
            assert r["status"] == "complete" and r["sweep"]["device"] == device
            assert (out / p["name"] / device / "report.html").is_file()
            for a in r["artifacts"]:
                assert a["status"] == "ok" and a["measured_on"]["device"] == device
                assert host(a)["latency_ms"]["n"] > 0 and host(a)["agreement"] == 1.0
                # The file on the driver is the one each device measured (shipped by content hash).
                blob = (out / p["name"] / device / a["file"]).read_bytes()
                job = next(j for j in measures if (j["point"], j["device"], j["artifact"]) ==
                           (p["name"], device, f"{a['framework']}:{a['format']}:{a['precision']}"))
                assert job["artifact_sha256"] == hashlib.sha256(blob).hexdigest()
            per_device[device] = {(a["format"], a["precision"]): host(a)["test_accuracy"] for a in r["artifacts"]}
        assert per_device["x86"] == per_device["arm"]  # the same artifacts, built once

    # No two timed jobs ever overlapped on one node.
    for node in ids.values():
        spans = sorted((j["start"], j["end"]) for j in s["jobs"] if j["node_id"] == node)
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:])), spans

    rows = list(csv.DictReader(open(out / "results.csv")))
    assert len(rows) == 3 * 2 * 2 and {r["device"] for r in rows} == {"x86", "arm"}
    assert (out / "sweep.html").is_file() and "Pareto" in (out / "sweep.html").read_text()

    # --resume on a finished sweep redoes nothing.
    before, jobs_before = results_mtimes(out), len(s["jobs"])
    proc = sweep(str(grid), "--out", str(out), "--cluster", c.address, "--resume")
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-3000:]
    assert results_mtimes(out) == before and len(state_of(out)["jobs"]) == jobs_before


def test_interrupted_cluster_sweep_resumes_without_redoing_finished_work(cluster, tmp_path):
    c, _ = cluster
    grid = tmp_path / "grid.toml"
    grid.write_text(grid_text(["16", "24", "32"], latency=0.3))
    out = tmp_path / "sweep"
    proc = sweep(str(grid), "--out", str(out), "--cluster", c.address)
    wait_for(out, lambda s: s["points"][0]["status"] == "complete", proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-3000:]
    s = state_of(out)
    assert s["status"] == "partial" and s["points"][0]["status"] == "complete"
    first = {p: m for p, m in results_mtimes(out).items() if p.parts[-3] == s["points"][0]["name"]}
    assert len(first) == 2
    jobs_first = [j for j in s["jobs"] if j["point"] == s["points"][0]["name"]]
    proc = sweep(str(grid), "--out", str(out), "--cluster", c.address, "--resume")
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-3000:]
    s = state_of(out)
    assert s["status"] == "complete" and len(s["resumed_at"]) == 1
    assert {p: m for p, m in results_mtimes(out).items() if p in first} == first
    assert [j for j in s["jobs"] if j["point"] == s["points"][0]["name"]] == jobs_first
    # Nothing done twice: one build per point, one measurement per artifact and device that finished.
    builds = [j["point"] for j in s["jobs"] if j["kind"] == "build" and j["status"] == "ok"]
    assert sorted(builds) == sorted(set(builds)) and len(builds) == 3


def test_a_device_no_node_offers_stops_the_sweep_before_it_starts(cluster, tmp_path):
    c, _ = cluster
    grid = tmp_path / "grid.toml"
    grid.write_text(grid_text(["16"], devices=("x86", "riscv")))
    out = tmp_path / "sweep"
    proc = sweep(str(grid), "--out", str(out), "--cluster", c.address)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2, stderr
    assert len(stderr.strip().splitlines()) == 1 and "'riscv'" in stderr and "arm, x86" in stderr
    assert not out.exists()


def test_jobs_for_a_device_whose_last_node_leaves_stop_waiting_and_resume_measures_them(cluster, tmp_path):
    c, _ = cluster
    solo = c.add_node(num_cpus=1, resources={"edgebench_slot": 1}, node_ip_address="127.0.0.1",
                      labels={"edgebench-device": "solo"})
    grid = tmp_path / "grid.toml"
    grid.write_text(grid_text(["16"], devices=("x86", "solo"), latency=1.0))
    out = tmp_path / "sweep"
    proc = sweep(str(grid), "--out", str(out), "--cluster", c.address)
    wait_for(out, lambda s: any(j["kind"] == "build" for j in s["jobs"]), proc)
    c.remove_node(solo)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-3000:]  # the point is partial: x86 measured everything
    s = state_of(out)
    name = s["points"][0]["name"]
    assert s["status"] == "partial" and s["points"][0]["devices"]["x86"]["status"] == "complete"
    r = json.loads((out / name / "solo" / "results.json").read_text())
    assert r["status"] == "partial" and r["interrupted"]  # its trainings are in; its artifacts were not measured
    assert all(a["status"] == "lost" for a in r["artifacts"]), r["artifacts"]
    assert all("no live node offers device 'solo'" in a["error"] for a in r["artifacts"])
    x86_before = (out / name / "x86" / "results.json").stat().st_mtime_ns
    builds = len([j for j in s["jobs"] if j["kind"] == "build"])

    # A device node is back: --resume measures what was lost, and only that.
    c.add_node(num_cpus=1, resources={"edgebench_slot": 1}, node_ip_address="127.0.0.1",
               labels={"edgebench-device": "solo"})
    proc = sweep(str(grid), "--out", str(out), "--cluster", c.address, "--resume")
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-3000:]
    s = state_of(out)
    assert s["status"] == "complete" and s["points"][0]["status"] == "complete"
    r = json.loads((out / name / "solo" / "results.json").read_text())
    assert r["status"] == "complete" and r["interrupted"] is None  # the mark of the interruption is cleared
    assert all(a["status"] == "ok" and a["measured_on"]["device"] == "solo" for a in r["artifacts"])
    assert (out / name / "x86" / "results.json").stat().st_mtime_ns == x86_before
    assert len([j for j in s["jobs"] if j["kind"] == "build"]) == builds  # not built again
