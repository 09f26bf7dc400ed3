"""Which analyzers exist: the built-ins and every class named in a ``cyberfusion.analyzers`` entry point.

Loaded once per process. A plug-in that fails to import or declares itself wrongly is left
out and listed in ``broken()`` with the reason, so one bad partner package cannot stop the
platform.
"""

from __future__ import annotations

import logging
import re
import threading
from importlib.metadata import entry_points

from cyberfusion.analyzers.base import Analyzer
from cyberfusion.errors import ConfigurationError, InvalidInput, NotFound
from cyberfusion.kit.observables import KINDS

GROUP = "cyberfusion.analyzers"
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{1,62}\Z")
log = logging.getLogger("cyberfusion.analyzers")

_lock = threading.Lock()
_analyzers: dict[str, type[Analyzer]] = {}
_broken: dict[str, str] = {}
_loaded = False


def check(cls: type) -> None:
    """Raise ConfigurationError unless cls is a well-formed analyzer class."""
    if not (isinstance(cls, type) and issubclass(cls, Analyzer)):
        raise ConfigurationError(f"{cls!r} is not a subclass of cyberfusion.analyzers.Analyzer")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigurationError(f"{cls.__qualname__}: name must be 2-63 characters of a-z, 0-9, '_', '.', '-'")
    if not isinstance(getattr(cls, "version", None), str) or not cls.version or len(cls.version) > 40:
        raise ConfigurationError(f"analyzer {name}: version must be a short string")
    unknown = set(cls.accepts) - set(KINDS)
    if not cls.accepts or unknown:
        raise ConfigurationError(f"analyzer {name}: accepts must be observable kinds from {', '.join(KINDS)}"
                                 + (f" (unknown: {', '.join(sorted(unknown))})" if unknown else ""))
    if cls.egress and not cls.owner:
        raise ConfigurationError(f"analyzer {name}: an analyzer with egress must name its owner organisation")
    if cls.egress and cls.reads_store:
        raise ConfigurationError(f"analyzer {name}: an analyzer with egress cannot read the store")
    if not cls.timeout > 0:
        raise ConfigurationError(f"analyzer {name}: timeout must be positive")
    if cls.rate_limit is not None:
        calls, per = cls.rate_limit
        if calls < 1 or per <= 0:
            raise ConfigurationError(f"analyzer {name}: rate_limit is (calls ≥ 1, seconds > 0)")
    from cyberfusion.analyzers.http import HttpAnalyzer
    if issubclass(cls, HttpAnalyzer) and not cls.egress:
        raise ConfigurationError(f"analyzer {name}: an HTTP analyzer sends data off the platform (egress)")
    if cls.run is Analyzer.run:
        raise ConfigurationError(f"analyzer {name}: run() is not implemented")


def register(cls: type[Analyzer]) -> type[Analyzer]:
    """Add one analyzer class (also usable as a decorator)."""
    check(cls)
    with _lock:
        known = _analyzers.get(cls.name)
        if known is not None and known is not cls:
            raise ConfigurationError(f"two analyzers are named {cls.name!r}: "
                                     f"{known.__module__}.{known.__qualname__} and {cls.__module__}.{cls.__qualname__}")
        _analyzers[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    with _lock:
        _analyzers.pop(name, None)


def _load() -> None:
    global _loaded
    if _loaded:
        return
    from cyberfusion.analyzers.builtin import BUILTINS
    for cls in BUILTINS:
        register(cls)
    for ep in entry_points(group=GROUP):
        try:
            register(ep.load())
        except Exception as exc:  # noqa: BLE001 - a partner plug-in must not stop the platform
            _broken[ep.name] = f"{ep.value}: {exc}"
            log.warning("analyzer plug-in %s left out: %s", ep.name, exc)
    _loaded = True


def all_analyzers() -> list[type[Analyzer]]:
    _load()
    return sorted(_analyzers.values(), key=lambda c: c.name)


def get(name: str) -> type[Analyzer]:
    _load()
    cls = _analyzers.get(name)
    if cls is None:
        raise NotFound(f"no analyzer {name!r}; known: {', '.join(sorted(_analyzers))}")
    return cls


def for_kind(kind: str) -> list[type[Analyzer]]:
    return [cls for cls in all_analyzers() if kind in cls.accepts]


def require_accepts(cls: type[Analyzer], kind: str) -> None:
    if kind not in cls.accepts:
        raise InvalidInput(f"analyzer {cls.name} does not accept {kind} (it accepts "
                           f"{', '.join(sorted(cls.accepts))})", field="analyzer")


def broken() -> dict[str, str]:
    _load()
    return dict(_broken)
