"""Request shapes of the analyzers API."""

from __future__ import annotations

from pydantic import BaseModel, Field


class AnalyzerConfigIn(BaseModel):
    enabled: bool | None = None
    auto_kinds: list[str] | None = Field(default=None, description="observable kinds analysed on ingest")
    budget: int | None = Field(default=None, description="max automatic runs per contribution")
    cache_hours: int | None = None
    url: str | None = Field(default=None, description="HTTP analyzers only: the partner service's URL")
