"""Face detection (MediaPipe Tasks FaceDetector, short-range model).

Live, :class:`FaceTracker` gives the pipeline a soft mask of the faces so the style
eases off there (the face guard). The bench uses the detector to measure whether a
stylised portrait still shows a face ("faces kept"), and training to weight the
content loss on faces. The model comes from the same pinned ``mediapipe==0.10.21``
wheel as the selfie segmenter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from live_nst.assets import Asset, WheelMember, ensure
from live_nst.closing import Closing
from live_nst.errors import ModelError
from live_nst.segment import MEDIAPIPE_ASSET_URL, MEDIAPIPE_PIP_ARGS, MEDIAPIPE_WHEEL, MEDIAPIPE_WHEEL_SHA256

FACE_MODEL = Asset(
    filename="face_detection_short_range.tflite",
    sha256="bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
    size=229_714,
    url=MEDIAPIPE_ASSET_URL.format("face_detection_short_range.tflite"),
    wheel=WheelMember(MEDIAPIPE_WHEEL, MEDIAPIPE_WHEEL_SHA256,
                      "mediapipe/modules/face_detection/face_detection_short_range.tflite", MEDIAPIPE_PIP_ARGS),
)
DEFAULT_MIN_CONFIDENCE = 0.5
# The detector's box runs from the brows to the mouth; the guard covers the whole head
# (forehead, chin, cheeks): an ellipse this much larger, a little above the box's centre.
HEAD_GROW_WH = (1.4, 1.7)
HEAD_CENTRE_Y = 0.45  # of the box height, from its top
EDGE_SOFTNESS = 0.08  # Gaussian sigma of the mask's edge, as a share of the face width
# Between two detections the mask follows the flow; at a detection it moves this far
# towards the new faces, so a missed detection or a new face fades rather than pops.
FOLLOW = 0.6


@dataclass(frozen=True)
class Face:
    """A detected face: its box in pixels (x, y, width, height) and the detector's score."""

    box_xywh: tuple[int, int, int, int]
    score: float


class FaceDetector(Closing):
    """Still-image face detection; ``detect`` takes (H, W, 3) uint8 RGB."""

    def __init__(self, min_confidence: float = DEFAULT_MIN_CONFIDENCE, model_path: Path | None = None) -> None:
        from mediapipe.tasks.python import BaseOptions
        from mediapipe.tasks.python.vision import FaceDetector as MpFaceDetector
        from mediapipe.tasks.python.vision import FaceDetectorOptions, RunningMode

        path = Path(model_path) if model_path else ensure(FACE_MODEL)
        options = FaceDetectorOptions(base_options=BaseOptions(model_asset_path=str(path)),
                                      running_mode=RunningMode.IMAGE, min_detection_confidence=min_confidence)
        try:
            self._detector = MpFaceDetector.create_from_options(options)
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"MediaPipe could not load the face model {path} ({exc}); delete it from the "
                             f"cache so that it is fetched again") from exc

    def detect(self, frame: np.ndarray) -> list[Face]:
        import mediapipe as mp

        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame))
        result = self._detector.detect(image)
        faces = []
        for detection in result.detections:
            box = detection.bounding_box
            score = detection.categories[0].score if detection.categories else 0.0
            faces.append(Face((box.origin_x, box.origin_y, box.width, box.height), float(score)))
        return faces

    def close(self) -> None:
        self._detector.close()


def head_mask(shape_hw: tuple[int, int], faces: list[Face]) -> np.ndarray:
    """A soft (H, W) float32 mask, 1 over each face's head and 0 away from it."""
    mask: np.ndarray = np.zeros(shape_hw, np.float32)
    for face in faces:
        x, y, w, h = face.box_xywh
        centre = (round(x + w / 2), round(y + h * HEAD_CENTRE_Y))
        axes = (max(1, round(w * HEAD_GROW_WH[0] / 2)), max(1, round(h * HEAD_GROW_WH[1] / 2)))
        cv2.ellipse(mask, centre, axes, 0, 0, 360, 1.0, -1)
    if faces:
        sigma = max(1.0, EDGE_SOFTNESS * max(face.box_xywh[2] for face in faces))
        mask = cv2.GaussianBlur(mask, (0, 0), sigma)
    return mask


class Carrier(Protocol):
    def carry(self, image: np.ndarray) -> np.ndarray: ...


class FaceTracker:
    """The faces' mask frame after frame: detected on one frame in ``every``, carried
    along the motion (anything with ``carry``, e.g. :class:`live_nst.temporal.Motion`)
    in between. Frames come in order; :meth:`reset` after a cut or a new source."""

    def __init__(self, detector: FaceDetector, every: int) -> None:
        self.detector = detector
        self.every = max(1, every)
        self._mask: np.ndarray | None = None
        self._since = 0  # frames since the last detection

    def reset(self) -> None:
        self._mask, self._since = None, 0

    def track(self, frame: np.ndarray, motion: Carrier | None) -> np.ndarray:
        """The mask (H, W) float32 in 0..1 for ``frame`` (H, W, 3) uint8 RGB."""
        carried = None
        if self._mask is not None and self._mask.shape == frame.shape[:2]:
            carried = motion.carry(self._mask) if motion is not None else self._mask
        if carried is not None and motion is not None and self._since + 1 < self.every:
            self._since += 1
        else:
            found = head_mask(frame.shape[:2], self.detector.detect(frame))
            carried = found if carried is None else carried + FOLLOW * (found - carried)
            self._since = 0
        self._mask = carried
        return carried

    def close(self) -> None:
        self.detector.close()
