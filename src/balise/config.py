"""Settings, read once from the environment (``BALISE_*``), one line each."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields


def _bool(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str
    convert: type | object = str


SETTINGS = [
    Setting("BALISE_INDEX", "var/index", "index directory served and searched by default"),
    Setting("BALISE_RULES", "fr", "text rules used when importing (country)"),
]


@dataclass(frozen=True)
class Settings:
    index: str = "var/index"
    rules: str = "fr"

    @classmethod
    def from_env(cls, env: dict | None = None) -> Settings:
        env = os.environ if env is None else env
        values = {}
        for setting, f in zip(SETTINGS, fields(cls), strict=True):
            raw = env.get(setting.name, setting.default)
            values[f.name] = setting.convert(raw) if setting.convert is not str else raw
        return cls(**values)
