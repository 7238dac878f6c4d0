"""What every report of the platform's promises holds to: an explicit period, and each figure's definition
beside it.

A KPI (指标) is published with its ``definition``: the numerator and the denominator in Chinese and English,
the target the 2023 work plan (工作方案) sets and the plan's item it comes from, so a reader never has to
guess what a rate divides by. Each service writes its definitions once, next to the query that computes
them, and returns them in the report.

Every report covers a period of Asia/Shanghai days (``from``..``to``, both inclusive): by default from the
first of this month to today; refused (422, nothing written) when it runs backwards, is longer than the
service allows, or lies outside 2000–2100.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from pydantic import BaseModel, Field

from kit import messages
from kit.calendar import SHANGHAI, local_date
from kit.errors import FieldError, ValidationFailed
from kit.i18n import Text

FIRST_YEAR, LAST_YEAR = 2000, 2100


class Definition(BaseModel):
    """How one figure is computed, in both languages."""

    name_zh: str
    name_en: str
    numerator_zh: str
    numerator_en: str
    denominator_zh: str | None = Field(None, description="Null for a count (not a rate)")
    denominator_en: str | None = None
    target: float | None = Field(None, description="The plan's target for a rate (e.g. 0.9), or null")
    source: str | None = Field(None, description="Where the plan sets it, e.g. 工作方案附件 第1项")


def rate(name: Text, numerator: Text, denominator: Text, *, target: float | None = None,
         source: str | None = None) -> Definition:
    """The definition of a rate: ``numerator / denominator``."""
    return Definition(name_zh=name.zh, name_en=name.en, numerator_zh=numerator.zh, numerator_en=numerator.en,
                      denominator_zh=denominator.zh, denominator_en=denominator.en, target=target, source=source)


def count(name: Text, what: Text) -> Definition:
    """The definition of a count (no denominator)."""
    return Definition(name_zh=name.zh, name_en=name.en, numerator_zh=what.zh, numerator_en=what.en)


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


class Period(BaseModel):
    from_date: date = Field(serialization_alias="from")
    to_date: date = Field(serialization_alias="to")
    timezone: str = "Asia/Shanghai"

    @property
    def start(self) -> datetime:
        """The first moment of the period (Asia/Shanghai midnight of ``from``)."""
        return datetime.combine(self.from_date, time.min, SHANGHAI)

    @property
    def end(self) -> datetime:
        """The first moment after the period (exclusive)."""
        return datetime.combine(self.to_date + timedelta(days=1), time.min, SHANGHAI)


def period(from_date: date | None, to_date: date | None, *, max_days: int = 366, today: date | None = None) -> Period:
    """The period asked for; by default from the first of this month to today (Asia/Shanghai). 422 when it
    is backwards, longer than ``max_days`` or outside the years 2000–2100."""
    today = today or local_date(datetime.now(UTC))
    to_date = to_date or (today if from_date is None or from_date <= today else from_date)
    from_date = from_date or to_date.replace(day=1)
    if from_date > to_date:
        raise ValidationFailed(messages.PERIOD_REVERSED, errors=[
            FieldError.of("from", messages.PERIOD_REVERSED_FIELD, "period_reversed")])
    if (to_date - from_date).days + 1 > max_days:
        raise ValidationFailed(messages.PERIOD_TOO_LONG.format(days=max_days), errors=[FieldError.of(
            "to", messages.PERIOD_TOO_LONG_FIELD.format(days=max_days), "period_too_long")])
    if from_date.year < FIRST_YEAR or to_date.year > LAST_YEAR:
        text = messages.PERIOD_OUT_OF_RANGE.format(first=FIRST_YEAR, last=LAST_YEAR)
        raise ValidationFailed(text, errors=[FieldError.of("from" if from_date.year < FIRST_YEAR else "to", text,
                                                           "period_out_of_range")])
    return Period(from_date=from_date, to_date=to_date)
