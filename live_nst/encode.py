"""Writing video files, with PyAV: FFmpeg's libraries (libx264, libvpx, Opus, AAC) come
inside its wheel, so no system ffmpeg is needed.

- ``.mp4`` (``.m4v``, ``.mov``): H.264, yuv420p, as fragmented MP4 (a fragment at each key
  frame, one every 2 s, and at least one each half second): browsers play it, and it stays
  playable up to the last fragment after any stop, a kill or a full disk included: what
  is lost is that half second and the encoder's look-ahead, under a second at 30 fps.
  Audio AAC (or MP3) copied as is, any other re-encoded to AAC.
- ``.mkv``: H.264 in Matroska (a cluster each half second, written as it goes); most
  audio codecs are copied as is.
- ``.webm``: VP9 and Opus, for browsers that prefer open codecs. WebM starts a cluster
  only at a key frame, so it has one each second (and loses up to that much).
- ``.avi``: Motion JPEG, no audio (kept for older tools).

Frames are RGB (H, W, 3) uint8, stored upright (a rotation the source asked for is
already applied, so every player shows what live-nst showed). Colours are converted
with the BT.601 matrix and tagged so, with BT.709/sRGB primaries.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from live_nst.errors import SinkError

log = logging.getLogger(__name__)

DEFAULT_CRF = 23  # x264's own default: visually close to the source at a modest size
CRF_RANGE = (0, 51)
KEYFRAME_S = 2.0  # a key frame (and an MP4 fragment) this often
# Each packet leaves FFmpeg's buffer when written: a kill loses at most the fragment in the making.
_AS_IT_GOES = {"flush_packets": "1"}
# What a crash or a full disk may lose: the fragment (MP4) or cluster (Matroska) in the
# making, which the muxer holds in memory until it is complete.
FRAGMENT_S = 0.5
_FRAGMENTED = {"movflags": "frag_keyframe+empty_moov+default_base_moof",
               "frag_duration": str(round(FRAGMENT_S * 1_000_000)), **_AS_IT_GOES}  # microseconds
_CLUSTERED = {"cluster_time_limit": str(round(FRAGMENT_S * 1000)), **_AS_IT_GOES}  # milliseconds
_MKV_AUDIO = frozenset({"aac", "mp3", "opus", "vorbis", "flac", "ac3", "eac3", "pcm_s16le", "pcm_s24le"})
# BT.601 matrix (what the RGB -> YUV conversion uses), BT.709 primaries and transfer, TV range.
_COLOUR_TAGS = dict(colorspace=6, color_primaries=1, color_trc=1, color_range=1)


@dataclass(frozen=True)
class Format:
    """What a file ending is written as."""

    container: str  # FFmpeg's muxer
    video_codec: str
    pix_fmt: str
    audio_codec: str | None  # the encoder when the source's audio cannot be copied; None: no audio
    audio_copy: frozenset[str] = frozenset()  # audio codecs copied as they are
    options: dict[str, str] = field(default_factory=dict)  # the muxer's
    keyframe_s: float = KEYFRAME_S


FORMATS: dict[str, Format] = {
    ".mp4": Format("mp4", "libx264", "yuv420p", "aac", frozenset({"aac", "mp3"}), _FRAGMENTED),
    ".m4v": Format("mp4", "libx264", "yuv420p", "aac", frozenset({"aac", "mp3"}), _FRAGMENTED),
    ".mov": Format("mov", "libx264", "yuv420p", "aac", frozenset({"aac", "mp3"}), _FRAGMENTED),
    ".mkv": Format("matroska", "libx264", "yuv420p", "aac", _MKV_AUDIO, _CLUSTERED),
    ".webm": Format("webm", "libvpx-vp9", "yuv420p", "libopus", frozenset({"opus", "vorbis"}), _CLUSTERED,
                    keyframe_s=2 * FRAGMENT_S),
    ".avi": Format("avi", "mjpeg", "yuvj420p", None, options=_AS_IT_GOES),
}


def format_for(path: Path) -> Format:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise SinkError(f"cannot write {path}: the file type {path.suffix or '(none)'} is not supported; use one of "
                        f"{', '.join(FORMATS)} (.mp4 plays everywhere)")
    return fmt


def frame_rate(fps: float) -> Fraction:
    """An exact rate for a float one: 29.97002997 -> 30000/1001, 25.0 -> 25."""
    return Fraction(fps).limit_denominator(1001)


def codec_options(fmt: Format, crf: int, preset: str) -> dict[str, str]:
    """The video encoder's options for ``fmt`` (what live-nst writes, and what the bench's
    encode section times)."""
    if fmt.video_codec == "libx264":
        # A look-ahead of 10 frames (veryfast's; "fast" would hold 30): frames inside the
        # encoder are lost with the fragment in the making when the disk fills or the process dies.
        # Diamond motion search and the simplest sub-pixel refinement: on painted 720p frames
        # this takes 30-40% less CPU than veryfast's own, at the same size and PSNR
        # (`live-nst-bench --sections encode`), CPU that render's painting needs.
        return {"crf": str(crf), "preset": preset, "rc-lookahead": "10",
                "x264-params": "me=dia:subme=1"}
    if fmt.video_codec == "libvpx-vp9":  # constant quality; realtime speed settings
        return {"crf": str(crf), "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1",
                "lag-in-frames": "0"}  # no frames held back: a cluster is written as soon as it ends
    return {"qscale": "3"}


class Encoder:
    """One open output file: a video stream, and the audio of ``audio_from`` if it has any.
    Raises SinkError for anything FFmpeg refuses, naming the file and the frame."""

    def __init__(self, path: Path, size_wh: tuple[int, int], fps: float, *, container_suffix: str,
                 crf: int = DEFAULT_CRF, preset: str = "veryfast", audio_from: Path | None = None,
                 shown_as: Path | None = None, options: dict[str, str] | None = None) -> None:
        """``shown_as``: the file name messages give (the final name of a partial file);
        ``options``: the video encoder's, in place of :func:`codec_options` (to compare settings)."""
        self.path, self.name = path, shown_as or path
        self.fmt = FORMATS[container_suffix]
        self.rate = frame_rate(fps)
        # 4:2:0 needs even sides: an odd last row or column is dropped.
        self.size_wh = (size_wh[0] - size_wh[0] % 2, size_wh[1] - size_wh[1] % 2)
        self.frames = 0
        self._closed = False
        try:
            self._container: Any = av.open(str(path), mode="w", format=self.fmt.container,
                                           options=self.fmt.options)
        except (av.FFmpegError, OSError) as exc:
            raise SinkError(f"cannot open {self.name} for writing: {_reason(exc)}") from None
        try:
            self._video = self._add_video(options or codec_options(self.fmt, crf, preset))
            self._audio = AudioTrack(self._container, audio_from, self.fmt) if audio_from else None
        except BaseException:
            self._container.close()
            raise

    def _add_video(self, options: dict[str, str]) -> Any:
        stream = self._container.add_stream(self.fmt.video_codec, rate=self.rate)
        stream.width, stream.height = self.size_wh
        stream.pix_fmt = self.fmt.pix_fmt
        stream.time_base = 1 / self.rate
        context = stream.codec_context
        context.gop_size = max(1, round(self.fmt.keyframe_s * self.rate))
        for name, value in _COLOUR_TAGS.items():
            setattr(context, name, value)
        stream.options = options
        return stream

    def write(self, frame: np.ndarray) -> None:
        width, height = self.size_wh
        image = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[:height, :width]), format="rgb24")
        image.pts = self.frames
        self._mux(self._video.encode(image), f"frame {self.frames + 1}")
        self.frames += 1
        if self._audio is not None:
            self._audio.write_until(float(self.frames / self.rate), self._mux)

    def close(self, flush: bool = True) -> None:
        """Flush the encoders and finish the file (what is written stays, even on an error).
        ``flush`` False (after a failed write): only close, quietly; the error was told.
        A second call does nothing."""
        if self._closed:
            return
        self._closed = True
        try:
            if flush:
                self._mux(self._video.encode(None), "the last frames")
                if self._audio is not None:
                    self._audio.finish(float(self.frames / self.rate), self._mux)
        finally:
            try:
                self._container.close()
            except (av.FFmpegError, OSError) as exc:
                if flush:
                    raise SinkError(f"could not finish {self.name}: {_reason(exc)}") from None

    def _mux(self, packets: Any, what: str) -> None:
        try:
            for packet in packets:
                self._container.mux(packet)
        except (av.FFmpegError, OSError) as exc:
            raise SinkError(f"could not write {what} to {self.name}: {_reason(exc)}") from None


