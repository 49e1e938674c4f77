"""Video files live-nst writes: H.264 MP4 that browsers play (checked in headless
Chromium), WebM and MKV, the input's sound, exact frame rate and upright picture kept,
a quality option, and files that stay playable after any stop."""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from commands import LIVE_NST

from live_nst.config import VIDEO_SUFFIXES, RunConfig
from live_nst.encode import FORMATS
from live_nst.errors import SinkError
from live_nst.render import render
from live_nst.sources import SampleSource
from live_nst.video import VideoWriter, probe, read_frames

RATE = Fraction(30000, 1001)
TONE_HZ = 440.0


def make_clip(path: Path, frames: int = 30, size_wh=(160, 96), audio: str | None = "aac",
              rotation: int = 0) -> Path:
    """A clip written with PyAV: the sample's frames at 29.97 fps, and a 440 Hz tone in
    ``audio`` (an AAC or PCM stream), or none."""
    sample = SampleSource(size_wh, float(RATE), paced=False)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=RATE)
        video.width, video.height, video.pix_fmt = *size_wh, "yuv420p"
        if rotation:
            video.set_display_rotation(rotation)
        sound = container.add_stream(audio, rate=44100) if audio else None
        if sound is not None:
            sound.layout = "stereo"
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(sample.frame_at(index), format="rgb24")
            frame.pts = index
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
        if sound is not None:
            count = int(44100 * frames / RATE)
            tone = (np.sin(np.arange(count) * 2 * np.pi * TONE_HZ / 44100) * 8000).astype(np.int16)
            for start in range(0, count, 1024):
                chunk = tone[start:start + 1024]
                block = av.AudioFrame.from_ndarray(np.stack([chunk, chunk], axis=1).reshape(1, -1), format="s16",
                                                   layout="stereo")
                block.sample_rate, block.pts = 44100, start
                for packet in sound.encode(block):
                    container.mux(packet)
            for packet in sound.encode(None):
                container.mux(packet)
    return path


def streams(path: Path) -> dict[str, dict]:
    """Codec, format and timing of each stream, as FFmpeg reads them back."""
    with av.open(str(path)) as container:
        found = {}
        for stream in container.streams:
            context = stream.codec_context
            found[stream.type] = dict(codec=context.name, pix_fmt=getattr(context, "pix_fmt", None),
                                      rate=getattr(stream, "average_rate", None))
        return found


def _first_channel(frame: av.AudioFrame) -> np.ndarray:
    samples = frame.to_ndarray().astype(np.float64)
    channels = len(frame.layout.channels)
    return samples[0] if frame.format.is_planar else samples.reshape(-1, channels)[:, 0]


