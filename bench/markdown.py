"""The bench report as Markdown tables, one per section, ready for the README (the
report's schema: ``live_nst.bench.report``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from live_nst.bench.report import AdaptiveRun, finite, label


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _f(value, spec: str) -> str:
    """A number formatted, or '-' where it is missing (NaN is stored as null)."""
    return format(value, spec) if finite(value) else "-"


def _pct(fraction) -> str:
    return f"{100 * fraction:.0f}%" if finite(fraction) else "-"


def _ms(stat: dict) -> str:
    return f"{stat['median']:.1f} / {stat['p95']:.1f}" if finite(stat.get("median")) else "-"


def speed_table(section: dict) -> str:
    stages = section["stage_order"]
    header = ["model", "provider", "proc size", "fps", "latency ms", *stages]
    rows = [[run.get("model", "live-nst"), run["provider"].removesuffix("ExecutionProvider"),
             label(run["proc_size"]), _f(run["fps"], ".1f"), _ms(run["latency_ms"]),
             *[_ms(run["stages_ms"][stage]) for stage in stages]]
            for run in section["runs"]]
    text = _table(header, rows) + ("\n\nms as median / p95 per frame; frames decoded from the clip at "
                                   f"{label(section['runs'][0]['input_size'])}, output at the same size; "
                                   "latency from capture timestamp to send.")
    return text + (_before_after_table(section) if section.get("before_after") else "")


def _before_after_table(section: dict) -> str:
    header = ["provider", "proc size", "fps (baseline)", "fps ratio", "latency median / p95 ms (baseline)",
              "stylize ms (baseline)"]
    rows = []
    for row in section["before_after"]:
        new, old = row["live-nst"], row["baseline"]
        rows.append([row["device"], label(row["proc_size"]), f"{_f(new['fps'], '.1f')} ({_f(old['fps'], '.1f')})",
                     f"{_f(row['fps_ratio'], '.2f')}x",
                     f"{_f(new['latency_median_ms'], '.0f')} / {_f(new['latency_p95_ms'], '.0f')} "
                     f"({_f(old['latency_median_ms'], '.0f')} / {_f(old['latency_p95_ms'], '.0f')})",
                     f"{_f(new['stylize_ms'], '.1f')} ({_f(old['stylize_ms'], '.1f')})"])
    return (f"\n\nBefore and after: the same pipeline with the baseline model `{section['baseline_model']}`, "
            f"runs alternating, {section['rounds']} each; medians over the runs.\n\n" + _table(header, rows))


def peers_table(section: dict) -> str:
    models = list(dict.fromkeys(run["model"] for run in section["runs"]))
    header = ["provider", "proc size", *[f"{m} ms" for m in models]]
    speed = {(s["peer"], s["device"], tuple(s["proc_size"])): s for s in section["speedups"]}
    keys = list(dict.fromkeys((run["device"], tuple(run["proc_size"])) for run in section["runs"]))
    rows = []
    for device, size in keys:
        row = [device, label(size)]
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
    text = _table(header, rows) + "\n\nnetwork ms (median; call = the public API call, pre/post-processing included)."
    return text + ("\n" + "; ".join(notes) if notes else "")


def flicker_table(section: dict) -> str:
    rows = [[Path(c["clip"]).name, label(c["size"]), str(c["frames"]), _f(c["input"], ".5f"),
             _f(c["no_temporal"], ".5f"), _f(c["temporal"], ".5f"), _pct(c["temporal_reduction"]),
             *(_f(c.get("region_alone", {}).get(region), ".5f") for region in ("person", "background"))]
            for c in section["clips"]]
    table = _table(["clip", "size", "frames", "input (floor)", "no temporal blend", "temporal blend", "reduction",
                    "person alone", "background alone"], rows) + \
        "\n\nwarping error (Lai et al. 2018), lower is steadier; the input's own is the floor. 'alone': one " \
        "region painted, the other the photo, no blend; a joint number above their sum: the regions unsettle " \
        "each other."
    styles = list(section["clips"][0].get("network_per_style", {})) if section["clips"] else []
    if not styles:
        return table
    per_style = [[Path(c["clip"]).name, *(_f(c["network_per_style"].get(s), ".5f") for s in styles)]
                 for c in section["clips"]]
    return table + "\n\nThe network alone, whole frame, each style (no blending):\n\n" + \
        _table(["clip", *styles], per_style)


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
        rows.append([name, _f(s.get("style_loss_network"), ".4g"), _f(s.get("style_loss_gatys"), ".4g"),
                     _f(s.get("style_ratio"), ".2f"), _pct(s.get("style_gap_closed")),
                     _f(s.get("content_loss_network"), ".4g"), _f(s.get("content_loss_gatys"), ".4g"),
                     _f(s.get("palette_ratio"), ".2f"), _f(s.get("gatys_style_share"), ".3f"),
                     f"{s.get('pairs_scored', '-')}"])
    text = _table(["style", "style loss net", "Gatys", "net / Gatys", "gap closed", "content loss net",
                   "Gatys", "palette net / Gatys", "Gatys / photo style", "pairs"], rows) + (
        f"\n\n{section['size']} px photos, artwork {section['style_size']} px, Gatys {section['gatys_steps']} "
        f"L-BFGS steps a scale. A pair counts only where the Gatys reference painted: its style loss at most "
        f"0.2x the photo's own.")
    text += _failed_references(section)
    text += _style_by_layer(section.get("summary") or {}) + _baseline_line(section)
    faces = section.get("faces_kept")
    if faces:
        text += "\n\n" + _faces_table(faces, section.get("faces_kept_baseline"))
        text += f"\n\nOn {len(faces['photos_with_a_face'])} held-out portraits with a face."
        text += _face_body_and_halo(faces, section.get("faces_kept_baseline"))
    return text


def _failed_references(section: dict) -> str:
    """Every pair left out because its Gatys reference did not paint."""
    rows = [[name, Path(failed["photo"]).name, _f(failed.get("gatys_style_share"), ".3f")]
            for name, entry in section["styles"].items()
            for failed in entry["summary"].get("references_failed", [])]
    if not rows:
        return ""
    return "\n\nLeft out (Gatys reference did not paint):\n\n" + _table(["style", "photo", "Gatys / photo style"], rows)


def _faces_table(faces: dict, baseline: dict | None) -> str:
    """Faces kept on each path, with the baseline model's beside where it was measured."""
    paths = [(key, name) for key, name in (("network", "network alone, whole frame"),
                                           ("render", "live pipeline, person styled"),
                                           ("render_unguarded", "live pipeline, face guard off")) if key in faces]

    def cells(rates: dict | None, key: str) -> list[str]:
        if not rates or key not in rates:
            return ["-", "-"]
        return [_pct(rates[key]["mean"]), f"{_pct(rates[key]['worst'])} ({rates[key]['worst_style']})"]

    headers = ["faces kept", "mean", "worst style"]
    if baseline:
        headers += ["baseline mean", "baseline worst style"]
    return _table(headers, [[name, *cells(faces, key), *(cells(baseline, key) if baseline else [])]
                            for key, name in paths])


