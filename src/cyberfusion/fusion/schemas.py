"""Request shapes of the fusion API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class LookupIn(BaseModel):
    purpose: str = Field(description="why you ask: investigation, victim_notification, network_defence, ...")
    values: list[Any] = Field(description="up to CFC_LOOKUP_MAX_VALUES values (IPs, domains, URLs, hashes, "
                                          "e-mail addresses, ...); defanged forms are accepted")
    kind: str | None = Field(default=None, description="the kind of every value, when known (skips detection)")


class AnswerIn(BaseModel):
    decision: str = Field(description="share, contact or decline")
    message: str = ""


class WatchItemIn(BaseModel):
    type: str = Field(default="value", description="value, cidr, domain, keyword, country or category")
    value: str = Field(default="", description="for country: empty means your organisation's country")
    kind: str | None = Field(default=None, description="observable kind of a value item (detected if omitted)")


class WatchlistIn(BaseModel):
    name: str
    purpose: str
    scope: str = Field(default="member", description="member (your inbox) or organisation (every member's)")
    webhook_url: str | None = None
    email: str | None = None
    items: list[WatchItemIn] = []


class AlertsReadIn(BaseModel):
    ids: list[int]
