"""Gatys coarse to fine against one scale in the same time:
``python -m live_nst.bench.gatys_speed PHOTO ARTWORK --size 512``.

Runs ``live-nst stylize``'s default (coarse to fine) and times it, then L-BFGS at the final
size alone for as many iterations as fit in that time (from the measured time of a few),
and prints both runs' seconds and final objective at the final size (lower is better).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def _timed(content, style, config, vgg) -> tuple[float, dict]:
    from live_nst.models.gatys import stylize

    started = time.perf_counter()
    result = stylize(content, style, config, vgg=vgg, progress=False)
    return time.perf_counter() - started, {**result.terms, "objective": config.objective(result.terms),
                                           "style_share": result.style_share}


def compare(photo: Path, artwork: str, size: int, steps: int) -> dict:
    from live_nst.artworks import resolve_artwork
    from live_nst.models import losses
    from live_nst.models.data import load_image
    from live_nst.models.gatys import GatysConfig
    from live_nst.models.vgg import VGGFeatures

    vgg = VGGFeatures((*losses.STYLE_LAYERS, losses.CONTENT_LAYER))
    content, style = load_image(photo, size), load_image(resolve_artwork(artwork), size)
    coarse_s, coarse = _timed(content, style, GatysConfig(steps=steps), vgg)
    probe_steps = 3
    probe_s, _ = _timed(content, style, GatysConfig(steps=probe_steps, min_scale_px=0), vgg)
    same_time = max(1, round(coarse_s / (probe_s / probe_steps)))
    single_s, single = _timed(content, style, GatysConfig(steps=same_time, min_scale_px=0), vgg)
    return {"photo": str(photo), "artwork": artwork, "size": size,
            "coarse_to_fine": {"steps": steps, "seconds": round(coarse_s, 1), **coarse},
            "one_scale": {"steps": same_time, "seconds": round(single_s, 1), **single}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo", type=Path)
    parser.add_argument("artwork", help="an image file or a shipped style's name")
    parser.add_argument("--size", type=int, default=512, help="long side, px (default 512)")
    parser.add_argument("--steps", type=int, help="iterations at the final size (default: stylize's)")
    args = parser.parse_args(argv)
    from live_nst.models.gatys import GatysConfig

    print(json.dumps(compare(args.photo, args.artwork, args.size, args.steps or GatysConfig().steps), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
