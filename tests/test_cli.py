"""The command line: help that explains every option, one error path with documented
exit codes, a quiet console, and SIGTERM handled like Ctrl-C."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
from pathlib import Path

import cv2
import pytest
from commands import LIVE_NST

from live_nst.cli import build_parser, main
from live_nst.sources import SampleSource
from live_nst.video import probe

ERROR_LINE = re.compile(r"^live-nst: error: \S.*$")
LOG_LINE = re.compile(r"^\d\d:\d\d:\d\d ")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_option_says_what_it_does_and_its_default():
    parser = build_parser()
    missing = []
    for name, sub in {"": parser, **_subcommands(parser)}.items():
        for action in sub._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
                continue
            if action.help == argparse.SUPPRESS or not action.option_strings:
                continue
            text = action.help or ""
            if len(text) < 15 or not re.search(r"default|required", text, re.IGNORECASE):
                missing.append(f"{name} {action.option_strings[-1]}: {text!r}")
    assert not missing, "\n".join(missing)


def test_the_exit_codes_are_in_every_commands_help():
    parser = build_parser()
    for sub in [parser, *_subcommands(parser).values()]:
        text = sub.format_help()
        assert all(f"\n  {code} " in text for code in (0, 1, 2, 130)), sub.prog


def test_the_torch_commands_show_the_recipes_own_defaults():
    pytest.importorskip("torch")
    from dataclasses import fields

    from live_nst.cli_torch import GATYS_DEFAULTS, TRAIN_DEFAULTS
    from live_nst.models.gatys import GatysConfig
    from live_nst.models.train import TrainConfig

    recipe = TrainConfig(style_paths=(), content_dir="")
    values = {f.name: getattr(recipe, f.name) for f in fields(recipe)}
    values.update(style_weight=recipe.weights.style, temporal_weight=recipe.weights.temporal,
                  lattice_weight=recipe.weights.lattice, region_weight=recipe.weights.region)
    assert {k: values[k] for k in TRAIN_DEFAULTS} == TRAIN_DEFAULTS
    gatys = GatysConfig()
    assert {k: getattr(gatys, k) for k in GATYS_DEFAULTS} == GATYS_DEFAULTS


STYLIZE = ["stylize", "--content-path", "me.jpg", "--style-path", "starry_night"]


@pytest.mark.parametrize("argv", [
    ["train"],
    ["render"],
    ["render", "in.mp4"],
    ["export", "x.ckpt"],
    ["export", "x.ckpt", "-o", "x.pt"],
    ["run", "--fps", "true"],
    ["run", "--frames", "0"],
    ["run", "--no-such-option"],
    ["frobnicate"],
    [*STYLIZE, "--device", "tpu"],
    [*STYLIZE, "--size", "1"],
    [*STYLIZE, "--size", "-3"],
    [*STYLIZE, "--output", "me.xyz"],
    ["train", "--batch", "0"],
    ["train", "--checkpoint-every", "0"],
    ["train", "--size", "1"],
])
def test_bad_command_lines_give_one_error_line_and_exit_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ERROR_LINE.match(err[0]), err


def test_older_output_spellings_still_work():
    parser = build_parser()
    assert parser.parse_args(["train", "--out-dir", "runs/x"]).output == "runs/x"
    assert parser.parse_args(["train", "-o", "runs/y"]).output == "runs/y"
    render = parser.parse_args(["render", "in.mp4", "out.mp4"])
    assert (render.legacy_output, render.output) == ("out.mp4", None)
    assert parser.parse_args(["export", "a.ckpt", "a.onnx"]).legacy_output == "a.onnx"
    assert "--out-dir" not in _subcommands(parser)["train"].format_help()
    from live_nst.bench.command import build_parser as bench_parser

    assert bench_parser().parse_args(["--out", "b"]).out == "b"
    assert bench_parser().parse_args(["-o", "c"]).out == "c"


def test_styles_prints_a_header_and_whole_titles(capsys, catalog):
    assert main(["styles"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["NAME", "TITLE", "ARTIST"]
    for entry in catalog.entries.values():
        assert any(entry.info.title in line for line in lines), entry.info.title


def _live_nst(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([*LIVE_NST, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "DISPLAY": ""}, **kwargs)


def test_an_early_error_prints_its_line_and_nothing_else(segmentation_model):
    process = _live_nst("run", "--source", "sample", "--output", "null", "--frames", "2", "--person-style", "nope")
    _, err = process.communicate(timeout=120)
    lines = err.decode().strip().splitlines()
    assert process.returncode == 2
    assert len(lines) == 1 and lines[0].startswith("live-nst: error: unknown style 'nope'"), lines


def _small_run(source: str, frames: int):
    """A tiny `run` to the null sink: the finished process and its stderr lines."""
    process = _live_nst("run", "--source", source, "--output", "null", "--frames", str(frames), "--size", "160x90",
                        "--proc-size", "160x90")
    _, err = process.communicate(timeout=120)
    return process, err.decode().strip().splitlines()


def test_a_run_prints_only_live_nsts_own_lines(segmentation_model):
    process, lines = _small_run("sample", 3)
    assert process.returncode == 0
    assert lines and all(LOG_LINE.match(line) for line in lines), lines
    text = "\n".join(lines)
    # Nobody watches a null output: no word about hotkeys, and the way to stop that works.
    assert "hotkeys" not in text and "press Ctrl-C to stop" in text and "<ctrl>" not in text
    assert "sent 3 frames" in lines[-1]


def _clip(path: Path, frames: int, size_wh=(320, 180)) -> Path:
    sample = SampleSource(size_wh, 30.0, paced=False)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, size_wh)
    for index in range(frames):
        writer.write(cv2.cvtColor(sample.frame_at(index), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def _wait_for(process: subprocess.Popen, pattern: str) -> str:
    """Read the process's stderr until ``pattern`` shows (progress bars end lines with \\r)."""
    seen = b""
    while not re.search(pattern.encode(), seen):
        chunk = os.read(process.stderr.fileno(), 4096)
        assert chunk, f"the process ended before {pattern!r}: {seen.decode()[-2000:]}"
        seen += chunk
    return seen.decode()


