"""Bounds on what a request may carry, checked before anything is parsed: a body's
declared length, and a JSON body's nesting depth and number length. Python's json module
would otherwise recurse until RecursionError (15,000 nested ``[``) or refuse a number of
5,000 digits with a ValueError, both raised on a server thread instead of answered.

The API's bodies are small flat objects (``{"person": {"style": "udnie", "strength": 0.5}}``),
so the bounds are far above anything it takes and far below what could hurt.
"""

from __future__ import annotations

from live_nst.remote.updates import MAX_BODY_BYTES, RequestError

MAX_JSON_DEPTH = 8  # objects and arrays inside each other
MAX_NUMBER_CHARS = 32  # one number, sign, point and exponent included

_NUMBER_BYTES = frozenset(b"0123456789+-.eE")
_OPEN, _CLOSE = frozenset(b"[{"), frozenset(b"]}")
_QUOTE, _BACKSLASH = ord('"'), ord("\\")


def body_length(header: str | None) -> int | None:
    """The body size a Content-Length header declares (None: no header). Only ASCII
    digits count (``int`` takes other scripts' digits, and refuses some that
    ``isdigit`` passes, such as superscripts)."""
    if header is None:
        return None
    text = header.strip()
    if not (text.isascii() and text.isdigit()):
        raise RequestError(f"Content-Length must be a number of bytes, got {header[:40]!r}")
    if len(text) > len(str(MAX_BODY_BYTES)) or int(text) > MAX_BODY_BYTES:
        raise RequestError(f"the body is {text[:40]} bytes; at most {MAX_BODY_BYTES} are taken", 413)
    return int(text)


def check_json_shape(body: bytes) -> bytes:
    """``body`` itself, once its nesting and numbers are known to be within bounds
    (strings are skipped: a bracket or digit inside one counts for nothing)."""
    depth, number, in_string, escaped = 0, 0, False, False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _BACKSLASH:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
            continue
        if byte in _NUMBER_BYTES:
            number += 1
            if number > MAX_NUMBER_CHARS:
                raise RequestError(f"a number in the body is longer than {MAX_NUMBER_CHARS} characters")
            continue
        number = 0
        if byte == _QUOTE:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise RequestError(f"the body nests deeper than {MAX_JSON_DEPTH} levels; the API's bodies are "
                                   f"flat objects such as {{\"person\": {{\"style\": \"udnie\"}}}}")
        elif byte in _CLOSE:
            depth -= 1
    return body
