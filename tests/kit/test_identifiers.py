"""Chinese identifier validation, normalisation, masking and detection in free text."""
from __future__ import annotations

import re
from datetime import date

import pytest

from kit.identifiers import (
    IDENTIFIER_PATTERNS,
    MOBILE_IN_TEXT,
    RESIDENT_ID_IN_TEXT,
    SHANGHAI_DISTRICT_CODES,
    SHANGHAI_DISTRICTS,
    USCC_CHARSET,
    is_shanghai_district,
    is_valid_mainland_mobile,
    is_valid_resident_id,
    is_valid_uscc,
    mask_mobile,
    mask_resident_id,
    mask_uscc,
    normalize_mobile,
    normalize_resident_id,
    normalize_shanghai_district,
    normalize_uscc,
    resident_id_birth_date,
    resident_id_check_char,
    scrub_identifiers,
    uscc_check_char,
)

TODAY = date(2025, 6, 1)

# ---------------------------------------------------------------------------------------------
# USCC
# ---------------------------------------------------------------------------------------------

VALID_USCC = [
    "91350100M000100Y43",  # the worked example of GB 32100-2015
    "91310000132208780Q",  # 91 enterprise, Shanghai
    "12310000425007811M",  # 12 public institution (事业单位)
    "52310000MJ49067457",  # 52 private non-enterprise unit (民办非企业单位)
    "92310115MA1JK5TM7K",  # 92 individual business (个体工商户), Pudong
]


@pytest.mark.parametrize("code", VALID_USCC)
def test_valid_uscc(code: str) -> None:
    assert is_valid_uscc(code)
    assert normalize_uscc(code) == code


def test_uscc_check_char_by_hand() -> None:
    # 9 1 3 1 0 0 0 0 1 3 2 2 0 8 7 8 0 weighted by 1 3 9 27 19 26 16 17 20 29 25 13 8 24 10 30 28
    values = [9, 1, 3, 1, 0, 0, 0, 0, 1, 3, 2, 2, 0, 8, 7, 8, 0]
    weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    total = sum(v * w for v, w in zip(values, weights, strict=True))
    assert USCC_CHARSET[(31 - total % 31) % 31] == "Q" == uscc_check_char("91310000132208780")


def test_uscc_accepts_lowercase_and_normalizes() -> None:
    assert is_valid_uscc("92310115ma1jk5tm7k")
    assert normalize_uscc("92310115ma1jk5tm7k") == "92310115MA1JK5TM7K"


@pytest.mark.parametrize(
    "code",
    [
        "91310000132208780R",  # wrong check character
        "91350100M000100Y44",  # wrong check character
        "91310000132208780",  # 17 characters
        "91310000132208780QQ",  # 19 characters
        "",
        " 91310000132208780Q",  # surrounding whitespace
        "91310000132208780Q ",
        "9131000013220878OQ",  # O is not in the charset
        "91310000I32208780Q",  # I
        "91310000Z32208780Q",  # Z
        "91310000S32208780Q",  # S
        "91310000V32208780Q",  # V
        "H1310000132208780Q",  # H is not a registration-authority code
        "90310000132208780Q",  # organisation type 0
        "9A310000132208780Q",  # organisation type must be a digit
        "913100A0132208780Q",  # region code not 6 digits
        "９１３１００００１３２２０８７８０Ｑ",  # full-width characters
    ],
)
def test_invalid_uscc(code: str) -> None:
    assert not is_valid_uscc(code)
    with pytest.raises(ValueError):
        normalize_uscc(code)


def test_uscc_region_and_type_checked_even_with_matching_check_char() -> None:
    # Recompute the check character so only the structural rule can reject these.
    for body in ("H1310000132208780", "90310000132208780", "913100A0132208780"):
        assert not is_valid_uscc(body + uscc_check_char(body))


@pytest.mark.parametrize("value", [None, 91310000132208780, b"91310000132208780Q"])
def test_uscc_non_strings_are_invalid(value: object) -> None:
    assert not is_valid_uscc(value)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Resident ID
# ---------------------------------------------------------------------------------------------

VALID_IDS = [
    "11010519491231002X",  # the worked example of GB 11643-1999
    "310115199003071239",  # Pudong, born 1990-03-07
    "310104198511114561",  # Xuhui, born 1985-11-11
    "310115200002290013",  # born on a leap day
]


@pytest.mark.parametrize("number", VALID_IDS)
def test_valid_resident_id(number: str) -> None:
    assert is_valid_resident_id(number, today=TODAY)
    assert is_valid_resident_id(number)  # default: today in China


def test_resident_id_check_char_by_hand() -> None:
    digits = [int(d) for d in "11010519491231002"]
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(d * w for d, w in zip(digits, weights, strict=True))
    assert "10X98765432"[total % 11] == "X" == resident_id_check_char("11010519491231002")


def test_resident_id_lowercase_x() -> None:
    assert is_valid_resident_id("11010519491231002x", today=TODAY)
    assert normalize_resident_id("11010519491231002x", today=TODAY) == "11010519491231002X"


