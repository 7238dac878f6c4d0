"""kit.kpi: every report's period (Asia/Shanghai days, a default, the refusals) and its definitions."""
from __future__ import annotations

import datetime as dt

import pytest

from kit import kpi
from kit.errors import ValidationFailed
from kit.i18n import Text

TODAY = dt.date(2026, 12, 7)


def test_the_default_period_is_this_month_up_to_today() -> None:
    period = kpi.period(None, None, today=TODAY)
    assert (period.from_date, period.to_date) == (dt.date(2026, 12, 1), TODAY)
    assert kpi.period(dt.date(2026, 11, 3), None, today=TODAY).to_date == TODAY
    assert kpi.period(None, dt.date(2026, 10, 20), today=TODAY).from_date == dt.date(2026, 10, 1)
    assert period.model_dump(mode="json", by_alias=True) == {"from": "2026-12-01", "to": "2026-12-07",
                                                             "timezone": "Asia/Shanghai"}


def test_a_period_is_whole_shanghai_days() -> None:
    period = kpi.period(dt.date(2026, 6, 1), dt.date(2026, 6, 1), today=TODAY)
    assert period.end - period.start == dt.timedelta(days=1)
    assert period.start.utcoffset() == dt.timedelta(hours=8) and period.start.hour == 0


@pytest.mark.parametrize(("start", "end", "code"), [
    (dt.date(2026, 6, 2), dt.date(2026, 6, 1), "period_reversed"),
    (dt.date(2024, 1, 1), dt.date(2025, 1, 1), "period_too_long"),  # 367 days
    (dt.date(1999, 12, 1), dt.date(1999, 12, 31), "period_out_of_range"),
    (dt.date(2101, 1, 1), dt.date(2101, 1, 2), "period_out_of_range"),
])
def test_bad_periods_are_refused_in_both_languages(start: dt.date, end: dt.date, code: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        kpi.period(start, end, today=TODAY)
    [error] = refused.value.errors
    assert error.code == code and error.message and error.message_en


def test_a_leap_year_fits_and_a_shorter_limit_holds() -> None:
    assert kpi.period(dt.date(2024, 1, 1), dt.date(2024, 12, 31), today=TODAY).to_date.year == 2024
    with pytest.raises(ValidationFailed):
        kpi.period(dt.date(2026, 1, 1), dt.date(2026, 1, 8), max_days=7, today=TODAY)


def test_definitions_and_ratios() -> None:
    rate = kpi.rate(Text("率", "rate"), Text("分子", "part"), Text("分母", "whole"), target=0.9, source="item 1")
    assert (rate.numerator_zh, rate.denominator_en, rate.target, rate.source) == ("分子", "whole", 0.9, "item 1")
    count = kpi.count(Text("数", "count"), Text("什么", "what"))
    assert count.denominator_zh is None and count.numerator_en == "what"
    assert kpi.ratio(1, 3) == 0.3333 and kpi.ratio(0, 0) is None
