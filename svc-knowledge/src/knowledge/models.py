"""Tables of svc-knowledge (its features come with their own issue; the platform tables exist from revision 0001)."""
from __future__ import annotations

from kit.db import Base as KitBase
from kit.db import new_metadata


class Base(KitBase):
    __abstract__ = True
    metadata = new_metadata()
