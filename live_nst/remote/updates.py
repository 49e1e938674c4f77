"""The API's requests, checked against the state on show before anything is queued, so a
bad request changes nothing: JSON bodies, state updates and hotkey commands."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from live_nst.controls import Change, Command
from live_nst.errors import LiveNSTError
from live_nst.pipeline import REGIONS
from live_nst.remote.state import Looks

if TYPE_CHECKING:
    from live_nst.pipeline import FramePipeline

MAX_BODY_BYTES = 16 * 1024
SETTABLE = (*REGIONS, "segmentation", "styling")
REGION_FIELDS = ("style", "strength")
# Hotkey actions the API takes (POST /api/command). Quit is not among them: a control
# page changes the look; ending the stream stays with the person at the machine.
REMOTE_COMMANDS = tuple(c for c in Command if c is not Command.QUIT)

Step = Callable[["FramePipeline", float], object]  # False: it could not be done


class RequestError(LiveNSTError, ValueError):
    """A request the server refuses, with the HTTP status to answer (400 unless said)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(f"the body is not valid JSON: {exc}") from None


class Steps:
    """The intents of one request, applied together (between the same two frames);
    ``failed`` names those the pipeline could not do."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, Step]] = []
        self.failed: list[str] = []

    def add(self, description: str, step: Step) -> None:
        self.steps.append((description, step))

    def __call__(self, pipeline: FramePipeline, now: float) -> bool:
        self.failed = [description for description, step in self.steps if step(pipeline, now) is False]
        return not self.failed

    def change(self) -> Change:
        return Change(", ".join(description for description, _ in self.steps), self)


def state_update(update: Any, looks: Looks) -> tuple[Change, Steps]:
    """``POST /api/state``'s body, e.g. ``{"person": {"style": "udnie"}, "styling": true}``,
    as one Change; RequestError for anything wrong in it."""
    if not isinstance(update, dict):
        raise RequestError(f"the body must be a JSON object such as {{\"person\": {{\"style\": \"udnie\"}}}}, "
                           f"got {_kind(update)}")
    if not update:
        raise RequestError(f"nothing to change: give one or more of {', '.join(SETTABLE)}")
    unknown = [key for key in update if key not in SETTABLE]
    if unknown:
        raise RequestError(f"{unknown[0]!r} cannot be set; the settable fields are {', '.join(SETTABLE)} "
                           f"(fps, processing and styles are read-only)")
    steps = Steps()
    for region in REGIONS:
        if region in update:
            _region_steps(steps, region, update[region], looks)
    for name in ("segmentation", "styling"):
        if name in update:
            on = update[name]
            if not isinstance(on, bool):
                raise RequestError(f"{name} must be true or false, got {_kind(on)}")
            if name == "segmentation" and on and not looks.segmentation_available:
                raise RequestError("segmentation cannot go on: this run has no segmenter (started with "
                                   "--no-segmentation, or segmentation disabled in the config file)", 409)
            steps.add(f"{name} {'on' if on else 'off'}", _switch(name, on))
    return steps.change(), steps


def _region_steps(steps: Steps, region: str, fields: Any, looks: Looks) -> None:
    if not isinstance(fields, dict) or not fields:
        raise RequestError(f"{region} must be an object with style and/or strength, e.g. "
                           f"{{\"style\": \"udnie\", \"strength\": 0.8}}, got {_kind(fields)}")
    unknown = [key for key in fields if key not in REGION_FIELDS]
    if unknown:
        raise RequestError(f"{region}.{unknown[0]} is not a field; {region} takes style and strength")
    if "style" in fields:
        style = fields["style"]
        if not isinstance(style, str) or looks.style(style) is None:
            known = ", ".join(s.name for s in looks.styles)
            raise RequestError(f"unknown style {style!r} for {region}; the styles are {known} (GET /api/styles)")
        steps.add(f"{region} style {style}", lambda pipeline, now: pipeline.set_style(region, style, now))
    if "strength" in fields:
        strength = fields["strength"]
        if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not math.isfinite(strength) \
                or not 0.0 <= strength <= 1.0:
            raise RequestError(f"{region}.strength must be a number from 0 to 1, got {_kind(strength)}")
        steps.add(f"{region} strength {strength:g}",
                  lambda pipeline, now: pipeline.set_strength(region, strength))


def _switch(name: str, on: bool) -> Step:
    if name == "segmentation":
        return lambda pipeline, now: pipeline.set_segmentation(on)
    return lambda pipeline, now: pipeline.set_styling(on)


def command(body: Any) -> Command:
    """``POST /api/command``'s body, e.g. ``{"command": "next_person_style"}``."""
    names = ", ".join(c.value for c in REMOTE_COMMANDS)
    if not isinstance(body, dict) or set(body) != {"command"}:
        raise RequestError(f"the body must be {{\"command\": NAME}} with NAME one of {names}; got {_kind(body)}")
    name = body["command"]
    found = next((c for c in REMOTE_COMMANDS if c.value == name), None)
    if found is None:
        raise RequestError(f"unknown command {name!r}; the commands are {names}")
    return found


def _kind(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."
