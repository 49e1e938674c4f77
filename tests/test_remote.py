"""The control page and HTTP API (live-nst run --control): a real server on an ephemeral
loopback port, real sockets, the real live loop and pipeline, real ONNX Runtime for the
thumbnails and real headless Chromium for the page. Only the devices are left out: the
source is the built-in sample, the sink the null one."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import cv2
import numpy as np
import pytest
from commands import LIVE_NST

from live_nst.app import LiveLoop
from live_nst.catalog import StyleCatalog, packaged_styles_dir
from live_nst.config import RegionConfig, RunConfig
from live_nst.controls import Change, Command, CommandQueue, KeyMap
from live_nst.pipeline import build_pipeline
from live_nst.remote import start_control
from live_nst.remote.access import TOKEN_FILE, Access, load_or_create_token
from live_nst.remote.server import ControlServer, Timing
from live_nst.remote.state import LiveState, Looks, RegionView, StateBoard, styles_of
from live_nst.remote.thumbnails import THUMB_WH, Thumbnails
from live_nst.sinks import NullSink
from live_nst.sources import SampleSource

TOKEN = "test-token-0123456789abcdef"
WAIT_S = 30.0  # the longest any wait here may take before the test fails


# --- talking to the server ----------------------------------------------------------------


@dataclasses.dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self):
        return json.loads(self.body)


def call(server: ControlServer, method: str, path: str, body: object = None, *, token: str | None = TOKEN,
         headers: dict[str, str] | None = None, raw: bytes | None = None) -> Reply:
    """One request over a real socket; ``token`` goes as a Bearer header (None: none)."""
    sent = dict(headers or {})
    if token is not None:
        sent.setdefault("Authorization", f"Bearer {token}")
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    if data is not None:
        sent.setdefault("Content-Type", "application/json")
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT_S)
    try:
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


class EventStream:
    """GET /api/events, read event by event."""

    def __init__(self, server: ControlServer) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT_S)
        self.connection.request("GET", f"/api/events?token={TOKEN}")
        self.response = self.connection.getresponse()
        assert self.response.status == 200
        assert self.response.getheader("Content-Type").startswith("text/event-stream")

    def next_state(self) -> dict:
        """The next 'state' event's data (heartbeat comments and the retry line skipped)."""
        kind, data = None, []
        while True:
            line = self.response.readline().decode()
            if not line:
                raise EOFError("the event stream ended")
            line = line.rstrip("\n")
            if line.startswith("event:"):
                kind = line.partition(":")[2].strip()
            elif line.startswith("data:"):
                data.append(line.partition(":")[2].strip())
            elif not line:
                if kind == "state":
                    return json.loads("\n".join(data))
                kind, data = None, []

    def until(self, predicate: Callable[[dict], bool]) -> dict:
        while True:
            state = self.next_state()
            if predicate(state):
                return state

    def close(self) -> None:
        self.response.close()  # (the socket stays open while the response holds it)
        self.connection.close()


# --- a server over a fixed state: nothing applies what is queued ----------------------------


def fixed_looks(catalog: StyleCatalog) -> Looks:
    names = catalog.names
    return Looks(RegionView(names[0], 1.0), RegionView(names[1], 0.8), True, True, True, styles_of(catalog), 1)


@dataclasses.dataclass
class Idle:
    server: ControlServer
    board: StateBoard
    commands: CommandQueue

    def version(self) -> int:
        return self.board.latest()[0]


@pytest.fixture
def idle(catalog, tmp_path) -> Iterator[Idle]:
    """The checks in front of the queue: whatever they refuse must never reach it."""
    board, commands = StateBoard(), CommandQueue()
    board.publish(LiveState(fixed_looks(catalog), 12.5, (160, 96)))
    timing = Timing(apply_wait_s=0.0, snapshot_wait_s=0.0)  # no loop answers: reply 202 at once
    with ControlServer("127.0.0.1", 0, TOKEN, board, commands, Thumbnails(tmp_path / "thumbs"), timing) as server:
        yield Idle(server, board, commands)