def test_resident_id_birth_date() -> None:
    assert resident_id_birth_date("310115199003071239") == date(1990, 3, 7)
    assert resident_id_birth_date("310115198002301236") is None
    assert resident_id_birth_date("31011519900307") is None


def _with_check(body17: str) -> str:
    return body17 + resident_id_check_char(body17)


@pytest.mark.parametrize(
    "number",
    [
        "310115199003071238",  # wrong check digit
        "110105194912310021",  # check should be X
        _with_check("31011519800230123"),  # 1980-02-30 does not exist
        _with_check("31011519810229123"),  # 1981 is not a leap year
        _with_check("31011519901301123"),  # month 13
        _with_check("31011519900100123"),  # day 00
        _with_check("31011520250602123"),  # born after TODAY
        _with_check("31011518991231123"),  # born before 1900
        "440524188001010014",  # GB 11643's other example: valid check digit, but born 1880
        _with_check("00011519900307123"),  # province 00
        _with_check("19011519900307123"),  # 19 is no province
        _with_check("72011519900307123"),  # 72 is no province
        _with_check("84011519900307123"),  # 84 is no province
        "31011519900307123",  # 17 characters
        "3101151990030712399",  # 19 characters
        "",
        "31011519900307123A",  # check character must be a digit or X
        "3101151990030712X9",  # X only in the last position
        " 310115199003071239",  # whitespace
        "３１０１１５１９９００３０７１２３９",  # full-width digits
    ],
)
def test_invalid_resident_id(number: str) -> None:
    assert not is_valid_resident_id(number, today=TODAY)
    with pytest.raises(ValueError):
        normalize_resident_id(number, today=TODAY)


def test_resident_id_future_depends_on_today() -> None:
    born = _with_check("31011520250602123")
    assert not is_valid_resident_id(born, today=date(2025, 6, 1))
    assert is_valid_resident_id(born, today=date(2025, 6, 2))


@pytest.mark.parametrize("province", ["11", "15", "31", "46", "54", "65", "71", "81", "82", "83", "91"])
def test_resident_id_accepted_provinces(province: str) -> None:
    assert is_valid_resident_id(_with_check(province + "011519900307123"), today=TODAY)


def test_resident_id_non_string_is_invalid() -> None:
    assert not is_valid_resident_id(310115199003071239, today=TODAY)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Mobile
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "13812345678",
        "19912345678",
        "+8613812345678",
        "8613812345678",
        "008613812345678",
        "+86 138 1234 5678",
        "+86-138-1234-5678",
        "138-1234-5678",
        "138 1234 5678",
        " 13812345678 ",
    ],
)
def test_valid_mobile(number: str) -> None:
    assert is_valid_mainland_mobile(number)
    assert normalize_mobile(number) == ("19912345678" if "199" in number else "13812345678")


@pytest.mark.parametrize(
    "number",
    [
        "12812345678",  # second digit 2
        "10812345678",
        "1381234567",  # 10 digits
        "138123456789",  # 12 digits
        "+8713812345678",  # another country
        "+86+13812345678",
        "138--1234-5678",  # double separator
        "138.1234.5678",
        "1381234567a",
        "23812345678",
        "",
        "+86",
    ],
)
def test_invalid_mobile(number: str) -> None:
    assert not is_valid_mainland_mobile(number)
    with pytest.raises(ValueError):
        normalize_mobile(number)


def test_mobile_non_string_is_invalid() -> None:
    assert not is_valid_mainland_mobile(13812345678)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Masking
# ---------------------------------------------------------------------------------------------


def test_mask_resident_id() -> None:
    assert mask_resident_id("31011519900307123X") == "310115********123X"
    assert mask_resident_id("11010519491231002x") == "110105********002X"
    assert mask_resident_id("310115199003071239") == "310115********1239"


def test_mask_mobile() -> None:
    assert mask_mobile("13812345678") == "138****5678"
    assert mask_mobile("+86 138-1234-5678") == "138****5678"


def test_mask_uscc() -> None:
    assert mask_uscc("91310000132208780Q") == "913100********780Q"
    assert mask_uscc("92310115ma1jk5tm7k") == "923101********TM7K"


@pytest.mark.parametrize(
    ("masker", "value"),
    [
        (mask_resident_id, "3101151990030712"),
        (mask_resident_id, "3101151990030712399"),
        (mask_mobile, "1381234567"),
        (mask_mobile, "138123456789"),
        (mask_uscc, "9131000013220878"),
    ],
)
def test_masking_malformed_values_reveals_nothing(masker, value: str) -> None:
    masked = masker(value)
    assert set(masked) == {"*"}
    assert len(masked) == len(value)


def test_masking_keeps_no_more_than_ten_id_characters() -> None:
    for number in VALID_IDS:
        assert sum(ch != "*" for ch in mask_resident_id(number)) == 10


