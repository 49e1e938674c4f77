"""A hostile client against the control server: hand-made and random byte streams,
truncated and oversized requests, over real sockets to a real server on loopback with
the real live loop behind it. Every request gets an HTTP answer of a fitting status or a
clean close; nothing is printed on the console (no traceback), nothing is logged above
debug, and the stream goes on without a frame error."""

from __future__ import annotations

import json
import logging
import random
import socket

import pytest
from test_remote import TOKEN, WAIT_S, start_live  # noqa: F401 - start_live is a fixture

from live_nst.remote.limits import MAX_JSON_DEPTH, MAX_NUMBER_CHARS, body_length, check_json_shape
from live_nst.remote.server import Timing
from live_nst.remote.updates import MAX_BODY_BYTES, RequestError

AUTH = f"Authorization: Bearer {TOKEN}\r\n".encode()
FUZZ_TIMING = Timing(socket_timeout_s=1.0)  # what a client that stops sending is waited for


def post(body: bytes, headers: bytes = b"", path: bytes = b"/api/state") -> bytes:
    length = f"Content-Length: {len(body)}\r\n".encode() if b"content-length" not in headers.lower() else b""
    return b"POST " + path + b" HTTP/1.1\r\nHost: HOST\r\n" + AUTH + headers + length + b"\r\n" + body


# (what the client sends, whether it then closes its sending side, the statuses that fit;
# an empty tuple: a clean close without an answer is fitting too)
HOSTILE = [
    (post(b"[" + b"9" * 5000 + b"]"), True, (400,)),
    (post(b"[" * 15000), True, (400,)),
    (post(b'{"person": ' * 20 + b"1" + b"}" * 20), True, (400,)),
    (post(b"{}", b"Content-Length: \xd9\xa1\xd9\xa2\r\n"), True, (400,)),  # Arabic-Indic digits
    (post(b"{}", b"Content-Length: \xc2\xb2\r\n"), True, (400,)),  # a superscript two
    (post(b"{}", b"Content-Length: -5\r\n"), True, (400,)),
    (post(b"{}", b"Content-Length: 99999999999999999999999999\r\n"), True, (413,)),
    (post(b"{}", b"Transfer-Encoding: chunked\r\n"), True, (411,)),
    (b"POST /api/state HTTP/1.1\r\nHost: HOST\r\n" + AUTH + b"\r\n", True, (411,)),
    (post(b'{"per', b"Content-Length: 40\r\n"), True, (400,)),  # the body ends early
    (post(b'{"per', b"Content-Length: 40\r\n"), False, (408,)),  # ... and the client waits
    (post(b"\xff\xfe not json"), True, (400,)),
    (post(b'{"person": {"strength": 1e999999}}'), True, (400,)),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)), True, ()),  # a TLS client hello
    (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", True, (400, 505)),
    (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", True, (414,)),
    (b"GET / HTTP/1.1\r\n" + b"X-Long: " + b"b" * 70000 + b"\r\n\r\n", True, (431,)),
    (b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 120 + b"\r\n", True, (431,)),
    (b"GET http://[::1/api/state HTTP/1.1\r\nHost: HOST\r\n" + AUTH + b"\r\n", True, (400,)),
    (b"GET /api/state HTTP/1.1\r\nHost: HOST\r\n" + AUTH, True, (200,)),  # headers cut short: a request all the same
    (b"GET /api/sta", True, ()),
    (b"GET /api/sta", False, ()),  # ... and the client waits
    (b"BREW /pot HTTP/1.1\r\n\r\n", True, (501,)),
    (b"GET / HTTP/9.9\r\n\r\n", True, (505,)),
    (b"\r\n\r\n\r\n", True, ()),
    (b"", True, ()),
]


def exchange(port: int, data: bytes, close_sending: bool) -> bytes:
    """Send ``data``, then read everything the server answers until it closes."""
    data = data.replace(b"Host: HOST", f"Host: 127.0.0.1:{port}".encode())
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT_S) as connection:
        try:
            connection.sendall(data)
            if close_sending:
                connection.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):  # it answered and closed before taking everything
            pass
        received = b""
        try:
            while chunk := connection.recv(65536):
                received += chunk
        except ConnectionResetError:  # closed with our unread bytes in its buffer: a close all the same
            pass
        return received


def statuses(answer: bytes) -> list[int]:
    """The status of each HTTP answer in ``answer``; an answer that is not HTTP fails."""
    found = []
    while answer:
        head, _, rest = answer.partition(b"\r\n\r\n")
        line = head.split(b"\r\n")[0]
        assert line.startswith(b"HTTP/1."), f"not an HTTP answer: {answer[:80]!r}"
        found.append(int(line.split()[1]))
        lengths = [int(h.split(b":")[1]) for h in head.split(b"\r\n")[1:] if h.lower().startswith(b"content-length:")]
        length = lengths[0] if lengths else 0
        answer = rest[length:]
    return found


