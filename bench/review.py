"""The review sheet and periodic-artefact numbers: photo | live-nst | Gatys at live size.

Gatys images are slow at 640 px on a CPU (about a minute each), so they are cached in
the report folder under ``gatys/``, keyed by photo, style, size and step count, and a
second run only paints the network's side. Needs PyTorch (the ``[train]`` extra).
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from live_nst.bench.picture import paint_whole_frame, periodic_energy, read_rgb, review_rows, write_sheet

log = logging.getLogger(__name__)


def gatys_at(photo: Path, artwork: Path, size: int, style_size: int, steps: int, cache: Path, vgg) -> np.ndarray:
    """Gatys's painting of ``photo`` at ``size`` px (long side), from the cache when there."""
    import torch

    from live_nst.models.data import load_image, to_rgb8
    from live_nst.models.gatys import GatysConfig, stylize

    path = cache / f"{photo.stem}-{artwork.stem}-{size}px-{style_size}-{steps}steps-pixels.png"
    if path.is_file():
        return read_rgb(path)
    content = torch.from_numpy(read_rgb(photo, size).astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    style = load_image(artwork, style_size)
    image = stylize(content, style, GatysConfig(steps=steps), vgg=vgg, progress=False).image
    rgb = to_rgb8(image)
    cache.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return rgb


# The overview of every style and photo, at 0.3 of the review size: the sheets at full size
# are about 4 MB each, and all 24 rows at half size 8.5 MB; this one (about 3 MB) is for docs/
OVERVIEW_SCALE = 0.3


def review(model_path: Path, artworks: dict[str, Path], photos: list[Path], size: int, style_size: int,
           gatys_steps: int, out_dir: Path) -> dict:
    """One sheet per style under ``out_dir/review`` at full size, and all of them in
    ``review_sheet.png`` at 0.3 size; periodic energy of photo, network and Gatys."""
    from live_nst.inference import StyleModel
    from live_nst.models import losses
    from live_nst.models.vgg import VGGFeatures

    model = StyleModel(model_path, "cpu")
    names = [info.name for info in model.styles]
    vgg = VGGFeatures((*losses.STYLE_LAYERS, losses.CONTENT_LAYER))
    sheets, energy, every_row = {}, {}, []
    for name, artwork in artworks.items():
        rows = []
        scores: dict[str, list[float]] = {"photo": [], "network": [], "gatys": []}
        for photo in photos:
            image = read_rgb(photo, size)
            painted = paint_whole_frame(model, image, names.index(name))
            gatys = gatys_at(photo, artwork, size, style_size, gatys_steps, out_dir / "gatys", vgg)
            for key, picture in (("photo", image), ("network", painted), ("gatys", gatys)):
                scores[key].append(periodic_energy(picture))
            rows.append(review_rows(image, painted, gatys, name))
            every_row.append(review_rows(_shrink(image), _shrink(painted), _shrink(gatys), name))
        sheets[name] = str(write_sheet(rows, out_dir / "review" / f"{name}.png"))
        energy[name] = {key: float(np.mean(values)) for key, values in scores.items()}
        log.info("review %s: periodic energy photo %.4f, network %.4f, Gatys %.4f", name,
                 energy[name]["photo"], energy[name]["network"], energy[name]["gatys"])
    mean = {key: float(np.mean([e[key] for e in energy.values()])) for key in ("photo", "network", "gatys")}
    overview = write_sheet(every_row, out_dir / "review" / "review_sheet.png")
    return {"photos": [p.name for p in photos], "size": size, "gatys_steps": gatys_steps, "sheets": sheets,
            "overview": str(overview),
            "periodic_energy": {"per_style": energy, "mean": mean}}


def _shrink(tile: np.ndarray) -> np.ndarray:
    return cv2.resize(tile, None, fx=OVERVIEW_SCALE, fy=OVERVIEW_SCALE, interpolation=cv2.INTER_AREA)


def sample_sheet(out: Path, size: int = 320, gatys_steps: int = 16, scale: float = 0.75) -> Path:
    """photo | live-nst | Gatys for every shipped style on the built-in sample portrait (a
    picture free to publish, unlike the measurement data): ``out`` as one JPEG."""
    import matplotlib.cbook

    from live_nst.bench.fidelity import model_style_artworks
    from live_nst.catalog import packaged_styles_dir

    pack = packaged_styles_dir() / "pack.onnx"
    artworks = {name: path for name, path in model_style_artworks(pack, packaged_styles_dir() / "artworks").items()
                if path is not None}
    photo = Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    work = out.parent / f"{out.stem}-work"
    sheets = review(pack, artworks, [photo], size, size, gatys_steps, work)["sheets"]
    sheet = np.vstack([read_rgb(Path(path)) for path in sheets.values()])
    sheet = cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)
    sheet = cv2.resize(sheet, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), sheet, [cv2.IMWRITE_JPEG_QUALITY, 82])
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="The shipped styles beside Gatys on the built-in sample portrait "
                                                 "(python -m live_nst.bench.review -o docs/sample_gatys_sheet.jpg)")
    parser.add_argument("-o", "--output", type=Path, default=Path("sample_gatys_sheet.jpg"))
    parser.add_argument("--size", type=int, default=320, help="long side of the photo, px (default 320)")
    parser.add_argument("--gatys-steps", type=int, default=16, help="L-BFGS iterations at --size (default 16)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    print(sample_sheet(args.output, args.size, args.gatys_steps))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