def _face_body_and_halo(faces: dict, baseline: dict | None) -> str:
    """Per style: how much the face is painted against the rest of the person, and the
    halo along the person's edge, through the live pipeline (the baseline's beside)."""
    render = faces.get("render", {})
    if "face_body" not in render:
        return ""
    def face_body(path: dict | None) -> dict:
        return ((path or {}).get("face_body") or {}).get("per_style", {})

    ours, theirs = face_body(render), face_body((baseline or {}).get("render"))
    unguarded = face_body(faces.get("render_unguarded"))
    rows = [[style, _f(ours[style], ".2f"), _f(theirs.get(style), ".2f"), _f(unguarded.get(style), ".2f"),
             _f(render["halo"]["lightness"].get(style), ".1f"), _f(render["halo"]["chroma"].get(style), ".1f")]
            for style in ours]
    photo = faces.get("photo_halo") or {}
    rows.append(["the photo", "-", "-", "-", _f(photo.get("lightness"), ".1f"), _f(photo.get("chroma"), ".1f")])
    return ("\n\n" + _table(["style", "face/body paint", "baseline", "guard off", "halo lightness",
                               "halo chroma"], rows)
            + "\n\nFace/body paint: mean |output - photo| in the face box over the same on the rest of the person "
              "(live pipeline, person styled, background original). Halo: lightness (L) and chroma of the 2 px "
              "band along MediaPipe's person edge, above the mean of the bands either side; the photo's own is "
              "the level without a halo.")


