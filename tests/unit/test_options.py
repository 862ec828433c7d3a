"""The run options: one table that the command line, the --config file and the presets read,
whose defaults are RunConfig's own."""


import pytest

from edgebench import options
from edgebench.config import PRESETS, RunConfig
from edgebench.errors import ConfigError


def test_option_defaults_make_the_default_config():
    assert options.to_config({**options.defaults(), "threads": 3}) == RunConfig(threads=3)


def test_the_command_line_parses_to_the_default_config_and_flags_reach_the_config():
    """Through click's own parsing of `edgebench run`: no flag gives RunConfig's defaults; each
    flag lands in its field."""
    import typer

    from edgebench import cli

    cmd = typer.main.get_command(cli.app).commands["run"]
    own = {"config", "resume", "json_output", "preset"}

    def parse(*args):
        values = cmd.make_context("run", list(args)).params
        return options.to_config({k: v for k, v in values.items() if k not in own})

    assert parse("--threads", "3") == RunConfig(threads=3)
    cfg = parse("--threads", "1", "--epochs", "2", "--hidden", "128,64", "--lr", "0.01", "--no-mcu", "--twin",
                "--board", "kit:64:8", "--formats", "onnx", "--mode", "both", "--limit-test", "7", "--out", "x")
    assert (cfg.epochs, cfg.model.hidden, cfg.optimizer.learning_rate, cfg.microcontroller, cfg.twin) == \
        (2, (128, 64), 0.01, False, True)
    assert (cfg.boards, cfg.formats, cfg.modes, cfg.limit_test, str(cfg.out)) == \
        (("kit:64:8",), ("onnx",), ("eager", "compiled"), 7, "x")
    flags = {opt for p in cmd.params for opt in p.opts}
    assert {o.flag for o in options.OPTIONS} <= flags


def test_presets_only_touch_fields_an_option_owns():
    owned = {o.field for o in options.OPTIONS if o.field}
    for name, values in PRESETS.items():
        assert set(values) <= owned, name
    cfg = options.apply_preset(RunConfig(threads=1, epochs=2), "quick", given={"epochs"})
    assert cfg.epochs == 2 and cfg.limit_train == PRESETS["quick"]["limit_train"] and cfg.preset == "quick"
    with pytest.raises(ConfigError, match="unknown --preset 'fast'; valid choices: lab, quick, full"):
        options.apply_preset(RunConfig(threads=1), "fast", set())


@pytest.mark.parametrize("text, message", [
    ('epochs = "3"\n', "'epochs' must be an integer, got '3'"),
    ("twin = 1\n", "'twin' must be true or false, got 1"),
    ("lr = true\n", "'lr' must be a number, got True"),
    ("board = [1]\n", "'board' must be a string name:flash_kb:ram_kb or a list of them, got [1]"),
    ("bogus = 1\n", "unknown key(s) bogus; valid keys: adam-epsilon, adam-epsilon-placement, batch-size"),
    ("epochs = \n", "not valid TOML"),
])
def test_config_file_errors_name_the_key_and_the_value(tmp_path, text, message):
    path = tmp_path / "run.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        options.load_file(path)
    assert str(path) in str(e.value) and message in str(e.value)


def test_config_file_values_come_typed_as_on_the_command_line(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('frameworks = ["tf", "torch"]\nhidden = [128, 64]\nlr = 1\nboard = "kit:512:128"\n'
                    'no-mcu = true\nout = "r"\n')
    got = options.load_file(path)
    assert got == {"frameworks": "tf,torch", "hidden": "128,64", "lr": 1.0, "board": ["kit:512:128"],
                   "no_mcu": True, "out": options.Path("r")}
    assert isinstance(got["lr"], float)
