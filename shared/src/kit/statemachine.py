"""State machines written as data: a table of transitions, and one way to refuse what it does not allow.

Every service that moves a thing through statuses (applications, licences, tickets, rectifications,
knowledge entries) declares a ``StateMachine`` of ``Transition`` rows: the action, the statuses it
may start from, the status it leads to, and the roles that may take it. ``StateMachine.check``
answers the same way everywhere:

- an action the machine does not know: 404 with ``actions`` (every action it knows);
- an action not possible from the current status: 409 with ``status_now`` and ``allowed_actions``
  (what is possible now, each with the roles that may take it and the status it leads to);
- possible now but not for the caller's roles: 403;
- a reason required and none given: 422 on the ``reason`` field.

What is particular to a service (who owns the thing, extra inputs an action needs, the side effects
of a step) stays in the service, after ``check``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from kit import messages
from kit.auth import Principal
from kit.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from kit.i18n import Text

StatusT = TypeVar("StatusT", bound=str)


class AllowedAction(BaseModel):
    """An action possible from the current status, as a 409 and a view list it."""

    action: str
    roles: list[str]
    to_status: str | None


@dataclass(frozen=True)
class Transition(Generic[StatusT]):
    action: str
    sources: frozenset[StatusT]
    target: StatusT | None  # None: the status stays (an action on the side, e.g. extending a deadline)
    roles: frozenset[str]
    reason_required: bool = False
    # Kinds of thing the row applies to (e.g. a matter's kind), None for every kind.
    kinds: frozenset[str] | None = None

    def applies(self, status: str, kind: str | None) -> bool:
        return status in self.sources and (self.kinds is None or kind is None or kind in self.kinds)


class StateMachine(Generic[StatusT]):
    def __init__(self, noun: Text, transitions: Iterable[Transition[StatusT]]) -> None:
        """``noun`` names the thing in messages (``Text("办件", "application")``)."""
        self.noun = noun
        self.transitions: tuple[Transition[StatusT], ...] = tuple(transitions)
        self.actions: list[str] = sorted({t.action for t in self.transitions})

    def possible(self, status: str, *, kind: str | None = None) -> list[Transition[StatusT]]:
        return [t for t in self.transitions if t.applies(status, kind)]

    def allowed_actions(self, status: str, *, kind: str | None = None,
                        permitted: Callable[[Transition[StatusT]], bool] | None = None) -> list[AllowedAction]:
        """What may be done from ``status`` (only what ``permitted`` lets through, when given)."""
        return [AllowedAction(action=t.action, roles=sorted(t.roles), to_status=t.target)
                for t in self.possible(status, kind=kind) if permitted is None or permitted(t)]

    def action_names(self, status: str, principal: Principal, *, kind: str | None = None) -> list[str]:
        """The actions ``principal`` may take from ``status``, for views that list them."""
        return sorted({t.action for t in self.possible(status, kind=kind) if principal.has_role(*t.roles)})

    def check(self, status: str, action: str, principal: Principal | None = None, *, kind: str | None = None,
              reason: str | None = None, **conflict_members: Any) -> Transition[StatusT]:
        """The transition ``action`` takes from ``status``, or the problem that refuses it.

        ``principal`` None: the caller's right was settled elsewhere (an event, a background job).
        ``conflict_members`` are added to a 409 (e.g. the thing's version).
        """
        if action not in self.actions:
            raise NotFound(messages.ACTION_UNKNOWN.format(action=action), actions=self.actions)
        candidates = [t for t in self.possible(status, kind=kind) if t.action == action]
        if not candidates:
            raise Conflict(
                messages.ACTION_NOT_NOW.format(noun=self.noun, status=status, action=action),
                status_now=status, allowed_actions=[a.model_dump() for a in self.allowed_actions(status, kind=kind)],
                **conflict_members)
        transition = candidates[0]
        if principal is not None and transition.roles and not principal.has_role(*transition.roles):
            raise Forbidden(messages.ACTION_ROLE_REQUIRED.format(action=action, roles=", ".join(sorted(transition.roles))))
        if transition.reason_required and not (reason and reason.strip()):
            raise ValidationFailed(messages.REASON_REQUIRED.format(action=action),
                                   errors=[FieldError.of("reason", messages.REASON_FIELD_REQUIRED, "required")])
        return transition

