"""results.json of every shape edgebench has written loads through the typed model: migrated
step by step, validated, and with every figure it held still there (test data: a run folder of
the previous release in tests/data/runs/, one results.json per past shape in
tests/data/past_results/, SHAPES.md there says which commit wrote each)."""

import copy
import json
from collections import Counter
from pathlib import Path

import pytest

from edgebench import results
from edgebench.errors import UserError
from edgebench.results.migrate import migrate
from edgebench.results.schema import SCHEMA_VERSION, RunResults

DATA = Path(__file__).resolve().parents[1] / "data"
FILES = sorted(DATA.glob("runs/*/results.json")) + sorted(DATA.glob("past_results/*.json"))


def _numbers(doc, out=None) -> Counter:
    """Every number in a JSON document (booleans apart), with its multiplicity."""
    out = Counter() if out is None else out
    if isinstance(doc, dict):
        for v in doc.values():
            _numbers(v, out)
    elif isinstance(doc, list):
        for v in doc:
            _numbers(v, out)
    elif isinstance(doc, (int, float)) and not isinstance(doc, bool):
        out[doc] += 1
    return out


def test_there_is_test_data_of_the_previous_release():
    assert len(list(DATA.glob("runs/*/results.json"))) >= 3
    assert all(json.loads(f.read_text())["schema_version"] == 1 for f in DATA.glob("runs/*/results.json"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_past_shape_loads_with_every_figure(path):
    raw = json.loads(path.read_text())
    r = results.parse(raw, path)
    assert r.schema_version == SCHEMA_VERSION
    dumped = r.model_dump(mode="json")
    # No figure lost: every number of the old file is in the new one as often (the schema number
    # itself changed, and a step may add a number, e.g. an artifact's derived figure, never drop one).
    old, new = _numbers(raw), _numbers(dumped)
    old[raw["schema_version"]] -= 1
    missing = {k: n - new[k] for k, n in old.items() if n > new[k]}
    assert not missing, f"figures lost in migration: {list(missing.items())[:10]}"
    # Written and read back through the model: the same document.
    assert RunResults.model_validate(json.loads(json.dumps(dumped))).model_dump(mode="json") == dumped
    # Migration leaves its input alone.
    assert raw == json.loads(path.read_text())


def test_the_previous_release_microcontroller_entry_becomes_neutral_runtime_results():
    raw = json.loads((DATA / "runs/v1-run-tf-pytorch/results.json").read_text())
    r = results.parse(raw, "v1")
    for old, new in zip(raw["artifacts"], r.artifacts):
        assert new.key == (old["framework"], old["format"], old["precision"])
        host = new.result()
        assert host.runtime == old["runtime"] and host.role == "host" and host.reference == "source"
        assert host.agreement == old["top1_agreement"] and host.test_accuracy == old["test_accuracy"]
        assert host.latency_ms == old["latency_ms"] and host.tolerance == old["tolerance"]
        m = old.get("microcontroller")
        mcu = new.microcontroller_results()
        if m is None:  # ONNX and ExecuTorch files: no microcontroller runtime runs them
            assert old["format"] != "tflite" and mcu == []
            continue
        (res,) = mcu
        assert res.runtime == "tflm" and res.reference == old["runtime"] and res.status == m["status"]
        if m["status"] == "ok":
            assert res.ram_bytes == m["arena_bytes"] and res.agreement == m["agreement_with_litert"]
            assert res.latency_ms == m["host_latency_ms"] and res.details["c_array"] == m["c_array"]
        else:
            assert res.error == m["reason"]
    assert r.cost.microcontroller_latency_s == raw["cost"]["tflm_host_latency_s"]


def test_a_run_written_before_jobs_were_recorded_gets_its_progress_from_its_entries():
    raw = json.loads((DATA / "runs/v1-run-tf-pytorch/results.json").read_text())
    recorded = set(raw["progress"]["done"])
    older = copy.deepcopy(raw)
    del older["progress"]
    guessed = set(migrate(older)["progress"]["done"])
    assert guessed == recorded


def test_unknown_versions_and_broken_files_are_one_line_errors(tmp_path):
    good = json.loads((DATA / "runs/v1-run-numpy/results.json").read_text())
    with pytest.raises(UserError, match="newer than this edgebench"):
        results.parse({**good, "schema_version": SCHEMA_VERSION + 1}, "x.json")
    with pytest.raises(UserError, match="no schema_version"):
        results.parse({"trainings": []}, "x.json")
    bad = copy.deepcopy(good)
    bad["trainings"][0]["status"] = 3
    with pytest.raises(UserError, match=r"x.json: not a valid schema-1 results file \(trainings.0.status"):
        results.parse(bad, "x.json")
    extra = results.parse(good, "x").model_dump(mode="json")
    extra["artifacts"][0]["results"][0]["agreement_with_litert"] = 1.0  # a writer and the schema disagree
    with pytest.raises(UserError, match="agreement_with_litert"):
        results.parse(extra, "x.json")


def test_every_past_shape_reports_and_compares():
    """Each past shape renders report.md through today's view, and compares with the shape before it
    (the raw latency files are not kept: compare falls back to the recorded statistics)."""
    from edgebench.report import markdown
    from edgebench.report.compare import compare, render
    from edgebench.report.view import build

    past = sorted(DATA.glob("past_results/*.json"))
    assert len(past) >= 20  # SHAPES.md: 22 run shapes, 6 deploy shapes, 3 variants
    previous = None
    for path in past:
        r = results.parse(json.loads(path.read_text()), path)
        md = markdown.render(build(r), {})
        assert ("## Source model" in md) == r.is_deploy and "## Deployment matrix" in md, path.name
        if previous is not None and previous.is_deploy == r.is_deploy:
            c = compare(previous, r, Path("a"), Path("b"))
            assert "edgebench compare" in render(c, previous), path.name
        previous = r