def _baseline_line(section: dict) -> str:
    summary = section.get("summary") or {}
    if summary.get("baseline_style_ratio") is None:
        return ""
    return (f"\n\nBaseline {Path(section['baseline_model']).name}, same photos and Gatys images: style "
            f"{_f(summary['baseline_style_ratio'], '.3f')}x, content {_f(summary['baseline_content_ratio'], '.3f')}x "
            f"Gatys (this model: {_f(summary['style_ratio'], '.3f')}x, {_f(summary['content_ratio'], '.3f')}x).")


def _style_by_layer(summary: dict) -> str:
    """The style loss of all pairs split by VGG layer, network beside Gatys."""
    network, gatys = summary.get("style_by_layer_network"), summary.get("style_by_layer_gatys")
    if not network or not gatys:
        return ""
    rows = [("network", network), ("baseline", summary.get("style_by_layer_baseline")), ("Gatys", gatys)]
    return "\n\n" + _table(["style loss by layer (mean over pairs)", *network],
                            [[who, *(_f(values[k], ".3g") for k in network)] for who, values in rows if values])


def adaptive_table(section: dict) -> str:
    run = AdaptiveRun.from_json(section)
    sizes = ", ".join(f"{label(use.size)} {_pct(use.share)}" for use in run.sizes) or "-"
    verdict = "" if run.ratio is None else (" (holds)" if run.holds_target else " (below the bar)")
    row = [run.device, _f(run.target_fps, ".1f"), _f(run.achieved_fps, ".1f"), _pct(run.ratio) + verdict, sizes,
           str(len(run.changes)), run.busy.note]
    changes = "; ".join(f"{change.t_s:.1f} s {label(change.old)} -> {label(change.new)}" for change in run.changes)
    return _table(["provider", "target fps", "achieved fps", "of target", "processing sizes (share of frames)",
                   "size changes", "busy process"], [row]) + (
        f"\n\nThe live loop, adaptive quality on, for {run.run_s:.0f} s on a clip paced at its frame rate "
        f"({label(run.input_size)}, null sink) while a spinning process keeps one core busy; fps and sizes "
        f"after the first {run.settle_s:.1f} s; the bar is {_pct(run.bar)} of the target. "
        f"Size changes: {changes or 'none'}.")


def render_table(section: dict) -> str:
    """``live-nst render`` against ``live-nst run --output null`` on the same clip, round by round."""
    rows = [[str(index + 1), _f(r["render_fps"], ".2f"), _f(r["run_fps"], ".2f"),
             _f(r["render_fps"] / r["run_fps"] if r["run_fps"] else None, ".3f")]
            for index, r in enumerate(section["rounds"])]
    rows.append(["median", _f(section["render_fps"], ".2f"), _f(section["run_fps"], ".2f"),
                 _f(section["ratio"], ".3f") + " (of the rounds' ratios)"])
    return (_table(["round", "render fps", "run --output null fps", "render / run"], rows)
            + f"\n\n{section['frames']} frames of {section['clip']} at {label(section['size'])}, processing "
              f"{section['proc_size']}, adaptive quality off; the bar: render / run at least {section['bar']}.")


def encode_table(section: dict) -> str:
    """The H.264 settings render writes with beside x264's veryfast preset alone, on painted frames."""
    rows = [[s["name"], " ".join(f"{k}={v}" for k, v in s["options"].items()), _f(s["cpu_ms"], ".1f"),
             _f(s["wall_ms"], ".1f"), _f(s["size_kb"], ".0f"), _f(s["psnr_db"], ".2f")] for s in section["settings"]]
    return (_table(["setting", "x264 options", "CPU ms / frame", "wall ms / frame", "size kB", "PSNR dB"], rows)
            + f"\n\n{section['frames']} painted frames of {section['clip']} at {label(section['size'])}, crf "
              f"{section['crf']}, to MP4; medians over the rounds ({len(section['rounds'])}), CPU time of all the "
              f"encoder's threads (RGB -> YUV included). live-nst's settings take {_pct(section['cpu_saving'])} "
              f"less CPU than veryfast alone.")


TABLES: dict[str, Callable[[dict], str]] = {"speed": speed_table, "render": render_table, "encode": encode_table,
                                            "adaptive": adaptive_table, "peers": peers_table,
                                            "flicker": flicker_table, "segmentation": segmentation_table,
                                            "fidelity": fidelity_table}


def markdown(report: dict) -> str:
    """All sections as Markdown, ready to paste into the README."""
    machine = report.get("machine", {})
    parts = [f"Measured with `live-nst-bench{' --quick' if report.get('quick') else ''}` on "
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


