"""The runtime side of the model contract: provider choice and clear errors for files
that are missing, corrupt, or not live-nst models. Real ONNX Runtime throughout."""

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from live_nst import contract
from live_nst.errors import ConfigError, ModelError
from live_nst.inference import StyleModel
from live_nst.providers import (
    CUDA_FIX,
    DEVICE_FIXES,
    PROVIDERS,
    DeviceUnusable,
    nvidia_driver_present,
    preload_gpu_libraries,
    resolve_providers,
)


def identity_model(path, inputs=("image", "style_weights"), output="stylized", meta=None, styles=2):
    """A valid-looking graph: output = image (style weights ignored)."""
    graph = helper.make_graph(
        [helper.make_node("Identity", [inputs[0]], [output])], "tiny",
        [helper.make_tensor_value_info(inputs[0], TensorProto.FLOAT, ["n", 3, "h", "w"]),
         helper.make_tensor_value_info(inputs[1], TensorProto.FLOAT, ["n", styles, "sh", "sw"])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["n", 3, "h", "w"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    default_meta = {contract.KEY_CONTRACT: contract.CONTRACT_VERSION,
                    contract.KEY_STYLES: json.dumps([{"name": f"s{i}"} for i in range(2)])}
    for key, value in (default_meta if meta is None else meta).items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return path


def test_a_contract_model_runs_and_keeps_the_image(tmp_path):
    model = StyleModel(identity_model(tmp_path / "ok.onnx"), "cpu")
    image = np.random.default_rng(0).integers(0, 256, (9, 13, 3), dtype=np.uint8)
    out = model.run(image, np.full((2, 3, 4), 0.5, np.float32))
    assert model.provider == "CPUExecutionProvider" and [s.name for s in model.styles] == ["s0", "s1"]
    assert out.dtype == np.uint8 and out.flags.c_contiguous and np.array_equal(out, image)


@pytest.mark.parametrize("kind, message", [
    ("missing", "does not exist"),
    ("garbage", "not a readable ONNX model"),
    ("no_metadata", "lacks the live-nst metadata"),
    ("old_contract", "follows model contract 0"),
    ("wrong_inputs", "the model contract needs inputs"),
    ("style_count", "takes 3 style weights but its metadata lists 2"),
])
def test_bad_model_files_name_the_file_and_the_problem(tmp_path, kind, message):
    path = tmp_path / f"{kind}.onnx"
    if kind == "garbage":
        path.write_bytes(b"\x08\x01garbage")
    elif kind == "no_metadata":
        identity_model(path, meta={})
    elif kind == "old_contract":
        identity_model(path, meta={contract.KEY_CONTRACT: "0", contract.KEY_STYLES: "[]"})
    elif kind == "wrong_inputs":
        identity_model(path, inputs=("img", "w"))
    elif kind == "style_count":
        identity_model(path, styles=3)
    with pytest.raises(ModelError, match=message) as info:
        StyleModel(path, "cpu")
    assert path.name in str(info.value)


def test_truncated_model_is_reported_as_corrupt(tmp_path):
    good = identity_model(tmp_path / "good.onnx")
    data = good.read_bytes()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="cut.onnx"):
        StyleModel(tmp_path / "cut.onnx", "cpu")


def test_auto_prefers_accelerators_and_always_ends_with_the_cpu():
    order = resolve_providers("auto")
    assert order[-1] == PROVIDERS["cpu"]
    assert order == [p for p in PROVIDERS.values() if p in ort.get_available_providers()]


def test_unknown_or_unavailable_device_is_a_config_error():
    with pytest.raises(ConfigError, match="--device must be auto or one of"):
        resolve_providers("quantum")
    missing = [name for name, p in PROVIDERS.items() if p not in ort.get_available_providers()]
    if missing:
        with pytest.raises(ConfigError, match="not offered by the installed onnxruntime"):
            resolve_providers(missing[0])


def test_forcing_a_listed_but_unusable_provider_says_what_to_install(tmp_path):
    listed_unusable = [name for name in ("cuda", "tensorrt") if PROVIDERS[name] in ort.get_available_providers()]
    if not listed_unusable or shutil.which("nvidia-smi"):
        pytest.skip("needs an onnxruntime build that lists a GPU provider on a machine without a GPU")
    device = listed_unusable[0]
    with pytest.raises(DeviceUnusable) as info:
        StyleModel(identity_model(tmp_path / "m.onnx"), device)
    assert info.value.reason == "no NVIDIA driver found"
    assert str(info.value).startswith(f"--device {device}: {PROVIDERS[device]} cannot run on this machine")
    assert DEVICE_FIXES[device] in str(info.value) and "\n" not in str(info.value)


def test_odd_sized_frames_are_painted_at_the_next_even_size_and_cut_back(catalog):
    """The network sees even sizes only (those it was trained on): an odd frame comes out
    as the frame with one reflected row and column added would, less that row and column."""
    import cv2

    model = StyleModel(catalog.get(catalog.names[0]).path, "cpu", threads=1)
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 255, (57, 75, 3), dtype=np.uint8)
    weights = np.zeros((model.num_styles, 15, 19), np.float32)
    weights[0] = 1.0
    painted = model.run(frame, weights)
    even = model.run(cv2.copyMakeBorder(frame, 0, 1, 0, 1, cv2.BORDER_REFLECT_101), weights)
    assert painted.shape == frame.shape and painted.flags.c_contiguous
    np.testing.assert_array_equal(painted, even[:57, :75])
    assert model.run(frame[:56, :74], weights).shape == (56, 74, 3)  # even sizes untouched


def test_two_threads_paint_at_once_as_one_paints_alone(catalog):
    """Each calling thread has its own bound buffers: two frames painted side by side
    come out as each does alone (and as a plain, unbound session.run gives them)."""
    import threading

    import cv2

    model = StyleModel(catalog.get(catalog.names[0]).path, "cpu", threads=1)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (96, 160, 3), dtype=np.uint8) for _ in range(2)]
    weights = rng.random((model.num_styles, 24, 40), dtype=np.float32)
    weights /= weights.sum(axis=0, keepdims=True)
    alone = [model.run(frame, weights) for frame in frames]
    plain = model.session.run(None, {contract.INPUT_IMAGE: cv2.dnn.blobFromImage(frames[0], 1.0 / 255.0),
                                     contract.INPUT_STYLE_WEIGHTS: weights[None]})[0][0]
    np.testing.assert_array_equal(alone[0], cv2.convertScaleAbs(plain.transpose(1, 2, 0), alpha=255.0))
    together: dict[int, list[np.ndarray]] = {0: [], 1: []}

    def paint(n: int) -> None:
        for _ in range(5):
            together[n].append(model.run(frames[n], weights))

    threads = [threading.Thread(target=paint, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for n in (0, 1):
        for image in together[n]:
            np.testing.assert_array_equal(image, alone[n])


PRELOAD_SCRIPT = textwrap.dedent("""
    import logging, sys
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    from live_nst import providers
    from live_nst.inference import StyleModel
    from live_nst.catalog import packaged_styles_dir
    if sys.argv[1] == "driver":
        providers.nvidia_driver_present = lambda: True  # the NVIDIA driver: what this machine lacks
    loaded = lambda: any("libcudart" in line for line in open("/proc/self/maps"))
    cuda = providers.PROVIDERS["cuda"]
    print("BEFORE", loaded(), providers.missing_library(cuda) if sys.argv[1] == "driver" else "-")
    for device in sys.argv[2:]:
        model = StyleModel(packaged_styles_dir() / "pack.onnx", device, threads=1)
        print("AFTER", device, loaded(), providers._preloaded, model.provider)
    print("MISSING", providers.missing_library(cuda))
""")


def _preload_run(*args: str) -> tuple[list[str], str]:
    done = subprocess.run([sys.executable, "-c", PRELOAD_SCRIPT, *args], cwd=Path(__file__).resolve().parents[1],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines(), done.stderr


def _cuda_wheels() -> bool:
    """Whether NVIDIA's CUDA runtime is installed as a pip wheel (what the [cuda] extra brings)."""
    import site

    return any(list(Path(folder).glob("nvidia/*/lib/libcudart.so*")) for folder in site.getsitepackages())


needs_cuda_wheels = pytest.mark.skipif(
    sys.platform != "linux" or PROVIDERS["cuda"] not in ort.get_available_providers() or not _cuda_wheels()
    or nvidia_driver_present(), reason="needs onnxruntime-gpu and NVIDIA's CUDA wheels on Linux without a GPU")


@needs_cuda_wheels
def test_cuda_libraries_from_pip_wheels_are_loaded_before_the_first_session():
    lines, err = _preload_run("driver", "auto", "cpu")
    before, auto, cpu, missing = lines
    # Before: the CUDA provider's library cannot find NVIDIA's libraries in site-packages.
    assert before.startswith("BEFORE False lib") and "libcuda.so" not in before
    # The first session loaded them; the CPU still runs the network, once, as the fallback.
    assert auto == "AFTER auto True True CPUExecutionProvider" and cpu == "AFTER cpu True True CPUExecutionProvider"
    # Now only the driver (faked above, absent here) is missing, as on a GPU machine it is not.
    assert missing == "MISSING libcuda.so.1"
    # run's warning: the reason, and the same one-line fix as `live-nst doctor`.
    warnings = [line for line in err.splitlines() if "style network runs on the CPU" in line]
    assert len(warnings) == 1 and "libcuda.so.1 is missing" in warnings[0] and warnings[0].endswith(CUDA_FIX)


@needs_cuda_wheels
def test_without_an_nvidia_driver_or_for_the_cpu_nothing_is_preloaded():
    lines, err = _preload_run("none", "cpu", "auto")
    assert lines == ["BEFORE False -", "AFTER cpu False None CPUExecutionProvider",
                     "AFTER auto False False CPUExecutionProvider", f"MISSING {lines[-1].split()[-1]}"]
    assert "libcuda" not in lines[-1] and err == ""  # no GPU here: nothing to warn about


def test_preloading_is_only_for_nvidia_providers():
    assert preload_gpu_libraries([PROVIDERS["cpu"], PROVIDERS["coreml"]]) is False