ROUTES = [("GET", "/"), ("GET", "/api/state"), ("GET", "/api/styles"), ("GET", "/api/thumbnail?style=original"),
          ("GET", "/api/events"), ("POST", "/api/state"), ("POST", "/api/command"), ("POST", "/api/snapshot"),
          ("GET", "/no/such/page")]


@pytest.mark.parametrize("method, path", ROUTES)
def test_every_request_needs_the_token(idle, method, path):
    for token in (None, "", "x" * len(TOKEN), TOKEN[:-1], TOKEN + "x"):
        reply = call(idle.server, method, path, token=token)
        assert reply.status == 401, (token, reply.status)
        assert reply.headers["www-authenticate"].startswith("Bearer") and "token" in reply.json["error"]
    query = f"{path}{'&' if '?' in path else '?'}token={TOKEN}"
    wrong_query = f"{path}{'&' if '?' in path else '?'}token=nope"
    assert call(idle.server, method, wrong_query, token=None).status == 401
    assert idle.commands.drain() == [], "a request without the token reached the queue"
    if path != "/api/events":  # (a stream: it would not end)
        assert call(idle.server, method, query, token=None).status != 401
        assert call(idle.server, method, path).status != 401


def test_the_token_comparison_takes_the_header_or_the_query():
    access = Access.for_address(TOKEN, "127.0.0.1", 8765)
    host = {"host": "127.0.0.1:8765"}
    assert access.check("GET", {**host, "authorization": f"Bearer {TOKEN}"}, None) is None
    assert access.check("GET", {**host, "authorization": f"bearer  {TOKEN} "}, None) is None
    assert access.check("GET", host, TOKEN) is None
    assert access.check("GET", {**host, "authorization": f"Basic {TOKEN}"}, None).status == 401
    assert access.check("GET", {**host, "authorization": "Bearer wrong"}, TOKEN).status == 401


def test_bound_to_loopback_it_answers_only_loopback_host_names(idle):
    """DNS rebinding: a page on evil.example:PORT that resolves to 127.0.0.1 is refused."""
    port = idle.server.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}"):
        assert call(idle.server, "GET", "/api/state", headers={"Host": host}).status == 200
    for host in (f"evil.example:{port}", f"127.0.0.1:{port + 1}", "127.0.0.1"):
        reply = call(idle.server, "GET", "/api/state", headers={"Host": host})
        assert reply.status == 403 and "answers requests to" in reply.json["error"]


