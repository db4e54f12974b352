"""The Episodes screen's filter line: the filters of ``lwd episodes list`` as ``key=value`` words."""

from __future__ import annotations

import datetime as dt
import re

KEYS = {"task": "task", "robot": "robot", "outcome": "outcome", "status": "status", "version": "policy_version",
        "since": "since", "source": "source", "limit": "limit"}
_REL = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class FilterError(ValueError):
    pass


def parse_filters(text: str, now: float) -> dict:
    """``task=push-v3 outcome=failure since=2h version=12 limit=100`` -> ``HubClient.list_episodes``
    keyword arguments. A bare word is a robot id. ``since`` takes 30m, 2h, 7d or an ISO date."""
    out: dict = {}
    for word in text.split():
        key, sep, value = word.partition("=")
        if not sep:
            key, value = "robot", word
        if key not in KEYS:
            raise FilterError(f"unknown filter {key!r}; use {', '.join(KEYS)}")
        if key == "since":
            m = _REL.match(value)
            try:
                out["since"] = now - float(m.group(1)) * _UNIT[m.group(2)] if m else dt.datetime.fromisoformat(value).timestamp()
            except ValueError:
                raise FilterError(f"since={value!r}: use 30m, 2h, 7d or an ISO date") from None
        elif key in ("version", "limit"):
            if not value.lstrip("v").isdigit():
                raise FilterError(f"{key}={value!r} is not a number")
            out[KEYS[key]] = int(value.lstrip("v"))
        else:
            out[KEYS[key]] = value
    return out
