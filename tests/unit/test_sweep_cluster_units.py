"""The cluster sweep's checks that need no cluster: the address rule, version matching, what the
nodes offer, and the Pareto front of the sweep report."""

import pytest

from edgebench.errors import UserError
from edgebench.sweeps.cluster import check_address, missing_offers, version_mismatch
from edgebench.sweeps.report import pareto


@pytest.mark.parametrize("address", ["127.0.0.1:6379", "localhost:6379", "ray://127.0.0.1:10001", "[::1]:6379",
                                     "127.8.9.1:1", "auto"])
def test_loopback_addresses_need_no_token(address, monkeypatch):
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")  # what "auto" resolves to
    check_address(address, allow_insecure=False)


@pytest.mark.parametrize("address", ["10.0.0.5:6379", "ray://192.168.1.20:10001", "head.lab.example:6379",
                                     "[2001:db8::1]:6379", "auto", "", "ray://10.0.0.5:10001?@127.0.0.1",
                                     "user@127.0.0.1:6379", "127.0.0.1:6379/x"])
def test_other_addresses_are_refused_without_token_auth(address, monkeypatch):
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.7:6379")  # "auto" resolves to a remote head
    with pytest.raises(UserError) as e:
        check_address(address, allow_insecure=False)
    msg = str(e.value)
    assert f"--cluster {address}:" in msg and "RAY_AUTH_MODE=token" in msg and "--allow-insecure-cluster" in msg
    assert "\n" not in msg
    check_address(address, allow_insecure=True)  # the explicit flag
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    check_address(address, allow_insecure=False)


def test_version_mismatch_names_the_node_and_what_differs():
    driver = {"python": "3.11.7", "ray": "2.60.0", "edgebench": "0.1.0"}
    same = {"node_id": "a" * 56, "hostname": "x86-1", "device": "x86", **driver}
    assert version_mismatch(driver, [same]) is None
    other = {**same, "node_id": "b" * 56, "hostname": "pi-3", "device": "rpi5", "python": "3.11.2"}
    msg = version_mismatch(driver, [same, other])
    assert "bbbbbbbbbbbb" in msg and "pi-3" in msg and "rpi5" in msg and "python 3.11.2 (driver 3.11.7)" in msg
    assert "ray" not in msg.split("runs")[1].split(";")[0]  # only what differs is named


def test_missing_offers():
    nodes = [{"node_id": "1", "device": "x86", "build": True}, {"node_id": "2", "device": "arm", "build": False}]
    assert missing_offers(nodes, ["x86", "arm"]) is None
    msg = missing_offers(nodes, ["x86", "jetson"])
    assert "'jetson'" in msg and "arm, x86" in msg
    assert "build role" in missing_offers([{"node_id": "2", "device": "arm", "build": False}], ["arm"])


def test_pareto_front():
    # (cost, accuracy): lower cost and higher accuracy are better.
    pts = [(10, 0.90), (20, 0.95), (20, 0.93), (30, 0.95), (5, 0.80), (10, 0.90)]
    assert pareto(pts) == [True, True, False, False, True, True]  # ties with each other both stay on


def test_resume_refuses_another_grid_and_another_executor(tmp_path):
    import json

    from edgebench.sweeps.cluster import check_same_grid, point_config
    from edgebench.sweeps.grid import expand
    from edgebench.sweeps.local import LocalSweep

    doc = {"fixed": {"frameworks": "numpy", "epochs": 1}, "axes": {"hidden": ["16", "32"]}}
    grid = expand(doc)
    state = {"executor": "ray", "points": [{"name": p.name, "config": point_config(p)} for p in grid.points]}
    check_same_grid(tmp_path, state, grid)
    other = expand({**doc, "fixed": {"frameworks": "numpy", "epochs": 2}})  # same names, other epochs
    with pytest.raises(UserError, match=r"p001-hidden=16: epochs differ"):
        check_same_grid(tmp_path, state, other)
    (tmp_path / "sweep.json").write_text(json.dumps(state))
    with pytest.raises(UserError, match="ran on a Ray cluster; resume it with --cluster"):
        LocalSweep(grid, tmp_path, resume=True)
