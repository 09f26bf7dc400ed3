"""The navigation bar: each page module registers its entries with who may see them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cyberfusion.web.routing import WebUser


@dataclass(frozen=True)
class NavItem:
    order: int
    label: str
    href: str
    shown: Callable[[WebUser], bool]


_ITEMS: list[NavItem] = []


def register(order: int, label: str, href: str, shown: Callable[[WebUser], bool] = lambda u: True) -> None:
    if all(i.href != href for i in _ITEMS):
        _ITEMS.append(NavItem(order, label, href, shown))
        _ITEMS.sort(key=lambda i: i.order)


def receives(user: WebUser) -> bool:
    return user.viewer is not None and user.viewer.may_receive


def roles(*names: str) -> Callable[[WebUser], bool]:
    return lambda user: user.has_role(*names)


def navigation(user: WebUser) -> list[NavItem]:
    return [i for i in _ITEMS if i.shown(user)]