def dominant_hz(path: Path) -> tuple[float, float]:
    """The loudest frequency of the file's audio, and the audio's length in seconds."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks = [_first_channel(frame) for frame in container.decode(stream)]
        rate = stream.rate
    samples = np.concatenate(chunks)
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(samples.size, 1 / rate)[spectrum.argmax()]), samples.size / rate


def test_every_output_suffix_has_a_format():
    assert set(VIDEO_SUFFIXES) == set(FORMATS)


@pytest.mark.parametrize("suffix, codec, pix_fmt", [(".mp4", "h264", "yuv420p"), (".mkv", "h264", "yuv420p"),
                                                    (".webm", "vp9", "yuv420p")])
def test_files_are_h264_or_vp9_in_420_at_the_exact_rate(tmp_path, suffix, codec, pix_fmt):
    path = tmp_path / f"out{suffix}"
    sample = SampleSource((160, 96), float(RATE), paced=False)
    with VideoWriter(path, (160, 96), float(RATE)) as writer:
        for index in range(12):
            writer.write(sample.frame_at(index))
    video = streams(path)["video"]
    assert (video["codec"], video["pix_fmt"]) == (codec, pix_fmt)
    if suffix != ".webm":  # Matroska and WebM store a time base, not the rate
        assert video["rate"] == RATE
    assert len(list(read_frames(path))) == 12
    assert [p.name for p in tmp_path.iterdir()] == [path.name], "the partial file was not renamed"


def test_mp4_is_fragmented_as_it_is_written(tmp_path):
    path = tmp_path / "out.mp4"
    with VideoWriter(path, (64, 48), 30.0) as writer:
        for index in range(90):  # key frames every 2 s: two fragments
            writer.write(np.full((48, 64, 3), index, np.uint8))
    data = path.read_bytes()
    assert data.count(b"moof") >= 2 and data.index(b"moov") < data.index(b"moof")


def test_a_lower_crf_is_better_and_larger(tmp_path):
    sizes = {}
    sample = SampleSource((320, 180), 30.0, paced=False)
    for crf in (18, 35):
        with VideoWriter(tmp_path / f"crf{crf}.mp4", (320, 180), 30.0, crf=crf) as writer:
            for index in range(10):
                writer.write(sample.frame_at(index))
        sizes[crf] = (tmp_path / f"crf{crf}.mp4").stat().st_size
    assert sizes[18] > 2 * sizes[35]
    with pytest.raises(SinkError, match="CRF"):
        VideoWriter(tmp_path / "bad.mp4", (64, 48), 30.0, crf=60)


@pytest.mark.parametrize("audio, suffix, expected", [("aac", ".mp4", "aac"), ("pcm_s16le", ".mp4", "aac"),
                                                     ("aac", ".webm", "opus"), ("pcm_s16le", ".mkv", "pcm_s16le")])
def test_render_keeps_the_sound_and_the_frame_rate(tmp_path, catalog, segmentation_model, audio, suffix, expected):
    clip = make_clip(tmp_path / ("in.mov" if audio.startswith("pcm") else "in.mp4"), frames=30, audio=audio)
    out = tmp_path / f"painted{suffix}"
    result = render(clip, out, RunConfig(proc_size_wh=(160, 96)), progress=False)
    assert result.frames == 30 and not result.interrupted
    found = streams(out)
    assert found["audio"]["codec"] == expected and found["video"]["codec"] in ("h264", "vp9")
    if suffix == ".mp4":
        assert found["video"]["rate"] == RATE
    hz, seconds = dominant_hz(out)
    assert abs(hz - TONE_HZ) < 5, "the sound is not the input's tone"
    assert abs(seconds - 30 / RATE) < 0.15, "the sound does not end with the video"


def test_render_without_sound_writes_video_only(tmp_path, catalog, segmentation_model):
    clip = make_clip(tmp_path / "in.mp4", frames=5, audio=None)
    render(clip, tmp_path / "out.mp4", RunConfig(proc_size_wh=(160, 96)), progress=False)
    assert set(streams(tmp_path / "out.mp4")) == {"video"}


def test_a_rotated_input_is_painted_upright(tmp_path, catalog, segmentation_model):
    clip = make_clip(tmp_path / "phone.mp4", frames=4, size_wh=(160, 96), audio=None, rotation=90)
    assert probe(clip).size_wh == (96, 160)  # shown upright: portrait
    out = tmp_path / "out.mp4"
    render(clip, out, RunConfig(proc_size_wh=(96, 160)), progress=False)
    painted = probe(out)
    assert painted.size_wh == (96, 160) and painted.rotation == 0  # stored upright: every player agrees


def test_the_input_is_never_overwritten_even_through_a_hard_link(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=3, audio=None)
    before = clip.read_bytes()
    linked = tmp_path / "linked.mp4"
    os.link(clip, linked)
    symlinked = tmp_path / "sym.mp4"
    symlinked.symlink_to(clip)
    for output in (clip, linked, symlinked, tmp_path / "." / "in.mp4"):
        with pytest.raises(SinkError, match="is the input"):
            render(clip, output, RunConfig(), progress=False)
    assert clip.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "linked.mp4", "sym.mp4"]


def test_run_refuses_to_record_over_its_own_source(tmp_path, capsys):
    from live_nst.cli import main

    clip = make_clip(tmp_path / "v.mp4", frames=3, audio=None)
    os.link(clip, tmp_path / "same.mp4")
    before = clip.read_bytes()
    for output in (f"file:{clip}", str(tmp_path / "same.mp4")):
        assert main(["run", "--source", str(clip), "--output", output, "--frames", "2"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "is the input" in err[0]
    assert clip.read_bytes() == before


@pytest.mark.parametrize("output", ["missing/out.mp4", "afile/out.mp4", "folder", "out.gif"])
def test_unwritable_outputs_are_refused_before_any_work(tmp_path, capsys, monkeypatch, output):
    from live_nst.cli import main

    monkeypatch.chdir(tmp_path)
    Path("afile").write_text("a file, not a folder")
    Path("folder").mkdir()
    clip = make_clip(tmp_path / "in.mp4", frames=2, audio=None)
    monkeypatch.setattr("live_nst.render.build_running_pipeline", lambda config: pytest.fail("work started"))
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["render", str(clip), "-o", output]) == 2
    assert main(["run", "--source", str(clip), "--output", f"file:{output}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("live-nst: error: cannot write") for line in err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def _live_nst(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([*LIVE_NST, *args], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, env={**os.environ, "DISPLAY": ""}, **kwargs)


def _wait_for_frames(process: subprocess.Popen, count: int) -> str:
    """Read stderr until the progress bar has counted ``count`` frames."""
    seen = b""
    while True:
        counts = [int(n) for n in re.findall(rb"recording: +(?:\d+%\|[^|]*\| )?(\d+)", seen)]
        if counts and max(counts) >= count:
            return seen.decode()
        chunk = os.read(process.stderr.fileno(), 4096)
        assert chunk, f"the process ended first: {seen.decode()[-2000:]}"
        seen += chunk


RECORD = ("run", "--source", "sample", "--size", "160x96", "--proc-size", "160x96")


@pytest.mark.slow
def test_sigterm_ends_a_recording_cleanly(tmp_path, segmentation_model):
    out = tmp_path / "rec.mp4"
    process = _live_nst(*RECORD, "--output", str(out))
    _wait_for_frames(process, 10)
    process.send_signal(signal.SIGTERM)
    rest = process.communicate(timeout=120)[1].decode()
    assert process.returncode == 130
    sent = int(re.search(r"sent (\d+) frames", rest)[1])
    assert sent >= 10 and len(list(read_frames(out))) == sent
    assert [p.name for p in tmp_path.iterdir()] == ["rec.mp4"]


@pytest.mark.slow
def test_a_killed_recording_leaves_a_playable_partial_file(tmp_path, segmentation_model):
    out = tmp_path / "rec.mp4"
    process = _live_nst(*RECORD, "--output", str(out), "--fps", "15")
    _wait_for_frames(process, 100)  # well past the third key frame (one every 2 s = 30 frames)
    process.kill()
    process.wait(timeout=60)
    partial = [p for p in tmp_path.iterdir() if p.name.startswith("rec.partial-") and p.suffix == ".mp4"]
    assert not out.exists() and len(partial) == 1
    assert len(list(read_frames(partial[0]))) >= 60


def _file_size_limit(limit: int):
    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return limited


@pytest.mark.slow
def test_a_full_disk_stops_the_recording_with_one_line_and_keeps_what_was_written(tmp_path, segmentation_model):
    out = tmp_path / "rec.mp4"
    process = _live_nst(*RECORD, "--output", str(out), "--frames", "100000", preexec_fn=_file_size_limit(200_000))
    err = process.communicate(timeout=300)[1].decode()
    assert process.returncode == 2
    errors = [line for line in err.replace("\r", "\n").splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("live-nst: error: could not write frame"), errors
    assert "File too large" in errors[0] and f"kept in {tmp_path}/rec.partial-" in errors[0]
    claimed, kept = re.search(r"The (\d+) frames that play are kept in (\S+) \(", errors[0]).groups()
    assert int(claimed) == len(list(read_frames(kept))) >= 30
    assert [p.name for p in tmp_path.iterdir()] == [Path(kept).name], "only the partial file, named so"


PLAYBACK = """new Promise(resolve => {
  const start = () => {
    const v = document.querySelector('video');
    const done = state => resolve({state, readyState: v.readyState, currentTime: v.currentTime});
    if (v.error) done('error ' + v.error.code);
    v.addEventListener('error', () => done('error ' + v.error.code));
    v.addEventListener('timeupdate', () => { if (v.readyState >= 2 && v.currentTime > 0.5) done('played'); });
    setTimeout(() => done('still waiting after 30 s'), 30000);
    v.play().catch(e => done('play() failed: ' + e));
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start); else start();
})"""


@pytest.mark.browser
def test_chromium_plays_the_mp4_a_render_writes(tmp_path, catalog, segmentation_model):
    """The painted MP4, sound and all, plays in a browser: its readyState reaches
    HAVE_CURRENT_DATA and its currentTime advances (an mp4v file, the old output, fails)."""
    from chromium import evaluate, find_chromium

    browser = find_chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have Chromium (.ci/run installs it)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    clip = make_clip(tmp_path / "in.mp4", frames=45)
    render(clip, tmp_path / "painted.mp4", RunConfig(proc_size_wh=(160, 96)), progress=False)
    page = tmp_path / "page.html"
    page.write_text('<!doctype html><video muted src="painted.mp4"></video>')
    played = evaluate(browser, page.as_uri(), PLAYBACK)
    assert played["state"] == "played", played
    assert played["readyState"] >= 2 and played["currentTime"] > 0.5