def test_changes_from_other_origins_are_refused_and_change_nothing(idle):
    port, before = idle.server.port, idle.version()
    change = {"styling": False}
    for headers in ({"Origin": "http://evil.example"}, {"Origin": f"http://evil.example:{port}"},
                    {"Origin": "null"}, {"Origin": f"https://127.0.0.1:{port}"},
                    {"Origin": f"http://127.0.0.1:{port + 1}"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Sec-Fetch-Site": "same-site", "Origin": f"http://127.0.0.1:{port}"}):
        for path, body in (("/api/state", change), ("/api/command", {"command": "swap_styles"}),
                           ("/api/snapshot", None)):
            reply = call(idle.server, "POST", path, body, headers=headers)
            assert reply.status == 403, (headers, path)
            assert "refused" in reply.json["error"]
    assert idle.commands.drain() == [] and idle.version() == before
    # This server's own page (either loopback name), and clients that send no Origin (curl, a deck):
    for headers in ({"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"},
                    {"Origin": f"http://localhost:{port}", "Host": f"localhost:{port}"}, {}):
        assert call(idle.server, "POST", "/api/state", change, headers=headers).status == 202
    assert [type(c) for c in idle.commands.drain()] == [Change] * 3


def test_on_port_80_the_host_name_may_come_without_the_port():
    access = Access.for_address(TOKEN, "127.0.0.1", 80)
    assert access.check("GET", {"host": "localhost"}, TOKEN) is None
    assert access.check("POST", {"host": "127.0.0.1", "origin": "http://127.0.0.1"}, TOKEN) is None
    assert access.check("GET", {"host": "localhost"}, None).status == 401
    assert Access.for_address(TOKEN, "127.0.0.1", 8765).check("GET", {"host": "localhost"}, TOKEN).status == 403


def test_a_network_bind_takes_the_origin_of_the_host_asked():
    access = Access(TOKEN, None)
    auth = {"authorization": f"Bearer {TOKEN}", "host": "192.168.1.5:8765"}
    assert access.check("POST", {**auth, "origin": "http://192.168.1.5:8765"}, None) is None
    assert access.check("POST", {**auth, "origin": "http://evil.example"}, None).status == 403
    assert access.check("GET", {**auth, "host": "desk-pc.local:8765"}, None) is None


BAD_BODIES = [
    (b"{", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b"[]", "must be a JSON object"),
    (b'"udnie"', "must be a JSON object"),
    (b"{}", "nothing to change"),
    (b'{"person": {"style": "no_such_style"}}', "unknown style 'no_such_style'"),
    (b'{"person": {"style": "../../etc/passwd"}}', "unknown style"),
    (b'{"background": {"style": 7}}', "unknown style 7"),
    (b'{"person": {"strength": 1.5}}', "person.strength must be a number from 0 to 1"),
    (b'{"person": {"strength": -0.1}}', "from 0 to 1"),
    (b'{"person": {"strength": "0.5"}}', "from 0 to 1"),
    (b'{"person": {"strength": true}}', "from 0 to 1"),
    (b'{"person": {"strength": NaN}}', "from 0 to 1"),
    (b'{"person": {"stlye": "udnie"}}', "person.stlye is not a field"),
    (b'{"person": "udnie"}', "person must be an object"),
    (b'{"person": {}}', "person must be an object"),
    (b'{"fps": 60}', "'fps' cannot be set"),
    (b'{"segmentation": "off"}', "segmentation must be true or false"),
    (b'{"styling": 0}', "styling must be true or false"),
    # All or nothing: a good part does not go through beside a bad one.
    (b'{"person": {"style": "original"}, "background": {"style": "no_such_style"}}', "unknown style"),
    (b'{"person": {"style": "original", "strength": 2}}', "from 0 to 1"),
]


@pytest.mark.parametrize("body, message", BAD_BODIES)
def test_bad_state_updates_get_400_with_a_message_and_change_nothing(idle, body, message):
    before = idle.version()
    reply = call(idle.server, "POST", "/api/state", raw=body)
    assert reply.status == 400 and message in reply.json["error"], reply.json
    assert idle.commands.drain() == [] and idle.version() == before


@pytest.mark.parametrize("body, message", [
    (b'{"command": "quit"}', "unknown command 'quit'"),
    (b'{"command": "rm -rf"}', "unknown command"),
    (b'{"command": "swap_styles", "x": 1}', "the body must be"),
    (b'["swap_styles"]', "the body must be"),
    (b"swap_styles", "not valid JSON"),
])
def test_bad_commands_get_400_and_queue_nothing(idle, body, message):
    reply = call(idle.server, "POST", "/api/command", raw=body)
    assert reply.status == 400 and message in reply.json["error"]
    assert idle.commands.drain() == []


def test_a_command_takes_the_hotkeys_path(idle):
    reply = call(idle.server, "POST", "/api/command", {"command": "next_background_style"})
    assert reply.status == 202 and reply.json == {"queued": "next_background_style"}
    assert idle.commands.drain() == [Command.NEXT_BACKGROUND_STYLE]


def test_bodies_must_be_small_and_measured(idle):
    connection = http.client.HTTPConnection("127.0.0.1", idle.server.port, timeout=WAIT_S)
    connection.putrequest("POST", "/api/state")
    connection.putheader("Authorization", f"Bearer {TOKEN}")
    connection.putheader("Content-Length", str(10**9))
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 413 and "at most" in json.loads(response.read())["error"]
    connection.close()
    empty = call(idle.server, "POST", "/api/state")
    assert empty.status == 400 and "needs a JSON body" in empty.json["error"]
    chunked = call(idle.server, "POST", "/api/state", headers={"Transfer-Encoding": "chunked"}, raw=b"")
    assert chunked.status == 411
    assert idle.commands.drain() == []


def test_unknown_paths_and_styles_are_not_found_and_no_file_is_ever_read(idle, tmp_path):
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"not for the web")
    for path in ("/api/nothing", "/index.html", "/dock.js", "/../../etc/passwd", f"/{secret}",
                 f"/api/thumbnail?style={secret}", "/api/thumbnail?style=../../../etc/passwd",
                 "/api/thumbnail?style=", "/api/thumbnail"):
        reply = call(idle.server, "GET", path)
        assert reply.status == 404 and b"not for the web" not in reply.body, path
    assert call(idle.server, "POST", "/api/nothing", {}).status == 405


def test_the_page_is_self_contained_and_its_policy_allows_only_itself(idle):
    reply = call(idle.server, "GET", "/")
    assert reply.status == 200 and reply.headers["content-type"].startswith("text/html")
    page = reply.body.decode()
    assert "<!--SCRIPT-->" not in page and "http://" not in page and "https://" not in page
    policy = reply.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    for tag in ("script", "style"):
        blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", page, re.S)
        assert len(blocks) == 1
        digest = base64.b64encode(hashlib.sha256(blocks[0].encode()).digest()).decode()
        assert f"{tag}-src 'sha256-{digest}'" in policy
    assert reply.headers["cache-control"] == "no-store" and reply.headers["referrer-policy"] == "no-referrer"


def test_state_and_styles_read_the_published_state(idle, catalog):
    state = call(idle.server, "GET", "/api/state").json
    names = catalog.names
    assert state["person"] == {"style": names[0], "strength": 1.0}
    assert state["background"] == {"style": names[1], "strength": 0.8}
    assert state["fps"] == 12.5 and state["processing"] == {"width": 160, "height": 96}
    assert state["segmentation"] is True and state["styling"] is True
    assert state["styles"] == [*names, "original", "blur"] and state["version"] == idle.version()
    styles = call(idle.server, "GET", "/api/styles").json["styles"]
    assert [s["name"] for s in styles] == state["styles"]
    first = styles[0]
    # The shipped pack's styles ship with live-nst as original and blur do.
    assert first["title"] == catalog.entries[names[0]].info.title and first["builtin"] is True
    assert styles[-1] == {"name": "blur", "title": "Blur", "artist": "", "builtin": True,
                          "thumbnail": "/api/thumbnail?style=blur"}


# --- tokens and thumbnails ------------------------------------------------------------------


def test_the_token_is_made_once_private_and_kept(tmp_path):
    token = load_or_create_token(tmp_path / "config")
    path = tmp_path / "config" / TOKEN_FILE
    assert len(token) >= 32 and path.read_text().strip() == token
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_token(tmp_path / "config") == token  # a dock URL keeps working after a restart
    path.write_text("short\n")
    fresh = load_or_create_token(tmp_path / "config")
    assert fresh != token and path.read_text().strip() == fresh
    (tmp_path / "file").write_text("a file where the folder should be")
    assert len(load_or_create_token(tmp_path / "file")) >= 32  # valid for this run only, with a warning


def test_thumbnails_are_painted_by_the_network_once_and_cached_on_disk(catalog, tmp_path):
    folder = tmp_path / "thumbs"
    thumbs = Thumbnails(folder)
    styles = {s.name: s for s in styles_of(catalog)}
    first, second = (styles[name] for name in catalog.names[:2])

    def decode(data: bytes) -> np.ndarray:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (THUMB_WH[1], THUMB_WH[0], 3)
        return image.astype(int)

    painted, other, original = (decode(thumbs.get(s)) for s in (first, second, styles["original"]))
    assert np.abs(painted - original).mean() > 10, "the thumbnail is not painted"
    assert np.abs(painted - other).mean() > 10, "two styles give the same thumbnail"
    assert np.abs(decode(thumbs.get(styles["blur"])) - original).mean() > 1
    cached = sorted(folder.glob("*.jpg"))
    assert len(cached) == 2, "the built-in looks are not cached on disk, the two styles are"
    # A new run reads the cache instead of painting: what the cached file holds comes back.
    marker = cv2.imencode(".jpg", np.full((THUMB_WH[1], THUMB_WH[0], 3), 200, np.uint8))[1].tobytes()
    target = next(p for p in cached if p.name.endswith(f"-{first.index}-r1.jpg"))
    target.write_bytes(marker)
    assert Thumbnails(folder).get(first) == marker
    target.write_bytes(b"broken")  # an unreadable cache file is painted again
    assert np.abs(decode(Thumbnails(folder).get(first)) - painted).mean() < 2


# --- against the live loop ------------------------------------------------------------------


class WatchedServer(ControlServer):
    """The control server with its event streams watched, so a test waits for a stream
    to open or close (``open_streams``, ``streams_served``) rather than sleeping."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.streams_changed = threading.Condition()
        self.streams_served = 0  # ever opened

    def open_stream(self) -> bool:
        opened = super().open_stream()
        with self.streams_changed:
            self.streams_served += opened
            self.streams_changed.notify_all()
        return opened

    def close_stream(self) -> None:
        super().close_stream()
        with self.streams_changed:
            self.streams_changed.notify_all()

    def wait_streams(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self.streams_changed:
            return self.streams_changed.wait_for(predicate, timeout)


@dataclasses.dataclass
class Live:
    server: WatchedServer
    loop: LiveLoop
    board: StateBoard
    commands: CommandQueue
    styles_dir: Path
    snapshots: Path
    frames: threading.Condition
    sent: list[int]

    @property
    def pipeline(self):
        return self.loop.pipeline

    def wait_frames(self, count: int) -> None:
        with self.frames:
            assert self.frames.wait_for(lambda: self.sent[0] >= count, WAIT_S), f"fewer than {count} frames sent"


@pytest.fixture
def start_live(catalog, segmentation_model, tmp_path) -> Iterator[Callable[..., Live]]:
    """The live loop on the sample (10 fps, 160x96) in a thread of its own, serving its
    state to a control server; the styles are the pack's and those in a folder of the test's."""
    with ExitStack() as stack:
        def start(timing: Timing | None = None) -> Live:
            styles_dir, snapshots = tmp_path / "styles", tmp_path / "snapshots"
            styles_dir.mkdir(exist_ok=True)
            snapshots.mkdir(exist_ok=True)
            names = catalog.names
            config = RunConfig(size_wh=(160, 96), proc_size_wh=(160, 96), fps=10.0, person=RegionConfig(names[0]),
                               background=RegionConfig(names[1]), output="null", source="sample", adaptive=False)
            pipeline = build_pipeline(config, StyleCatalog([packaged_styles_dir(), styles_dir]), threads=1,
                                      spinning=False)
            stack.callback(pipeline.close)
            board, commands = StateBoard(), CommandQueue()
            source = SampleSource(config.size_wh, config.fps)
            stack.callback(source.close)
            loop = LiveLoop(source, pipeline, NullSink(), commands, KeyMap.from_config(config.keys),
                            snapshot_dir=snapshots, painters=1, board=board)
            frames, sent = threading.Condition(), [0]

            def count() -> None:
                with frames:
                    sent[0] += 1
                    frames.notify_all()

            thread = threading.Thread(target=loop.run, kwargs={"on_frame": count}, daemon=True)
            server = WatchedServer("127.0.0.1", 0, TOKEN, board, commands, Thumbnails(tmp_path / "thumbs"),
                                   timing or Timing())
            stack.enter_context(server)
            thread.start()
            stack.callback(thread.join, WAIT_S)
            stack.callback(loop.stop.request, "the test is over")
            live = Live(server, loop, board, commands, styles_dir, snapshots, frames, sent)
            live.wait_frames(1)
            return live
        yield start


def test_a_state_update_applies_between_frames_and_the_answer_shows_it(start_live, catalog):
    live = start_live()
    target = catalog.names[3]
    change = {"person": {"style": target, "strength": 0.4}, "background": {"strength": 0.65}, "segmentation": False}
    reply = call(live.server, "POST", "/api/state", change)
    assert reply.status == 200, reply.json
    state = reply.json
    assert state["person"] == {"style": target, "strength": 0.4}
    assert state["background"]["strength"] == 0.65 and state["segmentation"] is False
    pipeline = live.pipeline
    assert (pipeline.person.look, pipeline.person.strength, pipeline.background.strength) == (target, 0.4, 0.65)
    assert pipeline.segmentation_on is False
    assert call(live.server, "GET", "/api/state").json["person"]["style"] == target
    live.wait_frames(live.sent[0] + 2)  # and the stream goes on


def test_a_hotkey_change_is_pushed_to_the_page_at_once(start_live, catalog):
    live = start_live()
    stream = EventStream(live.server)
    try:
        first = stream.next_state()
        cycle = catalog.cycle()
        expected = cycle[(cycle.index(first["person"]["style"]) + 1) % len(cycle)]
        live.commands.put(Command.NEXT_PERSON_STYLE)  # what the ']' hotkey puts there
        pushed = stream.until(lambda s: s["person"]["style"] != first["person"]["style"])
        assert pushed["person"]["style"] == expected and pushed["version"] > first["version"]
        live.commands.put(Command.STRENGTH_DOWN)
        assert stream.until(lambda s: s["person"]["strength"] != 1.0)["person"]["strength"] == 0.9
    finally:
        stream.close()
    server = live.server
    assert server.wait_streams(lambda: server.open_streams == 0, WAIT_S), "the stream's thread outlived its client"


def test_swap_over_the_api_trades_styles_and_strengths_and_each_change_is_one_log_line(start_live, catalog,
                                                                                       caplog):
    live = start_live()
    person, background = catalog.names[0], catalog.names[1]
    stream = EventStream(live.server)
    try:
        with caplog.at_level("INFO", logger="live_nst.app"):
            reply = call(live.server, "POST", "/api/state", {"person": {"strength": 0.3}})
            assert reply.status == 200, reply.json
            assert call(live.server, "POST", "/api/command", {"command": "swap_styles"}).status == 202
            swapped = stream.until(lambda s: s["person"]["style"] == background)
    finally:
        stream.close()
    assert swapped["person"] == {"style": background, "strength": 1.0}
    assert swapped["background"] == {"style": person, "strength": 0.3}
    lines = [r.getMessage() for r in caplog.records if r.name == "live_nst.app" and r.levelname == "INFO"
             and "->" in r.getMessage()]
    assert lines == [f"control page: person strength 0.3 -> person {person} 0.30, background {background} 1.00",
                     f"swap_styles -> person {background} 1.00, background {person} 0.30"], lines


def test_snapshot_through_the_api_writes_the_picture_on_show(start_live):
    live = start_live()
    reply = call(live.server, "POST", "/api/snapshot")
    assert reply.status == 200, reply.json
    path = Path(reply.json["path"])
    assert path.parent == live.snapshots.resolve() and path.name == reply.json["file"]
    assert cv2.imread(str(path)).shape == (96, 160, 3)


def test_a_style_file_dropped_in_while_running_joins_the_gallery(start_live):
    live = start_live()
    shutil.copy(packaged_styles_dir() / "pack.onnx", live.styles_dir / "mine.onnx")
    added = live.board.wait_for(lambda s: any(v.name.endswith("@mine") for v in s.looks.styles), WAIT_S)
    assert added is not None, "the new style file never showed in the state"
    name = next(v.name for v in added[1].looks.styles if v.name.endswith("@mine"))
    listed = {s["name"]: s for s in call(live.server, "GET", "/api/styles").json["styles"]}
    assert listed[name]["builtin"] is False, "a style from the user's folder is the user's own"
    assert listed[name.removesuffix("@mine")]["builtin"] is True
    thumbnail = call(live.server, "GET", f"/api/thumbnail?style={name.replace('@', '%40')}")
    assert thumbnail.status == 200 and thumbnail.headers["content-type"] == "image/jpeg"
    assert call(live.server, "POST", "/api/state", {"background": {"style": name}}).json["background"]["style"] == name


def test_a_style_that_fails_to_load_is_a_409_and_the_region_keeps_its_look(start_live, catalog, tmp_path):
    """A style file whose metadata reads but whose network does not load: listed, and
    refused when asked for, with the stream left as it was."""
    import onnx

    model = onnx.load(str(packaged_styles_dir() / "pack.onnx"))
    model.graph.ClearField("node")
    (tmp_path / "styles").mkdir()
    onnx.save(model, str(tmp_path / "styles" / "broken.onnx"))
    live = start_live()
    name = f"{catalog.names[0]}@broken"
    assert live.board.latest()[1].looks.style(name) is not None, "the file's styles are not listed"
    before = (live.pipeline.person.look, live.pipeline.person.strength)
    reply = call(live.server, "POST", "/api/state", {"person": {"style": name, "strength": 0.5}})
    assert reply.status == 409 and "could not apply: person style" in reply.json["error"], reply.json
    assert live.pipeline.person.look == before[0] and reply.json["state"]["person"]["style"] == before[0]
    thumbnail = call(live.server, "GET", f"/api/thumbnail?style={name.replace('@', '%40')}")
    assert thumbnail.status == 500 and "could not be painted" in thumbnail.json["error"]


def test_a_stuck_event_client_holds_up_only_its_own_thread(start_live):
    """A client that opens the event stream and never reads: the server's writes to it
    block, and after the socket timeout its thread gives up; the stream of frames and
    other clients go on meanwhile."""
    live = start_live(Timing(heartbeat_s=0.001, socket_timeout_s=2.0, stream_buffer_bytes=4096))
    server = live.server
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    stuck.connect(("127.0.0.1", server.port))
    try:
        before = live.sent[0]
        stuck.sendall(f"GET /api/events?token={TOKEN} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
        assert server.wait_streams(lambda: server.streams_served == 1, WAIT_S)
        assert call(server, "GET", "/api/state").status == 200
        assert server.wait_streams(lambda: server.open_streams == 0, WAIT_S), "the stuck stream never timed out"
        # Its thread gave up only after a write had blocked for the socket timeout (2 s):
        # frames went out all that while.
        assert live.sent[0] > before, "no frame went out while a client was stuck"
        live.wait_frames(live.sent[0] + 2)
    finally:
        stuck.close()


def test_a_non_loopback_host_is_served_with_a_warning(catalog, caplog, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))  # the token file
    monkeypatch.setenv("APPDATA", str(tmp_path))
    board = StateBoard()
    board.publish(LiveState(fixed_looks(catalog), 0.0, (160, 96)))
    with caplog.at_level("INFO", logger="live_nst.remote"):
        server = start_control("0.0.0.0:0", board, CommandQueue())
    try:
        assert server.access is not None and server.access.hosts is None
        assert server.dock_url.startswith(f"http://127.0.0.1:{server.port}/?token=")
        assert call(server, "GET", "/api/state", token=server.token).status == 200
    finally:
        server.stop()
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("reachable from other machines" in w for w in warnings)
    assert any(server.dock_url in r.getMessage() for r in caplog.records)


def test_help_says_port_0_takes_any_free_port():
    import argparse

    from live_nst.cli import build_parser

    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert "PORT 0 takes any free port" in " ".join(action.choices["run"].format_help().split())


def test_a_port_in_use_is_a_clear_error(idle):
    from live_nst.errors import ConfigError

    with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{idle.server.port}"):
        ControlServer("127.0.0.1", idle.server.port, TOKEN, idle.board, CommandQueue()).start()


def test_live_nst_run_with_control_prints_the_dock_url_and_takes_changes(tmp_path, catalog, segmentation_model):
    """The command end to end: the URL it prints works, a change goes through, SIGTERM ends it."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "LIVE_NST_STYLES": str(tmp_path / "no-styles")}
    process = subprocess.Popen([*LIVE_NST, "run", "--source", "sample", "--output", "null",
                                "--size", "160x96", "--proc-size", "160x96", "--fps", "10", "--control", "0",
                                "--no-global-hotkeys"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        for line in process.stderr:
            found = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]+)", line)
            if found:
                url = found
            if "live: person" in line:
                break
        assert url is not None, "no dock URL printed"
        assert (tmp_path / "config" / "live-nst" / TOKEN_FILE).read_text().strip() == url[2]
        connection = http.client.HTTPConnection("127.0.0.1", int(url[1]), timeout=WAIT_S)
        body = json.dumps({"person": {"style": catalog.names[2]}})
        connection.request("POST", f"/api/state?token={url[2]}", body=body)
        reply = connection.getresponse()
        assert reply.status == 200 and json.loads(reply.read())["person"]["style"] == catalog.names[2]
        connection.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=WAIT_S) == 130
    finally:
        process.kill()
        process.stderr.close()


