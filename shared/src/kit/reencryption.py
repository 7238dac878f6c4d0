"""The re-encryption job of data-protection key rotation: every protected value of a service's database
moved from older key ids to the active one (``lvrong-reencrypt``).

What it rewrites is found, not listed: every column of the service's models whose type is
``ProtectedText`` (one token, bound to its column) or a protected JSON document (``ProtectedForm``, or any
type with ``protected_json = True``, e.g. svc-prequal's reviewed inputs), and the kit's ``outbox.envelope``
(events waiting to be published carry forms with protected values). In a JSON document every
``{"$protected": <token>}`` is re-encrypted wherever it sits, its context being the key it sits under (as
``protect_form`` bound it); a ``"$digest"`` beside it is a keyed hash under the lookup key, which the
rotation does not change, so it stays as it is.

How it runs, per column:

- in batches of ``batch_size`` rows, one transaction per batch, in primary-key order (keyset paging);
- only rows holding a token under a key other than the active one are selected (a regular expression on
  the value), so a run stopped halfway and started again carries on with the rows still to do, and a
  run after a complete one selects and changes nothing;
- the batch's rows are locked (``FOR UPDATE SKIP LOCKED``) and rewritten from the values read under the
  lock, so a concurrent update is never overwritten by stale data; a row a service holds locked is
  skipped and taken by the next pass (the job makes passes until one changes nothing);
- progress is logged per batch and per column (table, column, key ids and counts, never a value), and
  the result counts what is left under each old key: ``remaining == 0`` everywhere is when the old key
  can be retired.

The keyring is the process's (``kit.protection.keyring``): run the job with the services' own
``DATA_PROTECTION_*`` configuration, the new key active and the old ones still listed. The algorithm
belongs to the key (AES-256-GCM, or SM4-GCM for a ``<key id>.sm4.key``), so moving a database from AES to
SM4 (or from one SM4 key to the next) is this same job with an SM4 key active: each value is opened
under its old key's algorithm and sealed under the active key's, its token naming the new key id.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from kit.protection import (
    PROTECTED_MARKER,
    Keyring,
    ProtectedForm,
    ProtectedText,
    ProtectionError,
    keyring,
)

log = structlog.get_logger("kit.reencryption")

# The kit's own table whose documents may hold protected values (events of forms, before publishing).
KIT_JSON_COLUMNS = (("outbox", ("position",), "envelope"),)


@dataclass(frozen=True)
class ProtectedColumn:
    table: str
    key_columns: tuple[str, ...]
    column: str
    # The context a ProtectedText is bound to; None for a JSON document (each value's key is its context).
    context: str | None = None

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"

    @property
    def is_json(self) -> bool:
        return self.context is None


def protected_columns(metadata: MetaData, *, kit_tables: bool = True) -> list[ProtectedColumn]:
    """Every column of ``metadata`` holding protected values, and (``kit_tables``) the kit's outbox."""
    found = []
    for table in metadata.sorted_tables:
        keys = tuple(c.name for c in table.primary_key.columns)
        for column in table.columns:
            kind = column.type
            if isinstance(kind, ProtectedText):
                found.append(ProtectedColumn(table.name, keys, column.name, kind.context))
            elif isinstance(kind, ProtectedForm) or getattr(kind, "protected_json", False):
                found.append(ProtectedColumn(table.name, keys, column.name))
    if kit_tables:
        found.extend(ProtectedColumn(t, keys, c) for t, keys, c in KIT_JSON_COLUMNS)
    return found


def service_columns(service: str) -> list[ProtectedColumn]:
    """The protected columns of ``service`` (its ``<service>.models.Base``, as its migrations use)."""
    return protected_columns(importlib.import_module(f"{service}.models").Base.metadata)


@dataclass
class ColumnResult:
    column: str
    changed_rows: int = 0
    changed_values: int = 0
    failed_rows: int = 0
    # What is still under a key other than the active one after the run: key id → values.
    remaining: dict[str, int] = field(default_factory=dict)


