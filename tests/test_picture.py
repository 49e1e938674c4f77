"""Picture measures the Gram loss does not see: periodic artefacts and faces kept,
on real portraits with the real face detector, network and pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from live_nst.bench.picture import (
    face_kept,
    measure_faces_kept,
    periodic_energy,
    read_rgb,
    split_portraits,
)
from live_nst.catalog import packaged_styles_dir
from live_nst.faces import FaceDetector


@pytest.fixture(scope="module")
def portraits(shared_data):
    return split_portraits(shared_data / "portraits" / "images")


@pytest.fixture(scope="module")
def detector():
    with FaceDetector() as found:
        yield found


def test_the_split_is_disjoint_and_spans_the_set(portraits):
    tuning, held_out = portraits
    assert not set(tuning) & set(held_out)
    assert abs(len(tuning) - len(held_out)) <= 1 and len(tuning) >= 10


def test_a_hatching_raises_the_periodic_energy_far_above_the_photo(portraits):
    photo = read_rgb(portraits[0][0], 640)
    y, x = np.mgrid[:photo.shape[0], :photo.shape[1]]
    grating = 12.0 * np.sin(2 * np.pi * (x + y) / 5.0)  # a diagonal hatching 5 px apart
    hatched = np.clip(photo + grating[..., None], 0, 255).astype(np.uint8)
    assert periodic_energy(hatched) > 10 * periodic_energy(photo)
    assert 0.0 <= periodic_energy(photo) < 0.01


def test_a_face_counts_as_kept_only_where_it_was(portraits, detector):
    photo = next(read_rgb(p, 640) for p in portraits[1] if detector.detect(read_rgb(p, 640)))
    faces = detector.detect(photo)
    assert face_kept(detector, faces, photo)
    assert not face_kept(detector, faces, np.full_like(photo, 128))
    assert not face_kept(detector, faces, np.ascontiguousarray(photo[:, ::-1])) or _symmetric(faces, photo)


def _symmetric(faces, photo) -> bool:
    """A mirrored face still counts when it lands inside its own box (a centred face)."""
    width = photo.shape[1]
    return any(abs((x + w / 2) - width / 2) < w / 2 for x, _, w, _ in (f.box_xywh for f in faces))


@pytest.mark.slow  # every style over the portraits, by every path
def test_faces_kept_reports_every_style_for_every_path(portraits):
    report = measure_faces_kept(packaged_styles_dir() / "pack.onnx", portraits[1][:3])
    assert report["photos_with_a_face"], "the detector found no face in three portraits"
    for path in ("network", "render", "render_unguarded"):
        rates = report[path]["per_style"]
        assert len(rates) == 8 and all(0.0 <= r <= 1.0 for r in rates.values())
        assert report[path]["worst"] == min(rates.values()) <= report[path]["mean"]
    guarded, unguarded = report["render"]["face_body"], report["render_unguarded"]["face_body"]
    assert len(guarded["per_style"]) == 8 and all(0 < v < 3 for v in guarded["per_style"].values())
    assert guarded["mean"] < unguarded["mean"]  # the guard takes paint off the face, not off the body
    assert set(report["render"]["halo"]["lightness"]) == set(rates)
    assert all(np.isfinite(v) for v in report["render"]["halo"]["chroma"].values())
    assert np.isfinite(report["photo_halo"]["lightness"])


@pytest.mark.slow  # two models over every style, by every path
def test_the_faces_table_puts_the_baseline_model_beside_the_shipped_one(portraits):
    from pathlib import Path

    from live_nst.bench.markdown import _faces_table

    baseline = Path(__file__).resolve().parents[1] / "bench" / "baselines" / "pack-2026-12-02.onnx"
    photos = portraits[1][:2]
    ours, theirs = measure_faces_kept(packaged_styles_dir() / "pack.onnx", photos), measure_faces_kept(baseline, photos)
    assert theirs["model"] == str(baseline) and theirs["photos_with_a_face"] == ours["photos_with_a_face"]
    lines = _faces_table(ours, theirs).splitlines()
    assert "baseline worst style" in lines[0] and len(lines) == 5
    render = next(line for line in lines if line.startswith("| live pipeline, person styled"))
    cells = [cell.strip() for cell in render.strip("|").split("|")]
    assert cells[1] == f"{100 * ours['render']['mean']:.0f}%" and cells[3] == f"{100 * theirs['render']['mean']:.0f}%"
    assert len(_faces_table(ours, None).splitlines()[0].split("|")) == 5  # no baseline: three columns