class AudioTrack:
    """The first audio stream of a source file, written beside the video as it grows:
    copied when the container takes its codec, else re-encoded; cut where the video ends."""

    def __init__(self, container: Any, source: Path, fmt: Format) -> None:
        self._input: Any = None
        self._pending: list[Any] = []
        try:
            self._input = av.open(str(source))
        except (av.FFmpegError, OSError) as exc:
            log.warning("cannot read the audio of %s (%s): the output has none", source, _reason(exc))
            return
        streams = self._input.streams.audio
        if not streams or fmt.audio_codec is None:
            if streams:
                log.warning("%s files hold no audio here: the output has none (write .mp4 to keep it)",
                            fmt.container.upper())
            self._close_input()
            return
        source_stream = streams[0]
        self.copy = source_stream.codec_context.name in fmt.audio_copy
        if self.copy:
            self._stream = container.add_stream_from_template(source_stream)
        else:
            rate = source_stream.rate if fmt.audio_codec != "libopus" else 48000
            self._stream = container.add_stream(fmt.audio_codec, rate=rate)
            self._stream.layout = "stereo" if source_stream.channels > 1 else "mono"
        self._source_stream = source_stream
        self._offset = float(self._input.start_time or 0) / av.time_base  # the input's clock starts here
        self._items = self._demux()
        log.debug("audio of %s %s as %s", source, "copied" if self.copy else "re-encoded",
                  self._stream.codec_context.name)

    def _demux(self) -> Iterator[tuple[float, Any]]:
        """(time s, packet) of the source's audio, on the output's clock."""
        for packet in self._input.demux(self._source_stream):
            if packet.pts is None or packet.dts is None:
                continue
            time = float(packet.pts * packet.time_base) - self._offset
            if time >= 0:
                yield time, packet

    def write_until(self, seconds: float, mux: Any) -> None:
        """Write the audio that starts before ``seconds``."""
        if self._input is None:
            return
        while True:
            if not self._pending:
                item = next(self._items, None)
                if item is None:
                    self._close_input()
                    return
                self._pending.append(item)
            time, packet = self._pending[0]
            if time >= seconds:
                return
            self._pending.pop()
            mux(self._convert(packet), "the audio")

    def _convert(self, packet: Any) -> list[Any]:
        if self.copy:
            shift = round(self._offset / packet.time_base)
            packet.pts -= shift
            packet.dts -= shift
            packet.stream = self._stream
            return [packet]
        out = []
        for frame in packet.decode():
            frame.pts = None
            out.extend(self._stream.encode(frame))
        return out

    def finish(self, seconds: float, mux: Any) -> None:
        """The audio up to ``seconds`` (the video's end), then the encoder's last packets."""
        if self._input is not None:
            self.write_until(seconds, mux)
            self._close_input()
        if getattr(self, "copy", True) is False:
            mux(self._stream.encode(None), "the audio")

    def _close_input(self) -> None:
        if self._input is not None:
            self._input.close()
            self._input = None


def playable_frames(path: Path) -> int:
    """How many video frames a decoder gets back from ``path`` (what a failed write kept):
    decoded up to the first error, 0 for a file that does not open."""
    count = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return 0
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for _ in container.decode(stream):
                count += 1
    except (av.FFmpegError, OSError, ValueError) as exc:
        log.debug("%s decodes up to frame %d: %s", path, count, _reason(exc))
    return count


def _reason(exc: BaseException) -> str:
    """FFmpeg's or the OS's reason, without the Python wrapper's noise."""
    strerror = getattr(exc, "strerror", None)
    return str(strerror) if strerror else (str(exc) or type(exc).__name__)
