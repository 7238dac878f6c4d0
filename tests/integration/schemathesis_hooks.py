"""Loaded into the Schemathesis process (``SCHEMATHESIS_HOOKS``) by test_schemathesis.py.

Hypothesis names a filter's lambda by parsing its source with ``ast.parse``; Schemathesis's workers are
threads, and CPython 3.11 keeps the AST recursion depth per interpreter, not per thread, so two parses at
once fail with ``SystemError: AST constructor recursion depth mismatch`` (a "Runtime Error" of the run,
seen 1–2 times per run with 4–8 workers). One parse at a time; the result is cached by Hypothesis.
"""
from __future__ import annotations

import threading
from typing import Any

from hypothesis.internal import lambda_sources

_parsing = threading.Lock()
_describe = lambda_sources.lambda_description


def _one_at_a_time(f: Any) -> str:
    with _parsing:
        return _describe(f)


lambda_sources.lambda_description = _one_at_a_time
