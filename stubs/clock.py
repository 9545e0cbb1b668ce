"""Dates that agree with themselves and with the recording.

A synthesized answer draws its dates from the dates recorded in that field (so they fall in
the recording's time, not in an arbitrary year), and then `align` makes each object agree with
itself: a weekday field (`"day_of_week": "Friday"`) is the weekday of the object's date, and
when the call names a time zone that the answer echoes (`get_current_time {"timezone":
"Asia/Tokyo"}`), the date-time is the same instant in that zone, with `is_dst` to match. A
plain-text answer naming one date gets its weekday names put right the same way.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_BY_NAME = {n.lower(): i for i, n in enumerate(WEEKDAYS)} | {
    n[:3].lower(): i for i, n in enumerate(WEEKDAYS)}
_ZONE_KEYS = ("timezone", "time_zone", "tz", "zone", "target_timezone")
_DATE_IN_TEXT = re.compile(r"\d{4}-\d\d-\d\d")
_WEEKDAY_IN_TEXT = re.compile(r"\b(" + "|".join(WEEKDAYS) + r"|" +
                              "|".join(n[:3] for n in WEEKDAYS) + r")\b")


def parse(value: str) -> dt.datetime | dt.date | None:
    """An ISO date or date-time (a trailing Z is UTC), or None."""
    if len(value) < 10 or not value[:4].isdigit():
        return None
    try:
        if len(value) == 10:
            return dt.date.fromisoformat(value)
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def weekday_like(day: int, like: str) -> str:
    """The name of weekday `day` written like `like` (full or short, its case)."""
    name = WEEKDAYS[day] if len(like) > 3 else WEEKDAYS[day][:3]
    if like.isupper():
        return name.upper()
    return name.lower() if like.islower() else name


def zone(name: Any) -> ZoneInfo | None:
    if not isinstance(name, str) or ("/" not in name and name.upper() != "UTC"):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def align(value: Any, hint: dict[str, Any]) -> Any:
    """`value` with every object's weekdays, time zone and DST flag agreeing with its date."""
    if isinstance(value, list):
        return [align(v, hint) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: align(v, hint) for k, v in value.items()}
    wanted = next((z for k in _ZONE_KEYS if (z := zone(hint.get(k))) is not None), None)
    echoed = any(out.get(k) == hint.get(k) for k in _ZONE_KEYS if k in out and k in hint)
    when: dt.date | None = None
    for k, v in out.items():
        parsed = parse(v) if isinstance(v, str) else None
        if parsed is None:
            continue
        if isinstance(parsed, dt.datetime) and parsed.tzinfo is not None and wanted is not None \
                and echoed:
            parsed = parsed.astimezone(wanted)
            out[k] = _render(parsed, v)
            if isinstance(out.get("is_dst"), bool):
                out["is_dst"] = bool(parsed.dst())
        when = when or (parsed.date() if isinstance(parsed, dt.datetime) else parsed)
    if when is not None:
        for k, v in out.items():
            if isinstance(v, str) and v.lower() in _BY_NAME:
                out[k] = weekday_like(when.weekday(), v)
    return out


def _render(moment: dt.datetime, like: str) -> str:
    text = moment.isoformat()
    if "." not in like.split("T")[-1] and moment.microsecond:
        text = moment.replace(microsecond=0).isoformat()
    return text


def align_text(text: str) -> str:
    """A text naming exactly one date with its weekday names made that date's weekday."""
    dates = set(_DATE_IN_TEXT.findall(text))
    if len(dates) != 1:
        return text
    day = parse(dates.pop())
    if day is None:
        return text
    weekday = day.weekday()
    return _WEEKDAY_IN_TEXT.sub(lambda m: weekday_like(weekday, m.group(0)), text)
