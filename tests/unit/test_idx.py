import gzip

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgebench import data
from edgebench.errors import DataError
from tests.conftest import encode_idx, make_idx_folder, needs, write_idx, write_sums


def test_roundtrip_plain_and_gzip(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for gz in (False, True):
        p = write_idx(tmp_path / f"a{gz}", arr, gz)
        out = data.read_idx(p)
        assert out.shape == (2, 3, 4) and out.dtype == np.uint8
        np.testing.assert_array_equal(out, arr)


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(dtype=st.sampled_from([np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]),
                  shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5)))
def test_parse_idx_roundtrip_property(arr):
    out = data.parse_idx(encode_idx(arr))
    assert out.shape == arr.shape
    np.testing.assert_array_equal(out, arr)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64))
def test_parse_idx_never_crashes_on_garbage(blob):
    # Arbitrary bytes either parse to a consistent array or raise DataError: nothing else.
    try:
        arr = data.parse_idx(blob, "blob")
    except DataError as e:
        assert "blob" in str(e)
    else:
        assert 4 + 4 * arr.ndim + arr.nbytes == len(blob)


@pytest.mark.parametrize("name, blob, message", [
    ("x-idx3-ubyte", b"\x1a\x2b\x08\x01\x00\x00\x00\x01\x05",
     r"x-idx3-ubyte: not an IDX file \(magic number starts 0x1a 0x2b"),
    ("f", b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "unknown IDX data type code 0x07"),
    ("imgs", encode_idx(np.zeros((10, 28, 28), np.uint8))[:-100],
     r"imgs: truncated: header declares shape \(10, 28, 28\) \(7840 bytes of data\) but the file has 7740"),
    ("h", b"\x00\x00\x08\x03\x00\x00", "truncated IDX header"),
])
def test_broken_idx_file(tmp_path, name, blob, message):
    p = tmp_path / name
    p.write_bytes(blob)
    with pytest.raises(DataError, match=message):
        data.read_idx(p)


def test_trailing_bytes(tmp_path):
    p = tmp_path / "t"
    p.write_bytes(encode_idx(np.zeros(3, np.uint8)) + b"xx")
    with pytest.raises(DataError, match="2 unexpected bytes"):
        data.read_idx(p)


def test_corrupt_and_truncated_gzip(tmp_path):
    comp = gzip.compress(encode_idx(np.arange(1000, dtype=np.int32)))
    p = tmp_path / "c.gz"
    p.write_bytes(comp[: len(comp) // 2])
    with pytest.raises(DataError, match="c.gz: corrupt or truncated gzip data"):
        data.read_idx(p)
    p.write_bytes(comp[:10] + bytes(b ^ 0xFF for b in comp[10:30]) + comp[30:])
    with pytest.raises(DataError, match="c.gz: corrupt or truncated gzip data"):
        data.read_idx(p)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope: file not found"):
        data.read_idx(tmp_path / "nope")


def test_load_folder_gzip_and_plain(tmp_path):
    for gz in (True, False):
        folder = make_idx_folder(tmp_path / f"d{gz}", n_train=30, n_test=12, gz=gz)
        ds = data.load_folder(folder, "custom")
        assert ds.x_train.shape == (30, 784) and ds.x_train.dtype == np.float32
        assert ds.x_test.shape == (12, 784)
        assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
        assert ds.y_train.dtype == np.int64
        assert len(ds.checksums) == 4 and not ds.checksum_verified


def test_load_folder_limits(idx_folder):
    ds = data.load_folder(idx_folder, "x", limit_train=7, limit_test=3)
    assert len(ds.y_train) == 7 and len(ds.y_test) == 3


def test_count_mismatch(tmp_path):
    folder = make_idx_folder(tmp_path / "d", n_train=30, n_test=10, gz=False)
    write_idx(folder / "train-labels-idx1-ubyte", np.zeros(29, np.uint8))
    with pytest.raises(DataError, match="train-images-idx3-ubyte has 30 images but train-labels-idx1-ubyte has 29 labels"):
        data.load_folder(folder, "x")


def test_missing_split_file(idx_folder):
    (idx_folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="no test labels file"):
        data.load_folder(idx_folder, "x")


def test_checksum_mismatch_in_folder_with_sums(idx_folder):
    write_sums(idx_folder)
    ds = data.load_folder(idx_folder, "x")
    assert ds.checksum_verified
    write_idx(idx_folder / "train-labels-idx1-ubyte.gz", np.ones(60, np.uint8), gz=True)
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz: SHA-256 mismatch"):
        data.load_folder(idx_folder, "x")


def test_bundled_mnist_is_verified():
    ds = data.load("mnist", limit_train=100, limit_test=50)
    assert ds.checksum_verified
    assert ds.image_shape == (28, 28) and ds.num_classes == 10
    assert ds.checksums["train-images-idx3-ubyte.gz"].startswith("0b367032e93c")


def test_full_mnist_counts_match_provenance():
    ds = data.load("mnist")
    assert len(ds.y_train) == 60000 and len(ds.y_test) == 10000
    assert np.bincount(ds.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert abs(float(ds.x_train.mean()) - 0.1307) < 5e-5


def test_dataset_path_and_errors(idx_folder, tmp_path):
    ds = data.load(str(idx_folder))
    assert ds.name == "idx" and len(ds.y_train) == 60
    with pytest.raises(DataError, match="no such folder"):
        data.load(str(tmp_path / "absent"))
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(DataError, match="is a file"):
        data.load(str(f))


def test_fashion_mnist_missing_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "FASHION_MNIST_DIR", tmp_path / "absent")
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        data.load("fashion-mnist")


@needs(data.FASHION_MNIST_DIR.is_dir(), "Fashion-MNIST (Debian's dataset-fashion-mnist)",
       "apt-get install dataset-fashion-mnist")
def test_fashion_mnist_loads():
    ds = data.load("fashion-mnist", limit_train=10, limit_test=10)
    assert ds.name == "fashion-mnist" and ds.image_shape == (28, 28) and ds.num_classes == 10


def test_batch_order_is_deterministic_permutations():
    a = data.batch_order(100, 3, seed=5)
    b = data.batch_order(100, 3, seed=5)
    c = data.batch_order(100, 3, seed=6)
    assert a.shape == (3, 100)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    for row in a:
        assert sorted(row.tolist()) == list(range(100))
    assert not np.array_equal(a[0], a[1])


def test_decoded_arrays_round_trip_for_child_processes(tmp_path):
    from edgebench import data

    ds = data.load("mnist", limit_train=100, limit_test=50)
    data.save_arrays(ds, tmp_path / "cache")
    back = data.load_arrays(tmp_path / "cache")
    for key in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(back, key), getattr(ds, key))
        assert getattr(back, key).dtype == getattr(ds, key).dtype
    assert back.num_classes == 10 and back.input_size == 784
    test_only = data.load_arrays(tmp_path / "cache", splits=("test",))
    assert len(test_only.x_train) == 0 and len(test_only.y_test) == 50


def test_worker_reads_the_parents_copy_or_the_files(tmp_path):
    from edgebench import data, worker
    from edgebench.pipeline.jobs import DataRef

    ds = data.load("mnist", limit_train=30, limit_test=20)
    data.save_arrays(ds, tmp_path / "cache")
    for cache in (str(tmp_path / "cache"), None):
        got = worker._dataset(DataRef("mnist", 30, 20, cache))
        np.testing.assert_array_equal(got.x_train, ds.x_train)
        np.testing.assert_array_equal(got.y_test, ds.y_test)
