"""How the Géoplateforme API reads a query, as the service does (gpf-geocodeur
api/util/params.js and querystring.js): names and values trimmed, the last of a repeated name,
an empty value as none; each value parsed by its type (``integer``, ``float``, ``boolean``,
JSON ``object``, comma lists), checked against its allowed values, validated, normalized, given
its default; every problem collected into one 400 in the service's shape::

    {"code": 400, "message": "Failed parsing query", "detail": ["limit: must be an integer between 1 and 20"]}

The parameters themselves, and the rules between them, are in params.py.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import falcon
import orjson

FAILED = "Failed parsing query"

_INTEGER = re.compile(r"[+-]?[1-9]\d*|0")
_FLOAT = re.compile(r"[+-]?\d+(\.\d*)?")


class GeocodageError(falcon.HTTPError):
    """An error in the service's shape: ``{"code", "message", "detail"}``."""

    def __init__(self, detail: list[str], status: int = 400, message: str = FAILED) -> None:
        super().__init__(falcon.code_to_http_status(status), title=message)
        self.code, self.message, self.detail = status, message, detail

    def to_dict(self, obj_type: Callable[[], Any] = dict) -> Any:
        out = obj_type()
        out.update(code=self.code, message=self.message, detail=self.detail)
        return out


def bad(*detail: str) -> GeocodageError:
    return GeocodageError(list(detail))


# --- values ------------------------------------------------------------------------------------


def parse_float(text: str) -> float:
    """A decimal number as the service reads one: digits, an optional sign and fraction."""
    if not _FLOAT.fullmatch(text):
        raise ValueError("unable to parse value as float")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("unable to parse value as float")
    return value


def parse_value(text: str, kind: str) -> Any:
    text = text.strip()
    if not text:
        return None
    if kind in ("string", "custom"):
        return text
    if kind == "integer":
        if not _INTEGER.fullmatch(text) or abs(int(text)) > 2**53 - 1:
            raise ValueError("unable to parse value as integer")
        return int(text)
    if kind == "float":
        return parse_float(text)
    if kind == "boolean":
        word = text.lower()
        if word in ("1", "true", "yes"):
            return True
        if word in ("0", "false", "no"):
            return False
        raise ValueError("unable to parse value as boolean")
    if kind == "object":
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            value = None
        if not isinstance(value, (dict, list)):
            raise ValueError("unable to parse value as valid JSON or GeoJSON object")
        return value
    raise ValueError(f"unsupported value type: {kind}")


@dataclass(frozen=True)
class Param:
    """One parameter: its type, values, default, checks, and what the capabilities say of it."""

    kind: str  # string, integer, float, boolean, object, custom
    description: str
    example: str
    name: str = ""  # as written in a query, when not the key
    array: bool = False
    allowed: tuple[str, ...] = ()
    required: bool = False
    default: Any = None
    validate: Callable[[Any], None] | None = None
    extract: Callable[[str], Any] | None = None  # custom parameters: the text into a value
    normalize: Callable[[Any], Any] | None = None
    operation: str = ""  # search, reverse or "" (both), for the capabilities
    capabilities: bool = True  # listed where this server describes itself

    def read(self, text: str | None) -> Any:
        """The value of this parameter given ``text`` (None: not given); ValueError says why not."""
        value: Any = None
        if text:
            if self.array:
                items = [parse_value(v, self.kind) for v in text.split(",")]
                value = [v for v in items if v] or None
            else:
                value = parse_value(text, self.kind)
        if value is not None and self.allowed:
            unexpected = next((v for v in (value if self.array else [value]) if v not in self.allowed), None)
            if unexpected is not None:
                raise ValueError(f"unexpected value '{unexpected}'")
        if self.kind == "custom" and value is not None:
            assert self.extract is not None
            value = self.extract(value)
        if value is not None and self.validate is not None:
            self.validate(value)
        if value is not None and self.normalize is not None:
            value = self.normalize(value)
        if value is None and self.required:
            raise ValueError("required param")
        if value is None and self.default is not None:
            value = list(self.default) if isinstance(self.default, tuple) else self.default
        if isinstance(value, list) and self.kind != "object":
            value = list(dict.fromkeys(value))
        return value


# --- the checks parameters share ------------------------------------------------------------


def between(low: float, high: float, what: str) -> Callable[[Any], None]:
    """A number within [low, high] ("must be an integer between 1 and 20")."""

    def check(value: Any) -> None:
        if not low <= value <= high:
            raise ValueError(f"must be {what} between {low:g} and {high:g}")
    return check


def matches(pattern: str, message: str) -> Callable[[Any], None]:
    """A text the whole of which matches ``pattern``."""
    compiled = re.compile(pattern)

    def check(value: Any) -> None:
        if not compiled.fullmatch(value):
            raise ValueError(message)
    return check


def padded(width: int) -> Callable[[Any], Any]:
    """A code left-padded with zeros (the parcels' section, number, sheet)."""
    return lambda value: str(value).rjust(width, "0")


def numbers(count: int, form: str) -> Callable[[str], list[float]]:
    """``count`` decimal numbers separated by commas (``lonlat``, ``bbox``)."""

    def split(text: str) -> list[float]:
        parts = text.split(",")
        if len(parts) != count:
            raise ValueError(f'must be in the format "{form}"')
        return [parse_float(p) for p in parts]
    return split


# --- a query ----------------------------------------------------------------------------------


def single_values(params: Mapping[str, Any]) -> dict[str, str]:
    """A query string as the service reads it: names and values trimmed, a repeated name's last value."""
    out: dict[str, str] = {}
    for name, value in params.items():
        if isinstance(value, list):
            value = value[-1] if value else ""
        out[str(name).strip()] = str(value).strip()
    return out


def extract(query: Mapping[str, str], definitions: Mapping[str, Param]) -> dict[str, Any]:
    """Every parameter defined, parsed and checked; one 400 listing each problem."""
    values: dict[str, Any] = {}
    problems = []
    for key, param in definitions.items():
        name = param.name or key
        text = query.get(name)
        try:
            # PERF: most parameters are not given: their default without a call (about half
            # the time parameters took, measured).
            value = param.read(text) if text or param.required else param.default
        except ValueError as error:
            problems.append(f"{name}: {error}")
            continue
        if value is not None:
            values[key] = list(value) if isinstance(value, tuple) else value
    if problems:
        raise bad(*problems)
    return values
