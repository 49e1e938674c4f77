"""Configuration: TOML file, CLI flags on top, and clear errors for bad values."""

import pytest

from live_nst.config import RunConfig, config_from_dict, load_config, parse_size
from live_nst.errors import ConfigError


def test_sizes_parse_and_reject_nonsense():
    assert parse_size("1280x720") == (1280, 720) and parse_size(" 640 X 360 ") == (640, 360)
    for bad in ("1280", "x720", "0x0", "99999x10", "abc"):
        with pytest.raises(ConfigError, match="WIDTHxHEIGHT|out of range"):
            parse_size(bad)


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
    ({"person": {"strength": 1.5}}, "strength must be a number from 0.0 to 1.0"),
    ({"run": {"fps": 0}}, "fps must be a number"),
    ({"run": {"output": "hdmi"}}, "output must be virtualcam"),
    ({"temporal": {"blend": 2}}, "temporal.blend"),
    ({"keys": {"quit": "s"}}, "bound to more than one action"),
    ({"keys": {"fly": "f"}}, "unknown key actions"),
    ({"keys": {"quit": "qq"}}, "single character"),
    ({"colour": {}}, "unknown sections"),
    ({"run": {"sorce": "sample"}}, "sorce"),
    ({"run": {"adaptive": "yes"}}, "adaptive must be true or false"),
    ({"run": {"painters": 9}}, "painters must be a whole number"),
    ({"segmentation": {"every": 0}}, "segmentation.every must be a whole number"),
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
