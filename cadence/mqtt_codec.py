"""The MQTT topic tree and JSON messages of cadence: pure functions, no network.

Topics, for a runner ``ana`` under the default prefix ``cadence``::

    cadence/ana/metrics   per-second Metrics               QoS 0
    cadence/ana/alerts    Alert raised / cleared           QoS 1
    cadence/ana/status    RunnerStatus, retained           QoS 1 (and the last will)
    cadence/ana/steps     Contact per foot contact         QoS 0 (off by default)

Every payload is one JSON object with the schema version ``"v"``, the ``"runner"``, the host's
wall-clock ``"sent_at"`` (Unix seconds) and the fields of the object it carries; stream times
stay in stream seconds. Non-finite numbers are sent as ``null`` ("not known"). docs/mqtt.md
describes the schemas.
"""

from __future__ import annotations

import json
import math
import types
import typing
from dataclasses import MISSING, dataclass, fields
from typing import Any, Final, Literal, TypeVar

from cadence.contacts import Contact
from cadence.errors import CadenceError, ConfigurationError
from cadence.events import Alert, Metrics, SourceStatus

SCHEMA_VERSION: Final = 1
DEFAULT_PREFIX: Final = "cadence"

TopicKind = Literal["metrics", "alerts", "status", "steps"]
TOPIC_KINDS: Final[tuple[TopicKind, ...]] = ("metrics", "alerts", "status", "steps")
RunnerState = Literal["online", "offline"]

Carried = Metrics | Alert | Contact
_Record = TypeVar("_Record")


class MqttMessageError(CadenceError):
    """A message on a cadence topic that cannot be decoded: names the topic and the problem."""

    def __init__(self, topic: str, problem: str) -> None:
        self.topic = topic
        self.problem = problem
        super().__init__(f"MQTT message on {topic}: {problem}")


@dataclass(frozen=True, slots=True)
class RunnerStatus:
    """The retained state of one runner's sink: ``online`` while connected, else ``offline``.

    ``reason`` says why a runner went offline: ``"finished"`` for a clean end of the run,
    ``"connection lost"`` when the broker delivered the last will. ``source`` is the latest
    state of the runner's sensor link, when the sink has seen one.
    """

    state: RunnerState
    reason: str = ""
    source: SourceStatus | None = None


@dataclass(frozen=True, slots=True)
class Decoded:
    """One decoded message: whose it is, which topic kind, what it carries, when it was sent."""

    runner: str
    kind: TopicKind
    item: Carried | RunnerStatus
    sent_at: float


def check_topic_level(value: str, what: str) -> str:
    """Return ``value`` if it can be one MQTT topic level, else raise ConfigurationError."""
    bad = sorted({c for c in value if c in "+#/\0"})
    if not value or bad:
        problem = "is empty" if not value else f"contains {' '.join(repr(c) for c in bad)}"
        raise ConfigurationError(
            f"{what} {value!r} cannot be an MQTT topic level: it {problem} "
            "(use letters, digits, '-', '_' or '.')"
        )
    return value


def topic(prefix: str, runner: str, kind: TopicKind) -> str:
    """The topic of one kind of message for one runner, e.g. ``cadence/ana/alerts``."""
    return f"{prefix}/{runner}/{kind}"


def subscription(prefix: str, kind: TopicKind) -> str:
    """The wildcard that matches one kind of message for every runner."""
    return f"{prefix}/+/{kind}"


def parse_topic(prefix: str, name: str) -> tuple[str, TopicKind] | None:
    """``(runner, kind)`` of a cadence topic under ``prefix``; None for any other topic."""
    if not name.startswith(prefix + "/"):
        return None
    runner, _, kind = name[len(prefix) + 1 :].partition("/")
    if not runner:
        return None
    for known in TOPIC_KINDS:
        if kind == known:
            return runner, known
    return None


def encode(runner: str, item: Carried | RunnerStatus, *, sent_at: float) -> bytes:
    """The JSON payload for one item."""
    body: dict[str, Any] = {"v": SCHEMA_VERSION, "runner": runner, "sent_at": sent_at}
    body.update(_fields_of(item))
    if isinstance(item, RunnerStatus) and item.source is not None:
        body["source"] = _fields_of(item.source)
    return json.dumps(body, allow_nan=False, separators=(",", ":")).encode()


def kind_of(item: Carried | RunnerStatus) -> TopicKind:
    """The topic kind an item is published under."""
    if isinstance(item, Metrics):
        return "metrics"
    if isinstance(item, Alert):
        return "alerts"
    if isinstance(item, Contact):
        return "steps"
    return "status"


def decode(prefix: str, name: str, payload: bytes) -> Decoded:
    """Decode a message received on topic ``name``; MqttMessageError says what is wrong."""
    where = parse_topic(prefix, name)
    if where is None:
        raise MqttMessageError(name, f"not a cadence topic under {prefix!r}")
    runner, kind = where
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MqttMessageError(name, f"payload is not JSON ({error})") from None
    if not isinstance(body, dict):
        raise MqttMessageError(name, f"payload is a JSON {type(body).__name__}, not an object")
    if body.get("v") != SCHEMA_VERSION:
        raise MqttMessageError(
            name, f"schema version {body.get('v')!r} is not {SCHEMA_VERSION} (field 'v')"
        )
    sent_at = _check(name, "sent_at", body.get("sent_at"), float)
    item: Carried | RunnerStatus
    if kind == "metrics":
        item = _build(name, Metrics, body)
    elif kind == "alerts":
        item = _build(name, Alert, body)
    elif kind == "steps":
        item = _build(name, Contact, body)
    else:
        source = body.get("source")
        if source is not None and not isinstance(source, dict):
            raise MqttMessageError(name, "field 'source' is not an object")
        item = RunnerStatus(
            state=_check(name, "state", body.get("state"), RunnerState),
            reason=_check(name, "reason", body.get("reason", ""), str),
            source=None if source is None else _build(name, SourceStatus, source),
        )
    return Decoded(runner=runner, kind=kind, item=item, sent_at=sent_at)


def _fields_of(item: object) -> dict[str, Any]:
    return {
        f.name: _json_value(getattr(item, f.name))
        for f in fields(item)  # type: ignore[arg-type]
        if f.name != "source"
    }


def _json_value(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _build(name: str, cls: type[_Record], body: dict[str, Any]) -> _Record:
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name in body:
            values[f.name] = _check(name, f.name, body[f.name], hints[f.name])
        elif f.default is MISSING:
            raise MqttMessageError(name, f"field {f.name!r} is missing")
    return cls(**values)


def _check(name: str, field_name: str, value: object, hint: Any) -> Any:
    """``value`` converted to the type ``hint`` (float, int, str, bool, Literal, unions)."""
    options = _options(hint)
    if value is None and type(None) in options:
        return None
    for option in options:
        if typing.get_origin(option) is Literal and value in typing.get_args(option):
            return value
        if option is bool and isinstance(value, bool):
            return value
        if isinstance(value, bool):
            continue
        if option is float and isinstance(value, int | float):
            return float(value)
        if option in (int, str) and isinstance(value, option):
            return value
    raise MqttMessageError(name, f"field {field_name!r} has the value {value!r}")


def _options(hint: Any) -> tuple[Any, ...]:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return typing.get_args(hint)
    return (hint,)
