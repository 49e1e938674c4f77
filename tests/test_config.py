"""Configuration: TOML file, CLI flags on top, and clear errors for bad values."""

from pathlib import Path

import pytest

from live_nst.cli import main
from live_nst.config import (
    BOOL,
    INT,
    NUMBER,
    SCHEMA,
    TEXT,
    RunConfig,
    config_from_dict,
    load_config,
    parse_control,
    parse_size,
)
from live_nst.errors import ConfigError


def test_sizes_parse_and_reject_nonsense():
    assert parse_size("1280x720") == (1280, 720) and parse_size(" 640 X 360 ") == (640, 360)
    for bad in ("1280", "x720", "0x0", "99999x10", "abc"):
        with pytest.raises(ConfigError, match="WIDTHxHEIGHT|out of range"):
            parse_size(bad)


def test_control_addresses_default_to_loopback_and_reject_nonsense(capsys):
    assert parse_control("8765") == ("127.0.0.1", 8765) and parse_control(" 0 ") == ("127.0.0.1", 0)
    assert parse_control("0.0.0.0:8765") == ("0.0.0.0", 8765) and parse_control("[::1]:80") == ("::1", 80)
    assert parse_control("desk-pc.local:8765") == ("desk-pc.local", 8765)
    for bad in ("", "65536", ":8765", "host:", "http://127.0.0.1:8765", "::1:80", "a b:1", "8765/x"):
        with pytest.raises(ConfigError, match=r"control must be \[HOST:\]PORT"):
            parse_control(bad)
    assert config_from_dict({"run": {"control": "0.0.0.0:9000"}}).control == "0.0.0.0:9000"
    assert RunConfig().control is None, "the control server must be off by default"
    assert main(["run", "--control", "99999", "--source", "sample", "--output", "null", "--frames", "1"]) == 2
    assert "live-nst: error: --control must be [HOST:]PORT" in capsys.readouterr().err


def test_toml_file_sets_every_section(tmp_path):
    path = tmp_path / "live-nst.toml"
    path.write_text('[run]\nsource = "webcam:1"\nsize = "1920x1080"\nproc_size = "480x270"\nfps = 25\n'
                    '[person]\nstyle = "udnie"\nstrength = 0.7\n[background]\nstyle = "blur"\n'
                    '[segmentation]\nfeather_px = 8\n[temporal]\nblend = 0.5\n'
                    '[keys]\nquit = "x"\nmodifier = "<ctrl>+<shift>"\n')
    config = load_config(path)
    assert (config.source, config.size_wh, config.proc_size_wh, config.fps) == ("webcam:1", (1920, 1080),
                                                                                   (480, 270), 25)
    assert (config.person.style, config.person.strength, config.background.style) == ("udnie", 0.7, "blur")
    assert config.segmentation.feather_px == 8 and config.temporal.blend == 0.5
    assert config.keys.bindings["quit"] == "x" and config.keys.bindings["snapshot"] == "p"
    assert config.keys.modifier == "<ctrl>+<shift>"


