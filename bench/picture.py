"""What a viewer sees and a Gram loss does not: faces kept, periodic artefacts, a review sheet.

- Faces kept: among portraits where MediaPipe's short-range face detector (confidence
  0.5) finds a face in the photo, the share where it still finds one, centred inside the
  photo's face box, after painting. Measured twice: the network alone on the whole frame,
  and through the live pipeline (person in the style at strength 1, background
  ``original``, 640x360 pixel budget), which is what a viewer sees on air.
- Periodic energy: the share of a picture's fine-detail energy that sits in isolated
  spectral peaks. A hatching or checkerboard from a network's upsampling is periodic, so
  its energy piles up in a few frequency bins far above their neighbours; brush strokes,
  skin and hair spread theirs over the spectrum. Reported beside the photo's and Gatys's,
  which set what "no artefact" looks like.
- Review sheet: photo | live-nst | Gatys, one row per portrait, one PNG per style.

Portraits are split in two halves by sorted position (even: tuning, odd: held out);
faces kept is measured on the held-out half unless told otherwise.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from live_nst.bench.look import Halo, face_body_paint, halo
from live_nst.config import FacesConfig

log = logging.getLogger(__name__)

LIVE_PIXELS_WH = (640, 360)  # the live processing budget faces are judged at
PEAK_FACTOR = 8.0  # a bin counts as a peak when its power exceeds its neighbourhood median this much
HIGH_PASS_SIGMA = 2.0  # px: what remains after subtracting this blur is "fine detail"


def split_portraits(folder: Path) -> tuple[list[Path], list[Path]]:
    """(tuning, held_out): the sorted portraits alternately, so both halves span the set."""
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return photos[0::2], photos[1::2]


def read_rgb(path: Path, long_side: int | None = None) -> np.ndarray:
    from live_nst.errors import InputError

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"cannot read image {path}; give a JPEG or PNG file")
    if long_side:
        scale = long_side / max(image.shape[:2])
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))


# --- periodic artefacts ---------------------------------------------------------------
def periodic_energy(image: np.ndarray) -> float:
    """Share of the high-pass energy of ``image`` (H, W, 3) uint8 RGB in isolated spectral peaks."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    detail = grey - cv2.GaussianBlur(grey, (0, 0), HIGH_PASS_SIGMA)
    window = np.outer(np.hanning(grey.shape[0]), np.hanning(grey.shape[1])).astype(np.float32)
    power = np.abs(np.fft.fftshift(np.fft.fft2(detail * window))) ** 2
    log_power = np.log(power + 1e-12).astype(np.float32)
    background = np.exp(cv2.medianBlur(log_power, 5).astype(np.float64))
    peaks = power > PEAK_FACTOR * background
    cy, cx = power.shape[0] // 2, power.shape[1] // 2
    peaks[cy - 2:cy + 3, cx - 2:cx + 3] = False  # the blur leaves little there, and DC is no pattern
    total = float(power.sum())
    return float((power[peaks] - background[peaks]).sum() / total) if total > 0 else 0.0


