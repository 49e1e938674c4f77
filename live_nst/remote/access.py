"""Who may use the control server.

- Every request carries the token (``Authorization: Bearer TOKEN`` or ``?token=``),
  compared in constant time. The token is made once and kept in the user config folder,
  so an OBS dock or a Stream Deck button keeps working from one run to the next; delete
  the file for a new one.
- Bound to loopback, the server answers only requests addressed to a loopback name (the
  Host header), so a web page cannot reach it through DNS rebinding.
- A state change that a browser sends from another page (its Origin is not the server's,
  or Sec-Fetch-Site says cross-site) is refused, so no page the user visits can forge one.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from live_nst.catalog import user_config_dir

log = logging.getLogger(__name__)

TOKEN_FILE = "control-token"
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,128}")
SAME_ORIGIN_FETCHES = ("same-origin", "none")  # Sec-Fetch-Site values a state change may carry


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_wildcard(host: str) -> bool:
    return host in ("0.0.0.0", "::", "")


def url_host(host: str) -> str:
    """A host as a URL writes it (an IPv6 address in brackets)."""
    return f"[{host}]" if ":" in host else host


def load_or_create_token(folder: Path | None = None) -> str:
    """The control token kept in ``folder`` (the user config folder), made on first use;
    a fresh one for this run only when the folder cannot be written."""
    path = (folder or user_config_dir()) / TOKEN_FILE
    try:
        token = path.read_text(encoding="ascii").strip()
        if TOKEN_PATTERN.fullmatch(token):
            return token
        log.warning("%s does not hold a valid control token; making a new one", path)
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("cannot read the control token in %s (%s); making a new one", path, exc)
    token = secrets.token_urlsafe(24)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Readable by this user only, and written whole: created under a temporary name.
        partial = path.with_name(f".{TOKEN_FILE}.{os.getpid()}")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as fh:
            fh.write(token + "\n")
        os.replace(partial, path)
    except OSError as exc:
        log.warning("cannot save the control token in %s (%s): it is valid for this run only", path, exc)
    return token


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str


@dataclass(frozen=True)
class Access:
    """The checks every request passes. ``hosts``: the Host header values answered (the
    loopback names when bound to loopback); None answers any (bound to a network address,
    where the names the server is reached by are not known)."""

    token: str
    hosts: frozenset[str] | None

    @classmethod
    def for_address(cls, token: str, host: str, port: int) -> Access:
        if not is_loopback(host):
            return cls(token, None)
        names = {"127.0.0.1", "localhost", "[::1]", url_host(host)}
        hosts = {f"{name}:{port}" for name in names} | (names if port == 80 else set())  # (browsers omit :80)
        return cls(token, frozenset(hosts))

    def check(self, method: str, headers: Mapping[str, str], query_token: str | None) -> Refusal | None:
        """None when the request may go on; else why not. ``headers``' names in lower case."""
        host = headers.get("host", "")
        if self.hosts is not None and host.lower() not in self.hosts:
            return Refusal(403, f"this server answers requests to {', '.join(sorted(self.hosts))} only, not "
                                f"{host or 'a request without a Host header'}")
        if not self.token_matches(_bearer(headers.get("authorization")) or query_token):
            return Refusal(401, "a valid token is needed: the URL live-nst printed at start has it "
                                "(?token=...), or send the header 'Authorization: Bearer TOKEN'")
        if method != "GET":
            return self._check_origin(headers, host)
        return None

    def token_matches(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode("utf-8"), self.token.encode("utf-8"))

    def _check_origin(self, headers: Mapping[str, str], host: str) -> Refusal | None:
        fetch_site = headers.get("sec-fetch-site")
        if fetch_site is not None and fetch_site not in SAME_ORIGIN_FETCHES:
            return Refusal(403, f"changes from another site are refused (Sec-Fetch-Site: {fetch_site})")
        origin = headers.get("origin")
        if origin is None:  # not a browser's cross-origin request (curl, a Stream Deck): the token decides
            return None
        own = {f"http://{name}" for name in self.hosts} if self.hosts is not None else {f"http://{host}".lower()}
        if origin.lower() not in own:
            return Refusal(403, f"changes from the page at {origin} are refused: only this server's own page "
                                f"may send them")
        return None


def _bearer(value: str | None) -> str | None:
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None
