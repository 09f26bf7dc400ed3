"""Undo the usual defanging of indicators (hxxp, [.], [at] ...) in text.

Conservative on purpose: only markers that nobody writes by accident are
rewritten, so ordinary prose and already-live indicators pass through unchanged.
"""

from __future__ import annotations

import re

from cyberfusion.kit.observables import registered_domain

# Spaces around a bracketed marker go too; the look-behind starts a match only at
# the first space of a run, which keeps long runs of blanks linear.
_LEADING_SPACE = r"(?<![ \t])[ \t]*"
_TRAILING_SPACE = r"[ \t]*"
_DOT = r"\s*(?:\.|dot)\s*"
# One alternation, one pass over the text; the group name says what to put back. Every marker
# opens with a blank, a bracket or a backslash: the look-ahead turns every other position away
# with one class test instead of trying each alternative there (a 56-character defanged URL cost
# 93,000 instructions, most of refang; cachegrind).
_MARKERS = re.compile(
    rf"(?=[ \t\[({{\\])(?:(?P<dot>{_LEADING_SPACE}(?:\[{_DOT}\]|\({_DOT}\)|\{{{_DOT}\}}){_TRAILING_SPACE}|\\\.)"
    r"|(?P<sep>\[://\])"
    r"|(?P<colon>\[:\])"
    r"|(?P<slash>\[/\])"
    rf"|(?P<at>{_LEADING_SPACE}(?:\[at\]|\(at\)|\[@\]){_TRAILING_SPACE}))",
    re.IGNORECASE,
)
_REPLACEMENTS = {"dot": ".", "sep": "://", "colon": ":", "slash": "/", "at": "@"}

# The look-ahead, as above: only "h" and "f" (either case) can open a defanged scheme.
_SCHEME = re.compile(r"(?=[hf])\b(?:h(?:xx|tx|xt)p|fxp)(s?)(?=://)", re.IGNORECASE)

_SPACED_DOT_HINT = re.compile(r"[ \t]dot[ \t]", re.IGNORECASE)
_HOST_PART = r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?"
_SPACED_DOT = re.compile(
    rf"(?<![\w.-]){_HOST_PART}(?:[ \t]+dot[ \t]+{_HOST_PART})+(?![\w-])", re.IGNORECASE
)
_SPACED_DOT_SPLIT = re.compile(r"[ \t]+dot[ \t]+", re.IGNORECASE)


def _marker(match: re.Match[str]) -> str:
    return _REPLACEMENTS[match.lastgroup or ""]


def _as_host(spelled: str) -> str | None:
    candidate = ".".join(_SPACED_DOT_SPLIT.split(spelled))
    return candidate if registered_domain(candidate) else None


def _spaced_dot(match: re.Match[str]) -> str:
    # " dot " is also an English word, so inside running text it only counts in
    # a chain of two or more, or right after "://" or "@"; the result must end
    # in a real public suffix.
    spelled = match[0]
    chained = len(_SPACED_DOT_SPLIT.findall(spelled)) > 1
    if chained or match.string.endswith(("://", "@"), 0, match.start()):
        return _as_host(spelled) or spelled
    return spelled


def _scheme(match: re.Match[str]) -> str:
    base = "ftp" if match[0][0] in "fF" else "http"
    return base + ("s" if match[1] else "")


def _unmark(text: str) -> str:
    """Bracketed markers and "\\." back to what they stand for (scanned from the first marker on).

    Every marker holds "[", "(", "{" or a backslash; ``_MARKERS`` may start at any blank, so
    the scan is skipped on a text without one of them (most pieces the extractor refangs
    only hold an "x" of "hxxp" or a blank).
    """
    first = min((i for i in (text.find("["), text.find("("), text.find("{"), text.find("\\")) if i >= 0),
                default=-1)
    if first < 0:
        return text
    # The usual defanged host or URL ("evil[.]com", "hxxp://evil[.]com/a[.]php"): no blank, and
    # every bracket belongs to a "[.]", so each "[.]" is a whole match and nothing else can match.
    # str.replace does it without the per-match Python call of sub (a host with two markers:
    # 26,000 -> about 4,000 instructions; cachegrind).
    if " " not in text and "\t" not in text and "(" not in text and "{" not in text and "\\" not in text:
        markers = text.count("[.]")
        if markers and text.count("[") == markers and text.count("]") == markers:
            return text.replace("[.]", ".")
    # No match starts before the run of blanks right before the first marker character; the
    # character before that run is not a blank, so the look-behind judges the tail alike.
    start = len(text[:first].rstrip(" \t"))
    return text[:start] + _MARKERS.sub(_marker, text[start:]) if start else _MARKERS.sub(_marker, text)


def refang(text: str) -> str:
    """Turn defanged indicator text back into its real form."""
    text = _unmark(text)
    if _SPACED_DOT_HINT.search(text):
        whole = _SPACED_DOT.fullmatch(text.strip())
        if whole is not None:  # the input is one spelled-out host name
            host = _as_host(whole[0])
            text = text.replace(whole[0], host) if host else text
        else:
            text = _SPACED_DOT.sub(_spaced_dot, text)
    return _SCHEME.sub(_scheme, text) if "://" in text else text  # the scheme must be before "://"


__all__ = ["refang"]
