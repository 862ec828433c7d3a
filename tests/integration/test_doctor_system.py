"""edgebench doctor --system through the CLI: the BLAS variables and the CPU limit it lists
(make test-blas-env runs it again with the variables flipped)."""

import json
import os
import subprocess
import sys


def test_doctor_system_lists_kernel_variables_and_the_cpu_limit():
    env = {**os.environ, "OPENBLAS_CORETYPE": "Haswell"}
    p = subprocess.run([sys.executable, "-m", "edgebench", "doctor", "--system", "--format", "json"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    rows = {r["check"]: r for r in json.loads(p.stdout)}
    assert rows["$OPENBLAS_CORETYPE"]["value"] == "Haswell" and rows["$OPENBLAS_CORETYPE"]["status"] == "warn"
    assert "kernel" in rows["$OPENBLAS_CORETYPE"]["why"]
    limit = rows["Container CPU limit"]["value"]
    assert "cgroup" in limit or "no cgroup" in limit
    for check in ("CPU governor", "Turbo / boost", "SMT (hyper-threading)", "Memory", "$MKL_DEBUG_CPU_TYPE",
                  "$OMP_NUM_THREADS", "Other processes now"):
        assert rows[check]["why"], check
    assert "OPENBLAS_CORETYPE" in p.stderr  # the summary names what to look at
