"""应归尽归: reading and validating a register (no database): what refuses a whole file, and every error a line
can have, each naming its field in Chinese and English and never echoing the value."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from kit.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from licences.service.imports import Line, Rejected, read_file, validate

TODAY = dt.date(2026, 12, 7)
HEADER = "licence_number,matter_code,holder_name,holder_code_type,holder_code,issued_on,valid_until,valid_from,data"
USCC = "91310115MA1H7GXQ3E"


def _fields(result: Line | Rejected) -> dict[str, str | None]:
    assert isinstance(result, Rejected)
    return {e.field: e.code for e in result.errors}


def test_a_good_csv_line_with_excel_s_bom_and_shanghai_days() -> None:
    body = ("\ufeff" + HEADER + "\n" + f'N-1,LR-XK-002,某公司,uscc,{USCC.lower()},2024-03-01,2025-02-28,,'
            '"{""waste_volume_m3"": 500}"\n').encode()
    kind, rows = read_file(body, "text/csv; charset=utf-8", 10)
    (line,) = validate(rows, TODAY)
    assert kind == "csv" and isinstance(line, Line)
    assert line.line == 2 and line.holder_code == USCC and line.data == {"waste_volume_m3": 500}
    assert line.licence_type.code == "1131XK002"
    assert line.valid_from == line.issued_at == dt.datetime(2024, 2, 29, 16, 0, tzinfo=dt.UTC)  # 00:00 in Shanghai
    assert line.valid_until == dt.datetime(2025, 2, 28, 15, 59, 59, tzinfo=dt.UTC)  # 23:59:59 in Shanghai


def test_every_error_of_a_line_is_reported_and_no_value_is_echoed() -> None:
    rows = [(2, {"licence_number": "N-2", "matter_code": "LR-XK-002", "holder_name": "张三",
                 "holder_code_type": "resident_id", "holder_code": "310101199001011235", "issued_on": "2027-01-01",
                 "valid_until": "2026-01-01", "valid_from": "2026-12-31"}),
            (3, {"licence_number": "N-3" * 30, "matter_code": "LR-BA-001", "holder_name": "",
                 "holder_code_type": "passport", "holder_code": "X", "issued_on": "1/3/2024",
                 "valid_until": "2030-01-01", "data": "[1, 2]", "_extra": ["surplus"]})]
    first, second = validate(rows, TODAY)
    assert _fields(first) == {"holder_code": "resident_id", "issued_on": "future", "valid_from": "before_issue",
                              "valid_until": "before_start"}
    assert _fields(second) == {"line": "extra_columns", "licence_number": "too_long", "matter_code": "unknown_matter",
                               "holder_name": "required", "holder_code_type": "code_type", "issued_on": "date",
                               "data": "object"}
    assert isinstance(first, Rejected) and isinstance(second, Rejected)
    assert all(e.message and e.message_en for e in first.errors + second.errors)
    assert "310101199001011235" not in json.dumps([e.model_dump() for e in first.errors], ensure_ascii=False)


def test_json_items_that_are_not_licences_are_lines_of_their_own() -> None:
    good = {"licence_number": "N-4", "matter_code": "LR-XK-008", "holder_name": "某公司", "holder_code_type": "uscc",
            "holder_code": USCC, "issued_on": "2025-01-01", "valid_until": "2026-01-01"}
    body = json.dumps({"licences": [good, [1], {**good, "holder_name": 7}, {**good, "holder_name": "\ud800"},
                                    {**good, "data": {"note": "\u0000"}}, good]}).encode()
    kind, rows = read_file(body, "application/json", 10)
    results = validate(rows, TODAY)
    assert kind == "json" and isinstance(results[0], Line)
    assert [_fields(r) for r in results[1:]] == [
        {"line": "not_object"}, {"holder_name": "not_text"}, {"holder_name": "not_text"}, {"data": "object"},
        {"licence_number": "duplicate"}]


@pytest.mark.parametrize(("body", "content_type", "refusal"), [
    (b"x", "text/plain", UnsupportedMediaType),
    (b"x", None, UnsupportedMediaType),
    ((HEADER + "\n").encode(), "text/csv", ValidationFailed),  # no line
    ((HEADER + "\nN,LR-XK-002,某公司\n").encode("gbk"), "text/csv", ValidationFailed),  # not UTF-8
    (b"licence_number\nN\n", "text/csv", ValidationFailed),  # required columns missing
    (b'"a,b\n', "text/csv", ValidationFailed),
    (b'{"licences": {}}', "application/json", ValidationFailed),
    (b"[]", "application/json", ValidationFailed),
    (("\n".join([HEADER] + ["N,LR-XK-002,a,uscc,b,2024-01-01,2025-01-01"] * 4) + "\n").encode(), "text/csv",
     PayloadTooLarge),
])
def test_a_file_that_is_not_a_register_is_refused_whole(body: bytes, content_type: str | None,
                                                        refusal: type[Exception]) -> None:
    with pytest.raises(refusal):
        read_file(body, content_type, 3)