# ---------------------------------------------------------------------------------------------
# Identifiers in free text
# ---------------------------------------------------------------------------------------------


def test_patterns_exposed() -> None:
    assert IDENTIFIER_PATTERNS["resident_id"] is RESIDENT_ID_IN_TEXT
    assert IDENTIFIER_PATTERNS["mobile"] is MOBILE_IN_TEXT
    assert all(isinstance(p, re.Pattern) for p in IDENTIFIER_PATTERNS.values())


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("申请人身份证号310115199003071239，请核对", "310115199003071239"),
        ('{"id_number": "11010519491231002x"}', "11010519491231002x"),
        ("id=31011519900307123X&x=1", "31011519900307123X"),
        ("身份证:310115199003071238（校验位错也要打码）", "310115199003071238"),
    ],
)
def test_resident_id_found_in_text(text: str, found: str) -> None:
    assert [m.group(0) for m in RESIDENT_ID_IN_TEXT.finditer(text)] == [found]


@pytest.mark.parametrize(
    "text",
    [
        "order 3101151990030712390 shipped",  # 19 digits
        "seq 310115012503071239",  # 18 digits but "birth year" 0125
        "trace a310115199003071239",  # glued to hex letters
        "310115199003071239ab",
        "310115199013071239",  # month 13
        "550e8400-e29b-41d4-a716-446655440000",  # a UUID
        "sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    ],
)
def test_resident_id_not_found(text: str) -> None:
    assert RESIDENT_ID_IN_TEXT.search(text) is None


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("联系电话13812345678", "13812345678"),
        ("mobile=+86 138-1234-5678;", "+86 138-1234-5678"),
        ("call 8613812345678 now", "8613812345678"),
        ("手机：138 1234 5678。", "138 1234 5678"),
        ("user_19912345678", "19912345678"),
    ],
)
def test_mobile_found_in_text(text: str, found: str) -> None:
    assert [m.group(0) for m in MOBILE_IN_TEXT.finditer(text)] == [found]


@pytest.mark.parametrize(
    "text",
    [
        "id 138123456789",  # 12 digits
        "1738123456789 ms",  # epoch milliseconds
        "x13812345678",  # glued to a letter
        "13812345678f",
        "550e8400-e29b-41d4-a716-446655440000",
        "trace 4bf92f3577b34da6a3ce929d0e0e4736",
        "12812345678",
        "2024-10-01T13:45:12+08:00",
    ],
)
def test_mobile_not_found(text: str) -> None:
    assert MOBILE_IN_TEXT.search(text) is None


def test_scrub_identifiers() -> None:
    text = "张三 310115199003071239 电话 138-1234-5678，备用 +8619912345678"
    assert scrub_identifiers(text) == "张三 310115********1239 电话 138****5678，备用 199****5678"


def test_resident_id_in_text_is_not_taken_for_a_mobile() -> None:
    # 18 digits containing "13812345678" in the middle: not a mobile (digits on both sides).
    assert MOBILE_IN_TEXT.search("310113812345678123") is None


# ---------------------------------------------------------------------------------------------
# Districts
# ---------------------------------------------------------------------------------------------


def test_sixteen_districts() -> None:
    assert len(SHANGHAI_DISTRICTS) == 16 == len(set(SHANGHAI_DISTRICTS))
    assert set(SHANGHAI_DISTRICTS) == set(SHANGHAI_DISTRICT_CODES)
    assert "浦东新区" in SHANGHAI_DISTRICTS and "崇明区" in SHANGHAI_DISTRICTS
    assert all(code.startswith("3101") for code in SHANGHAI_DISTRICT_CODES.values())
    assert SHANGHAI_DISTRICT_CODES["浦东新区"] == "310115"


@pytest.mark.parametrize("name", ["浦东新区", "上海市浦东新区", "上海浦东新区", "黄浦区", "上海市崇明区", " 静安区 "])
def test_is_shanghai_district(name: str) -> None:
    assert is_shanghai_district(name)


@pytest.mark.parametrize("name", ["浦东", "卢湾区", "闸北区", "崇明县", "南山区", "上海市", "", "北京市朝阳区", "上海市上海市黄浦区"])
def test_not_shanghai_district(name: str) -> None:
    assert not is_shanghai_district(name)


def test_normalize_shanghai_district() -> None:
    assert normalize_shanghai_district("上海市浦东新区") == "浦东新区"
    with pytest.raises(ValueError):
        normalize_shanghai_district("卢湾区")


def test_district_of_address_reads_the_district_an_address_starts_with() -> None:
    from kit.identifiers import district_of_address

    assert district_of_address("上海市浦东新区世纪大道100号") == "浦东新区"
    assert district_of_address("徐汇区漕溪北路") == "徐汇区"
    assert district_of_address("上海黄浦区") == "黄浦区"
    assert district_of_address("北京市朝阳区") is None
    assert district_of_address("世纪大道100号") is None
    assert district_of_address(None) is None  # type: ignore[arg-type]
