"""Reading an event's data into its contract, leaving out what a consumer never reads."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from kit.contracts import ApplicationStatusChanged, PrereviewVerdictIssued
from kit.contracts.prequal import RuleOutcome
from kit.events import CloudEvent


def verdict_event() -> CloudEvent:
    return PrereviewVerdictIssued(
        application_id="a1", attempt=2, verdict="passed", findings=[], ruleset="LR-XK-008@v1",
        checked_at=datetime(2026, 12, 7, 8, 0, tzinfo=UTC),
        results=[RuleOutcome(rule_id="required.name", targets=["form.name"], outcome="passed", severity="blocking")],
    ).envelope(subject="a1")


def test_fields_left_out_are_not_validated_and_the_rest_is() -> None:
    event = verdict_event()
    event.data["results"] = [{"not": "a rule outcome"}]
    with pytest.raises(ValidationError):
        PrereviewVerdictIssued.from_event(event)
    read = PrereviewVerdictIssued.from_event(event, without=("results",))
    assert (read.application_id, read.attempt, read.verdict, read.results) == ("a1", 2, "passed", None)
    assert event.data["results"] == [{"not": "a rule outcome"}]  # the event itself is left as it was
    event.data["verdict"] = "maybe"
    with pytest.raises(ValidationError):
        PrereviewVerdictIssued.from_event(event, without=("results",))


def test_an_event_of_another_type_is_refused_with_or_without_fields_left_out() -> None:
    with pytest.raises(ValueError, match="expected lvrong.matters.application.status_changed"):
        ApplicationStatusChanged.from_event(verdict_event(), without=("results",))
