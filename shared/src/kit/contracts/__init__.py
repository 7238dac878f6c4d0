"""Event contracts: the ``data`` of every event, as pydantic models, so a consumer never imports a
producer. One module per producing service; ``EVENT_TYPES`` maps each type to its model."""
from types import ModuleType

from kit.contracts import booking, helpdesk, knowledge, licences, matters, notifications, prequal
from kit.contracts.helpdesk import AnswerProposed
from kit.contracts.knowledge import AssistantHandedOver, ConversationTurn
from kit.contracts.licences import LicenceIssued
from kit.contracts.matters import (
    ApplicantRef,
    ApplicationDueDateChanged,
    ApplicationStatusChanged,
    ApplicationSubmitted,
    BenefitGranted,
    BundleCompleted,
    BusinessDataChanged,
    ClockWarning,
    FormFieldSpec,
    MaterialRef,
    MaterialSpec,
    MatterPublished,
    MatterRequirements,
    MatterVersionRef,
    StallOpened,
)
from kit.contracts.prequal import Finding, PrereviewVerdictIssued
from kit.events.envelope import EventContract


def _contracts_of(*modules: ModuleType) -> dict[str, type[EventContract]]:
    # Every EventContract defined in a producer's module, so adding an event means editing one module.
    return {c.event_type: c for m in modules for c in vars(m).values()
            if isinstance(c, type) and issubclass(c, EventContract) and c is not EventContract and c.__module__ == m.__name__}


EVENT_TYPES: dict[str, type[EventContract]] = _contracts_of(matters, prequal, licences, helpdesk, knowledge, notifications,
                                                            booking)

__all__ = [
    "EVENT_TYPES", "AnswerProposed", "ApplicantRef", "AssistantHandedOver", "ApplicationDueDateChanged", "ApplicationStatusChanged", "ApplicationSubmitted", "BenefitGranted",
    "BundleCompleted", "BusinessDataChanged", "ClockWarning", "ConversationTurn", "Finding", "FormFieldSpec", "LicenceIssued", "MaterialRef", "MaterialSpec",
    "MatterPublished", "MatterRequirements", "MatterVersionRef", "PrereviewVerdictIssued", "StallOpened",
]
