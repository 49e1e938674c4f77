"""Build the shipped style pack from a training checkpoint, in two steps:

``python -m live_nst.export.style_pack export CKPT`` exports the checkpoint to
``live_nst/styles/pack.onnx`` with the artworks' metadata; it refuses a checkpoint holding
a style whose artwork is not public domain (``artworks.shippable``). Then ``live-nst-bench``
measures it, and ``python -m live_nst.export.style_pack cards --bench-report REPORT`` writes the
measured numbers (ms per frame in ONNX Runtime; style and content losses on held-out
photos next to a Gatys optimisation of the same photos) into the model's metadata and a
model card per style (``pack.json``), and paints the built-in sample in every style for
the README's contact sheet.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path

import cv2
import numpy as np

from live_nst import contract
from live_nst.catalog import packaged_styles_dir
from live_nst.errors import LiveNSTError
from live_nst.export.artworks import ARTWORKS, unshippable
from live_nst.export.onnx_export import checkpoint_style_names, export_checkpoint
from live_nst.export.pack_report import PackMeasures
from live_nst.inference import StyleModel
from live_nst.models.onnx_file import ExportError
from live_nst.sources import SampleSource

log = logging.getLogger(__name__)


def build_pack(checkpoint: Path, out: Path) -> Path:
    """Export ``checkpoint`` as a style pack; refused (``ExportError``, before anything is
    written) when any of its styles was trained on an artwork that may not ship."""
    refused = unshippable(checkpoint_style_names(checkpoint))
    if refused:
        listed = ", ".join(f"{name} ({licence})" for name, licence in refused.items())
        raise ExportError(f"{checkpoint} holds styles whose artwork is not public domain: {listed}. A pack "
                          f"ships only public-domain artworks (export/artworks.py); train it without them.")
    path = export_checkpoint(checkpoint, out, styles_meta=ARTWORKS)
    save_pack_weights(checkpoint, path)
    return path


def save_pack_weights(checkpoint: Path, model_path: Path) -> Path:
    """The network's weights beside the pack, for ``live-nst add-style`` (which extends it)."""
    from live_nst.models.add_style import save_weights
    from live_nst.models.networks import network_from_config
    from live_nst.models.train import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    network = network_from_config(ckpt["arch"])
    network.load_state_dict(ckpt["model"])
    return save_weights(network, model_path)


def write_quality(path: Path, quality: dict) -> None:
    """Store measured numbers in the model's metadata (atomically)."""
    contract.update_metadata(path, {contract.KEY_QUALITY: json.dumps(quality, sort_keys=True)})


def contact_sheet(path: Path, out: Path, columns: int = 3, cell_wh=(426, 240)) -> Path:
    """The built-in sample painted in every style of the pack, labelled."""
    model = StyleModel(path, "cpu")
    with SampleSource(cell_wh, paced=False) as sample:
        frame = sample.frame_at(0)
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


def speed_from_report(measures: PackMeasures, source: str = "") -> dict:
    """live-nst's CPU network ms per frame at each processing size (the bench's peers
    section); ``source`` names the report, for the card's "measured" line."""
    speed: dict = {}
    for timing in measures.network_times:
        if timing.device == "cpu" and timing.median_ms is not None and timing.p95_ms is not None:
            speed["x".join(map(str, timing.proc_size_wh))] = {"median_ms": round(timing.median_ms, 1),
                                                               "p95_ms": round(timing.p95_ms, 1)}
    speed["machine"] = measures.machine
    what = f"live-nst-bench peers section ({source})" if source else "live-nst-bench peers section"
    speed["measured"] = f"{measures.created[:10]}, {what}" if measures.created else what
    return speed


_RECIPE_KEYS = ("arch", "size", "style_size", "batch", "steps", "step", "lr", "weights", "balance_styles")


def model_cards(path: Path, measures: PackMeasures, source: str = "",
                speed_measures: PackMeasures | None = None, speed_source: str = "") -> list[dict]:
    """One card per style; the speed from ``speed_measures`` where given (a run of the peers
    section with the same network), else from ``measures``."""
    model = StyleModel(path, "cpu")
    recipe = contract.read_json(path, contract.KEY_RECIPE)
    setup = dataclasses.asdict(measures.fidelity_setup)
    speed = (speed_from_report(speed_measures, speed_source) if speed_measures is not None
             else speed_from_report(measures, source))
    cards = []
    for info in model.styles:
        measured = measures.fidelity.get(info.name)
        cards.append({
            "name": info.name, "title": info.title, "artist": info.artist, "artwork": info.artwork,
            "artwork_license": info.license, "model_file": path.name,
            "recipe": {k: recipe.get(k) for k in _RECIPE_KEYS if k in recipe},
            "speed_cpu": speed,
            "fidelity": dataclasses.asdict(measured.summary) if measured else {},
            "fidelity_photos": [Path(photo).name for photo in measured.photos] if measured else [],
            "fidelity_setup": setup,
            "fidelity_all_styles": measures.fidelity_all,
        })
    return cards


def write_cards(path: Path, report_path: Path, sheet: Path, speed_report: Path | None = None) -> list[dict]:
    speed = PackMeasures.read(speed_report) if speed_report else None
    cards = model_cards(path, PackMeasures.read(report_path), str(report_path.parent), speed,
                        str(speed_report.parent) if speed_report else "")
    write_quality(path, {"speed_cpu": cards[0]["speed_cpu"] if cards else {},
                         "fidelity": {c["name"]: c["fidelity"] for c in cards}})
    (path.parent / "pack.json").write_text(json.dumps(cards, indent=2) + "\n")
    contact_sheet(path, sheet)
    return cards


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    exp = sub.add_parser("export", help="checkpoint -> live_nst/styles/pack.onnx")
    exp.add_argument("checkpoint", type=Path)
    exp.add_argument("--out", type=Path, default=packaged_styles_dir() / "pack.onnx")
    cards = sub.add_parser("cards", help="model cards and contact sheet from a bench report")
    cards.add_argument("--bench-report", type=Path, required=True)
    cards.add_argument("--model", type=Path, default=packaged_styles_dir() / "pack.onnx")
    cards.add_argument("--sheet", type=Path, default=Path("docs/contact_sheet.jpg"))
    cards.add_argument("--speed-report", type=Path,
                       help="take the network's speed from this report's peers section (default: --bench-report)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.step == "export":
            print(build_pack(args.checkpoint, args.out))
        else:
            print(json.dumps(write_cards(args.model, args.bench_report, args.sheet, args.speed_report), indent=2))
    except LiveNSTError as exc:
        log.error("%s", exc)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