@pytest.mark.parametrize("raw, message", [
    ({"person": {"strength": 1.5}}, r"\[person\] strength must be a number from 0.0 to 1.0"),
    ({"run": {"fps": 0}}, "fps must be a number"),
    ({"run": {"output": "hdmi"}}, "output must be virtualcam"),
    ({"temporal": {"blend": 2}}, r"\[temporal\] blend must be a number"),
    ({"keys": {"quit": "s"}}, "bound to more than one action"),
    ({"keys": {"fly": "f"}}, r"\[keys\] fly is not a setting"),
    ({"keys": {"quit": "qq"}}, "single character"),
    ({"colour": {}}, r"\[colour\] is not a section"),
    ({"segmentaton": {}}, r"did you mean 'segmentation'"),
    ({"run": {"sorce": "sample"}}, r"\[run\] sorce is not a setting \(did you mean 'source'\?\)"),
    ({"person": {"strenght": 0.5}}, r"\[person\] strenght is not a setting \(did you mean 'strength'\?\)"),
    ({"run": {"adaptive": "yes"}}, "adaptive must be true or false"),
    ({"run": {"painters": 9}}, "painters must be a whole number"),
    ({"segmentation": {"every": 0}}, r"\[segmentation\] every must be a whole number"),
    ({"run": {"control": "localhost"}}, r"\[run\] control must be \[HOST:\]PORT"),
])
def test_bad_values_name_the_problem(raw, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(raw)


def test_unreadable_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[run\nfps = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken)


def test_overrides_ignore_unset_flags():
    config = RunConfig().with_overrides(fps=None, device="cpu")
    assert config.fps == RunConfig().fps and config.device == "cpu"


def test_adaptive_quality_is_on_by_default_and_a_config_key_or_flag_turns_it_off(tmp_path):
    from live_nst.cli import _config_from_args, build_parser

    assert RunConfig().adaptive is True and RunConfig().painters is None
    path = tmp_path / "live-nst.toml"
    path.write_text("[run]\nadaptive = false\npainters = 1\n[segmentation]\nevery = 3\n")
    config = load_config(path)
    assert config.adaptive is False and config.painters == 1 and config.segmentation.every == 3
    args = build_parser().parse_args(["run", "--no-adaptive", "--painters", "0"])
    flagged = _config_from_args(args)
    assert flagged.adaptive is False and flagged.painters == 0
    assert _config_from_args(build_parser().parse_args(["run"])).adaptive is True


# One value of each TOML type, and the types each kind of key takes.
WRONG_VALUES = {"boolean": True, "integer": 3, "float": 2.5, "string": "x", "array": [1], "table": {"a": 1}}
ACCEPTS = {BOOL: {"boolean"}, INT: {"integer"}, NUMBER: {"integer", "float"}, TEXT: {"string"}}
WRONG_TYPE_CASES = [pytest.param(section, key, value, id=f"{section}.{key}={kind_name}")
                    for section, keys in SCHEMA.items() for key, kind in keys.items()
                    for kind_name, value in WRONG_VALUES.items() if kind_name not in ACCEPTS[kind]]


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


def _run_with_config(tmp_path, text: str, capsys) -> tuple[int, list[str]]:
    path = tmp_path / "live-nst.toml"
    path.write_text(text)
    code = main(["run", "--config", str(path), "--source", "sample", "--output", "null", "--frames", "1"])
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize("section, key, value", WRONG_TYPE_CASES)
def test_every_key_refuses_every_wrong_type_in_one_line_naming_section_and_key(tmp_path, capsys, section, key,
                                                                               value):
    code, err = _run_with_config(tmp_path, f"[{section}]\n{key} = {toml_value(value)}\n", capsys)
    assert code == 2
    assert len(err) == 1 and err[0].startswith("live-nst: error: "), err
    assert f"[{section}] {key} must be" in err[0] and "live-nst.toml" in err[0], err


@pytest.mark.parametrize("section", list(SCHEMA))
@pytest.mark.parametrize("value", [3, "x", [1]])
def test_a_section_given_as_a_plain_value_is_one_error_line(tmp_path, capsys, section, value):
    code, err = _run_with_config(tmp_path, f"{section} = {toml_value(value)}\n", capsys)
    assert code == 2
    assert len(err) == 1 and f"[{section}] must be a section" in err[0], err


def test_quoted_booleans_and_numbers_are_refused_with_the_fix():
    with pytest.raises(ConfigError, match=r"\[temporal\] enabled must be true or false, got 'false' \(a string\); "
                                          r"write it without quotes, e.g. false"):
        config_from_dict({"temporal": {"enabled": "false"}})
    with pytest.raises(ConfigError, match=r"\[run\] fps must be a number, got true \(a boolean\)"):
        config_from_dict({"run": {"fps": True}})


def test_paths_expand_the_home_folder():
    config = config_from_dict({"run": {"styles_dir": "~/styles", "source": "~/in.mp4", "output": "file:~/o.mp4"}})
    home = Path.home()
    assert config.styles_dir == str(home / "styles") and config.source == str(home / "in.mp4")
    assert config.output == f"file:{home / 'o.mp4'}"


def test_a_config_path_that_is_a_folder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path)


def test_styles_dir_adds_to_the_user_folder_and_warns_when_missing(tmp_path, monkeypatch, caplog):
    import shutil

    from live_nst.catalog import StyleCatalog, packaged_styles_dir

    user, extra = tmp_path / "user", tmp_path / "extra"
    user.mkdir()
    extra.mkdir()
    shutil.copy(packaged_styles_dir() / "pack.onnx", user / "mine.onnx")
    shutil.copy(packaged_styles_dir() / "pack.onnx", extra / "theirs.onnx")
    monkeypatch.setenv("LIVE_NST_STYLES", str(user))
    files = {entry.path.name for entry in StyleCatalog.default(extra).entries.values()}
    assert files == {"pack.onnx", "mine.onnx", "theirs.onnx"}
    with caplog.at_level("WARNING", logger="live_nst.catalog"):
        files = {entry.path.name for entry in StyleCatalog.default(tmp_path / "missing").entries.values()}
    assert files == {"pack.onnx", "mine.onnx"}
    assert "missing does not exist" in caplog.text


def test_odd_output_sizes_are_rounded_down_to_even_with_a_note(tmp_path, caplog):
    from live_nst.cli import _config_from_args, build_parser

    with caplog.at_level("INFO", logger="live_nst.config"):
        flagged = _config_from_args(build_parser().parse_args(["run", "--size", "641x361", "--proc-size", "321x181"]))
    assert flagged.size_wh == (640, 360) and flagged.proc_size_wh == (321, 181)  # the networks take any size
    assert "--size 641x361 rounded to 640x360: virtual cameras and video files need even sides" in caplog.text
    path = tmp_path / "live-nst.toml"
    path.write_text('[run]\nsize = "17x1081"\n')
    assert load_config(path).size_wh == (16, 1080)
    caplog.clear()
    with caplog.at_level("INFO", logger="live_nst.config"):
        assert _config_from_args(build_parser().parse_args(["run", "--size", "640x360"])).size_wh == (640, 360)
    assert "rounded" not in caplog.text
