"""The demo venues of 三省一市 (a few zoos and botanical gardens per province), added at a development
start when ``BOOKING_SEED_DEMO_VENUES`` is set; a venue already there is left as it is."""
from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert

from booking.models import Venue
from kit.db import Database


def _slots(capacity: int) -> list[dict[str, object]]:
    return [{"start": "08:30", "end": "11:00", "capacity": capacity},
            {"start": "11:00", "end": "13:30", "capacity": capacity},
            {"start": "13:30", "end": "16:30", "capacity": capacity}]


DEMO_VENUES: list[dict[str, object]] = [
    {"id": "sh-zoo", "name": "上海动物园", "kind": "zoo", "province": "SH", "city": "上海", "slots": _slots(6000), "closed_weekdays": []},
    {"id": "sh-wildlife-park", "name": "上海野生动物园", "kind": "zoo", "province": "SH", "city": "上海", "slots": _slots(8000), "closed_weekdays": []},
    {"id": "sh-botanical", "name": "上海植物园", "kind": "botanical_garden", "province": "SH", "city": "上海", "slots": _slots(4000), "closed_weekdays": []},
    {"id": "sh-chenshan", "name": "上海辰山植物园", "kind": "botanical_garden", "province": "SH", "city": "上海", "slots": _slots(5000), "closed_weekdays": []},
    {"id": "js-hongshan-zoo", "name": "南京市红山森林动物园", "kind": "zoo", "province": "JS", "city": "南京", "slots": _slots(5000), "closed_weekdays": []},
    {"id": "js-nanjing-botanical", "name": "南京中山植物园", "kind": "botanical_garden", "province": "JS", "city": "南京", "slots": _slots(3000), "closed_weekdays": [1]},
    {"id": "js-suzhou-zoo", "name": "苏州上方山森林动物世界", "kind": "zoo", "province": "JS", "city": "苏州", "slots": _slots(4000), "closed_weekdays": []},
    {"id": "zj-hangzhou-zoo", "name": "杭州动物园", "kind": "zoo", "province": "ZJ", "city": "杭州", "slots": _slots(4000), "closed_weekdays": []},
    {"id": "zj-hangzhou-botanical", "name": "杭州植物园", "kind": "botanical_garden", "province": "ZJ", "city": "杭州", "slots": _slots(3000), "closed_weekdays": []},
    {"id": "zj-ningbo-zoo", "name": "宁波动物园", "kind": "zoo", "province": "ZJ", "city": "宁波", "slots": _slots(3000), "closed_weekdays": [1]},
    {"id": "ah-hefei-wildlife-park", "name": "合肥野生动物园", "kind": "zoo", "province": "AH", "city": "合肥", "slots": _slots(4000), "closed_weekdays": []},
    {"id": "ah-hefei-botanical", "name": "合肥植物园", "kind": "botanical_garden", "province": "AH", "city": "合肥", "slots": _slots(3000), "closed_weekdays": []},
]


async def seed_demo_venues(database: Database) -> int:
    async with database.transaction() as session:
        result = await session.execute(insert(Venue).values(DEMO_VENUES).on_conflict_do_nothing().returning(Venue.id))
        return len(result.all())
