"""The gateway's own tables: only the rate-limit counters shared by its replicas."""
from __future__ import annotations

from sqlalchemy import BigInteger, Integer, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class RateCounter(Base):
    """Requests counted in one fixed window for one key (a digest of route and caller or address)."""

    __tablename__ = "gateway_rate_counters"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # Unix seconds
    count: Mapped[int] = mapped_column(Integer, nullable=False)
