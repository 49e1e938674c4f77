"""Person segmentation: frame in, person mask out (MediaPipe Tasks ImageSegmenter).

The selfie models are assets: fetched once from the MediaPipe model storage, or from
the pinned ``mediapipe==0.10.21`` wheel on the package registry (the current MediaPipe
release ships no segmentation model), sha256-checked and cached.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from live_nst.assets import Asset, WheelMember, cache_dir, ensure
from live_nst.closing import Closing
from live_nst.errors import ModelError
from live_nst.outputs import expand_user

log = logging.getLogger(__name__)

MEDIAPIPE_ASSET_URL = "https://storage.googleapis.com/mediapipe-assets/{}"
_MEMBER_DIR = "mediapipe/modules/selfie_segmentation/"
# One fixed wheel, so that pip can fetch it whatever Python or platform the user runs.
MEDIAPIPE_PIP_ARGS = ("--only-binary=:all:", "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64")
MEDIAPIPE_WHEEL = "mediapipe==0.10.21"
MEDIAPIPE_WHEEL_SHA256 = "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3"


def _selfie_asset(filename: str, sha256: str, size: int) -> Asset:
    return Asset(
        filename=filename,
        sha256=sha256,
        size=size,
        url=MEDIAPIPE_ASSET_URL.format(filename),
        wheel=WheelMember(MEDIAPIPE_WHEEL, MEDIAPIPE_WHEEL_SHA256, _MEMBER_DIR + filename, MEDIAPIPE_PIP_ARGS),
    )


LANDSCAPE_MODEL = _selfie_asset(  # 144x256 input: faster, made for 16:9 video
    "selfie_segmentation_landscape.tflite",
    "a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd",
    250_145,
)
SQUARE_MODEL = _selfie_asset(  # 256x256 input
    "selfie_segmentation.tflite",
    "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
    249_505,
)
SEGMENTATION_MODELS: dict[str, Asset] = {"auto": LANDSCAPE_MODEL, "landscape": LANDSCAPE_MODEL,
                                         "square": SQUARE_MODEL}


def resolve_segmentation_model(spec: str, cache: Path | None = None) -> Path:
    """'auto' | 'landscape' | 'square' | a .tflite path -> the path of a model file.

    Named models are fetched into the asset cache (``cache`` overrides it) if needed.
    """
    asset = SEGMENTATION_MODELS.get(str(spec).strip().lower())
    if asset is not None:
        return ensure(asset, cache)
    path = expand_user(spec)
    if path.suffix.lower() != ".tflite":
        raise ModelError(
            f"segmentation model {spec!r} is neither a known name nor a .tflite file. Use one of "
            f"{sorted(SEGMENTATION_MODELS)} or the path of a MediaPipe segmentation .tflite model."
        )
    if not path.is_file():
        raise ModelError(
            f"segmentation model file {path} does not exist. Check the path given to "
            f"--segmentation-model (or segmentation.model in the config), or use 'auto'."
        )
    return path


@runtime_checkable
class Segmenter(Protocol):
    """Anything that turns video frames into person masks."""

    def segment(self, frame: np.ndarray, timestamp_ms: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (H, W) float32 mask in [0, 1], 1 = person."""
        ...

    def reset(self) -> None:
        """Forget the video history (a new source, a seek)."""
        ...

    def close(self) -> None:
        """Free the resources; the object is unusable afterwards."""
        ...


class MediaPipeSegmenter(Closing):
    """MediaPipe Tasks ImageSegmenter in VIDEO mode, giving its float confidence mask."""

    def __init__(self, model_path: str | Path) -> None:
        self.model_path = Path(model_path)
        self._last_ts: int | None = None
        self._task = self._create_task()

    def _create_task(self):
        # Imported here: the module (and its asset table) stays usable without mediapipe loaded.
        from mediapipe.tasks.python import vision
        from mediapipe.tasks.python.core.base_options import BaseOptions

        if not self.model_path.is_file():
            raise ModelError(
                f"segmentation model file {self.model_path} does not exist. Pass an existing "
                f".tflite file with --segmentation-model, or use 'auto' to fetch the default one."
            )
        options = vision.ImageSegmenterOptions(
            base_options=BaseOptions(model_asset_path=str(self.model_path)),
            running_mode=vision.RunningMode.VIDEO,
            output_confidence_masks=True,
            output_category_mask=False,
        )
        try:
            task = vision.ImageSegmenter.create_from_options(options)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(
                f"MediaPipe could not load the segmentation model {self.model_path}: {exc}. "
                f"Expected a MediaPipe selfie segmentation .tflite model. If it is a cached "
                f"download (cache: {cache_dir()}), delete it and run again to fetch a fresh copy; "
                f"otherwise pass a valid model with --segmentation-model (or use 'auto')."
            ) from exc
        labels = list(getattr(task, "labels", None) or [])
        log.debug("segmentation model %s loaded, labels %s", self.model_path.name, labels)
        return task

    def segment(self, frame: np.ndarray, timestamp_ms: int) -> np.ndarray:
        import mediapipe as mp

        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(
                f"segment() takes an (H, W, 3) uint8 RGB frame, got shape {frame.shape} "
                f"dtype {frame.dtype}"
            )
        if self._task is None:
            raise ModelError("this MediaPipeSegmenter is closed; create a new one to segment frames")
        timestamp_ms = int(timestamp_ms)
        if self._last_ts is not None and timestamp_ms <= self._last_ts:
            timestamp_ms = self._last_ts + 1  # VIDEO mode demands strictly increasing stamps
        self._last_ts = timestamp_ms
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame))
        result = self._task.segment_for_video(image, timestamp_ms)
        masks = result.confidence_masks
        if not masks:
            raise ModelError(
                f"segmentation model {self.model_path} gave no confidence mask. Expected a "
                f"MediaPipe selfie segmentation model; pass one with --segmentation-model."
            )
        view = masks[0].numpy_view()
        mask = np.array(view.reshape(view.shape[0], view.shape[1]), dtype=np.float32)
        if len(masks) > 1:
            # Multi-class models (hair, multiclass selfie) put "background" first.
            np.subtract(1.0, mask, out=mask)
        np.clip(mask, 0.0, 1.0, out=mask)
        return mask

    def reset(self) -> None:
        """Start a new video: recreate the task (fresh timestamps, no history)."""
        self.close()
        self._last_ts = None
        self._task = self._create_task()

    def close(self) -> None:
        """Free the native task. Call it: MediaPipe's own clean-up at interpreter exit
        prints a TypeError for tasks left open."""
        task, self._task = self._task, None
        if task is not None:
            task.close()
