"""Validation, normalisation and masking of Chinese identifiers. Pure functions, no I/O.

- Unified social credit code (统一社会信用代码, USCC), GB 32100-2015: the 18-character id of every
  company, public institution, social organisation and individual business (个体工商户).
- Resident identity card number (居民身份证号码), GB 11643-1999: 18 characters, the last a check
  character (0-9 or X).
- Mainland mobile numbers (手机号码): 11 digits starting 13-19.
- The 16 districts (区) of Shanghai.

The validators never raise: anything that is not a well-formed identifier (including non-strings)
is simply invalid. The ``normalize_*`` functions return the canonical form services store and hash
(uppercase, no separators, no country prefix) and raise ``ValueError`` on invalid input. The
``mask_*`` functions produce the masked (脱敏) form for responses; they never reveal more than the
masked form of a valid identifier, even when given malformed input.

``RESIDENT_ID_IN_TEXT`` and ``MOBILE_IN_TEXT`` find identifiers inside free text for the log
scrubber (``kit.logging``); ``scrub_identifiers`` masks them in a string.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from types import MappingProxyType

__all__ = [
    "IDENTIFIER_PATTERNS",
    "MOBILE_IN_TEXT",
    "RESIDENT_ID_IN_TEXT",
    "SHANGHAI_DISTRICTS",
    "SHANGHAI_DISTRICT_CODES",
    "USCC_CHARSET",
    "is_shanghai_district",
    "is_valid_mainland_mobile",
    "is_valid_resident_id",
    "is_valid_uscc",
    "mask_mobile",
    "mask_resident_id",
    "mask_uscc",
    "normalize_mobile",
    "normalize_resident_id",
    "normalize_shanghai_district",
    "normalize_uscc",
    "resident_id_birth_date",
    "resident_id_check_char",
    "scrub_identifiers",
    "uscc_check_char",
]

# China has a single time zone and no daylight saving time; "today" for a birth-date check is the
# calendar date in Beijing time, whatever the server's own zone.
CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")

# ---------------------------------------------------------------------------------------------
# Unified social credit code (统一社会信用代码), GB 32100-2015
# ---------------------------------------------------------------------------------------------

#: The 31 characters a USCC may contain: digits and capital letters except I, O, Z, S, V.
USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {ch: i for i, ch in enumerate(USCC_CHARSET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# Character 1, the registration authority (登记管理部门代码): 1 机构编制, 2 外交, 3 司法行政, 4 文化,
# 5 民政, 6 旅游, 7 宗教, 8 工会, 9 市场监管 (工商), A 中央军委改革和编制办公室, B 农业, C-G other
# authorities added by amendments, N 农业农村 (rural collective economic organisations), Y 其他.
_USCC_AUTHORITIES = frozenset("123456789ABCDEFGNY")
# Character 2, the organisation type (机构类别代码), is a digit 1-9 under every authority
# (e.g. 91 企业, 92 个体工商户, 93 农民专业合作社, 12 事业单位, 51 社会团体).
_USCC_ORG_TYPES = frozenset("123456789")


def uscc_check_char(first17: str) -> str:
    """The check character (character 18) of a USCC whose first 17 characters are given.

    Raises ``ValueError`` if ``first17`` is not 17 characters of the USCC charset.
    """
    if len(first17) != 17 or any(ch not in _USCC_VALUE for ch in first17):
        raise ValueError("first17 must be 17 characters of the USCC charset")
    total = sum(_USCC_VALUE[ch] * w for ch, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - total % 31) % 31]


def is_valid_uscc(code: str) -> bool:
    """Whether ``code`` is a well-formed unified social credit code (统一社会信用代码).

    Checks: 18 characters from the GB 32100 charset (so never I, O, Z, S or V); a known
    registration-authority character; an organisation-type digit; a 6-digit administrative
    region code in characters 3-8; and the check character. Letters are accepted in either case
    (``normalize_uscc`` returns the uppercase form). Surrounding whitespace is not accepted.
    """
    if not isinstance(code, str) or len(code) != 18:
        return False
    code = code.upper()
    if any(ch not in _USCC_VALUE for ch in code):
        return False
    if code[0] not in _USCC_AUTHORITIES or code[1] not in _USCC_ORG_TYPES:
        return False
    if not code[2:8].isdigit():
        return False
    return uscc_check_char(code[:17]) == code[17]


def normalize_uscc(code: str) -> str:
    """The canonical (uppercase) form of a valid USCC; ``ValueError`` if it is not valid."""
    if not is_valid_uscc(code):
        raise ValueError("not a valid unified social credit code / 统一社会信用代码无效")
    return code.upper()


def mask_uscc(code: str) -> str:
    """Masked USCC for responses: the first 6 and last 4 characters kept, e.g. ``913101********0A2B``."""
    return _mask(code.upper() if isinstance(code, str) else "", keep_start=6, keep_end=4, full_length=18)


# ---------------------------------------------------------------------------------------------
# Resident identity card number (居民身份证号码), GB 11643-1999
# ---------------------------------------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_MAP = "10X98765432"
# First two digits: the province-level division (GB/T 2260), plus 81/82/83 used by the residence
# permits of Hong Kong, Macao and Taiwan residents and 91 by foreigners' permanent residence IDs.
_ID_PROVINCES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54,
     61, 62, 63, 64, 65, 71, 81, 82, 83, 91}
)
_ID_MIN_BIRTH = date(1900, 1, 1)
_ASCII_DIGITS = frozenset("0123456789")


def _is_ascii_digits(s: str) -> bool:
    # str.isdigit() also accepts full-width and other Unicode digits, which no identifier contains.
    return bool(s) and all(ch in _ASCII_DIGITS for ch in s)


def resident_id_check_char(first17: str) -> str:
    """The check character (``0``-``9`` or ``X``) of a resident ID whose first 17 digits are given."""
    if len(first17) != 17 or not _is_ascii_digits(first17):
        raise ValueError("first17 must be 17 ASCII digits")
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK_MAP[total % 11]


def resident_id_birth_date(number: str) -> date | None:
    """The birth date encoded in characters 7-14 of an 18-character ID number, or ``None`` if not a date."""
    if not isinstance(number, str) or len(number) != 18 or not _is_ascii_digits(number[6:14]):
        return None
    try:
        return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None


def is_valid_resident_id(number: str, today: date | None = None) -> bool:
    """Whether ``number`` is a valid 18-character resident ID number (居民身份证号码).

    Checks: 17 ASCII digits and a check character (``X`` in either case); a known province code in
    the first two digits; a real birth date in digits 7-14 that is neither before 1900-01-01 nor
    after ``today`` (default: today's date in China); and the GB 11643 check character.
    Surrounding whitespace is not accepted.
    """
    if not isinstance(number, str) or len(number) != 18:
        return False
    body, check = number[:17], number[17].upper()
    if not _is_ascii_digits(body) or not (check == "X" or check in _ASCII_DIGITS):
        return False
    if int(body[:2]) not in _ID_PROVINCES:
        return False
    birth = resident_id_birth_date(number)
    if birth is None:
        return False
    if today is None:
        today = datetime.now(CHINA_TZ).date()
    if not (_ID_MIN_BIRTH <= birth <= today):
        return False
    return resident_id_check_char(body) == check


def normalize_resident_id(number: str, today: date | None = None) -> str:
    """The canonical form (uppercase ``X``) of a valid resident ID; ``ValueError`` if not valid."""
    if not is_valid_resident_id(number, today):
        raise ValueError("not a valid resident ID number / 居民身份证号码无效")
    return number.upper()


def mask_resident_id(number: str) -> str:
    """Masked resident ID for responses: ``310115********123X`` (first 6 and last 4 kept)."""
    return _mask(number.upper() if isinstance(number, str) else "", keep_start=6, keep_end=4, full_length=18)


# ---------------------------------------------------------------------------------------------
# Mainland mobile numbers (手机号码)
# ---------------------------------------------------------------------------------------------

# An optional country prefix (+86, 0086 or 86, optionally followed by one space or hyphen), then
# 11 digits starting 13-19, with at most one space or hyphen between any two digits
# ("138 1234 5678", "138-1234-5678", "+86 13812345678").
_MOBILE_RE = re.compile(r"(?:(?:\+|00)?86[ -]?)?(1[3-9](?:[ -]?[0-9]){9})")
_SEPARATORS = re.compile(r"[ -]")


def is_valid_mainland_mobile(number: str) -> bool:
    """Whether ``number`` is a mainland China mobile number.

    Accepts 11 digits starting ``1`` then ``3``-``9``, optionally prefixed by ``+86``, ``0086`` or
    ``86``, with single spaces or hyphens as separators. Surrounding whitespace is tolerated.
    """
    if not isinstance(number, str):
        return False
    return _MOBILE_RE.fullmatch(number.strip()) is not None


def normalize_mobile(number: str) -> str:
    """The 11 bare digits of a valid mobile number (``+86 138-1234-5678`` → ``13812345678``)."""
    match = _MOBILE_RE.fullmatch(number.strip()) if isinstance(number, str) else None
    if match is None:
        raise ValueError("not a valid mainland mobile number / 手机号码无效")
    return _SEPARATORS.sub("", match.group(1))


def mask_mobile(number: str) -> str:
    """Masked mobile number for responses: ``138****5678`` (first 3 and last 4 digits kept)."""
    if isinstance(number, str) and is_valid_mainland_mobile(number):
        number = normalize_mobile(number)
    elif isinstance(number, str):
        number = _SEPARATORS.sub("", number.strip())
    else:
        number = ""
    return _mask(number, keep_start=3, keep_end=4, full_length=11)


# ---------------------------------------------------------------------------------------------
# Masking
# ---------------------------------------------------------------------------------------------


def _mask(value: str, *, keep_start: int, keep_end: int, full_length: int) -> str:
    """Keep ``keep_start`` + ``keep_end`` characters of a value of the expected length.

    A value of any other length is masked entirely (its length preserved), so malformed input never
    reveals more than the masked form of a well-formed identifier would.
    """
    if len(value) != full_length:
        return "*" * len(value)
    hidden = full_length - keep_start - keep_end
    return value[:keep_start] + "*" * hidden + value[full_length - keep_end:]


# ---------------------------------------------------------------------------------------------
# Identifiers inside free text (log scrubbing)
# ---------------------------------------------------------------------------------------------

# Both patterns refuse to match when the candidate touches another ASCII letter or digit, so long
# numbers, hex strings (UUIDs, hashes, trace ids) and order numbers are not taken for identifiers.
# Chinese characters, punctuation, quotes, "=", ":" and "_" around an identifier do not prevent a
# match ("身份证号310115...", "mobile=138...", "user_138...").
_NOT_ALNUM_BEFORE = r"(?<![0-9A-Za-z])"
_NOT_ALNUM_AFTER = r"(?![0-9A-Za-z])"

#: An 18-character resident ID number in text: a plausible region code, a birth date 1800-2099
#: with a valid month and day-of-month range, 3 sequence digits and the check character. The check
#: character itself is not verified: a mistyped ID number is still personal data.
RESIDENT_ID_IN_TEXT = re.compile(
    _NOT_ALNUM_BEFORE
    + r"[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]"
    + _NOT_ALNUM_AFTER
)

#: A mainland mobile number in text, with an optional +86/0086/86 prefix and the usual 3-4-4
#: grouping by single spaces or hyphens ("13812345678", "+86 138-1234-5678").
MOBILE_IN_TEXT = re.compile(
    _NOT_ALNUM_BEFORE + r"(?:(?:\+|00)?86[ -]?)?1[3-9][0-9](?:[ -]?[0-9]{4}){2}" + _NOT_ALNUM_AFTER
)

#: The patterns the log scrubber applies, by identifier kind.
IDENTIFIER_PATTERNS = MappingProxyType({"resident_id": RESIDENT_ID_IN_TEXT, "mobile": MOBILE_IN_TEXT})


def scrub_identifiers(text: str) -> str:
    """``text`` with every resident ID and mobile number replaced by its masked form."""
    text = RESIDENT_ID_IN_TEXT.sub(lambda m: mask_resident_id(m.group(0)), text)
    return MOBILE_IN_TEXT.sub(lambda m: mask_mobile(m.group(0)), text)


# ---------------------------------------------------------------------------------------------
# Shanghai districts (上海市辖区)
# ---------------------------------------------------------------------------------------------

#: The 16 districts of Shanghai, in the order of their administrative division codes.
SHANGHAI_DISTRICTS: tuple[str, ...] = (
    "黄浦区",
    "徐汇区",
    "长宁区",
    "静安区",
    "普陀区",
    "虹口区",
    "杨浦区",
    "闵行区",
    "宝山区",
    "嘉定区",
    "浦东新区",
    "金山区",
    "松江区",
    "青浦区",
    "奉贤区",
    "崇明区",
)

#: Administrative division code (GB/T 2260) of each district; the first 6 digits of the resident
#: IDs issued there and the region code in characters 3-8 of many USCCs registered there.
SHANGHAI_DISTRICT_CODES = MappingProxyType(
    {
        "黄浦区": "310101",
        "徐汇区": "310104",
        "长宁区": "310105",
        "静安区": "310106",
        "普陀区": "310107",
        "虹口区": "310109",
        "杨浦区": "310110",
        "闵行区": "310112",
        "宝山区": "310113",
        "嘉定区": "310114",
        "浦东新区": "310115",
        "金山区": "310116",
        "松江区": "310117",
        "青浦区": "310118",
        "奉贤区": "310120",
        "崇明区": "310151",
    }
)

_SHANGHAI_PREFIXES = ("上海市", "上海")


def normalize_shanghai_district(name: str) -> str:
    """The bare district name (``上海市浦东新区`` → ``浦东新区``); ``ValueError`` if not a Shanghai district."""
    if isinstance(name, str):
        bare = name.strip()
        for prefix in _SHANGHAI_PREFIXES:
            if bare.startswith(prefix):
                bare = bare[len(prefix):]
                break
        if bare in SHANGHAI_DISTRICT_CODES:
            return bare
    raise ValueError("not a district of Shanghai / 不是上海市的区")


def is_shanghai_district(name: str) -> bool:
    """Whether ``name`` is one of the 16 districts, with or without the ``上海市`` (or ``上海``) prefix."""
    try:
        normalize_shanghai_district(name)
    except ValueError:
        return False
    return True


def district_of_address(text: str) -> str | None:
    """The Shanghai district an address starts with (``上海市浦东新区世纪大道100号`` → ``浦东新区``), else None.

    Lets a district field accept what applicants often type there: the district followed by the rest
    of the address.
    """
    if not isinstance(text, str):
        return None
    bare = text.strip()
    for prefix in _SHANGHAI_PREFIXES:
        if bare.startswith(prefix):
            bare = bare[len(prefix):]
            break
    return next((d for d in SHANGHAI_DISTRICT_CODES if bare.startswith(d)), None)
