"""What the generated-firmware stage costs in a run: generation, host build and verification, cross
builds per board, emulation, and the stage's wall time against the run's.

python benchmarks/firmware_cost.py RUN_DIR [RUN_DIR ...]
python benchmarks/firmware_cost.py --run OUT_DIR [edgebench run options...]   (runs it first)

Reads each run's results.json (nothing is re-measured): per .tflite artifact the firmware runtime's
own timings (details.generator.generation_s, details.host_build.build_s/run_s, each board's build_s
and emulation_s), and the run's wall_time_breakdown_s entry for the stage (the wall time of its
jobs, children started and data loaded included). The issue's bar: the stage under a third of the
run's wall time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

STAGE = "edgebench firmware (generated C)"


def firmware_results(doc: dict):
    for a in doc.get("artifacts", []):
        for r in a.get("results", []):
            if r.get("runtime") == "firmware":
                yield a, r


def artifact_row(a: dict, r: dict) -> dict:
    d = r.get("details", {})
    boards = d.get("boards", [])
    return {"artifact": f"{a['framework']}/{a['format']}-{a['precision']}", "status": r.get("status"),
            "generation_s": d.get("generator", {}).get("generation_s"),
            "host_build_s": d.get("host_build", {}).get("build_s"),
            "host_run_s": d.get("host_build", {}).get("run_s"),
            "host_inputs": d.get("host_build", {}).get("inputs"),
            "cross_builds": sum(1 for b in boards if b.get("build_s") is not None),
            "cross_build_s": round(sum(b.get("build_s") or 0 for b in boards), 2),
            "emulations": sum(1 for b in boards if "emulation_s" in b and "emulated_on" not in b),
            "emulation_s": round(sum(b.get("emulation_s") or 0 for b in boards if "emulated_on" not in b), 2),
            "bit_exact": d.get("exact", {}).get("bit_exact")}


def report(run_dir: Path) -> dict:
    doc = json.loads((run_dir / "results.json").read_text())
    rows = [artifact_row(a, r) for a, r in firmware_results(doc)]
    wall = doc.get("wall_time_s")
    stage = (doc.get("wall_time_breakdown_s") or {}).get(STAGE)
    return {"run": str(run_dir), "model": (doc.get("config", {}).get("model") or {}).get("name"),
            "wall_time_s": wall, "firmware_stage_s": stage,
            "share_of_wall": round(stage / wall, 3) if stage and wall else None, "artifacts": rows}


def main(argv: list[str]) -> int:
    if argv[:1] == ["--run"]:
        out = Path(argv[1])
        subprocess.run(["edgebench", "run", "--out", str(out), *argv[2:]], check=True)
        dirs = [out]
    else:
        dirs = [Path(p) for p in argv]
    if not dirs:
        print(__doc__, file=sys.stderr)
        return 2
    for d in dirs:
        r = report(d)
        print(json.dumps(r, indent=1))
        share = r["share_of_wall"]
        print(f"{d}: firmware stage {r['firmware_stage_s']} s of {r['wall_time_s']} s wall "
              f"({share:.1%} ; bar: under 33.3%)" if share is not None else f"{d}: no firmware stage timed",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
