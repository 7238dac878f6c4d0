"""What the booking tests share: valid resident ID numbers, callers, a venue, the frozen clock's moments."""
from __future__ import annotations

import datetime as dt

from kit.auth import Principal, Role, SubjectKind
from kit.calendar import SHANGHAI
from kit.identifiers import resident_id_check_char

# A Wednesday; the tests' clock stands at 08:00 in Shanghai unless a test moves it.
DAY = dt.date(2026, 12, 9)


def local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), SHANGHAI)


def resident_id(n: int) -> str:
    """The n-th of a run of distinct valid resident ID numbers (check digit included)."""
    birth = dt.date(1960, 1, 1) + dt.timedelta(days=n // 900)
    first17 = f"310101{birth:%Y%m%d}{n % 900 + 100:03d}"
    return first17 + resident_id_check_char(first17)


def person(n: int) -> dict[str, str]:
    return {"name": f"游客{n}", "id_number": resident_id(n), "phone": f"139{n:08d}"}


def applicant(subject: str = "u-family") -> Principal:
    return Principal(subject=subject, kind=SubjectKind.PERSON, roles=frozenset({Role.APPLICANT}))


def partner(province: str = "JS") -> Principal:
    return Principal(subject=f"c-partner-{province.lower()}", kind=SubjectKind.PARTNER, roles=frozenset({Role.PARTNER}),
                     client_id=f"partner-{province.lower()}", province=province)


def gate_staff(venue_id: str) -> Principal:
    """Gate staff of the test venue ``venue_id``: their department is the venue's name, as ``venue`` names it."""
    return Principal(subject=f"u-gate-{venue_id}", kind=SubjectKind.STAFF, roles=frozenset({Role.VENUE_STAFF}),
                     department=str(venue(venue_id)["name"]))


def venue(venue_id: str, capacity: int = 3, closed_weekdays: list[int] | None = None) -> dict[str, object]:
    return {"id": venue_id, "name": f"测试动物园 {venue_id}", "kind": "zoo", "province": "SH", "city": "上海",
            "slots": [{"start": "09:00", "end": "11:00", "capacity": capacity},
                      {"start": "13:00", "end": "16:00", "capacity": capacity}],
            "closed_weekdays": closed_weekdays or []}
