"""The statuses of an application (办件) as data: the state machine, the stage each status is in, and
the one combined status of a bundle (一件事) from its parts'.

申请 draft → submitted → 预审通过 prereviewed | 退回补正 returned → 受理 accepted | 不予受理 refused →
审查 under_review (⇄ correction_requested, clock paused) → 决定 approved | denied →
出证 licence_issued (licence matters, reported by svc-licences) → 办结 completed; the applicant may
withdraw at any point before the decision.

Nothing here reads or writes the database, so every module that moves or shows an application
(``lifecycle``, ``applications``, ``bundles``, the cockpit, …) can depend on it without a cycle.
"""
from __future__ import annotations

from collections.abc import Sequence

from kit.auth import Role
from kit.statemachine import StateMachine, Transition
from matters import messages
from matters.schemas import ApplicationStatus, BundleStatus, Stage

S = ApplicationStatus
APPLICANT = Role.APPLICANT.value
OFFICER = Role.WINDOW_OFFICER.value
REVIEWER = Role.REVIEWER.value

OPEN_BEFORE_DECISION = frozenset({S.DRAFT, S.SUBMITTED, S.PREREVIEWED, S.RETURNED, S.ACCEPTED, S.UNDER_REVIEW,
                                  S.CORRECTION_REQUESTED})
CLOCK_RUNNING = frozenset({S.ACCEPTED, S.UNDER_REVIEW, S.CORRECTION_REQUESTED})
# Statuses in which the next step is staff's, so someone of the department may hold the application.
HELD_BY_STAFF = frozenset({S.SUBMITTED, S.PREREVIEWED, S.ACCEPTED, S.UNDER_REVIEW, S.CORRECTION_REQUESTED, S.APPROVED,
                           S.LICENCE_ISSUED})
HOLDING = ("claim", "assign", "release")

# Rows without ``kinds`` apply to every kind of matter (licence, filing, public service).
APPLICATION_MACHINE: StateMachine[ApplicationStatus] = StateMachine(messages.APPLICATION_NOUN, (
    Transition("submit", frozenset({S.DRAFT}), S.SUBMITTED, frozenset({APPLICANT})),
    Transition("supplement", frozenset({S.RETURNED}), S.SUBMITTED, frozenset({APPLICANT})),
    Transition("supplement", frozenset({S.CORRECTION_REQUESTED}), S.UNDER_REVIEW, frozenset({APPLICANT})),
    Transition("accept", frozenset({S.PREREVIEWED}), S.ACCEPTED, frozenset({OFFICER})),
    Transition("refuse", frozenset({S.PREREVIEWED}), S.REFUSED, frozenset({OFFICER}), reason_required=True),
    Transition("review", frozenset({S.ACCEPTED}), S.UNDER_REVIEW, frozenset({REVIEWER})),
    Transition("request_correction", frozenset({S.UNDER_REVIEW}), S.CORRECTION_REQUESTED, frozenset({REVIEWER}),
               reason_required=True),
    Transition("extend", CLOCK_RUNNING, None, frozenset({REVIEWER}), reason_required=True),
    Transition("approve", frozenset({S.UNDER_REVIEW}), S.APPROVED, frozenset({REVIEWER})),
    Transition("deny", frozenset({S.UNDER_REVIEW}), S.DENIED, frozenset({REVIEWER}), reason_required=True),
    Transition("complete", frozenset({S.LICENCE_ISSUED}), S.COMPLETED, frozenset({OFFICER}), kinds=frozenset({"licence"})),
    Transition("complete", frozenset({S.APPROVED}), S.COMPLETED, frozenset({OFFICER}),
               kinds=frozenset({"filing", "public_service"})),
    Transition("withdraw", OPEN_BEFORE_DECISION, S.WITHDRAWN, frozenset({APPLICANT})),
    # Who holds it (the status stays): a window officer or reviewer takes it, gives it to a colleague of
    # the department, or lets it go, while it waits on staff (``lifecycle.hold``).
    *(Transition(action, HELD_BY_STAFF, None, frozenset({OFFICER, REVIEWER})) for action in HOLDING),
))
# Actions only the applicant who filed the application may take (anyone else: as if it did not exist).
OWNER_ONLY = frozenset({"submit", "supplement", "withdraw"})
# The actions that take a new form and materials (a new attempt, or the correction after acceptance).
RESUBMITTING = frozenset({"submit", "supplement"})


def stage_of(status: str, matter_kind: str) -> Stage:
    s = ApplicationStatus(status)
    if s in (S.DRAFT, S.RETURNED):
        return Stage.APPLY
    if s == S.SUBMITTED:
        return Stage.PREREVIEW
    if s == S.PREREVIEWED:
        return Stage.ACCEPTANCE
    if s in CLOCK_RUNNING:
        return Stage.REVIEW
    if s == S.APPROVED:
        return Stage.ISSUANCE if matter_kind == "licence" else Stage.DECISION
    if s == S.LICENCE_ISSUED:
        return Stage.ISSUANCE
    if s == S.COMPLETED:
        return Stage.COMPLETED
    return Stage.CLOSED


OPEN_STAGE_ORDER = (Stage.APPLY, Stage.PREREVIEW, Stage.ACCEPTANCE, Stage.REVIEW, Stage.DECISION, Stage.ISSUANCE)
BUNDLE_ENDED = (BundleStatus.COMPLETED, BundleStatus.PARTIALLY_COMPLETED, BundleStatus.CLOSED)


def bundle_status(parts: Sequence[tuple[str, str]]) -> tuple[BundleStatus, Stage]:
    """A bundle's status and stage from its parts' (status, matter kind)."""
    stages = [stage_of(status, kind) for status, kind in parts]
    still_open = [s for s in stages if s not in (Stage.COMPLETED, Stage.CLOSED)]
    if still_open or not stages:
        return BundleStatus.IN_PROGRESS, min(still_open or [Stage.APPLY], key=OPEN_STAGE_ORDER.index)
    completed = sum(s == Stage.COMPLETED for s in stages)
    if completed == len(stages):
        return BundleStatus.COMPLETED, Stage.COMPLETED
    if completed:
        return BundleStatus.PARTIALLY_COMPLETED, Stage.COMPLETED
    return BundleStatus.CLOSED, Stage.CLOSED
