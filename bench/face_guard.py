"""The face guard's trade-off: faces kept against face/body paint, for several settings of
``--face-ease`` and ``--face-detail``, through the live pipeline (person in each style,
background ``original``, 640x360 pixel budget) on one half of the portraits.

    python -m live_nst.bench.face_guard --data ../shared/data --split tuning --photos 14 \\
        --settings 0.6:0,0.4:1,0.2:1,0:1

Tune on the tuning half; the held-out half is for the check afterwards.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from live_nst.bench.look import face_body_paint
from live_nst.bench.picture import LivePainter, Portrait, face_kept, portraits_with_a_face, split_portraits
from live_nst.catalog import packaged_styles_dir
from live_nst.config import FacesConfig


def measure_setting(portraits: Sequence[Portrait], styles: Sequence[str], faces: FacesConfig,
                    styles_dir: Path) -> dict:
    """Faces kept and face/body paint per style, and their means and worst styles."""
    from live_nst.faces import FaceDetector

    painter = LivePainter(styles_dir, faces=faces)
    kept: dict[str, float] = {}
    paint: dict[str, float] = {}
    with FaceDetector() as detector:
        for style in styles:
            flags, ratios = [], []
            for portrait in portraits:
                painted = painter.paint(portrait.image, style)
                flags.append(face_kept(detector, portrait.faces, painted))
                ratios.append(face_body_paint(portrait.image, painted, portrait.face_box, portrait.person))
            kept[style], paint[style] = float(np.mean(flags)), float(np.nanmean(ratios))
    return {"ease": faces.ease, "detail": faces.detail, "kept": kept, "face_body": paint,
            "kept_mean": float(np.mean(list(kept.values()))), "kept_worst": min(kept.values()),
            "face_body_mean": float(np.mean(list(paint.values()))), "face_body_worst": min(paint.values())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the measurement data (with portraits/images)")
    parser.add_argument("--split", choices=("tuning", "held-out"), default="tuning")
    parser.add_argument("--photos", type=int, default=14, help="portraits with a face to use (default 14)")
    parser.add_argument("--settings", default="0.6:0,0.4:1,0.2:1,0:1",
                        help="EASE:DETAIL pairs, comma-separated (default 0.6:0,0.4:1,0.2:1,0:1)")
    parser.add_argument("--model", type=Path, default=packaged_styles_dir() / "pack.onnx")
    args = parser.parse_args(argv)
    from live_nst.contract import read_styles

    tuning, held_out = split_portraits(args.data / "portraits" / "images")
    portraits = portraits_with_a_face(tuning if args.split == "tuning" else held_out, args.photos)
    styles = [info.name for info in read_styles(args.model)]
    print(f"{len(portraits)} {args.split} portraits with a face, {len(styles)} styles of {args.model.name}")
    print("| ease | detail | faces kept mean | worst | face/body paint mean | worst |\n|---|---|---|---|---|---|")
    for setting in args.settings.split(","):
        ease, detail = (float(v) for v in setting.split(":"))
        row = measure_setting(portraits, styles, FacesConfig(ease=ease, detail=detail), args.model.parent)
        worst_kept = min(row["kept"], key=row["kept"].get)
        worst_paint = min(row["face_body"], key=row["face_body"].get)
        print(f"| {ease:g} | {detail:g} | {row['kept_mean']:.2f} | {row['kept_worst']:.2f} ({worst_kept}) | "
              f"{row['face_body_mean']:.2f} | {row['face_body_worst']:.2f} ({worst_paint}) |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
