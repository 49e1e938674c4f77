"""Build the shipped style pack from a training checkpoint.

``python -m live_nst.export.style_pack CKPT --artworks DIR --photos DIR``:
exports the checkpoint to ``live_nst/styles/pack.onnx`` with the artworks' metadata,
measures it (ms per frame in ONNX Runtime on this machine; style and content losses on
held-out photos next to a Gatys optimisation of the same photos), writes the numbers
into the model's metadata and a model card per style (``pack.json``), and paints the
built-in sample in every style for the README's contact sheet.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import cv2
import numpy as np
import onnx

from live_nst import contract
from live_nst.bench.context import machine_info
from live_nst.bench.fidelity import measure_fidelity, pick_photos
from live_nst.catalog import packaged_styles_dir
from live_nst.export.onnx_export import export_checkpoint
from live_nst.export.style_catalog import STYLE_CATALOG
from live_nst.stylize import StyleModel

log = logging.getLogger(__name__)
SPEED_SIZES_WH = ((640, 360), (1280, 720))


def time_model(path: Path, size_wh: tuple[int, int], runs: int = 15, threads: int = 0) -> dict[str, float]:
    """Median and p95 ms of one stylisation at ``size_wh`` (ONNX Runtime, CPU)."""
    model = StyleModel(path, "cpu", threads)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (size_wh[1], size_wh[0], 3), dtype=np.uint8)
    weights = np.zeros((model.num_styles, size_wh[1] // 4, size_wh[0] // 4), np.float32)
    weights[0] = 1.0
    for _ in range(3):
        model.run(image, weights)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        model.run(image, weights)
        times.append((time.perf_counter() - start) * 1000.0)
    return {"median_ms": round(float(np.median(times)), 2), "p95_ms": round(float(np.percentile(times, 95)), 2)}


def write_quality(path: Path, quality: dict) -> None:
    """Store measured numbers in the model's metadata (atomically)."""
    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props}
    props[contract.KEY_QUALITY] = json.dumps(quality, sort_keys=True)
    del model.metadata_props[:]
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)
    partial = path.with_suffix(".part")
    onnx.save(model, str(partial))
    partial.replace(path)


def sample_frames(count: int, size_wh=(640, 360)) -> list[np.ndarray]:
    from live_nst.sources import SampleSource

    source = SampleSource(size_wh, 30.0, paced=False)
    try:
        return [source.read().image for _ in range(count)]
    finally:
        source.close()


def contact_sheet(path: Path, out: Path, columns: int = 3, cell_wh=(426, 240)) -> Path:
    """The built-in sample painted in every style of the pack, labelled."""
    model = StyleModel(path, "cpu")
    frame = sample_frames(1, cell_wh)[0]
    cells = [("original", frame)]
    for index, info in enumerate(model.styles):
        weights = np.zeros((model.num_styles, 8, 8), np.float32)
        weights[index] = 1.0
        cells.append((info.name, model.run(frame, weights)))
    rows = -(-len(cells) // columns)
    sheet = np.full((rows * cell_wh[1], columns * cell_wh[0], 3), 255, np.uint8)
    for i, (name, image) in enumerate(cells):
        y, x = (i // columns) * cell_wh[1], (i % columns) * cell_wh[0]
        tile = image.copy()
        cv2.rectangle(tile, (0, 0), (cell_wh[0], 26), (0, 0, 0), -1)
        cv2.putText(tile, name, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
        sheet[y:y + cell_wh[1], x:x + cell_wh[0]] = tile
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return out


def model_cards(path: Path, speed: dict, fidelity: dict) -> list[dict]:
    model = StyleModel(path, "cpu")
    meta = onnx.load(str(path)).metadata_props
    recipe = json.loads({p.key: p.value for p in meta}[contract.KEY_RECIPE])
    cards = []
    for info in model.styles:
        measured = fidelity.get("styles", {}).get(info.name, {}).get("summary", {})
        cards.append({
            "name": info.name, "title": info.title, "artist": info.artist, "artwork": info.artwork,
            "artwork_license": info.license, "model_file": path.name,
            "recipe": {k: recipe.get(k) for k in ("arch", "size", "style_size", "batch", "steps", "step", "lr",
                                                  "weights")},
            "speed_cpu": speed, "fidelity": measured,
            "fidelity_setup": {k: fidelity.get(k) for k in ("size", "style_size", "gatys_steps", "photos")},
        })
    return cards


def build(ckpt: Path, artworks: Path, photos_dir: Path, out_dir: Path, photos: int, size: int,
          gatys_steps: int, sheet: Path) -> dict:
    path = export_checkpoint(ckpt, out_dir / "pack.onnx", styles_meta=STYLE_CATALOG)
    speed = {"x".join(map(str, wh)): time_model(path, wh) for wh in SPEED_SIZES_WH}
    speed["machine"] = machine_info()["label"]
    model = StyleModel(path, "cpu")
    style_paths = {info.name: artworks / info.artwork for info in model.styles}
    chosen = pick_photos(photos_dir, photos)
    fidelity = measure_fidelity(path, style_paths, chosen, size=size, gatys_steps=gatys_steps)
    fidelity["photos"] = [p.name for p in chosen]
    cards = model_cards(path, speed, fidelity)
    write_quality(path, {"speed_cpu": speed, "fidelity": {c["name"]: c["fidelity"] for c in cards}})
    (out_dir / "pack.json").write_text(json.dumps(cards, indent=2) + "\n")
    contact_sheet(path, sheet)
    return {"model": str(path), "cards": cards}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--artworks", type=Path, required=True, help="folder of the style images")
    parser.add_argument("--photos", type=Path, required=True, help="held-out photos (not used in training)")
    parser.add_argument("--count", type=int, default=2, help="photos per style")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--gatys-steps", type=int, default=150)
    parser.add_argument("--out-dir", type=Path, default=packaged_styles_dir())
    parser.add_argument("--sheet", type=Path, default=Path("docs/contact_sheet.png"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result = build(args.checkpoint, args.artworks, args.photos, args.out_dir, args.count, args.size,
                   args.gatys_steps, args.sheet)
    print(json.dumps(result["cards"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
