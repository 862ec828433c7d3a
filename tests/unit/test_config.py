import pytest

from edgebench.config import (ModelSpec, OptimizerSpec, RunConfig, parse_formats, parse_frameworks,
                              parse_hidden, validate)
from edgebench.errors import ConfigError


def test_defaults_are_the_lab_setup():
    cfg = RunConfig()
    validate(cfg)
    assert cfg.frameworks == ("tensorflow", "pytorch", "jax")
    assert cfg.epochs == 5 and cfg.batch_size == 64
    assert cfg.model.layer_sizes == [(784, 64), (64, 10)]
    assert cfg.model.parameter_count == 784 * 64 + 64 + 64 * 10 + 10 == 50890
    assert cfg.optimizer == OptimizerSpec("adam", 1e-3, 0.9, 0.999, 1e-8, "aligned")


def test_parse_frameworks_aliases_and_dedup():
    assert parse_frameworks("tf, torch,tensorflow") == ("tensorflow", "pytorch")
    assert parse_frameworks("PyTorch") == ("pytorch",)
    with pytest.raises(ConfigError, match="unknown framework .mxnet. in --frameworks; valid choices: tensorflow, pytorch, jax"):
        parse_frameworks("tf,mxnet")
    with pytest.raises(ConfigError, match="empty"):
        parse_frameworks(" , ")


def test_parse_hidden_and_formats():
    assert parse_hidden("128, 64") == (128, 64)
    with pytest.raises(ConfigError, match="comma list of positive integers, got '12x'"):
        parse_hidden("12x")
    assert parse_formats(None) is None and parse_formats("all") is None
    assert parse_formats("none") == ()
    assert parse_formats("onnx,tflite,onnx") == ("onnx", "tflite")
    assert parse_formats("tflite:int8,pytorch:onnx:float32") == ("tflite:int8", "pytorch:onnx:float32")
    with pytest.raises(ConfigError, match="unknown format 'pte'"):
        parse_formats("pte")
    with pytest.raises(ConfigError, match="unknown precision 'int4'"):
        parse_formats("tflite:int4")
    with pytest.raises(ConfigError, match="unknown framework 'mxnet' in --formats item"):
        parse_formats("mxnet:onnx:float32")


def test_export_selectors():
    from edgebench.config import export_selected

    assert export_selected(None, "jax", "tflite", "int8")
    assert not export_selected((), "jax", "tflite", "int8")
    sel = ("tensorflow:tflite:float32", "onnx:int8-static", "executorch")
    assert export_selected(sel, "tensorflow", "tflite", "float32")
    assert not export_selected(sel, "pytorch", "tflite", "float32")
    assert export_selected(sel, "pytorch", "onnx", "int8-static") and export_selected(sel, "tensorflow", "onnx", "int8-static")
    assert not export_selected(sel, "pytorch", "onnx", "float32")
    assert export_selected(sel, "pytorch", "executorch", "float32")
    assert export_selected(("tf:tflite:int8",), "tensorflow", "tflite", "int8")


def test_validate_reports_every_problem_at_once():
    cfg = RunConfig(epochs=0, batch_size=-1, threads=0, limit_train=0, model=ModelSpec(hidden=(64, 0)),
                    optimizer=OptimizerSpec(name="rmsprop", learning_rate=-1, beta1=1.0, epsilon=0,
                                            epsilon_placement="middle"), seed=-5, formats=("zip",))
    with pytest.raises(ConfigError) as e:
        validate(cfg)
    msg = str(e.value)
    for part in ("--epochs must be a positive integer, got 0", "--batch-size must be a positive integer, got -1",
                 "--threads must be a positive integer, got 0", "--limit-train must be a positive integer, got 0",
                 "--hidden sizes must be positive, got 0", "unknown optimizer 'rmsprop'", "--lr must be > 0",
                 "beta1 must be in [0, 1), got 1.0", "epsilon must be > 0", "placement 'middle'",
                 "--seed must be a non-negative integer, got -5", "unknown format 'zip'"):
        assert part in msg, part
    assert "\n" not in msg


def test_bool_is_not_a_positive_integer():
    with pytest.raises(ConfigError, match="--epochs"):
        validate(RunConfig(epochs=True))


def test_config_round_trips_through_dict():
    cfg = RunConfig(frameworks=("pytorch",), model=ModelSpec(hidden=(32, 16)), formats=("onnx",), limit_test=5)
    assert RunConfig.from_dict(cfg.to_dict()) == cfg
