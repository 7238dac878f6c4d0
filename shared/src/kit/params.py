"""Request parameter types that admit exactly what the OpenAPI document says they admit."""
from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator

_FULL_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NUMBER = re.compile(r"[+-]?[0-9]*\.?[0-9]*(?:[eE][+-]?[0-9]+)?")


def _full_date(value: Any) -> Any:
    # Pydantic also reads a number of seconds (0 or "0" is 1970-01-01); the document promises an RFC 3339
    # full-date (`format: date`), and a front-end sending anything else has a bug worth a 422.
    if isinstance(value, int | float) or isinstance(value, str) and not _FULL_DATE.fullmatch(value):
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_full_date)]


def _not_a_number(value: Any) -> Any:
    # The same for a moment: `format: date-time` is RFC 3339 text, not seconds since 1970.
    if isinstance(value, int | float) or isinstance(value, str) and _NUMBER.fullmatch(value):
        raise ValueError("expected a date-time as RFC 3339 text, e.g. 2026-01-31T09:00:00+08:00")
    return value


IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_not_a_number)]
