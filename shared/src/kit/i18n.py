"""User-facing texts in Chinese and English, and the choice between them by ``Accept-Language``.

A text a person reads (an error's detail, a field error, a reminder) is a ``Text``: both languages
written side by side once, in the catalogue of the package that says it (``<package>/messages.py``;
the kit's own in ``kit.messages``). Code refers to catalogue entries by name and fills their
placeholders with ``Text.format``; the language is chosen where the answer is written
(``kit.errors.problem_response``), from the request's ``Accept-Language``. Chinese is the default:
the bureau's public answers in Chinese unless the client prefers English.

Why not gettext: the platform speaks exactly two languages and every text is written by the
developer who writes the rule, in both; a ``.po`` toolchain would add a build step and a second
place to look without adding a language.
"""
from __future__ import annotations

import string
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from pydantic_core import PydanticCustomError

_FORMATTER = string.Formatter()


@dataclass(frozen=True, slots=True)
class Text:
    """One text in both languages; placeholders (``{name}``) are the same in both."""

    zh: str
    en: str

    def format(self, **values: Any) -> Text:
        """The text with its placeholders filled; a value that is itself a ``Text`` fills each language with its own."""
        return Text(self.zh.format(**{k: v.zh if isinstance(v, Text) else v for k, v in values.items()}),
                    self.en.format(**{k: v.en if isinstance(v, Text) else v for k, v in values.items()}))

    def pick(self, english: bool) -> str:
        return self.en if english else self.zh

    def both(self) -> str:
        """Both languages in one string, Chinese first: for a note stored once and shown as stored to
        readers of either language (a timeline step's reason, an exemption note), where no
        ``Accept-Language`` chooses."""
        return f"{self.zh} / {self.en}"

    def __str__(self) -> str:
        # Logs and exceptions' own messages: English, for the people who operate the platform.
        return self.en


def invalid(text: Text, code: str = "invalid") -> PydanticCustomError:
    """What a pydantic validator raises to refuse a value with a catalogue text: the 422's field error
    carries ``message`` in Chinese and ``message_en`` in English (kit.errors.validation_problem)."""
    # pydantic fills only the context's own names ({message_en}) in the template: other braces stay as written.
    return PydanticCustomError(code, text.zh, {"message_en": text.en})


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in _FORMATTER.parse(template) if field}


def prefers_english(accept_language: str | None) -> bool:
    """Whether English is preferred over Chinese (RFC 9110 language ranges with weights).

    ``en``/``en-*`` against ``zh``/``zh-*``: the higher weight wins, and at equal weights the earlier
    range; a list naming neither (or no header) gets Chinese.
    """
    best_zh = best_en = (-1.0, 0)
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        rank = (weight, -position)
        primary = tag.strip().lower().split("-")[0]
        if primary == "en" and weight > 0:
            best_en = max(best_en, rank)
        elif primary == "zh" and weight > 0:
            best_zh = max(best_zh, rank)
    return best_en > best_zh


def catalogue_problems(module: ModuleType) -> list[str]:
    """What is wrong with a catalogue module: a text with an empty side, or with placeholders that differ."""
    problems = []
    for name, value in vars(module).items():
        if not isinstance(value, Text):
            continue
        if not value.zh.strip() or not value.en.strip():
            problems.append(f"{module.__name__}.{name}: a language is empty")
        elif placeholders(value.zh) != placeholders(value.en):
            problems.append(f"{module.__name__}.{name}: placeholders differ "
                            f"({sorted(placeholders(value.zh))} vs {sorted(placeholders(value.en))})")
    return problems
