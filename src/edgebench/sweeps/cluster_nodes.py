"""The driver's view of a Ray cluster: whether its address may be trusted, connecting to it, and
which live nodes offer what (a device, the build role) with the same versions as the driver.

Nodes say what they offer with labels and one resource (see the README's sweep section and
sweeps/cluster.py)."""

from __future__ import annotations

import ipaddress
import os
import platform
from pathlib import Path

from edgebench.version import __version__
from edgebench.errors import UserError
from edgebench.sweeps.cluster_remote import describe_node

SLOT = "edgebench_slot"
DEVICE_LABEL = "edgebench-device"
BUILD_LABEL = "edgebench-build"
ANSWER_S = 120  # how long a node may take to describe itself before the sweep gives up on it


# -- the address ------------------------------------------------------------------------------
def check_address(address: str, allow_insecure: bool) -> None:
    """A Ray cluster without authentication runs any code it is sent: an address outside the
    loopback range is refused unless token authentication is on (RAY_AUTH_MODE=token) or the user
    says --allow-insecure-cluster. "auto" is checked as what Ray resolves it to."""
    if allow_insecure or os.environ.get("RAY_AUTH_MODE", "").lower() == "token":
        return
    refuse = UserError(f"--cluster {address}: not a loopback address and Ray token authentication is off (a "
                       "cluster without it runs any code it is sent); start the cluster and this driver with "
                       "RAY_AUTH_MODE=token (README, Sweeps), or pass --allow-insecure-cluster on a network you trust")
    target = address.strip()
    if target == "auto":
        target = os.environ.get("RAY_ADDRESS", "").strip()
        if not target:
            try:
                target = Path("/tmp/ray/ray_current_cluster").read_text().strip()
            except OSError:
                return  # nothing to connect to: Ray will say so
    if "://" in target:
        target = target.split("://", 1)[1]
    if not target or any(c in target for c in "@?#/"):
        raise refuse  # only a plain HOST:PORT is checked; anything else is not taken on trust
    if target.startswith("["):
        host = target[1:].split("]", 1)[0]
    elif target.count(":") == 1:
        host = target.split(":", 1)[0]
    else:
        host = target
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise refuse


def one_line(e: BaseException) -> str:
    """An exception (or a Ray task's error, by its cause) in one line of at most 500 characters."""
    text = str(e).strip().splitlines()
    cause = getattr(e, "cause", None)
    if cause is not None:
        text = [f"{type(cause).__name__}: {cause}".splitlines()[0]]
    return f"{type(e).__name__}: {text[-1] if text else ''}"[:500]


def connect(address: str):
    """The ray module, connected to the cluster at `address`."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    try:
        ray.init(address=address, logging_level="ERROR", log_to_driver=False, configure_logging=False)
    except Exception as e:  # noqa: BLE001 - any failure to connect is the user's address
        raise UserError(f"--cluster {address}: cannot connect to a Ray cluster there ({one_line(e)})") from None
    return ray


# -- what the nodes offer -----------------------------------------------------------------------
def version_mismatch(driver: dict, nodes: list[dict]) -> str | None:
    """The first node whose Python, Ray or edgebench version differs from the driver's, in words."""
    for n in nodes:
        differ = [f"{k} {n.get(k)} (driver {driver[k]})" for k in ("python", "ray", "edgebench")
                  if n.get(k) != driver[k]]
        if differ:
            where = n.get("device") or "build node"
            return (f"node {n['node_id'][:12]} ({n.get('hostname')}, {where}) runs " + ", ".join(differ)
                    + "; Ray needs the same Python and Ray versions on every node, and edgebench the same version")
    return None


def _offers(node: dict) -> tuple[str | None, bool]:
    labels = node.get("Labels") or {}
    return labels.get(DEVICE_LABEL), labels.get(BUILD_LABEL) == "true"


def live_nodes(ray) -> list[dict]:
    """Live nodes that take timed jobs (they offer the slot), with what they offer."""
    out = []
    for n in ray.nodes():
        if n.get("Alive") and (n.get("Resources") or {}).get(SLOT, 0) >= 1:
            device, build = _offers(n)
            out.append({"node_id": n["NodeID"], "address": n.get("NodeManagerAddress"), "device": device,
                        "build": build})
    return out


def missing_offers(nodes: list[dict], devices: list[str]) -> str | None:
    """Why the sweep cannot run on these nodes, in one line, or None."""
    offered = sorted({n["device"] for n in nodes if n["device"]})
    lacking = [d for d in devices if d not in offered]
    if lacking:
        return (f"no live node offers device {', '.join(repr(d) for d in lacking)} (label {DEVICE_LABEL}=NAME and "
                f"resource {SLOT}=1); the cluster's nodes offer {', '.join(offered) or 'no device'}")
    if not any(n["build"] for n in nodes):
        return f"no live node offers the build role (label {BUILD_LABEL}=true and resource {SLOT}=1)"
    return None


def check_cluster(ray, address: str, grid_devices) -> tuple[list[str], list[dict]]:
    """The devices the sweep measures on (the grid's, else every device a node offers) and every
    live node described; a UserError if a device or the build role is not offered, a node does not
    answer or cannot run edgebench, or its versions differ from the driver's."""
    nodes = live_nodes(ray)
    devices = list(grid_devices) or sorted({n["device"] for n in nodes if n["device"]})
    if not devices:
        raise UserError(f"--cluster {address}: no node is labelled with a device ({DEVICE_LABEL}=NAME) "
                        f"and the grid names none")
    why = missing_offers(nodes, devices)
    if why:
        raise UserError(f"--cluster {address}: {why}")
    described = _describe_nodes(ray, address, nodes)
    me = {"python": platform.python_version(), "ray": ray.__version__, "edgebench": __version__}
    differs = version_mismatch(me, described)
    if differs:
        raise UserError(f"--cluster {address}: {differs}")
    return devices, described


def _describe_nodes(ray, address: str, nodes: list[dict]) -> list[dict]:
    """Each node's own description (describe_node, run on that node), merged into what Ray says of it."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    describe = ray.remote(describe_node)
    refs = [describe.options(num_cpus=0, max_retries=0, scheduling_strategy=NodeAffinitySchedulingStrategy(
        n["node_id"], soft=False)).remote() for n in nodes]
    ready, waiting = ray.wait(refs, num_returns=len(refs), timeout=ANSWER_S)
    if waiting:
        late = [n for n, r in zip(nodes, refs) if r in waiting]
        raise UserError(f"--cluster {address}: node {late[0]['node_id'][:12]} ({late[0]['address']}) did "
                        f"not answer within {ANSWER_S} s; is edgebench installed there?")
    described = []
    for n, ref in zip(nodes, refs):
        try:
            described.append({**n, **ray.get(ref)})
        except Exception as e:  # noqa: BLE001
            raise UserError(f"--cluster {address}: node {n['node_id'][:12]} ({n['address']}) cannot run "
                            f"edgebench: {one_line(e)}") from None
    return described
