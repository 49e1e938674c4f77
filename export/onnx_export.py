"""Export ``live-nst train`` checkpoints to ONNX files that follow the model contract.

``export_checkpoint`` loads a checkpoint, completes its styles' metadata from the artwork
list (``artworks.ARTWORKS``) and writes the network with
``live_nst.models.onnx_file.export_network`` (trace, optional fp16, parity check, atomic
replace).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from live_nst.errors import ModelError
from live_nst.models.onnx_file import DEFAULT_PARITY_SIZES, ExportError, export_network


def export_checkpoint(ckpt_path: str | Path, out_path: str | Path, fp16: bool = False,
                      styles_meta: Mapping[str, Mapping[str, str]] | None = None,
                      quality: Mapping | None = None,
                      parity_sizes: Sequence[tuple[int, int]] = DEFAULT_PARITY_SIZES) -> Path:
    """Export a checkpoint written by ``live-nst train`` (``models.train``).

    Style metadata comes from ``styles_meta`` (style name -> title, artist, year, license,
    artwork), falling back on :data:`artworks.ARTWORKS`; the recipe is the
    checkpoint's training config with its step and last recorded losses.
    """
    from live_nst.export.artworks import ARTWORKS
    from live_nst.models.networks import network_from_config

    ckpt_path = Path(ckpt_path)
    ckpt = _load_checkpoint(ckpt_path)
    try:
        network = network_from_config(ckpt["arch"])
        network.load_state_dict(ckpt["model"])
    except (TypeError, KeyError, ValueError, RuntimeError) as exc:
        raise ExportError(f"{ckpt_path}: its weights do not fit its architecture {ckpt['arch']} ({exc}). "
                          f"The checkpoint is damaged or from an incompatible live-nst version.") from exc
    lookup = {**ARTWORKS, **(styles_meta or {})}
    try:
        styles = [_catalog_entry(entry, lookup) for entry in ckpt["styles"]]
    except (TypeError, KeyError, AttributeError) as exc:
        raise ExportError(f"{ckpt_path}: its style list {ckpt['styles']!r:.200} is malformed ({exc!r}); "
                          f"the checkpoint is damaged or from an incompatible live-nst version.") from exc
    return export_network(network, out_path, styles, recipe=_recipe(ckpt), quality=quality, fp16=fp16,
                          parity_sizes=parity_sizes)


def checkpoint_style_names(ckpt_path: str | Path) -> list[str]:
    """The names of the styles a ``live-nst train`` checkpoint holds, in its order."""
    ckpt_path = Path(ckpt_path)
    ckpt = _load_checkpoint(ckpt_path)
    try:
        return [str(style["name"]) for style in ckpt["styles"]]
    except (TypeError, KeyError) as exc:
        raise ExportError(f"{ckpt_path}: its style list {ckpt['styles']!r:.200} is malformed ({exc!r}); "
                          f"the checkpoint is damaged or from an incompatible live-nst version.") from exc


def _catalog_entry(ckpt_style: Mapping, lookup: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """A checkpoint's style record completed from the catalog (title with its year)."""
    name = ckpt_style["name"]
    known = dict(lookup.get(name, {}))
    title = known.get("title") or name
    if known.get("year"):
        title = f"{title} ({known['year']})"
    return {"name": name, "title": title, "artist": known.get("artist", ""),
            "artwork": known.get("artwork") or ckpt_style.get("artwork", ""),
            "license": known.get("license", "unknown")}


_CKPT_KEYS = ("model", "arch", "step", "config", "styles")


def _load_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise ExportError(f"checkpoint {path} does not exist; give the .ckpt written by 'live-nst train'")
    from live_nst.models.train import load_checkpoint

    try:
        ckpt = load_checkpoint(path)
    except (ModelError, ValueError, OSError) as exc:
        raise ExportError(f"{path} is not a readable live-nst checkpoint ({exc}); give the .ckpt "
                          f"written by 'live-nst train' (runs/.../last.ckpt)") from exc
    missing = [key for key in _CKPT_KEYS if not isinstance(ckpt, dict) or key not in ckpt]
    if missing:
        raise ExportError(f"{path} is not a live-nst checkpoint: it lacks {missing}; give the .ckpt "
                          f"written by 'live-nst train'")
    return ckpt


def _recipe(ckpt: dict) -> dict:
    """The training recipe without machine-specific folders (file names are kept)."""
    recipe = dict(ckpt["config"])
    if "style_paths" in recipe:
        recipe["style_paths"] = [Path(p).name for p in recipe["style_paths"]]
    if "content_dir" in recipe:
        recipe["content_dir"] = Path(recipe["content_dir"]).name
    recipe.pop("out_dir", None)
    recipe["step"] = ckpt["step"]
    recipe["style_sha256"] = {s["name"]: s.get("sha256", "") for s in ckpt["styles"]}
    history = ckpt.get("history") or []
    if history:
        recipe["last_losses"] = history[-1]
    return recipe
