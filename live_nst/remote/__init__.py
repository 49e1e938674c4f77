"""Remote control (``live-nst run --control [HOST:]PORT``): a small page for an OBS
Custom Browser Dock (or a phone), and an HTTP JSON API for a Stream Deck or a script.

- :mod:`.state`: the state the loop publishes and the server reads;
- :mod:`.updates`: the API's requests, checked before anything is queued;
- :mod:`.access`: the token, and where requests may come from;
- :mod:`.thumbnails`: the gallery's pictures, painted once and cached;
- :mod:`.server`: the HTTP server, the page and the event stream.
"""

from __future__ import annotations

import logging

from live_nst.config import parse_control
from live_nst.controls import CommandQueue
from live_nst.remote.access import is_loopback, load_or_create_token
from live_nst.remote.server import ControlServer
from live_nst.remote.state import StateBoard

log = logging.getLogger(__name__)


def start_control(spec: str, board: StateBoard, commands: CommandQueue) -> ControlServer:
    """Serve the control page and API at ``spec`` ([HOST:]PORT) and say where."""
    host, port = parse_control(spec, "--control")
    server = ControlServer(host, port, load_or_create_token(), board, commands).start()
    if not is_loopback(host):
        log.warning("the control page listens on %s:%d, reachable from other machines: anyone with its token can "
                    "change the styles, and plain HTTP is not encrypted (use it on a network you trust)",
                    host, server.port)
    log.info("control page (add it to OBS as a Custom Browser Dock): %s", server.dock_url)
    return server
