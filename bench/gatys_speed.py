"""Gatys coarse to fine against one scale in the same time:
``python -m live_nst.bench.gatys_speed PHOTO ARTWORK --size 512``.

Runs ``live-nst stylize``'s default (coarse to fine) and times it, then L-BFGS at the final
size alone for as many iterations as fill that time (found in up to three runs), and
prints both runs' seconds and final objective at the final size (lower is better).
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


def compare(photo: Path, artwork: str, size: int, steps: int, coarse_steps: int | None = None) -> dict:
    from live_nst.artworks import resolve_artwork
    from live_nst.models import losses
    from live_nst.models.data import load_image
    from live_nst.models.gatys import GatysConfig
    from live_nst.models.vgg import VGGFeatures

    vgg = VGGFeatures((*losses.STYLE_LAYERS, losses.CONTENT_LAYER))
    content, style = load_image(photo, size), load_image(resolve_artwork(artwork), size)
    coarse_s, coarse = _timed(content, style, GatysConfig(steps=steps, coarse_steps=coarse_steps), vgg)
    # One scale gets as many iterations as fill the same time: a guess from a short run,
    # then corrected from each run's own time per iteration (the first calls cost more).
    single_steps = 3
    single_s, single = _timed(content, style, GatysConfig(steps=single_steps, min_scale_px=0), vgg)
    for _ in range(2):
        single_steps = max(1, round(coarse_s / (single_s / single_steps)))
        single_s, single = _timed(content, style, GatysConfig(steps=single_steps, min_scale_px=0), vgg)
        if abs(single_s - coarse_s) < 0.1 * coarse_s:
            break
    return {"photo": str(photo), "artwork": artwork, "size": size,
            "coarse_to_fine": {"steps": steps, "coarse_steps": coarse_steps, "seconds": round(coarse_s, 1), **coarse},
            "one_scale": {"steps": single_steps, "seconds": round(single_s, 1), **single}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo", type=Path)
    parser.add_argument("artwork", help="an image file or a shipped style's name")
    parser.add_argument("--size", type=int, default=512, help="long side, px (default 512)")
    parser.add_argument("--steps", type=int, help="iterations at the final size (default: stylize's)")
    parser.add_argument("--coarse-steps", type=int, help="iterations at each coarser size (default: as many)")
    args = parser.parse_args(argv)
    from live_nst.models.gatys import GatysConfig

    print(json.dumps(compare(args.photo, args.artwork, args.size, args.steps or GatysConfig().steps,
                             args.coarse_steps), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