@dataclass
class Result:
    service: str
    active_key: str
    columns: list[ColumnResult] = field(default_factory=list)

    @property
    def changed_rows(self) -> int:
        return sum(c.changed_rows for c in self.columns)

    @property
    def remaining(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for c in self.columns:
            total.update(c.remaining)
        return dict(total)

    def as_dict(self) -> dict[str, Any]:
        return {"service": self.service, "active_key": self.active_key, "changed_rows": self.changed_rows,
                "remaining": self.remaining, "columns": [vars(c) for c in self.columns]}


def _reencrypt_document(value: Any, ring: Keyring, context: str = "") -> tuple[Any, int]:
    """``value`` with every protected value under the active key, and how many were re-encrypted."""
    if isinstance(value, dict):
        token = value.get(PROTECTED_MARKER)
        if isinstance(token, str):
            new = ring.reencrypt(token, context=context)
            return ({**value, PROTECTED_MARKER: new}, 1) if new != token else (value, 0)
        changed, out = 0, {}
        for key, item in value.items():
            out[key], n = _reencrypt_document(item, ring, key)
            changed += n
        return out, changed
    if isinstance(value, list):
        items = [_reencrypt_document(item, ring, context) for item in value]
        return [item for item, _ in items], sum(n for _, n in items)
    return value, 0


# Where a token starts: the whole value of a ProtectedText, a "$protected" member in a JSON document
# (as PostgreSQL prints jsonb: `"key": value`), so that a form value merely looking like a token is left alone.
_JSON_TOKEN = r'"\$protected": "pd1\.'
_TEXT_TOKEN = r"^pd1\."
_KEY_ID = r"([A-Za-z0-9_-]+)\."


def _token_start(column: ProtectedColumn) -> str:
    return _JSON_TOKEN if column.is_json else _TEXT_TOKEN


def _old_key_pattern(column: ProtectedColumn, active: str) -> str:
    return rf"{_token_start(column)}(?!{re.escape(active)}\.)"


async def _table_exists(engine: AsyncEngine, table: str) -> bool:
    async with engine.connect() as conn:
        return bool(await conn.scalar(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": table}))


async def census(engine: AsyncEngine, column: ProtectedColumn, active: str) -> dict[str, int]:
    """How many values of ``column`` are under each key id other than ``active``."""
    value = f"CAST({column.column} AS text)" if column.is_json else column.column
    async with engine.connect() as conn:
        rows = await conn.execute(text(
            f"SELECT m[1] AS kid, count(*) AS n FROM {column.table}, "  # names from the models
            f"LATERAL regexp_matches({value}, :any_token, 'g') AS m WHERE {value} ~ :old GROUP BY m[1]"),
            {"any_token": _token_start(column) + _KEY_ID, "old": _old_key_pattern(column, active)})
        return {row.kid: row.n for row in rows if row.kid != active}


async def _pass(engine: AsyncEngine, column: ProtectedColumn, ring: Keyring, batch_size: int,
                result: ColumnResult, on_batch: Callable[[ColumnResult], None] | None) -> int:
    """One walk over the column in key order; returns the rows changed."""
    keys = ", ".join(column.key_columns)
    value = f"CAST({column.column} AS text)" if column.is_json else column.column
    match = " AND ".join(f"{k} = :k{i}" for i, k in enumerate(column.key_columns))
    new_value = f"CAST(:value AS {'jsonb' if column.is_json else 'text'})"
    changed_in_pass = 0
    result.failed_rows = 0  # what fails fails again in every pass: count the last pass's
    last: tuple[Any, ...] | None = None
    while True:
        after = f"AND ({keys}) > ({', '.join(f':k{i}' for i in range(len(column.key_columns)))})" if last else ""
        async with engine.begin() as conn:
            rows = (await conn.execute(text(
                f"SELECT {keys}, {value} AS value FROM {column.table} "  # names from the models
                f"WHERE {value} ~ :old {after} ORDER BY {keys} LIMIT {int(batch_size)} FOR UPDATE SKIP LOCKED"),
                {"old": _old_key_pattern(column, ring.active), **{f"k{i}": v for i, v in enumerate(last or ())}})).all()
            if not rows:
                return changed_in_pass
            updates, values, kids = [], 0, Counter[str]()
            for row in rows:
                row_keys = {f"k{i}": v for i, v in enumerate(row[:len(column.key_columns)])}
                try:
                    if column.is_json:
                        document, n = _reencrypt_document(json.loads(row.value), ring)
                        new = json.dumps(document, ensure_ascii=False)
                        kids.update(k for k in re.findall(_JSON_TOKEN + _KEY_ID, row.value) if k != ring.active)
                    else:
                        kids[ring.key_id_of(row.value)] += 1
                        new, n = ring.reencrypt(row.value, context=column.context or ""), 1
                except ProtectionError:
                    result.failed_rows += 1  # an unknown key id or a damaged value: counted in `remaining`
                    continue
                if n:
                    updates.append({"value": new, **row_keys})
                    values += n
            if updates:
                await conn.execute(text(f"UPDATE {column.table} SET {column.column} = {new_value} WHERE {match}"),
                                   updates)
        last = tuple(rows[-1][:len(column.key_columns)])
        result.changed_rows += len(updates)
        result.changed_values += values
        changed_in_pass += len(updates)
        log.info("reencryption_batch", column=column.name, rows=len(updates), values=values, from_keys=dict(kids),
                 to_key=ring.active, total_rows=result.changed_rows)
        if on_batch is not None:
            on_batch(result)


async def reencrypt_column(engine: AsyncEngine, column: ProtectedColumn, ring: Keyring, *, batch_size: int = 500,
                           max_passes: int = 5, on_batch: Callable[[ColumnResult], None] | None = None) -> ColumnResult:
    result = ColumnResult(column.name)
    started = time.monotonic()
    for _ in range(max_passes):
        if not await _pass(engine, column, ring, batch_size, result, on_batch):
            break
    result.remaining = await census(engine, column, ring.active)
    log.info("reencryption_column_done", column=column.name, changed_rows=result.changed_rows,
             changed_values=result.changed_values, failed_rows=result.failed_rows, remaining=result.remaining,
             active_key=ring.active, seconds=round(time.monotonic() - started, 2))
    return result


async def reencrypt_database(engine: AsyncEngine, columns: Iterable[ProtectedColumn], *, service: str,
                             ring: Keyring | None = None, batch_size: int = 500,
                             on_batch: Callable[[ColumnResult], None] | None = None) -> Result:
    """Move every protected value of ``columns`` to the active key (see the module's docstring)."""
    ring = ring or keyring()
    result = Result(service, ring.active)
    for column in columns:
        if await _table_exists(engine, column.table):
            result.columns.append(await reencrypt_column(engine, column, ring, batch_size=batch_size,
                                                         on_batch=on_batch))
    return result


async def reencrypt_service(service: str, *, batch_size: int = 500, census_only: bool = False) -> Result:
    from kit.migrations import service_settings

    engine = create_async_engine(service_settings(service).service_database_url, pool_size=2, max_overflow=0)
    try:
        columns = service_columns(service)
        if census_only:
            ring = keyring()
            result = Result(service, ring.active)
            for column in columns:
                if await _table_exists(engine, column.table):
                    result.columns.append(ColumnResult(column.name, remaining=await census(engine, column, ring.active)))
            return result
        return await reencrypt_database(engine, columns, service=service, batch_size=batch_size)
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    from kit.logging import configure_logging
    from kit.migrations import SERVICES

    # The services that keep personal data encrypted, so hold the keyring (their settings say so):
    # in production only their pods mount it.
    with_protected_data = [s for s in SERVICES if importlib.import_module(f"{s}.app").Settings.uses_data_protection]
    parser = argparse.ArgumentParser(prog="lvrong-reencrypt", description=(
        "Move every protected value of the services' databases to the active data-protection key "
        "(resumable, idempotent, safe while the services run). Exits 1 while anything is left under an old key."))
    parser.add_argument("services", nargs="*", default=with_protected_data,
                        help=f"any of {', '.join(with_protected_data)} (default: all)")
    parser.add_argument("--batch-size", type=int, default=500, help="rows per transaction (default 500)")
    parser.add_argument("--census", action="store_true", help="only count the values left under old keys")
    args = parser.parse_args(argv)
    for service in args.services:
        if service not in with_protected_data:
            parser.error(f"unknown service {service!r}")
    configure_logging("reencrypt")
    left = 0
    for service in args.services:
        started = time.monotonic()
        result = asyncio.run(reencrypt_service(service, batch_size=args.batch_size, census_only=args.census))
        left += sum(result.remaining.values())
        print(json.dumps({**result.as_dict(), "seconds": round(time.monotonic() - started, 2)}, ensure_ascii=False))
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
