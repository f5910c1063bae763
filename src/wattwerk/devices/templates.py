"""Generic device templates for user catalogue entries (like evcc's ``custom`` devices): a device
that is not in the catalogue described as data, read and written by one generic driver per protocol
(``devices/custom.py``). Modbus needs no template: an entry's ``registers`` and ``writes`` already
are one (types, scales, word order, scale-factor registers).

* ``native: http_json`` with an ``http:`` section: GET (or POST) paths under the site file's ``url``,
  numbers picked from the JSON answer by path (``ac.power``, ``meters[0].w``), commands sent as a
  request whose query or body carries the value.
* ``native: mqtt_json`` with an ``mqtt:`` section: topics under the site file's ``topic``
  (``{topic}`` in a topic is replaced by it), numbers picked from each JSON payload (or the whole
  payload is the number), commands published on a command topic.

In payloads, bodies, paths and query values ``{value}`` is replaced by the command's value in the
device's unit (``raw = value * scale``, or the write's ``map``); an integral value is written without a
decimal point. In HTTP bodies ``{now}`` is the UTC time (``2026-01-05T12:00:00.000Z``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from wattwerk.model import quantity_info

Command = Literal[
    "power_limit",
    "battery_setpoint",
    "battery_mode",
    "current_limit",
    "enable",
    "phases",
    "sgready",
    "relay",
    "power",
]


class StrictModel(BaseModel):
    """A catalogue model: unknown keys are errors, values never change once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class JsonValue(StrictModel):
    """One number of an answer: at ``json`` (dots and ``[i]``; none: the whole payload is the number),
    times ``scale`` to our unit and sign (kWh -> Wh: 1000; a battery reporting + charging: -1)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    quantity: str
    json_path: str | None = Field(default=None, alias="json")
    scale: float = 1.0
    offset: float = 0.0
    optional: bool = False  # some firmware lacks it: left out, not an error

    @field_validator("quantity")
    @classmethod
    def _known(cls, v: str) -> str:
        quantity_info(v)  # ValueError "unknown quantity ..." for a typo
        return v

    @field_validator("scale")
    @classmethod
    def _nonzero(cls, v: float) -> float:
        if v == 0:
            raise ValueError("a scale of 0 would make every value 0")
        return v


def _absolute(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"a path under the site file's url starts with /, e.g. /{path}")
    return path


UrlPath = Annotated[str, AfterValidator(_absolute)]


class JsonIndex(StrictModel):
    """An answer that is a list of records (Zaptec's observations ``[{"StateId": 513, "ValueAsString":
    "11040.5"}, ...]``) read as a table: each record's ``key`` names its ``value``; the values' ``json`` is
    then the key (``"513"``)."""

    key: str = Field(min_length=1)
    value: str = Field(min_length=1)

    def table(self, doc: Any) -> dict[str, Any]:
        from wattwerk.protocols.jsonmap import _MISSING, resolve

        records = doc if isinstance(doc, list) else []
        out: dict[str, Any] = {}
        for record in records:
            key, value = resolve(record, self.key), resolve(record, self.value)
            if key is not _MISSING and value is not _MISSING:
                out[str(key)] = value
        return out


class HttpRead(StrictModel):
    path: UrlPath
    method: Literal["GET", "POST"] = "GET"
    body: str | None = None  # a POST read's JSON body (SMA EV Charger's measurements/live)
    index: JsonIndex | None = None
    values: list[JsonValue] = Field(min_length=1)

    @model_validator(mode="after")
    def _paths(self) -> HttpRead:
        if any(v.json_path is None for v in self.values):
            raise ValueError(f"read {self.path}: each value needs json: (where the number is in the answer)")
        return self


class HttpWrite(StrictModel):
    """A command as a request: ``query`` and/or ``body`` (JSON text, e.g. ``{"amp": {value}}``)."""

    command: Command
    path: UrlPath
    method: Literal["GET", "POST", "PUT", "PATCH"] = "POST"
    query: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    scale: float = 1.0
    min: float | None = None
    max: float | None = None
    map: dict[int, float] | None = None  # command value -> the device's value (go-e frc: off 1, on 2)

    @model_validator(mode="after")
    def _carries_value(self) -> HttpWrite:
        texts = [self.path, *self.query.values(), self.body or ""]
        if not any("{value}" in t for t in texts):
            raise ValueError(f"write {self.command}: put {{value}} in its path, query or body")
        return self


class HttpLogin(StrictModel):
    """A cloud API's login (Easee): ``body`` (JSON text with ``{username}`` and ``{password}``, taken from
    the site file's ``url``) is POSTed to ``path`` under the url's host (not its path); the token at
    ``token`` in the answer is sent on every request as header ``header`` = ``scheme``. The driver
    logs in again after ``renew_s`` and once when the API answers 401."""

    path: UrlPath
    body: str = Field(min_length=2)
    form: bool = False  # the body is a form (OAuth2 password grant), not JSON
    token: str = Field(min_length=1)  # JSON path of the token in the answer
    header: str = "Authorization"
    scheme: str = "Bearer {token}"
    renew_s: float = Field(default=3000.0, gt=0)

    @model_validator(mode="after")
    def _placeholders(self) -> HttpLogin:
        if "{username}" not in self.body or "{password}" not in self.body:
            raise ValueError("login body needs {username} and {password}")
        if "{token}" not in self.scheme:
            raise ValueError("login scheme needs {token}")
        return self


class HttpTemplate(StrictModel):
    headers: dict[str, str] = Field(default_factory=dict)  # e.g. Authorization: Bearer ...
    login: HttpLogin | None = None
    reads: list[HttpRead] = Field(min_length=1)
    writes: list[HttpWrite] = Field(default_factory=list)


class MqttRead(StrictModel):
    topic: str = Field(min_length=1)
    values: list[JsonValue] = Field(min_length=1)


class MqttWrite(StrictModel):
    command: Command
    topic: str = Field(min_length=1)
    payload: str = "{value}"
    scale: float = 1.0
    retain: bool = False
    min: float | None = None
    max: float | None = None
    map: dict[int, float] | None = None  # command value -> the device's value (instead of scale)

    @model_validator(mode="after")
    def _carries_value(self) -> MqttWrite:
        if "{value}" not in self.payload:
            raise ValueError(f"write {self.command}: put {{value}} in its payload")
        return self


class MqttHeartbeat(StrictModel):
    """A message the device wants every ``every_s`` from its controller, or it falls back to its own
    control (openWB's ``set/isss/heartbeat``); sent from the read cycle."""

    topic: str = Field(min_length=1)
    payload: str = "1"
    every_s: float = Field(default=10.0, gt=0)
    retain: bool = True


class MqttTemplate(StrictModel):
    reads: list[MqttRead] = Field(min_length=1)
    writes: list[MqttWrite] = Field(default_factory=list)
    heartbeat: MqttHeartbeat | None = None
    stale_s: float = Field(default=60.0, gt=0)  # a value older than this is not reported again

    @model_validator(mode="after")
    def _no_wildcards(self) -> MqttTemplate:
        for r in self.reads:
            if "+" in r.topic or "#" in r.topic:
                raise ValueError(f"read topic {r.topic!r}: one topic per read, no wildcards")
        return self


def template_commands(http: HttpTemplate | None, mqtt: MqttTemplate | None) -> set[str]:
    """The commands a template can write."""
    writes = [*(http.writes if http else []), *(mqtt.writes if mqtt else [])]
    return {w.command for w in writes}


def fill(text: str, value: float) -> str:
    """``text`` with ``{value}`` replaced (an integral value without ``.0``); other braces stay
    (JSON bodies are full of them)."""
    shown = str(int(value)) if float(value).is_integer() else repr(float(value))
    return text.replace("{value}", shown)