# --- the page in a real browser -------------------------------------------------------------

READY = """new Promise((resolve, reject) => {
  const ready = () => document.body && document.body.dataset.ready === "true"
    && !document.getElementById("status").textContent.startsWith("0.0");
  if (ready()) return resolve(true);
  const watch = new MutationObserver(() => { if (ready()) { watch.disconnect(); resolve(true); } });
  watch.observe(document, {attributes: true, childList: true, subtree: true, characterData: true});
})"""

TILE_CENTRE = """(() => {
  const r = document.querySelector(`.tile[data-style="${%s}"]`).getBoundingClientRect();
  return [r.x + r.width / 2, r.y + r.height / 2];
})()"""

MARKED = """new Promise((resolve) => {
  const tile = () => document.querySelector(`.tile[data-style="${%s}"]`);
  const done = () => tile().classList.contains("person") && tile().querySelector(".badge.person") !== null;
  if (done()) return resolve(true);
  const watch = new MutationObserver(() => { if (done()) { watch.disconnect(); resolve(true); } });
  watch.observe(document.getElementById("gallery"), {attributes: true, childList: true, subtree: true});
})"""


@pytest.mark.browser
def test_the_dock_in_chromium_sets_the_persons_style_with_one_click(start_live, catalog, tmp_path):
    """Loads the dock as OBS would, clicks a style, checks the pipeline took it, and saves a
    screenshot (LIVE_NST_DOCK_SCREENSHOT=docs/control_dock.png refreshes the README's)."""
    from chromium import Browser, find_chromium

    executable = find_chromium()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have Chromium (.ci/run installs it)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    live = start_live()
    target = catalog.names[5]
    assert live.pipeline.person.look != target
    with Browser(executable, 320, 640) as page:
        page.open(live.server.dock_url)
        assert page.evaluate(READY) is True
        page.resize(320, page.evaluate("document.documentElement.scrollHeight"))  # the whole dock in view
        page.click(*page.evaluate(TILE_CENTRE % json.dumps(target)))
        applied = live.board.wait_for(lambda s: s.looks.person.style == target, WAIT_S)
        assert applied is not None, "the click did not reach the pipeline"
        assert live.pipeline.person.look == target
        assert page.evaluate(MARKED % json.dumps(target)) is True
        assert page.evaluate("document.getElementById('person-style').textContent") == \
            catalog.entries[target].info.title
        png = page.screenshot()
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape[1] == 320 and image.shape[0] > 400
    assert image[:, :, :].mean() < 90, "the dock is not dark"
    (tmp_path / "control_dock.png").write_bytes(png)
    if os.environ.get("LIVE_NST_DOCK_SCREENSHOT"):
        Path(os.environ["LIVE_NST_DOCK_SCREENSHOT"]).write_bytes(png)
