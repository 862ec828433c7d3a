"""The jobs a cluster sweep has in flight: submitting a point's build and an artifact's
measurement as Ray tasks (each file a measurement needs put into the object store once, by content
hash), waiting for the next one to end, and cancelling them."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from edgebench.sweeps.cluster_nodes import BUILD_LABEL, DEVICE_LABEL, SLOT, one_line
from edgebench.sweeps.cluster_remote import build_point, measure_artifact

RETRIES = 3  # Ray's retries of a job whose node died (its own errors are not retried)
WATCH_S = 2.0  # how often the driver checks that every device it waits on still has a live node


def sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


class JobQueue:
    """Each job in flight (ObjectRef -> the job: kind, point, and for a measurement its device,
    artifact key and the artifact file's sha256), and how many were submitted and are over."""

    def __init__(self) -> None:
        self.refs: dict = {}  # ObjectRef -> the job it runs
        self.blobs: dict[str, Any] = {}  # sha256 -> ObjectRef: each file put into the object store once
        self.total = self.done = 0
        self.build_fn = self.measure_fn = None

    def start(self, ray) -> None:
        # Every timed section already runs in a child process of the job's own run (its workers, as in
        # `run`), so the Ray worker that drives it is reused: a fresh Ray worker per job (max_calls=1)
        # would add its start-up to every job and isolate nothing more.
        timed = dict(num_cpus=0, resources={SLOT: 1}, max_retries=RETRIES, retry_exceptions=False)
        self.build_fn = ray.remote(**timed)(build_point).options(label_selector={BUILD_LABEL: "true"})
        self.measure_fn = ray.remote(**timed)(measure_artifact)

    def _submit(self, ref, job: dict) -> None:
        self.refs[ref] = job
        self.total += 1

    def submit_build(self, point) -> None:
        self._submit(self.build_fn.remote(point.config), {"kind": "build", "point": point.name})

    def submit_measure(self, ray, point, device: str, folder: Path, artifact, built: dict) -> None:
        """One artifact's measurement on a node of `device`, with the files it needs from `folder`
        (the inputs, the artifact, its framework's test logits) shipped by reference."""
        a = artifact
        key = a.key
        need = [p.relative_to(folder).as_posix() for p in sorted((folder / "inputs").glob("*"))]
        need += [a.file, f"{a.framework}/test_logits.npy"]
        blobs = {rel: self._blob(ray, folder / rel) for rel in need if (folder / rel).is_file()}
        shipped = {rel: ref for rel, (ref, _) in blobs.items()}
        ref = self.measure_fn.options(label_selector={DEVICE_LABEL: device}).remote(
            point.config, built, shipped, key)
        self._submit(ref, {"kind": "measure", "point": point.name, "device": device, "key": key,
                           "artifact_sha256": blobs[a.file][1]})

    def _blob(self, ray, path: Path) -> tuple[Any, str]:
        """The file's ObjectRef (put once per content) and its sha256."""
        blob = path.read_bytes()
        h = sha256(blob)
        if h not in self.blobs:
            self.blobs[h] = ray.put(blob)
        return self.blobs[h], h

    def next_over(self, ray) -> tuple[dict, dict | None, str | None, bool] | None:
        """The next job to end, as (job, value, error, lost), or None if none ended within WATCH_S.
        lost: its node (or worker) was lost RETRIES times, which is not the job's fault."""
        ready, _ = ray.wait(list(self.refs), num_returns=1, timeout=WATCH_S)
        if not ready:
            return None
        ref = ready[0]
        job = self.refs.pop(ref)
        lost = False
        try:
            value, error = ray.get(ref), None
        except ray.exceptions.RayTaskError as e:  # the job's own error: a result, final
            value, error = None, one_line(e)
        except Exception as e:  # noqa: BLE001 - its node (or worker) lost RETRIES times: not its fault
            value, error, lost = None, one_line(e), True
        return job, value, error, lost

    def waiting_on(self, point_name: str, device: str) -> bool:
        """Whether a job for this point's device folder is still in flight."""
        return any(j.get("point") == point_name and j.get("device") == device for j in self.refs.values())

    def cancel(self, ray, ref) -> dict:
        """Cancel one job and forget it; its job."""
        ray.cancel(ref, force=True)
        return self.refs.pop(ref)

    def cancel_all(self, ray) -> None:
        for ref in list(self.refs):
            ray.cancel(ref, force=True)
