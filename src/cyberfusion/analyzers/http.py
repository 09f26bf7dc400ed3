"""An adapter for partner services that answer over HTTP with JSON.

Subclass ``HttpAnalyzer``, set ``url`` (``{kind}`` and ``{value}`` are filled in, URL-encoded;
without them the observable is POSTed as ``{"kind": ..., "value": ...}``) and ``mapping``
(result field → dotted path in the answer). The authorisation header comes from the setting
``CFC_ANALYZER_AUTH`` (a JSON object: analyzer name → header value), never from code; an
operator may point the analyzer elsewhere with ``cfc analyzer configure NAME --url URL``.

An HTTP analyzer always has egress: what it receives has passed the egress gate.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from cyberfusion.analyzers.base import (
    Analyzer,
    AnalyzerError,
    AnalyzerResult,
    Observable,
)
from cyberfusion.config import get_settings

_MISSING = object()


def _path(body: Any, path: str) -> Any:
    node = body
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


class HttpAnalyzer(Analyzer):
    egress = True
    url: ClassVar[str] = ""
    method: ClassVar[str] = "POST"
    auth_header: ClassVar[str] = "Authorization"
    # AnalyzerResult field -> dotted path in the JSON answer ("summary" is required).
    mapping: ClassVar[dict[str, str]] = {"summary": "summary", "confidence": "confidence",
                                         "objects": "objects", "data": "data"}
    timeout = 10.0

    def __init__(self, *, url: str | None = None) -> None:
        self.endpoint = url or self.url

    def request(self, observable: Observable) -> tuple[str, dict[str, Any] | None]:
        """(URL, JSON body or None) for one observable."""
        if "{value}" in self.endpoint or "{kind}" in self.endpoint:
            return self.endpoint.format(kind=quote(observable.kind, safe=""),
                                        value=quote(observable.value, safe="")), None
        return self.endpoint, {"kind": observable.kind, "value": observable.value}

    def run(self, observable: Observable) -> AnalyzerResult:
        if not self.endpoint:
            raise AnalyzerError(f"{self.name}: no URL configured")
        url, body = self.request(observable)
        headers = {"Accept": "application/json"}
        secret = get_settings().analyzer_auth.get(self.name)
        if secret:
            headers[self.auth_header] = secret
        try:
            with httpx.Client(timeout=self.timeout, follow_redirects=False, trust_env=False) as client:
                response = client.request(self.method, url, json=body, headers=headers)
        except httpx.TimeoutException:
            raise AnalyzerError(f"{self.name} did not answer within {self.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise AnalyzerError(f"{self.name} could not be reached: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise AnalyzerError(f"{self.name} answered HTTP {response.status_code}: "
                                f"{response.text[:200].strip() or response.reason_phrase}")
        try:
            answer = response.json()
        except ValueError:
            raise AnalyzerError(f"{self.name} answered with something that is not JSON "
                                f"({response.headers.get('content-type', 'no content type')})") from None
        return self.to_result(answer, observable)

    def to_result(self, answer: Any, observable: Observable) -> AnalyzerResult:
        """Map the JSON answer to a result; override for shapes a mapping cannot express."""
        got = {field: _path(answer, path) for field, path in self.mapping.items()}
        summary = got.get("summary", _MISSING)
        if summary is _MISSING or not isinstance(summary, (str, int, float)):
            raise AnalyzerError(f"{self.name}: the answer has no '{self.mapping.get('summary')}'")
        confidence = got.get("confidence", _MISSING)
        if confidence is _MISSING or confidence is None:
            confidence = 50
        if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 <= confidence <= 100:
            raise AnalyzerError(f"{self.name}: confidence {confidence!r} is not a number from 0 to 100")
        objects = got.get("objects", _MISSING)
        objects = [] if objects is _MISSING or objects is None else objects
        data = got.get("data", _MISSING)
        data = {} if data is _MISSING or data is None else data
        if not isinstance(objects, list) or not all(isinstance(o, dict) for o in objects):
            raise AnalyzerError(f"{self.name}: '{self.mapping.get('objects')}' is not a list of STIX objects")
        if not isinstance(data, dict):
            data = {"value": data}
        return AnalyzerResult(summary=str(summary)[:2000], confidence=int(confidence), objects=objects, data=data)
