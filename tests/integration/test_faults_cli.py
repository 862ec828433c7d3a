"""Fault injection through the real CLI: every bad input gets one line naming the item and the
fix, exit code 2, no traceback, and nothing written."""

import gzip
import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import make_idx_folder, write_idx, write_sums


def _run(*args):
    return subprocess.run([sys.executable, "-m", "edgebench", *args], capture_output=True, text=True, timeout=120)


def _assert_user_error(p, message):
    assert p.returncode == 2, (p.returncode, p.stderr[-1500:])
    assert message in p.stderr, p.stderr
    assert "Traceback" not in p.stderr + p.stdout
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr


def _dataset_cases(tmp_path):
    """(name, prepare(folder), expected message)."""
    def missing(d):
        (d / "t10k-images-idx3-ubyte.gz").unlink()

    def truncated(d):
        raw = gzip.decompress((d / "train-images-idx3-ubyte.gz").read_bytes())
        (d / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw[:-500]))

    def corrupt_gzip(d):
        blob = (d / "train-labels-idx1-ubyte.gz").read_bytes()
        (d / "train-labels-idx1-ubyte.gz").write_bytes(blob[: len(blob) // 2])

    def bad_magic(d):
        raw = bytearray(gzip.decompress((d / "t10k-labels-idx1-ubyte.gz").read_bytes()))
        raw[0:2] = b"PK"
        (d / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(raw)))

    def count_mismatch(d):
        write_idx(d / "train-labels-idx1-ubyte.gz", np.zeros(59, np.uint8), gz=True)

    def checksum(d):
        write_sums(d)
        write_idx(d / "t10k-labels-idx1-ubyte.gz", np.ones(20, np.uint8), gz=True)

    return [
        ("missing", missing, "no test images file"),
        ("truncated", truncated, "train-images-idx3-ubyte.gz: truncated: header declares shape (60, 28, 28)"),
        ("corrupt-gzip", corrupt_gzip, "train-labels-idx1-ubyte.gz: corrupt or truncated gzip data"),
        ("bad-magic", bad_magic, "t10k-labels-idx1-ubyte.gz: not an IDX file (magic number starts 0x50 0x4b"),
        ("count-mismatch", count_mismatch, "train-images-idx3-ubyte.gz has 60 images but train-labels-idx1-ubyte.gz has 59 labels"),
        ("checksum", checksum, "t10k-labels-idx1-ubyte.gz: SHA-256 mismatch"),
    ]


@pytest.mark.parametrize("case", range(6))
def test_bad_dataset_files(tmp_path, case):
    name, prepare, message = _dataset_cases(tmp_path)[case]
    folder = make_idx_folder(tmp_path / name)
    prepare(folder)
    _assert_user_error(_run("run", "--dataset", str(folder), "--out", str(tmp_path / "out")), message)
    assert not (tmp_path / "out").exists()


def test_bundled_mnist_checksum_mismatch(tmp_path, mnist_copy):
    # A copy of the bundled folder with its SHA256SUMS and one replaced file.
    write_idx(mnist_copy / "t10k-labels-idx1-ubyte.gz", np.zeros(10000, np.uint8), gz=True)
    _assert_user_error(_run("run", "--dataset", str(mnist_copy), "--out", str(tmp_path / "out")),
                       "t10k-labels-idx1-ubyte.gz: SHA-256 mismatch")


@pytest.mark.parametrize("args,message", [
    (["--epochs", "-1"], "--epochs must be a positive integer, got -1"),
    (["--repeats", "0"], "--repeats must be a positive integer, got 0"),
    (["--hidden", "64,0"], "--hidden sizes must be positive, got 0"),
    (["--lr", "0"], "--lr must be > 0, got 0.0"),
    (["--threads", "0"], "--threads must be a positive integer, got 0"),
    (["--optimizer", "rmsprop"], "unknown optimizer 'rmsprop'; valid choices: adam, sgd"),
    (["--formats", "tflite:int4"], "unknown precision 'int4'"),
    (["--mode", "turbo"], "--mode must be eager, compiled or both, got 'turbo'"),
    (["--dataset", "fashion-mnist-xl"], "not 'mnist' or 'fashion-mnist', and no such folder"),
    (["--epochs", "many"], "Invalid value for '--epochs'"),
])
def test_out_of_range_values(tmp_path, args, message):
    _assert_user_error(_run("run", *args, "--out", str(tmp_path / "out")), message)
    assert not (tmp_path / "out").exists()


def test_output_folder_that_is_not_a_run_is_never_overwritten(tmp_path):
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "chapter1.tex").write_text("precious")
    _assert_user_error(_run("run", "--out", str(mine)), "exists, is not empty and is not an edgebench run")
    assert [p.name for p in mine.iterdir()] == ["chapter1.tex"]


def test_newer_schema_and_resume_errors(tmp_path):
    future = tmp_path / "future"
    future.mkdir()
    (future / "results.json").write_text(json.dumps({"schema_version": 999, "status": "partial"}))
    for args in (["report", str(future)], ["run", "--resume", str(future)]):
        _assert_user_error(_run(*args), "schema version 999 is newer than this edgebench understands")
    _assert_user_error(_run("run", "--resume", str(tmp_path / "absent")), "no such run folder")
    early = tmp_path / "early"
    early.mkdir()
    (early / "results.json").write_text(json.dumps({"schema_version": 1, "status": "running"}))
    _assert_user_error(_run("run", "--resume", str(early)), "stopped before its inputs were written")


def test_trailing_bytes_in_an_uncompressed_file(tmp_path):
    # Uncompressed files with a trailing newline someone's editor added: a clear error, not a crash.
    folder = make_idx_folder(tmp_path / "raw", gz=False)
    with open(folder / "train-labels-idx1-ubyte", "ab") as f:
        f.write(b"\n")
    _assert_user_error(_run("run", "--dataset", str(folder), "--out", str(tmp_path / "out")),
                       "train-labels-idx1-ubyte: 1 unexpected bytes after the data declared by the header (60,)")


def test_generated_input_options_are_checked(tmp_path):
    from tests.integration.test_faults_cli import _assert_user_error, _run

    model = tmp_path / "m.tflite"
    model.write_bytes(b"TFL3")
    p = _run("deploy", str(model), "--input-range", "1,0", "--dataset", "none", "--out", str(tmp_path / "r"))
    _assert_user_error(p, "--input-range must be LO,HI with LO < HI")
    p = _run("deploy", str(model), "--input-range", "0,1", "--dataset", "mnist", "--out", str(tmp_path / "r"))
    _assert_user_error(p, "--input-range sets the range of generated inputs: it needs --dataset none")
    p = _run("deploy", str(model), "--input-range", "zero", "--dataset", "none", "--out", str(tmp_path / "r"))
    _assert_user_error(p, "--input-range 'zero': expected LO,HI")
    p = _run("deploy", str(model), "--samples", "0", "--dataset", "none", "--out", str(tmp_path / "r"))
    _assert_user_error(p, "--samples must be a positive integer")
    assert not (tmp_path / "r").exists()
