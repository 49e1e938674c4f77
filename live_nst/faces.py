"""Face detection (MediaPipe Tasks FaceDetector, short-range model).

Used to measure whether a stylised portrait still shows a face (the bench's
"faces kept"), and by training to weight the content loss on faces. The model comes
from the same pinned ``mediapipe==0.10.21`` wheel as the selfie segmenter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from live_nst.assets import Asset, WheelMember, ensure
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


@dataclass(frozen=True)
class Face:
    """A detected face: its box in pixels (x, y, width, height) and the detector's score."""

    box_xywh: tuple[int, int, int, int]
    score: float


class FaceDetector:
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

    def __enter__(self) -> FaceDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
