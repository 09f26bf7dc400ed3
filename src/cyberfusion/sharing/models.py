"""Handling rules as stored: one row per distinct rule set, shared by contributions and objects.

Set-valued restrictions are stored so that the policy can test them in SQL on any
backend: countries and recipient organisations as ",FR,DE," strings (LIKE '%,FR,%'),
organisation kinds and purposes as bit masks.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cyberfusion.db import Base


class Handling(Base):
    __tablename__ = "handling"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    tlp: Mapped[int] = mapped_column(Integer)
    purposes: Mapped[int] = mapped_column(Integer)
    allowed_countries: Mapped[str] = mapped_column(Text, default="")
    denied_countries: Mapped[str] = mapped_column(Text, default="")
    allowed_kinds: Mapped[int] = mapped_column(Integer, default=0)  # 0 = any kind
    le_only: Mapped[bool] = mapped_column(Boolean, default=False)
    recipients: Mapped[str] = mapped_column(Text, default="")  # ",3,17," organisation ids
    no_further_dissemination: Mapped[bool] = mapped_column(Boolean, default=False)
    attribution: Mapped[str] = mapped_column(String(16), default="named")
    hit_reveal: Mapped[bool] = mapped_column(Boolean, default=True)
