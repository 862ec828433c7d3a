import numpy as np
import pytest

from edgebench.errors import ConfigError
from edgebench.exporters import c_array
from edgebench.measure.boards import BOARDS, Board, fit, parse_board


def _model(n=1000, seed=0):
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def test_c_array_round_trips_byte_for_byte(tmp_path):
    for n in (1, 11, 12, 13, 4097):
        model = _model(n, seed=n)
        info = c_array.write(model, tmp_path / str(n), source_name="m.tflite", arena_bytes=2680)
        assert info["array_len"] == n
        assert c_array.read_back(tmp_path / str(n)) == model
    header = (tmp_path / "13" / "model_data.h").read_text()
    assert "extern const unsigned char g_model_data[];" in header and "#define EDGEBENCH_ARENA_BYTES 2680" in header
    assert "alignas(16) const unsigned char g_model_data[]" in (tmp_path / "13" / "model_data.cc").read_text()
    assert "2,680 bytes" in (tmp_path / "13" / "README.md").read_text()


def test_board_table_has_sources_and_parses_user_boards():
    assert len(BOARDS) >= 5 and all(b.source and b.flash_kb > 0 and b.ram_kb > 0 for b in BOARDS)
    assert any(b.ram_kb == 32 for b in BOARDS)  # the small Cortex-M0+
    assert parse_board("my kit:512:128.5") == Board("my kit", 512, 128.5)
    for bad, msg in (("kit:512", "expected name:flash_kb:ram_kb"), (":1:2", "expected name"),
                     ("kit:a:2", "must be numbers"), ("kit:0:2", "must be > 0")):
        with pytest.raises(ConfigError, match=msg):
            parse_board(bad)


def test_fit_headroom():
    b = Board("x", flash_kb=64, ram_kb=4)
    ok = fit(b, flash_bytes=54568, ram_bytes=2680)
    assert ok["fits"] and ok["flash_headroom_kb"] == pytest.approx(64 - 54568 / 1024, abs=0.01)
    assert ok["ram_headroom_kb"] == pytest.approx(4 - 2680 / 1024, abs=0.01)
    no = fit(b, flash_bytes=205036, ram_bytes=4552)
    assert not no["fits"] and no["flash_headroom_kb"] < 0 and no["ram_headroom_kb"] < 0


@pytest.mark.parametrize("hint", [None, 2680, 2688, 2600, 40, 50_000, 99_999])
def test_min_arena_finds_the_threshold_from_any_hint(monkeypatch, hint):
    """The arena search brackets from TFLM's printed total when it has one; wherever that hint
    lies (right, above, below the true minimum, or useless), the answer is the true minimum."""
    from edgebench.runtimes import tflm

    need = 2680
    calls = []

    def fake_probe(model, size, sample, print_allocations=False):
        calls.append(size)
        return tflm.Probe(size is None or size >= need, 0, "")

    monkeypatch.setattr(tflm, "probe", fake_probe)
    assert tflm.min_arena(b"m", np.zeros(1), upper=100_000, hint=hint) == need
    if hint in (2680, 2688):  # TFLM's own figure, or a few bytes of alignment above it
        assert len(calls) <= 1 + 2 + 6  # upper, hint, one step down, then a 64-byte bisection
    else:
        assert len(calls) <= 1 + 2 + 20


def test_readme_lists_the_resolver_lines_of_the_models_ops(tmp_path):
    ops = ["CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D", "MEAN", "ADD", "RESHAPE", "PAD",
           "TRANSPOSE", "QUANTIZE", "DEQUANTIZE", "SOFTMAX", "FULLY_CONNECTED", "SPACE_TO_BATCH_ND", "MADE_UP"]
    info = c_array.write(_model(64), tmp_path / "m", source_name="m.tflite", arena_bytes=None, ops=ops)
    readme = (tmp_path / "m" / "README.md").read_text()
    assert f"static tflite::MicroMutableOpResolver<{len(ops)}> resolver;" in readme
    for method in ("Conv2D", "DepthwiseConv2D", "MaxPool2D", "AveragePool2D", "Mean", "Add", "Reshape", "Pad",
                   "Transpose", "Quantize", "Dequantize", "Softmax", "FullyConnected", "SpaceToBatchNd"):
        assert f"resolver.Add{method}();" in readme, method
    assert "// MADE_UP: not a TFLite Micro builtin" in readme
    assert info["resolver"][0].startswith("static tflite::MicroMutableOpResolver<15>")
    # Without ops the README says nothing about them (and the files are as before).
    c_array.write(_model(64), tmp_path / "n", source_name="m.tflite", arena_bytes=None)
    assert "resolver" not in (tmp_path / "n" / "README.md").read_text()
