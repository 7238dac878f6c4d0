"""The one state-machine helper: the same 404, 409, 403 and 422 for every machine written as a table."""
from __future__ import annotations

from enum import StrEnum

import pytest

from kit.auth import Principal, SubjectKind
from kit.errors import Conflict, Forbidden, NotFound, ValidationFailed, problem_body
from kit.i18n import Text
from kit.statemachine import StateMachine, Transition


class Door(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    LOCKED = "locked"


MACHINE = StateMachine(Text("门", "door"), [
    Transition("close", frozenset({Door.OPEN}), Door.CLOSED, frozenset({"keeper", "visitor"})),
    Transition("lock", frozenset({Door.CLOSED}), Door.LOCKED, frozenset({"keeper"})),
    Transition("unlock", frozenset({Door.LOCKED}), Door.CLOSED, frozenset({"keeper"}), reason_required=True),
    Transition("open", frozenset({Door.CLOSED}), Door.OPEN, frozenset({"keeper", "visitor"}),
               kinds=frozenset({"wooden"})),
    Transition("inspect", frozenset(Door), None, frozenset({"keeper"})),
])


def caller(*roles: str) -> Principal:
    return Principal(subject="u1", kind=SubjectKind.PERSON, roles=frozenset(roles))


def test_a_possible_action_for_the_right_role_is_the_transition() -> None:
    transition = MACHINE.check(Door.OPEN, "close", caller("visitor"))
    assert (transition.action, transition.target) == ("close", Door.CLOSED)
    assert MACHINE.check(Door.LOCKED, "inspect", caller("keeper")).target is None


def test_an_unknown_action_is_404_naming_every_action() -> None:
    with pytest.raises(NotFound) as caught:
        MACHINE.check(Door.OPEN, "kick", caller("keeper"))
    assert caught.value.extensions == {"actions": ["close", "inspect", "lock", "open", "unlock"]}


def test_an_action_not_possible_now_is_409_with_the_status_and_what_is_possible() -> None:
    with pytest.raises(Conflict) as caught:
        MACHINE.check(Door.OPEN, "lock", caller("keeper"), version=3)
    body = problem_body(caught.value, english=True)
    assert body["status"] == 409 and body["status_now"] == "open" and body["version"] == 3
    assert body["detail"] == "The door is open: lock is not possible now"
    assert problem_body(caught.value)["detail"] == "门当前状态为 open，不能执行 lock"
    assert body["allowed_actions"] == [{"action": "close", "roles": ["keeper", "visitor"], "to_status": "closed"},
                                       {"action": "inspect", "roles": ["keeper"], "to_status": None}]


def test_a_possible_action_for_another_role_is_403() -> None:
    with pytest.raises(Forbidden):
        MACHINE.check(Door.CLOSED, "lock", caller("visitor"))
    assert MACHINE.check(Door.CLOSED, "lock", None).target == Door.LOCKED  # the right was settled elsewhere


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_required_reason_missing_is_422_on_the_reason_field(reason: str | None) -> None:
    with pytest.raises(ValidationFailed) as caught:
        MACHINE.check(Door.LOCKED, "unlock", caller("keeper"), reason=reason)
    assert [(e.field, e.code) for e in caught.value.errors or []] == [("reason", "required")]
    assert MACHINE.check(Door.LOCKED, "unlock", caller("keeper"), reason="key found").target == Door.CLOSED


def test_rows_limited_to_kinds_apply_only_to_those_kinds() -> None:
    assert [a.action for a in MACHINE.allowed_actions(Door.CLOSED, kind="wooden")] == ["lock", "open", "inspect"]
    assert [a.action for a in MACHINE.allowed_actions(Door.CLOSED, kind="steel")] == ["lock", "inspect"]
    with pytest.raises(Conflict):
        MACHINE.check(Door.CLOSED, "open", caller("keeper"), kind="steel")


def test_the_actions_a_caller_may_take_now() -> None:
    assert MACHINE.action_names(Door.CLOSED, caller("visitor"), kind="wooden") == ["open"]
    assert MACHINE.action_names(Door.CLOSED, caller("keeper"), kind="wooden") == ["inspect", "lock", "open"]
