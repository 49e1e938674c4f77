"""Inputs at fault exit 2 with one ``live-nst: error:`` line that says what to change,
never exit 1 ("a bug") or a traceback: paths with an unknown user's ``~``, a video too
small to encode, numbers that are not numbers."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from live_nst.cli import main


def _tiny_clip(path: Path) -> Path:
    """A 1x1 video (written with FFmpeg's raw-video encoder, which takes any size)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("rawvideo", rate=30)
        stream.width, stream.height, stream.pix_fmt = 1, 1, "rgb24"
        for _ in range(3):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.zeros((1, 1, 3), np.uint8), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


# (arguments, with {tmp} for the test's folder; what the error line says)
CASES = [
    (["render", "{clip}", "-o", "~nouser-live-nst/x.mp4"], "cannot find the home folder of ~nouser-live-nst"),
    (["run", "--source", "sample", "--output", "file:~nouser-live-nst/x.mp4", "--frames", "1"],
     "cannot find the home folder of ~nouser-live-nst"),
    (["run", "--source", "sample", "--output", "null", "--styles-dir", "~nouser-live-nst/s", "--frames", "1"],
     "cannot find the home folder of ~nouser-live-nst"),
    (["run", "--config", "{config}", "--output", "null", "--frames", "1"],
     "cannot find the home folder of ~nouser-live-nst"),
    (["render", "{tiny}", "-o", "{tmp}/out.mp4"], "video files take 2x2 up to 16384x16384 pixels"),
    (["run", "--source", "sample", "--output", "null", "--fps", "nan"], "expected a finite number"),
]


@pytest.mark.parametrize(("args", "says"), CASES, ids=range(len(CASES)))
def test_inputs_at_fault_exit_2_with_one_line(tmp_path, capsys, segmentation_model, args, says):
    config = tmp_path / "c.toml"
    config.write_text('[run]\nsource = "~nouser-live-nst/a.mp4"\n')
    names = {"tmp": tmp_path, "config": config, "tiny": _tiny_clip(tmp_path / "tiny.avi"),
             "clip": _tiny_clip(tmp_path / "clip.avi")}
    code = main([arg.format(**names) for arg in args])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("live-nst:") or "error" in line.lower()]
    assert code == 2, err
    assert len(lines) == 1 and says in lines[0], err
    assert not list(tmp_path.glob("out*")), "nothing half-written is left"