def random_streams(count: int) -> list[bytes]:
    """Random bytes, and real requests with random bytes spliced in or cut off."""
    rng = random.Random(29)
    real = [post(b'{"person": {"strength": 0.5}}'), b"GET /api/state HTTP/1.1\r\nHost: HOST\r\n" + AUTH + b"\r\n"]
    streams = []
    for index in range(count):
        if index % 3 == 0:
            streams.append(rng.randbytes(rng.choice((1, 16, 300, 5000))))
            continue
        base = bytearray(rng.choice(real))
        at = rng.randrange(len(base))
        if index % 3 == 1:
            base[at:at + rng.randrange(1, 8)] = rng.randbytes(rng.randrange(1, 8))
        else:
            del base[at:]
        streams.append(bytes(base))
    return streams


@pytest.fixture
def hostile_live(start_live, caplog, capfd):  # noqa: F811 - the fixture imported above
    caplog.set_level(logging.DEBUG)
    live = start_live(FUZZ_TIMING)
    capfd.readouterr()  # what starting printed (MediaPipe's notes) is not the server's
    before = (live.sent[0], live.loop.stats.errors)
    yield live
    live.wait_frames(live.sent[0] + 3)  # the stream went on ...
    assert live.loop.stats.errors == before[1], "a frame failed while the server was attacked"
    printed = capfd.readouterr()
    assert "Traceback" not in printed.err + printed.out, printed.err[-2000:]
    loud = [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING and r.name.startswith("live_nst.remote")]
    assert loud == [], loud


@pytest.mark.parametrize(("data", "close_sending", "fitting"), HOSTILE, ids=range(len(HOSTILE)))
def test_each_hostile_request_gets_a_fitting_answer_or_a_clean_close(hostile_live, data, close_sending, fitting):
    answer = exchange(hostile_live.server.port, data, close_sending)
    found = statuses(answer)
    if fitting:
        assert found and found[0] in fitting, (found, answer[:300])
    else:
        assert all(400 <= status < 500 for status in found), (found, answer[:300])


def test_random_byte_streams_get_http_answers_or_clean_closes(hostile_live):
    for data in random_streams(120):
        for status in statuses(exchange(hostile_live.server.port, data, close_sending=True)):
            assert 200 <= status < 600 and status != 500, (status, data[:80])
    assert exchange(hostile_live.server.port, post(b'{"person": {"strength": 0.5}}'), True).startswith(b"HTTP/1.1 200")


BOUNDS = [
    (b'{"a": [1, 2, {"b": 3}]}', None),
    (b'{"s": "' + b"[" * 100 + b'9' * 100 + b'"}', None),  # inside a string: nothing counts
    (b'{"s": "\\"[[[[[[[[[[[["}', None),  # an escaped quote does not end the string
    (b"[" * (MAX_JSON_DEPTH + 1), "nests deeper"),
    (b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH, None),
    (b"1" * (MAX_NUMBER_CHARS + 1), "longer than"),
    (b"-1.5e" + b"1" * (MAX_NUMBER_CHARS - 5), None),
]


@pytest.mark.parametrize(("body", "refusal"), BOUNDS)
def test_json_bounds_are_checked_before_parsing(body, refusal):
    if refusal is None:
        assert check_json_shape(body) is body
        return
    with pytest.raises(RequestError, match=refusal):
        check_json_shape(body)


@pytest.mark.parametrize(("header", "length", "status"), [
    (None, None, None), ("12", 12, None), (" 0 ", 0, None), ("١٢", None, 400), ("²", None, 400), ("1e3", None, 400),
    (str(MAX_BODY_BYTES + 1), None, 413), ("9" * 5000, None, 413)])
def test_content_length_is_ascii_digits_within_the_bound(header, length, status):
    if status is None:
        assert body_length(header) == length
        return
    with pytest.raises(RequestError) as refused:
        body_length(header)
    assert refused.value.status == status
    assert json.dumps(str(refused.value))  # a message that fits an answer


def test_three_snapshots_in_one_second_are_three_files(hostile_live):
    answers = [exchange(hostile_live.server.port, post(b"", path=b"/api/snapshot"), True) for _ in range(3)]
    files = [json.loads(answer.partition(b"\r\n\r\n")[2])["path"] for answer in answers]
    assert all(answer.startswith(b"HTTP/1.1 200") for answer in answers)
    written = sorted(str(p) for p in hostile_live.snapshots.resolve().glob("*.png"))
    assert len(set(files)) == 3 and written == sorted(files)
