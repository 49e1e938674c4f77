"""The report: JSON, PNG plots (matplotlib) and Markdown tables for the README."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)

SCHEMA = "live-nst-bench/1"
STAGE_COLOURS = {"capture": "#8c8c8c", "resize_in": "#c7c7c7", "segment": "#1f77b4", "stylize": "#d62728",
                 "compose": "#2ca02c", "temporal": "#9467bd", "resize_out": "#bcbd22", "to_i420": "#ff7f0e",
                 "sink": "#17becf"}


def _label(size) -> str:
    return f"{size[0]}x{size[1]}"


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


# --- JSON ---------------------------------------------------------------------------
def _clean(value):
    """NaN and infinity become null: the report stays strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_json(report: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(report), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return path


def ok(report: dict, section: str) -> dict | None:
    data = report.get("sections", {}).get(section)
    return data if data and data.get("status") == "ok" else None


# --- Markdown -----------------------------------------------------------------------
def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _f(value, spec: str) -> str:
    """A number formatted, or '-' where it is missing (NaN is stored as null)."""
    return format(value, spec) if _finite(value) else "-"


def _pct(fraction) -> str:
    return f"{100 * fraction:.0f}%" if _finite(fraction) else "-"


def _ms(stat: dict) -> str:
    return f"{stat['median']:.1f} / {stat['p95']:.1f}" if _finite(stat.get("median")) else "-"


def speed_table(section: dict) -> str:
    stages = section["stage_order"]
    header = ["provider", "proc size", "fps", "latency ms", *stages]
    rows = [[run["provider"].removesuffix("ExecutionProvider"), _label(run["proc_size"]), _f(run["fps"], ".1f"),
             _ms(run["latency_ms"]), *[_ms(run["stages_ms"][stage]) for stage in stages]]
            for run in section["runs"]]
    return _table(header, rows) + ("\n\nms as median / p95 per frame; frames decoded from the clip at "
                                   f"{_label(section['runs'][0]['input_size'])}, output at the same size; "
                                   "latency from capture timestamp to send.")


def peers_table(section: dict) -> str:
    models = list(dict.fromkeys(run["model"] for run in section["runs"]))
    header = ["provider", "proc size", *[f"{m} ms" for m in models]]
    speed = {(s["peer"], s["device"], tuple(s["proc_size"])): s for s in section["speedups"]}
    keys = list(dict.fromkeys((run["device"], tuple(run["proc_size"])) for run in section["runs"]))
    rows = []
    for device, size in keys:
        row = [device, _label(size)]
        for model in models:
            run = next((r for r in section["runs"] if (r["model"], r["device"], tuple(r["proc_size"]))
                        == (model, device, size)), None)
            if run is None or "network_ms" not in run:
                row.append(run.get("status", "-") if run else "-")
                continue
            cell = f"{_f(run['network_ms']['median'], '.1f')} (call {_f(run['call_ms']['median'], '.1f')})"
            ratio = speed.get((model, device, size))
            row.append(cell + (f", live-nst {_f(ratio['speedup_network'], '.1f')}x faster" if ratio else ""))
        rows.append(row)
    notes = [f"{name}: {info.get('status')}" + (f" ({info['note']})" if info.get("note") else "")
             for name, info in section["peers"].items() if info.get("status") != "ok"]
    estimates = [f"{e['model']} {_f(e['fps'], '.1f')} fps ({e['device']} {_label(e['proc_size'])})"
                 for e in section.get("live_fps_estimate", [])]
    text = _table(header, rows) + "\n\nnetwork ms (median; call = the public API call, pre/post-processing included)."
    if estimates:
        text += "\nAs the live pipeline's stylize stage (other stages as measured): " + "; ".join(estimates) + "."
    return text + ("\n" + "; ".join(notes) if notes else "")


def flicker_table(section: dict) -> str:
    rows = [[Path(c["clip"]).name, _label(c["size"]), str(c["frames"]), _f(c["input"], ".5f"),
             _f(c["no_temporal"], ".5f"), _f(c["temporal"], ".5f"), _pct(c["temporal_reduction"])]
            for c in section["clips"]]
    return _table(["clip", "size", "frames", "input (floor)", "no temporal blend", "temporal blend", "reduction"],
                  rows) + "\n\nwarping error (Lai et al. 2018), lower is steadier; the input's own is the floor."


def segmentation_table(section: dict) -> str:
    rows = []
    for clip in section["clips"]:
        for model, scores in clip["models"].items():
            raw, refined = scores["raw"], scores["refined"]
            rows.append([Path(clip["clip"]).name, model, _f(raw["iou"], ".3f"), _f(refined["iou"], ".3f"),
                         _f(raw["flicker"], ".5f"), _f(refined["flicker"], ".5f"), _f(clip["truth_flicker"], ".5f")])
    return _table(["clip", "model", "IoU raw", "IoU refined", "mask flicker raw", "mask flicker refined",
                   "mask flicker ground truth"], rows) + "\n\nIoU at 0.5 pooled over all frames; mask flicker = " \
                                                        "warping error of the mask (lower is steadier)."


def fidelity_table(section: dict) -> str:
    rows = []
    entries = [(name, entry["summary"]) for name, entry in section["styles"].items()]
    if len(entries) > 1 and section.get("summary"):
        entries.append(("**all styles**", section["summary"]))
    for name, s in entries:
        rows.append([name, _f(s["style_loss_network"], ".4g"), _f(s["style_loss_gatys"], ".4g"),
                     _f(s["style_ratio"], ".2f"), _pct(s["style_gap_closed"]),
                     _f(s["content_loss_network"], ".4g"), _f(s["content_loss_gatys"], ".4g")])
    return _table(["style", "style loss net", "Gatys", "net / Gatys", "gap closed", "content loss net",
                   "Gatys"], rows) + (f"\n\n{section['size']} px photos, artwork {section['style_size']} px, "
                                      f"Gatys {section['gatys_steps']} L-BFGS steps.")


TABLES: dict[str, Callable[[dict], str]] = {"speed": speed_table, "peers": peers_table, "flicker": flicker_table,
                                            "segmentation": segmentation_table, "fidelity": fidelity_table}


def markdown(report: dict) -> str:
    """All sections as Markdown, ready to paste into the README."""
    machine = report.get("machine", {})
    parts = [f"Measured with `live-nst bench{' --quick' if report.get('quick') else ''}` on "
             f"{machine.get('label', 'an unnamed machine')}, {report.get('created', '')}."]
    for name, render in TABLES.items():
        data = report.get("sections", {}).get(name)
        if data is None:
            continue
        parts.append(f"### {name}")
        if data.get("status") == "ok":
            parts.append(render(data))
        else:
            parts.append(f"{data.get('status')}: {data.get('note', data.get('error', ''))}")
    return "\n\n".join(parts) + "\n"


# --- plots --------------------------------------------------------------------------
def _plot_speed(ax, section: dict) -> None:
    runs = section["runs"]
    labels = [f"{r['provider'].removesuffix('ExecutionProvider')} {_label(r['proc_size'])}" for r in runs]
    left = [0.0] * len(runs)
    for stage in section["stage_order"]:
        widths = [r["stages_ms"][stage]["median"] for r in runs]
        ax.barh(labels, widths, left=left, color=STAGE_COLOURS.get(stage), label=stage)
        left = [a + b for a, b in zip(left, widths)]
    for y, (run, x) in enumerate(zip(runs, left)):
        ax.text(x, y, f" {run['fps']:.1f} fps", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("ms per frame (median per stage)")
    ax.set_title("live pipeline, 1280x720 input, null sink")
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    ax.set_xlim(0, max(left) * 1.3 if left else 1)


def _plot_peers(ax, section: dict) -> None:
    runs = [r for r in section["runs"] if "network_ms" in r]
    groups = list(dict.fromkeys(f"{r['device']} {_label(r['proc_size'])}" for r in runs))
    models = list(dict.fromkeys(r["model"] for r in runs))
    width = 0.8 / max(1, len(models))
    for i, model in enumerate(models):
        for g, group in enumerate(groups):
            run = next((r for r in runs if r["model"] == model and f"{r['device']} {_label(r['proc_size'])}" == group),
                       None)
            if run:
                value = run["network_ms"]["median"]
                ax.bar(g + i * width, value, width, color=f"C{i}", label=model if g == 0 else None)
                ax.text(g + i * width, value, f"{value:.0f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks([g + width * (len(models) - 1) / 2 for g in range(len(groups))], groups, fontsize=8)
    ax.set_yscale("log")
    lowest = min((r["network_ms"]["median"] for r in runs), default=1.0)
    ax.set_ylim(bottom=max(lowest / 4, 1e-3))
    ax.set_ylabel("ms per frame (network, median)")
    ax.set_title("style network vs peers")
    ax.legend(fontsize=7)


def _plot_flicker(ax, section: dict) -> None:
    clips = section["clips"]
    names = [Path(c["clip"]).stem for c in clips]
    keys = (("input", "input (floor)"), ("no_temporal", "no temporal blend"), ("temporal", "temporal blend"))
    for i, (key, label) in enumerate(keys):
        ax.bar([x + i * 0.27 for x in range(len(clips))], [c[key] for c in clips], 0.27, label=label, color=f"C{i}")
    ax.set_xticks([x + 0.27 for x in range(len(clips))], names, fontsize=7, rotation=15)
    ax.set_ylabel("warping error")
    ax.set_title("flicker (lower is steadier)")
    ax.legend(fontsize=7)


def _plot_segmentation(ax, section: dict) -> None:
    rows = [(f"{Path(c['clip']).stem} {m}", s) for c in section["clips"] for m, s in c["models"].items()]
    for i, key in enumerate(("raw", "refined")):
        ax.bar([x + i * 0.4 for x in range(len(rows))], [s[key]["iou"] for _, s in rows], 0.4, label=key,
               color=f"C{i}")
    ax.set_xticks([x + 0.2 for x in range(len(rows))], [name for name, _ in rows], fontsize=7, rotation=15)
    ax.set_ylim(0, 1)
    ax.set_ylabel("IoU")
    ax.set_title("person mask vs ground truth")
    ax.legend(fontsize=7)


def _plot_fidelity(ax, section: dict) -> None:
    names = list(section["styles"])
    keys = (("photo_unstyled", "photo (no style)"), ("network", "live-nst"), ("gatys", "Gatys"))
    for i, (key, label) in enumerate(keys):
        values = [sum(p[key]["style"] for p in section["styles"][n]["pairs"]) / len(section["styles"][n]["pairs"])
                  for n in names]
        ax.bar([x + i * 0.27 for x in range(len(names))], values, 0.27, label=label, color=f"C{i}")
    ax.set_xticks([x + 0.27 for x in range(len(names))], names, fontsize=7, rotation=30, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("Gram style loss")
    ax.set_title("style fidelity (lower is closer to the artwork)")
    ax.legend(fontsize=7)


PLOTS = {"speed": _plot_speed, "peers": _plot_peers, "flicker": _plot_flicker,
         "segmentation": _plot_segmentation, "fidelity": _plot_fidelity}


def write_plots(report: dict, out_dir: Path) -> list[str]:
    """One PNG per measured section, plus overview.png with all of them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    present = [(name, ok(report, name)) for name in PLOTS if ok(report, name)]
    written = []
    for name, section in present:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        PLOTS[name](ax, section)
        written.append(_save(fig, out_dir / f"{name}.png"))
    if present:
        rows = math.ceil(len(present) / 2)
        fig, axes = plt.subplots(rows, 2, figsize=(14, 4.5 * rows), squeeze=False)
        for ax, (name, section) in zip(axes.flat, present):
            PLOTS[name](ax, section)
        for ax in list(axes.flat)[len(present):]:
            ax.set_visible(False)
        fig.suptitle(f"live-nst bench on {report.get('machine', {}).get('label', '?')}", fontsize=10)
        written.append(_save(fig, out_dir / "overview.png"))
    return written


def _save(fig, path: Path) -> str:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name
