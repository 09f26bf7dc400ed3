"""Extraction throughput and F1 against ioc-finder and iocextract on the same corpus, same run.

Usage: PYTHONPATH=src python benchmarks/extract.py [--repeat N]
Reports MB/s on one core (caches of the observable vocabulary cleared before each timed
pass) and micro F1 on the labelled corpus shipped in cyberfusion/ai/eval/extraction,
scored on the kinds each tool covers. Ratios matter, not absolute seconds.
"""

from __future__ import annotations

import argparse
import json
import time
from importlib import resources

from cyberfusion.ai import extract as cfc
from cyberfusion.ai.evaluate import _canonical, _guess, prf
from cyberfusion.kit import observables


def corpus() -> tuple[dict[str, str], dict[str, set[tuple[str, str]]]]:
    base = resources.files("cyberfusion.ai").joinpath("eval/extraction")
    labels = json.loads(base.joinpath("labels.json").read_text("utf-8"))
    texts = {rid: base.joinpath(f"{rid}.txt").read_text("utf-8") for rid in labels}
    return texts, {rid: {tuple(x) for x in lab["indicators"]} for rid, lab in labels.items()}


def run_cfc(text: str) -> set[tuple[str, str]]:
    return cfc.extract(text).values()


_FINDER_KINDS = {"asns": "asn", "bitcoin_addresses": "btc", "monero_addresses": "xmr", "cves": "cve",
                 "domains": "domain-name", "email_addresses": "email-addr", "ipv4s": "ipv4-addr",
                 "ipv4_cidrs": "ipv4-addr", "ipv6s": "ipv6-addr", "md5s": "md5", "sha1s": "sha1",
                 "sha256s": "sha256", "sha512s": "sha512", "urls": "url", "phone_numbers": "phone",
                 "ethereum_addresses": "eth"}


def run_finder(text: str) -> set[tuple[str, str]]:
    from ioc_finder import find_iocs
    found = find_iocs(text, parse_domain_from_url=False, parse_domain_from_email_address=False)
    return {c for key, kind in _FINDER_KINDS.items() for v in found.get(key, [])
            if (c := _canonical(kind, v)) is not None}


def run_iocextract(text: str) -> set[tuple[str, str]]:
    import iocextract
    out = set()
    for v in iocextract.extract_iocs(text, refang=True):
        if (c := _guess(v)) is not None:
            out.add(c)
    return out


def score(fn, texts, truth, kinds=None):  # type: ignore[no-untyped-def]
    tp = fp = fn_ = 0
    for rid, text in texts.items():
        t = {x for x in truth[rid] if kinds is None or x[0] in kinds}
        g = {x for x in fn(text) if kinds is None or x[0] in kinds}
        tp, fp, fn_ = tp + len(t & g), fp + len(g - t), fn_ + len(t - g)
    return prf(tp, fp, fn_)


def throughput(fn, texts, repeat: int) -> float:  # type: ignore[no-untyped-def]
    size = sum(len(t.encode()) for t in texts.values()) * repeat
    fn("warm up 1.2.3.4 evil.com")
    start = time.perf_counter()
    for _ in range(repeat):
        observables._normalise.cache_clear()
        observables._hostname.cache_clear()
        for text in texts.values():
            fn(text)
    return size / (time.perf_counter() - start) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    texts, truth = corpus()
    iocx_kinds = {"url", "ipv4-addr", "ipv6-addr", "email-addr", "md5", "sha1", "sha256", "sha512", "domain-name"}
    print(f"corpus: {len(texts)} reports, {sum(len(t.encode()) for t in texts.values()) / 1e3:.0f} kB, "
          f"{sum(len(v) for v in truth.values())} labelled indicators")
    rows = []
    for name, fn, repeat in (("cfc-extract", run_cfc, args.repeat), ("iocextract", run_iocextract, args.repeat),
                             ("ioc-finder", run_finder, 1)):
        rows.append((name, throughput(fn, texts, repeat), score(fn, texts, truth)["f1"],
                     score(fn, texts, truth, iocx_kinds)["f1"]))
    print(f"{'tool':<12} {'MB/s':>8} {'F1 (all kinds)':>15} {'F1 (iocextract kinds)':>22}")
    for name, mbs, f1, f1k in rows:
        print(f"{name:<12} {mbs:>8.2f} {f1:>15.3f} {f1k:>22.3f}")
    fastest_other = max(r[1] for r in rows[1:])
    print(f"cfc-extract / fastest other: {rows[0][1] / fastest_other:.1f}x")


if __name__ == "__main__":
    main()