@pytest.mark.slow
def test_sigterm_stops_a_render_like_ctrl_c_and_keeps_a_playable_file(tmp_path, segmentation_model):
    clip = _clip(tmp_path / "in.avi", 300)
    out = tmp_path / "out.mp4"
    process = _live_nst("render", str(clip), "-o", str(out), "--proc-size", "320x180")
    _wait_for(process, r" [3-9]/300| \d\d+/300")
    process.send_signal(signal.SIGTERM)
    _, rest = process.communicate(timeout=120)
    assert process.returncode == 130, rest.decode()[-3000:]
    kept = re.search(r"interrupted: (.+) holds the first (\d+) painted frames", rest.decode())
    assert kept and Path(kept[1]) == out, rest.decode()
    assert 3 <= int(kept[2]) < 300 and probe(out).frame_count == int(kept[2])
    assert cv2.VideoCapture(str(out)).read()[1] is not None


def test_no_camera_gives_live_nsts_own_warning_and_no_opencv_lines(segmentation_model):
    process, lines = _small_run("auto", 2)
    assert process.returncode == 0
    assert all(LOG_LINE.match(line) for line in lines), lines
    assert any("warning: no camera found" in line for line in lines) or any("camera 0 open" in line for line in lines)


def test_an_unwritable_snapshot_folder_is_a_warning_at_start(tmp_path, caplog):
    from live_nst.app import check_outputs
    from live_nst.config import RunConfig

    (tmp_path / "afile").write_text("x")
    with caplog.at_level("WARNING", logger="live_nst.app"):
        assert check_outputs(RunConfig(output="null"), snapshot_dir=tmp_path / "afile") == []
    assert "snapshots (key p) will not be saved" in caplog.text


def test_device_cuda_without_a_usable_cuda_says_what_to_install_in_one_line(capsys):
    from live_nst.providers import CUDA_FIX, nvidia_driver_present

    if nvidia_driver_present():
        pytest.skip("this machine has an NVIDIA driver: CUDA may well run")
    code = main(["run", "--source", "sample", "--output", "null", "--frames", "1", "--device", "cuda",
                 "--no-segmentation", "--face-ease", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and ERROR_LINE.match(err[0]), err
    assert err[0].startswith("live-nst: error: --device cuda") and CUDA_FIX in err[0] and "--device auto" in err[0]
