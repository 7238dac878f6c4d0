"""Loaded into the Schemathesis process (``SCHEMATHESIS_HOOKS``) by test_schemathesis.py.

Hypothesis names a filter's lambda (only for a strategy's repr) by parsing its source with ``ast.parse``.
Called deep in a stack, CPython 3.11.7's AST validator miscounts its recursion depth and raises
``SystemError: AST constructor recursion depth mismatch``, which ends that operation's test as a
"Runtime Error" (1–2 per run here). A name is all that is lost: fall back to a plain one.
"""
from __future__ import annotations

from typing import Any

from hypothesis.internal import lambda_sources

_describe = lambda_sources.lambda_description


def _described_or_plain(f: Any) -> str:
    try:
        return _describe(f)
    except SystemError:
        return "lambda"


lambda_sources.lambda_description = _described_or_plain
