"""`live-nst-soak`: the sustained live run's curve, summary and plot."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_a_short_soak_writes_the_curve_and_the_plot(tmp_path):
    from live_nst.bench.soak import main
    from live_nst.catalog import StyleCatalog, packaged_styles_dir

    if not StyleCatalog([packaged_styles_dir()]).names:
        pytest.skip("no shipped style pack")
    code = main(["--minutes", "0.1", "--clip", "sample", "--input-size", "640x360", "--proc-size", "480x270",
                 "--out", str(tmp_path)])
    assert code == 0
    result = json.loads((tmp_path / "soak.json").read_text(encoding="utf-8"))
    assert result["schema"] == "live-nst-soak/1" and result["target_fps"] == 30.0
    samples = result["samples"]
    assert len(samples) >= 2 and samples[-1]["frames"] > 0
    for sample in samples:
        assert {"t_s", "frames", "fps", "proc_size", "rss_mib"} <= set(sample)
        assert sample["fps"] >= 0
    assert [s["t_s"] for s in samples] == sorted(s["t_s"] for s in samples)
    assert samples[-1]["proc_size"] and samples[-1]["rss_mib"] > 0
    summary = result["summary"]
    assert summary["frames"] == samples[-1]["frames"] and summary["fps_all"] > 0
    assert summary["rss_growth_pct"] is not None and summary["fps_first"] is not None
    assert (tmp_path / "soak.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_drift_and_growth_from_the_samples():
    """Synthetic samples: 20 fps, then 18; RSS 100 MiB after the warm-up, 103 at the end."""
    from live_nst.bench.soak import summarise, summary_lines

    samples, frames = [], 0
    for t in range(10, 130, 10):
        frames += 10 * (20 if t <= 70 else 18)
        samples.append({"t_s": float(t), "frames": frames, "errors": 0, "fps": 0.0, "proc_size": [640, 360],
                        "rss_mib": 90.0 if t < 20 else (100.0 if t < 120 else 103.0)})
    summary = summarise(samples, warmup_s=20.0)
    assert summary["window_s"] == 50.0
    assert summary["fps_first"] == pytest.approx(20.0) and summary["fps_last"] == pytest.approx(18.0)
    assert summary["fps_drift_pct"] == pytest.approx(-10.0) and summary["fps_holds"] is False
    assert summary["rss_warm_mib"] == 100.0 and summary["rss_growth_pct"] == pytest.approx(3.0)
    assert summary["rss_holds"] is True
    result = {"summary": summary, "target_fps": 30.0, "clip": "sample", "input_size": [1280, 720], "device": "cpu"}
    assert "FAILS" in summary_lines(result)[1] and "holds" in summary_lines(result)[2]
    assert summarise([], warmup_s=0.0)["fps_drift_pct"] is None