# --- painting a photo -----------------------------------------------------------------
def paint_whole_frame(model, image: np.ndarray, style_index: int) -> np.ndarray:
    """The network alone: one style over the whole frame."""
    h, w = image.shape[:2]
    weights = np.zeros((model.num_styles, max(1, h // 4), max(1, w // 4)), np.float32)
    weights[style_index] = 1.0
    return model.run(image, weights)


@dataclass
class LivePainter:
    """The live pipeline on still photos: person in a style, background ``original``,
    everything else (the face guard among it) as ``live-nst run`` has it by default."""

    styles_dir: Path
    face_guard: bool = True  # False: the face guard off (what the pipeline was without it)
    faces: FacesConfig | None = None  # the guard's settings (default: run's)

    def paint(self, image: np.ndarray, style: str) -> np.ndarray:
        from live_nst.catalog import StyleCatalog
        from live_nst.config import RegionConfig, RunConfig
        from live_nst.pipeline import build_pipeline

        faces = dataclasses.replace(self.faces or FacesConfig(), enabled=self.face_guard)
        config = RunConfig(size_wh=(image.shape[1], image.shape[0]), proc_size_wh=LIVE_PIXELS_WH,
                           person=RegionConfig(style), background=RegionConfig("original"), output="null",
                           faces=faces)
        pipeline = build_pipeline(config, StyleCatalog([self.styles_dir]))
        try:
            return pipeline.process(image, 0.0)
        finally:
            pipeline.close()


# --- faces kept -----------------------------------------------------------------------
def face_kept(detector, photo_faces, painted: np.ndarray) -> bool:
    for face in detector.detect(painted):
        x, y, w, h = face.box_xywh
        cx, cy = x + w / 2, y + h / 2
        if any(fx <= cx <= fx + fw and fy <= cy <= fy + fh for fx, fy, fw, fh in (f.box_xywh for f in photo_faces)):
            return True
    return False


def _spread(per_style: dict[str, float]) -> dict:
    """Per-style values with their mean and worst (lowest) style, NaNs left out."""
    finite = {name: v for name, v in per_style.items() if v == v}
    worst = min(finite, key=lambda n: finite[n]) if finite else None
    return {"per_style": per_style, "mean": float(np.mean(list(finite.values()))) if finite else float("nan"),
            "worst": finite[worst] if worst else float("nan"), "worst_style": worst}


def _rates(kept: dict[str, list[bool]]) -> dict:
    return _spread({name: float(np.mean(flags)) if flags else float("nan") for name, flags in kept.items()})


def _means(values: dict[str, list[float]]) -> dict[str, float]:
    return {name: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
            for name, v in ((n, np.asarray(vs, np.float64)) for n, vs in values.items())}


@dataclass(frozen=True)
class Portrait:
    """A photo at the live size with what the measures need: its faces and person mask."""

    name: str
    image: np.ndarray
    faces: list  # live_nst.faces.Face, as the detector found them in the photo
    person: np.ndarray  # MediaPipe's person mask of the photo

    @property
    def face_box(self) -> tuple[int, int, int, int]:
        """The largest face's box (x, y, w, h)."""
        return max(self.faces, key=lambda f: f.box_xywh[2] * f.box_xywh[3]).box_xywh


def portraits_with_a_face(photos: Sequence[Path], count: int | None = None) -> list[Portrait]:
    """The photos (the first ``count`` of them) where the face detector finds a face."""
    from live_nst.config import SegmentationConfig
    from live_nst.faces import FaceDetector
    from live_nst.segment import MediaPipeSegmenter, resolve_segmentation_model

    found: list[Portrait] = []
    segmentation_model = resolve_segmentation_model(SegmentationConfig().model)
    with FaceDetector() as detector, MediaPipeSegmenter(segmentation_model) as segmenter:
        for photo in photos:
            if count is not None and len(found) >= count:
                break
            image = read_rgb(photo, max(LIVE_PIXELS_WH))
            faces = detector.detect(image)
            if faces:
                segmenter.reset()
                found.append(Portrait(photo.name, image, faces, segmenter.segment(image, 0)))
    return found


@dataclass
class _Looks:
    """Face/body paint and the halo of one painting path, per style, over the photos."""

    face_body: dict[str, list[float]]
    halo_lightness: dict[str, list[float]]
    halo_chroma: dict[str, list[float]]

    @classmethod
    def over(cls, styles: Sequence[str]) -> _Looks:
        return cls({name: [] for name in styles}, {name: [] for name in styles}, {name: [] for name in styles})

    def add(self, style: str, portrait: Portrait, painted: np.ndarray) -> None:
        self.face_body[style].append(face_body_paint(portrait.image, painted, portrait.face_box, portrait.person))
        edge = halo(painted, portrait.person)
        self.halo_lightness[style].append(edge.lightness)
        self.halo_chroma[style].append(edge.chroma)

    def summary(self) -> dict:
        return {"face_body": _spread(_means(self.face_body)),
                "halo": {"lightness": _means(self.halo_lightness), "chroma": _means(self.halo_chroma)}}


def measure_faces_kept(model_path: Path, photos: Sequence[Path], styles: Sequence[str] | None = None) -> dict:
    """Faces kept by ``model_path``'s styles on ``photos``: network alone, through the
    pipeline as ``live-nst render`` has it (face guard on) and with the face guard off;
    on both pipeline paths also the face/body paint (largest face) and the halo along the
    person's edge (MediaPipe's person mask of the photo), with the photo's own halo."""
    from live_nst.faces import FaceDetector
    from live_nst.inference import StyleModel

    model = StyleModel(model_path, "cpu")
    names = [info.name for info in model.styles]
    chosen = list(styles) if styles else names
    live, unguarded = LivePainter(model_path.parent), LivePainter(model_path.parent, face_guard=False)
    network: dict[str, list[bool]] = {name: [] for name in chosen}
    rendered: dict[str, list[bool]] = {name: [] for name in chosen}
    rendered_unguarded: dict[str, list[bool]] = {name: [] for name in chosen}
    looks = {"render": _Looks.over(chosen), "render_unguarded": _Looks.over(chosen)}
    portraits = portraits_with_a_face(photos)
    photo_halo: list[Halo] = [halo(portrait.image, portrait.person) for portrait in portraits]
    with FaceDetector() as detector:
        for portrait in portraits:
            image, faces = portrait.image, portrait.faces
            for name in chosen:
                network[name].append(face_kept(detector, faces, paint_whole_frame(model, image, names.index(name))))
                for path, painter, kept in (("render", live, rendered), ("render_unguarded", unguarded,
                                                                          rendered_unguarded)):
                    painted = painter.paint(image, name)
                    kept[name].append(face_kept(detector, faces, painted))
                    looks[path].add(name, portrait, painted)
    return {"model": str(model_path), "photos": [p.name for p in photos],
            "photos_with_a_face": [portrait.name for portrait in portraits],
            "network": _rates(network), "render": {**_rates(rendered), **looks["render"].summary()},
            "render_unguarded": {**_rates(rendered_unguarded), **looks["render_unguarded"].summary()},
            "photo_halo": {"lightness": float(np.mean([h.lightness for h in photo_halo])) if photo_halo else None,
                           "chroma": float(np.mean([h.chroma for h in photo_halo])) if photo_halo else None}}


# --- review sheet ---------------------------------------------------------------------
def caption(tile: np.ndarray, text: str) -> np.ndarray:
    tile = tile.copy()
    cv2.rectangle(tile, (0, 0), (12 + 9 * len(text), 24), (0, 0, 0), -1)
    cv2.putText(tile, text, (6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def review_rows(photo: np.ndarray, painted: np.ndarray, gatys: np.ndarray, label: str) -> np.ndarray:
    """One row: photo | live-nst | Gatys, labelled."""
    return np.hstack([caption(photo, "photo"), caption(painted, f"live-nst {label}"), caption(gatys, "Gatys")])


def write_sheet(rows: list[np.ndarray], path: Path) -> Path:
    width = max(row.shape[1] for row in rows)
    padded = [np.pad(row, ((0, 4), (0, width - row.shape[1]), (0, 0))) for row in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(np.vstack(padded), cv2.COLOR_RGB2BGR),
                       [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OSError(f"could not write {path}")
    return path
