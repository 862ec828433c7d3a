"""What a newcomer reads first, through the real CLI: help that reflows to the terminal, list's headings."""

import json
import os
import re
import subprocess
import sys

import pytest


def edgebench(*args, columns=300, cwd=None):
    env = {**os.environ, "COLUMNS": str(columns), "TERM": "dumb"}
    return subprocess.run([sys.executable, "-m", "edgebench", *args], capture_output=True, text=True, env=env,
                          timeout=120, cwd=cwd)


def _panel_rows(help_text: str, panel: str) -> list[str]:
    """The rows of one rich help panel ("Commands", "Options"), without the box."""
    rows, inside = [], False
    for line in help_text.splitlines():
        if line.lstrip().startswith(f"╭─ {panel}"):
            inside = True
            continue
        if inside and line.lstrip().startswith("╰"):
            break
        if inside:
            rows.append(line.strip().strip("│").rstrip())
    return rows


@pytest.mark.parametrize("command", [(), ("list",)])
def test_command_summaries_reflow_to_the_terminal(command):
    """On a wide terminal every command's summary is one line: no break where the docstring's source
    line ended (it used to show deploy's as '... it reaches, verify' / 'each export against ...')."""
    p = edgebench(*command, "--help")
    assert p.returncode == 0, p.stderr
    rows = _panel_rows(p.stdout, "Commands")
    assert rows, p.stdout
    continuation = [r for r in rows if re.match(r"^\s{3,}\S", r)]
    assert not continuation, continuation
    if not command:
        deploy = next(r for r in rows if r.lstrip().startswith("deploy "))
        assert "reaches, verify each export against" in deploy
    # On a narrow one, the same text wraps at the terminal's width, never past it.
    narrow = edgebench(*command, "--help", columns=70)
    assert all(len(line) <= 70 for line in narrow.stdout.splitlines())


@pytest.mark.parametrize("command", ["run", "deploy", "sweep", "compare", "doctor", "report"])
def test_every_command_help_renders_in_one_paragraph_per_docstring_paragraph(command):
    p = edgebench(command, "--help")
    assert p.returncode == 0, p.stderr
    summary = p.stdout.split("Usage:", 1)[1].split("╭", 1)[0]
    lines = [ln.strip() for ln in summary.splitlines()[1:] if ln.strip()]
    assert len(lines) == 1, lines  # each summary is one paragraph, one line on a 300-column terminal


def test_list_names_what_it_lists(tmp_path):
    # A folder of runs called "models" is listed as runs; `list models` shows the models.
    runs = tmp_path / "models"
    (runs / "a").mkdir(parents=True)
    (runs / "a" / "results.json").write_text(json.dumps({
        "schema_version": 1, "status": "complete", "created_at": "2026-11-27T10:00:00+00:00", "config": {"epochs": 1},
        "dataset": {"name": "mnist"}, "wall_time_s": 3.0,
        "trainings": [{"framework": "numpy", "status": "ok", "test_accuracy": 0.91}], "artifacts": []}))
    p = edgebench("list", "runs", "models", "--format", "md", cwd=tmp_path)
    assert p.returncode == 0 and "0.9100" in p.stdout, p.stdout + p.stderr
    p = edgebench("list", "models", "--model", "mlp")
    assert p.returncode == 0 and "mlp: 50,890 parameters" in p.stdout
    p = edgebench("list", cwd=tmp_path / "models")  # no subcommand: the runs in ./runs
    assert p.returncode == 0 and "no runs in runs" in p.stdout
    p = edgebench("list", "models-old", cwd=tmp_path)
    assert p.returncode == 2 and "edgebench list runs models-old" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr


def test_list_boards_shows_each_core_and_clock():
    p = edgebench("list", "boards", "--format", "json")
    assert p.returncode == 0, p.stderr
    boards = {b["name"]: b for b in json.loads(p.stdout)}
    assert boards["nRF52840 (Arduino Nano 33 BLE Sense)"]["core"] == "cortex-m4"
    assert boards["nRF52840 (Arduino Nano 33 BLE Sense)"]["clock_mhz"] == 64
    assert boards["ESP32-S3 (ESP32-S3-WROOM-1-N8)"]["core"] == "xtensa-lx7"
    table = edgebench("list", "boards", "--format", "md").stdout
    assert "| cortex-m0plus | 133 |" in table and "xtensa-lx7 (not Arm)" in table
