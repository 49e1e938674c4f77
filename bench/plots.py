"""The report's plots: one PNG per measured section and an overview (matplotlib)."""

from __future__ import annotations

import math
from pathlib import Path

from live_nst.bench.report import AdaptiveRun, ok
from live_nst.bench.report import label as _label

STAGE_COLOURS = {"capture": "#8c8c8c", "resize_in": "#c7c7c7", "flow": "#8c564b", "segment": "#1f77b4",
                 "faces": "#e377c2", "plan": "#dbdb8d", "stylize": "#d62728", "compose": "#2ca02c",
                 "temporal": "#9467bd", "resize_out": "#bcbd22", "to_i420": "#ff7f0e", "sink": "#17becf"}


def _plot_speed(ax, section: dict) -> None:
    runs = section["runs"]
    labels = [f"{r.get('model', 'live-nst')} {r['provider'].removesuffix('ExecutionProvider')} "
              f"{_label(r['proc_size'])}" + (f" #{r['round'] + 1}" if section.get("rounds", 1) > 1 else "")
              for r in runs]
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


def plot_fps_and_size(ax, times: list[float], fps: list[float], sizes: list, target_fps: float | None = None):
    """Frame rate over time (left axis) and the processing size (right axis, by width,
    labelled WxH; None where there is none yet). Returns the right axis."""
    ax.plot(times, fps, color="C0", label="fps")
    if target_fps:
        ax.axhline(target_fps, color="C0", linestyle="--", linewidth=0.8, label=f"target {target_fps:.0f} fps")
    ax.set_xlabel("s")
    ax.set_ylabel("frames per second")
    ax.set_ylim(bottom=0)
    right = ax.twinx()
    right.step(times, [size[0] if size else math.nan for size in sizes], where="mid", color="C3",
               label="processing size")
    used = sorted({tuple(size) for size in sizes if size})
    right.set_yticks([size[0] for size in used], [_label(size) for size in used], fontsize=7)
    right.set_ylim(0, 1.15 * max((size[0] for size in used), default=1))
    right.set_ylabel("processing size")
    lines = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="lower left")
    return right


def _plot_adaptive(ax, section: dict) -> None:
    run = AdaptiveRun.from_json(section)
    seconds = run.timeline
    plot_fps_and_size(ax, [s.t_s + 0.5 for s in seconds], [s.fps for s in seconds],
                      [s.proc_size for s in seconds], run.target_fps)
    ax.axhline(run.target_fps * run.bar, color="C2", linestyle=":", linewidth=0.8)
    ax.axvspan(0, run.settle_s, color="#dddddd", zorder=0)  # not counted
    achieved = "-" if run.achieved_fps is None else f"{run.achieved_fps:.1f}"
    ax.set_title(f"adaptive quality, one core busy: {achieved} of {run.target_fps:.0f} fps after {run.settle_s:g} s "
                 f"(dotted: the bar, {100 * run.bar:.0f}%)", fontsize=9)


PLOTS = {"speed": _plot_speed, "adaptive": _plot_adaptive, "peers": _plot_peers, "flicker": _plot_flicker,
         "segmentation": _plot_segmentation, "fidelity": _plot_fidelity}


def write_plots(report: dict, out_dir: Path) -> list[str]:
    """One PNG per measured section, plus overview.png with all of them."""
    plt = pyplot()
    present = [(name, section) for name in PLOTS if (section := ok(report, name))]
    written = []
    for name, section in present:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        PLOTS[name](ax, section)
        written.append(save(fig, out_dir / f"{name}.png"))
    if present:
        rows = math.ceil(len(present) / 2)
        fig, axes = plt.subplots(rows, 2, figsize=(14, 4.5 * rows), squeeze=False)
        for ax, (name, section) in zip(axes.flat, present):
            PLOTS[name](ax, section)
        for ax in list(axes.flat)[len(present):]:
            ax.set_visible(False)
        fig.suptitle(f"live-nst-bench on {report.get('machine', {}).get('label', '?')}", fontsize=10)
        written.append(save(fig, out_dir / "overview.png"))
    return written


def pyplot():
    """matplotlib.pyplot, drawing to files only (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: Path) -> str:
    """Write ``fig`` as a PNG and close it; its file name."""
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name
