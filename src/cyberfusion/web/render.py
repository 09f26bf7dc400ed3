"""Templates: one autoescaping Jinja2 environment, the page frame's context, small filters."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from jinja2 import Environment, PackageLoader
from starlette.requests import Request
from starlette.responses import HTMLResponse

from cyberfusion.sharing.markings import PURPOSES, TLP_COLOURS, TLP_LEVELS

# Fixed messages shown after a redirect (?notice=code): no user text is ever reflected.
NOTICES = {
    "signed_out": "You are signed out.",
    "acknowledged": "Thank you: your confidentiality acknowledgement is recorded.",
    "purpose": "Reading purpose changed.",
    "saved": "Saved.",
    "committed": "Contribution stored.",
    "answered": "Answer sent.",
    "revoked": "Token revoked.",
    "marked": "Marked as read.",
    "deleted": "Deleted.",
}


def _dt(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _tlp_name(value: Any) -> str:
    name = TLP_LEVELS[value] if isinstance(value, int) else str(value or "").lower()
    return name if name in TLP_LEVELS else "unknown"


def _label(value: Any) -> str:
    return str(value).replace("_", " ") if value is not None else "—"


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


ENV = Environment(loader=PackageLoader("cyberfusion.web", "templates"), autoescape=True,
                  trim_blocks=True, lstrip_blocks=True)
ENV.filters.update(dt=_dt, tlp_name=_tlp_name, label=_label, pretty=_pretty)
ENV.globals.update(TLP_LEVELS=TLP_LEVELS, PURPOSES=PURPOSES)


def tlp_css() -> str:
    """Badge colours straight from the TLP 2.0 standard (sharing.markings): coloured text on black."""
    rules = [f".tlp-{name.replace('+', '-')} {{ color: {colour}; background: #000; }}"
             for name, colour in TLP_COLOURS.items()]
    return "\n".join(rules) + "\n"


def page(request: Request, template: str, context: dict[str, Any] | None = None, *,
         status: int = 200, title: str = "") -> HTMLResponse:
    """Render a page inside the frame (navigation, reading purpose, sign-out form)."""
    from cyberfusion.web.routing import frame_context
    ctx = frame_context(request)
    ctx.update(context or {})
    ctx.setdefault("title", title)
    code = request.query_params.get("notice", "")
    ctx.setdefault("notice", NOTICES.get(code))
    ctx.setdefault("errors", {})
    return HTMLResponse(ENV.get_template(template).render(ctx), status_code=status)
