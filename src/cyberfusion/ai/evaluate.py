"""Measured quality: precision/recall/F1 per type on the labelled sets shipped in ``eval/``,
a fairness breakdown by region and language, and the public conformance inputs.

Extraction is scored on distinct (kind, value) pairs per document. The labelled corpus was
written by the same team as the extractor, so it is a development set; the conformance
inputs (``--conformance``) are independent and scored with the adapters below.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from cyberfusion.ai import classify, extract
from cyberfusion.errors import InvalidInput
from cyberfusion.kit.observables import normalise, registered_domain
from cyberfusion.kit.refang import refang


def prf(tp: int, fp: int, fn: int) -> dict[str, float | int]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "tp": tp, "fp": fp, "fn": fn}


class _Tally:
    def __init__(self) -> None:
        self.by: dict[str, Counter[str]] = defaultdict(Counter)

    def add(self, group: str, truth: set[tuple[str, str]], got: set[tuple[str, str]]) -> None:
        for kind, _ in truth & got:
            self.by[group][f"{kind}|tp"] += 1
        for kind, _ in got - truth:
            self.by[group][f"{kind}|fp"] += 1
        for kind, _ in truth - got:
            self.by[group][f"{kind}|fn"] += 1

    def report(self, group: str) -> dict[str, Any]:
        c = self.by[group]
        kinds = sorted({k.split("|")[0] for k in c})
        per = {k: prf(c[f"{k}|tp"], c[f"{k}|fp"], c[f"{k}|fn"]) for k in kinds}
        micro = prf(*(sum(c[f"{k}|{x}"] for k in kinds) for x in ("tp", "fp", "fn")))
        return {"micro": micro, "per_type": per}


def _corpus() -> Any:
    return resources.files("cyberfusion.ai").joinpath("eval/extraction")


def evaluate_extraction() -> dict[str, Any]:
    base = _corpus()
    labels = json.loads(base.joinpath("labels.json").read_text("utf-8"))
    tally = _Tally()
    for rid, label in labels.items():
        truth = {(k, v) for k, v in label["indicators"]}
        got = extract.extract(base.joinpath(f"{rid}.txt").read_text("utf-8")).values()
        for group in ("all", f"region:{label['region']}", f"language:{label['language']}"):
            tally.add(group, truth, got)
    fairness = {g: tally.report(g)["micro"] for g in sorted(tally.by) if g != "all"}
    return {"dataset": "eval/extraction", "documents": len(labels),
            "indicators": sum(len(v["indicators"]) for v in labels.values()),
            **tally.report("all"), "fairness": fairness,
            "model": {"id": extract.MODEL_ID, "version": extract.VERSION}}


def evaluate_classification() -> dict[str, Any]:
    results = classify.cross_validate()
    labels = sorted({ex.label for ex, _ in results})

    def scores(rows: list[tuple[classify.Example, str]]) -> dict[str, Any]:
        per = {c: prf(sum(1 for e, p in rows if e.label == c and p == c),
                      sum(1 for e, p in rows if e.label != c and p == c),
                      sum(1 for e, p in rows if e.label == c and p != c)) for c in labels}
        present = [c for c in labels if any(e.label == c for e, _ in rows)]
        return {"macro_f1": round(sum(per[c]["f1"] for c in present) / len(present), 4),
                "accuracy": round(sum(1 for e, p in rows if e.label == p) / len(rows), 4), "per_type": per,
                "examples": len(rows)}

    overall = scores(results)
    fairness = {}
    for attr in ("region", "language"):
        for value in sorted({getattr(e, attr) for e, _ in results}):
            rows = [(e, p) for e, p in results if getattr(e, attr) == value]
            fairness[f"{attr}:{value}"] = {"accuracy": round(sum(1 for e, p in rows if e.label == p) / len(rows), 4),
                                           "examples": len(rows)}
    return {"dataset": "eval/classification/reports.jsonl", "method": "stratified 5-fold cross-validation",
            **overall, "fairness": fairness, "model": {"id": classify.MODEL_ID, "version": classify.VERSION}}


# --- public conformance inputs ---------------------------------------------------------------

# ioc-finder keys that name kinds of our vocabulary (the others — file paths, registry keys,
# user agents, ATT&CK ids, MAC addresses, ssdeep — are outside it and not scored).
_IOC_FINDER_KINDS = {
    "asns": "asn", "bitcoin_addresses": "btc", "monero_addresses": "xmr", "cves": "cve",
    "domains": "domain-name", "email_addresses": "email-addr", "xmpp_addresses": "email-addr",
    "ipv4s": "ipv4-addr", "ipv4_cidrs": "ipv4-addr", "ipv6s": "ipv6-addr", "md5s": "md5", "imphashes": "md5",
    "sha1s": "sha1", "sha256s": "sha256", "authentihashes": "sha256", "sha512s": "sha512", "urls": "url",
}
# iocextract's valid.txt lines that are not values as written, mapped to what they mean;
# None: not an observable of our vocabulary (a broken URL, a phone-number fragment).
_IOCEXTRACT_MEANING = {
    "http://example,com/": "http://example.com/", "http://example[.com/": "http://example.com/",
    "http://[example.com": None, "456-7890": None,
    "http://fdc4:2581:575b:5a72:0000:0000:0000:0001": "fdc4:2581:575b:5a72:0000:0000:0000:0001",
}


def _canonical(kind: str, raw: str) -> tuple[str, str] | None:
    value = refang(raw.strip())
    if kind == "asn":
        value = value.upper().removeprefix("ASN").removeprefix("AS").strip()
    if kind == "url":
        if "://" not in value:
            value = "http://" + value
        value = value.rstrip(".")
    try:
        return kind, normalise(kind, value)
    except InvalidInput:
        return None


def _guess(raw: str) -> tuple[str, str] | None:
    value = refang(raw)
    for kind in ("ipv4-addr", "ipv6-addr", "md5", "sha1", "sha256", "sha512", "email-addr"):
        if (found := _canonical(kind, value)) is not None:
            return found
    if "/" in value or ":" in value.split("]")[-1]:
        return _canonical("url", value)
    return _canonical("domain-name", value)


def _with_hosts(found: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """ioc-finder's conventions: the host of a URL, names inside its (percent-decoded) path and
    query, and the domain or address literal of an e-mail address also count."""
    from urllib.parse import unquote

    out = set(found)
    for kind, value in list(out):
        host = None
        if kind == "url":
            authority, _, rest = value.split("://", 1)[1].partition("/")
            host = authority.rpartition("@")[2].split(":")[0]
            inner = re.sub(r"[/?=&]", " ", unquote(rest))
            out |= {f for f in extract.extract(inner, keep_reserved=True, min_confidence=0).values()
                    if f[0] == "domain-name"}
        elif kind == "email-addr":
            host = value.rpartition("@")[2]
            if host.startswith("["):
                out.add(("ipv4-addr", host.strip("[]")))
        if host and not host.startswith("[") and registered_domain(host):
            try:
                out.add(("domain-name", normalise("domain-name", host)))
            except InvalidInput:
                pass
    return out


def evaluate_conformance(path: Path) -> dict[str, Any]:
    """Score extraction on ../shared/conformance/ioc-extraction.

    Documentation names are kept and the threshold is 0: these suites use example.com and
    google.com as stand-ins for real indicators and ask whether the scanner finds them."""
    out: dict[str, Any] = {}
    finder = path / "ioc-finder" / "find_iocs_cases.json"
    if finder.is_file():
        tally = _Tally()
        cases = json.loads(finder.read_text("utf-8"))["cases"]
        scored = 0
        for group in cases.values():
            for case in group:
                if case.get("options"):
                    continue  # option variants repeat a default case with a feature switched off
                truth = {c for key, kind in _IOC_FINDER_KINDS.items()
                         for v in case["expected"].get(key, []) if (c := _canonical(kind, v)) is not None}
                got = _with_hosts(extract.extract(case["input"], keep_reserved=True, min_confidence=0).values())
                if not truth and not got:
                    continue
                scored += 1
                tally.add("all", truth, got)
        out["ioc-finder"] = {"cases_scored": scored, **tally.report("all")}
    iocx = path / "iocextract"
    if (iocx / "input.txt").is_file():
        valid = [line for line in (iocx / "valid.txt").read_text("utf-8").splitlines() if line.strip()]
        invalid = [line for line in (iocx / "invalid.txt").read_text("utf-8").splitlines() if line.strip()]
        truth = set()
        for line in valid:
            meaning = _IOCEXTRACT_MEANING.get(line, line)
            if meaning is not None and (c := _guess(meaning)) is not None:
                truth.add(c)
        got = extract.extract((iocx / "input.txt").read_text("utf-8"), keep_reserved=True, min_confidence=0).values()
        tally = _Tally()
        tally.add("all", truth, got)
        leaked = sorted(v for line in invalid if (c := _guess(line)) is not None and c in got for v in [line])
        out["iocextract"] = {**tally.report("all"), "invalid_found": leaked}
    if not out:
        raise InvalidInput(f"no ioc-finder or iocextract inputs under {path}", field="conformance")
    return out


__all__ = ["evaluate_extraction", "evaluate_classification", "evaluate_conformance", "prf"]
