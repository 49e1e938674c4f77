"""The control server: the dock page, the JSON API and the event stream.

The standard library's ThreadingHTTPServer: one thread per connection, no dependency,
and all this needs. State goes to the page as Server-Sent Events (one-way push, which
EventSource reconnects by itself); changes come back as POSTs. Each event stream has its
own thread, and every socket a timeout, so a slow or stuck client holds up only itself.

The server never touches the pipeline: it reads the state the loop publishes
(:class:`StateBoard`) and puts orders on the hotkeys' queue, which the loop applies
between frames. A POST waits, on its own thread and for at most ``apply_wait_s``, for its
change to be applied, so the answer shows the result.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import logging
import select
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from live_nst.controls import CommandQueue, SnapshotRequest
from live_nst.errors import ConfigError, LiveNSTError
from live_nst.remote.access import Access, is_wildcard, url_host
from live_nst.remote.limits import body_length, check_json_shape
from live_nst.remote.state import LiveState, StateBoard
from live_nst.remote.thumbnails import Thumbnails
from live_nst.remote.updates import RequestError, command, parse_json, state_update

log = logging.getLogger(__name__)

CLIENT_CHECK_S = 1.0  # how often a quiet event stream checks that its client is still there


@dataclasses.dataclass(frozen=True)
class Timing:
    """How long the server waits, and for what (seconds)."""

    apply_wait_s: float = 2.0  # a POST, for the loop to apply its change
    snapshot_wait_s: float = 5.0  # POST /api/snapshot, for the file to be written
    heartbeat_s: float = 15.0  # an event stream's comment line when nothing changed (keeps proxies open)
    socket_timeout_s: float = 10.0  # any read or write on a connection: a stuck client's thread ends
    max_streams: int = 8  # event streams open at once
    stream_buffer_bytes: int = 64 * 1024  # an event stream's send buffer: what a stuck client may hold


def _hung_up(connection: socket.socket) -> bool:
    """Whether the client closed its end (it sends nothing more on an event stream)."""
    try:
        readable, _, _ = select.select([connection], [], [], 0)
        return bool(readable) and connection.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def dock_page() -> tuple[bytes, str]:
    """The page with its style sheet and script inlined, and the Content-Security-Policy
    that allows exactly those two (by hash) and nothing from elsewhere."""
    folder = resources.files("live_nst.remote")
    css, script = (folder.joinpath(name).read_text(encoding="utf-8") for name in ("dock.css", "dock.js"))
    html = folder.joinpath("dock.html").read_text(encoding="utf-8")
    html = html.replace("<!--STYLE-->", f"<style>{css}</style>").replace("<!--SCRIPT-->", f"<script>{script}</script>")
    digest = lambda text: base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()  # noqa: E731
    policy = (f"default-src 'none'; style-src 'sha256-{digest(css)}'; script-src 'sha256-{digest(script)}'; "
              f"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    return html.encode("utf-8"), policy


class ControlServer:
    """``start`` binds and serves on a daemon thread; ``stop`` ends every connection."""

    def __init__(self, host: str, port: int, token: str, board: StateBoard, commands: CommandQueue,
                 thumbnails: Thumbnails | None = None, timing: Timing = Timing()) -> None:
        self.host, self.requested_port, self.token = host, port, token
        self.board, self.commands = board, commands
        self.thumbnails = thumbnails or Thumbnails()
        self.timing = timing
        self.page, self.page_policy = dock_page()
        self.access: Access | None = None
        self._http: _HTTPServer | None = None
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._streams = threading.Lock()
        self.open_streams = 0

    @property
    def port(self) -> int:
        """The port it listens (or listened) on: the one the system chose for port 0."""
        if self._port is None:
            raise RuntimeError("the control server has not started")
        return self._port

    @property
    def dock_url(self) -> str:
        host = "127.0.0.1" if is_wildcard(self.host) else url_host(self.host)
        return f"http://{host}:{self.port}/?{urlencode({'token': self.token})}"

    def start(self) -> ControlServer:
        handler = type("Handler", (_Handler,), {"timeout": self.timing.socket_timeout_s})
        server_class = _HTTPServer6 if ":" in self.host else _HTTPServer
        try:
            self._http = server_class((self.host, self.requested_port), handler)
        except OSError as exc:
            raise ConfigError(f"--control cannot listen on {url_host(self.host)}:{self.requested_port}: "
                              f"{exc.strerror or exc}; choose another port (or HOST) with --control") from None
        self._http.control = self
        self._port = int(self._http.server_address[1])
        self.access = Access.for_address(self.token, self.host, self._port)
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="live-nst-control", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering; wake the event streams (they end) and close the listening socket."""
        http, self._http = self._http, None
        if http is None:
            return
        self.board.close()
        http.shutdown()
        http.server_close()

    def __enter__(self) -> ControlServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- event streams ----------------------------------------------------------------
    def open_stream(self) -> bool:
        with self._streams:
            if self.open_streams >= self.timing.max_streams:
                return False
            self.open_streams += 1
            return True

    def close_stream(self) -> None:
        with self._streams:
            self.open_streams -= 1


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a client still connected never holds up the exit
    control: ControlServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints a traceback on stderr, over the live console; a connection
        # that broke (the client went, a stuck write timed out) is no news there.
        log.debug("control: a connection from %s ended with an error", client_address[0], exc_info=True)


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"  # keep-alive: the gallery's thumbnails share connections
    # A request line without a version (HTTP/0.9, or bytes that are no HTTP at all: TLS, an
    # HTTP/2 preface) is answered with a status line too, not with a bare body.
    default_request_version = "HTTP/1.0"

    def version_string(self) -> str:
        return "live-nst"

    # --- routing ----------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve("GET", {
            "/": self._page,
            "/api/state": self._state,
            "/api/styles": self._styles,
            "/api/thumbnail": self._thumbnail,
            "/api/events": self._events,
        })

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST", {
            "/api/state": self._change_state,
            "/api/command": self._command,
            "/api/snapshot": self._snapshot,
        })

    def _serve(self, method: str, routes: dict[str, Callable[[], None]]) -> None:
        """Answer one request; whatever goes wrong gets an answer (or, when the client
        went, a closed connection), never a traceback on the console."""
        try:
            self._route(method, routes)
        except RequestError as exc:
            self._error(exc.status, str(exc))
        except TimeoutError:
            self._error(408, f"the request did not arrive within {self.timeout:g} s (is its Content-Length "
                             f"larger than its body?)")
        except OSError as exc:  # the client went: nobody to answer
            log.debug("control: %s %s: the connection broke: %s", method, self._path_only(), exc)
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001 - a bug here must not print over the live console
            log.error("control: %s %s failed: %s: %s (a bug: please report it)", method, self._path_only(),
                      type(exc).__name__, exc)
            log.debug("control: the failure", exc_info=True)
            self._error(500, "the server failed on this request (a bug; the log says more)")

    def _route(self, method: str, routes: dict[str, Callable[[], None]]) -> None:
        control = self.server.control
        try:
            url = urlsplit(self.path)
        except ValueError:  # e.g. an unclosed IPv6 bracket in an absolute URL
            raise RequestError("the request's path is not a valid URL") from None
        self.query = parse_qs(url.query, keep_blank_values=True)
        headers = {name.lower(): value for name, value in self.headers.items()}
        refusal = control.access.check(method, headers, self._param("token")) if control.access else None
        if refusal is not None:
            extra = {"WWW-Authenticate": 'Bearer realm="live-nst"'} if refusal.status == 401 else {}
            self._error(refusal.status, refusal.message, extra)
            return
        route = routes.get(url.path)
        if route is None:
            known = ", ".join(f"{method} {path}" for path in routes)
            self._error(404 if method == "GET" else 405, f"no {method} {url.path} here; this server answers {known}")
            return
        route()

    def _param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    # --- GET ----------------------------------------------------------------------------
    def _page(self) -> None:
        control = self.server.control
        self._send(200, control.page, "text/html; charset=utf-8", {"Content-Security-Policy": control.page_policy})

    def _latest(self) -> tuple[int, LiveState]:
        version, state = self.server.control.board.latest()
        if state is None:
            raise RequestError("live-nst is starting: no state yet, ask again in a moment", 503)
        return version, state

    def _state(self) -> None:
        version, state = self._latest()
        self._json(200, state.to_json(version))

    def _styles(self) -> None:
        _, state = self._latest()
        styles = [{**style.to_json(), "thumbnail": "/api/thumbnail?" + urlencode({"style": style.name})}
                  for style in state.looks.styles]
        self._json(200, {"styles": styles})

    def _thumbnail(self) -> None:
        name = self._param("style") or ""
        style = self._latest()[1].looks.style(name)  # looked up by name: never a path from the request
        if style is None:
            raise RequestError(f"no style {name!r} (GET /api/styles lists them)", 404)
        try:
            data = self.server.control.thumbnails.get(style)
        except (LiveNSTError, OSError, ValueError) as exc:
            log.warning("no thumbnail for style %r: %s", name, exc)
            raise RequestError(f"the thumbnail of {name!r} could not be painted: {exc}", 500) from None
        self._send(200, data, "image/jpeg")  # not cached by the browser: a replaced style file gets its new one

    def _events(self) -> None:
        """Server-Sent Events: the state now, then each new one; a comment line when
        nothing changed for heartbeat_s. Ends when the client goes or the server stops."""
        control = self.server.control
        if not control.open_stream():
            raise RequestError(f"too many event streams open (at most {control.timing.max_streams})", 503)
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, control.timing.stream_buffer_bytes)
            self.close_connection = True  # the stream ends with the connection
            self.send_response(200)
            self._common_headers({"Content-Type": "text/event-stream; charset=utf-8", "Connection": "close"})
            self.end_headers()
            self.wfile.write(b"retry: 2000\n\n")
            version, quiet_since = -1, time.monotonic()
            while not control.board.closed:
                news = control.board.wait_newer(version, min(control.timing.heartbeat_s, CLIENT_CHECK_S))
                if news is None:
                    if _hung_up(self.connection):  # (a reload of the page): this thread is not kept waiting
                        break
                    if time.monotonic() - quiet_since >= control.timing.heartbeat_s:
                        self.wfile.write(b": still here\n\n")
                        quiet_since = time.monotonic()
                    continue
                version, state, quiet_since = *news, time.monotonic()
                event = f"event: state\nid: {version}\ndata: {json.dumps(state.to_json(version))}\n\n"
                self.wfile.write(event.encode())
        except OSError as exc:  # gone, or stuck past the socket timeout: this thread ends, nothing else does
            log.debug("an event stream ended: %s", exc)
        finally:
            control.close_stream()

    # --- POST ---------------------------------------------------------------------------
    def _body(self, required: bool = True) -> Any:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise RequestError("send the body with a Content-Length (not chunked)", 411)
        self.close_connection = True  # until the body is read whole: what is left of it is no next request
        length = body_length(self.headers.get("Content-Length"))
        if not length:
            if required:
                raise RequestError("the request needs a JSON body (and its Content-Length)", 411 if
                                   length is None else 400)
            self.close_connection = False
            return None
        data = self.rfile.read(length)  # TimeoutError when the client sends less and waits: a 408
        if len(data) < length:
            raise RequestError(f"the body ended after {len(data)} of the {length} bytes its Content-Length "
                               f"announced")
        self.close_connection = False
        return parse_json(check_json_shape(data))

    def _change_state(self) -> None:
        control = self.server.control
        body = self._body()
        _, state = self._latest()
        change, steps = state_update(body, state.looks)
        control.commands.put(change)
        if not change.done.wait(control.timing.apply_wait_s):
            self._json(202, {"queued": change.description, "state": self._latest_json()})
            return
        if not change.ok:
            failed = "; ".join(steps.failed)
            self._json(409, {"error": f"could not apply: {failed} (the log says why; a style's model may fail "
                                      f"to load)", "state": self._latest_json()})
            return
        applied = control.board.wait_for(lambda s: s.looks.serial >= change.serial, control.timing.apply_wait_s)
        if applied is None:
            self._json(202, {"queued": change.description, "state": self._latest_json()})
            return
        self._json(200, applied[1].to_json(applied[0]))

    def _command(self) -> None:
        order = command(self._body())
        self.server.control.commands.put(order)  # exactly what the hotkey does
        self._json(202, {"queued": order.value})

    def _snapshot(self) -> None:
        control = self.server.control
        self._body(required=False)
        request = SnapshotRequest()
        control.commands.put(request)
        try:
            path = request.reply.result(timeout=control.timing.snapshot_wait_s)
        except FutureTimeout:
            self._json(202, {"queued": "snapshot"})
            return
        if path is None:
            raise RequestError("no snapshot: no frame has been painted yet, or the file could not be written "
                               "(the log says which)", 503)
        self._json(200, {"file": path.name, "path": str(path.resolve())})

    def _latest_json(self) -> dict[str, Any] | None:
        version, state = self.server.control.board.latest()
        return None if state is None else state.to_json(version)

    # --- answers ------------------------------------------------------------------------
    def _common_headers(self, headers: dict[str, str]) -> None:
        merged = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                  **headers}
        for name, value in merged.items():
            self.send_header(name, value)

    def _send(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self._common_headers({"Content-Type": content_type, "Content-Length": str(len(data)), **(headers or {})})
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode("utf-8"), "application/json", headers)

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self.close_connection = True  # a body the request came with may be unread: no next request on it
        self._json(status, {"error": message, "status": status, "reason": HTTPStatus(status).phrase}, headers)

    def _path_only(self) -> str:
        """The request's path without its query (which may hold the token); "" before the
        request line was read, or when it is not a URL."""
        try:
            return urlsplit(getattr(self, "path", "")).path
        except ValueError:
            return "(not a URL)"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        # Never the request line: its query holds the token.
        log.debug("control: %s %s: %s", getattr(self, "command", None), self._path_only(), format % args)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # Also called for a request line that never parsed (TLS, HTTP/2, a 64 KB URL): no path yet.
        log.debug("control: %s %s -> %s", getattr(self, "command", None), self._path_only(), code)
