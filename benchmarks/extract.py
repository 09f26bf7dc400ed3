"""Extraction throughput and F1 against ioc-finder and iocextract on the same corpus, same run.

Usage: PYTHONPATH=src python benchmarks/extract.py [--repeat N]
Reports MB/s on one core (CPU time of this process) and on wall time, every memo of results in
the vocabulary and the extractor emptied before each timed pass (what is loaded once per process,
_LOADED_ONCE, stays), after one untimed pass per tool; and micro F1 on the labelled
corpus shipped in cyberfusion/ai/eval/extraction, scored on the kinds each tool covers; then
throughput alone on the classification set (plain prose, few indicators). Ratios matter,
not absolute seconds.
"""

from __future__ import annotations

import argparse
import json
import os
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


def prose() -> dict[str, str]:
    """The classification set: 120 short reports of plain prose with few indicators (no labels)."""
    lines = resources.files("cyberfusion.ai").joinpath("eval/classification/reports.jsonl").read_text("utf-8")
    return {r["id"]: r["text"] for r in map(json.loads, lines.splitlines()) if r}


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


# Memos that hold what is loaded once per process (the suffix list and the trie built from it),
# not results: emptying them would time loading, not extraction.
_LOADED_ONCE = frozenset({"_extractor", "_suffix_trie"})


def clear_caches() -> None:
    """Empty every memo of results in the vocabulary and the extractor, so each pass starts cold."""
    for module in (observables, cfc):
        for name, obj in vars(module).items():
            if hasattr(obj, "cache_clear") and name not in _LOADED_ONCE:
                obj.cache_clear()


def throughput(fn, texts, repeat: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(MB/s on CPU time of this process, MB/s on wall time); one untimed pass first loads each
    tool's lazily built state (imports, compiled patterns, phone metadata) for all tools alike."""
    size = sum(len(t.encode()) for t in texts.values()) * repeat
    for text in texts.values():
        fn(text)
    cpu = wall = 0.0
    for _ in range(repeat):
        clear_caches()
        c0, w0 = time.process_time(), time.perf_counter()
        for text in texts.values():
            fn(text)
        cpu, wall = cpu + time.process_time() - c0, wall + time.perf_counter() - w0
    return size / cpu / 1e6, size / wall / 1e6


def ratio_line(rows: list[tuple]) -> str:  # type: ignore[type-arg]
    """cfc-extract's throughput over each other tool's, then over the fastest, measured in this run."""
    each = ", ".join(f"{r[1] and rows[0][1] / r[1]:.1f}x {r[0]}" for r in rows[1:])
    fastest = max(rows[1:], key=lambda r: r[1])
    return (f"cfc-extract on CPU time: {rows[0][1]:.2f} MB/s = {each}; over the fastest other "
            f"({fastest[0]}): {rows[0][1] / fastest[1]:.1f}x on CPU time, "
            f"{rows[0][2] / max(r[2] for r in rows[1:]):.1f}x on wall time; target >= 10x and >= 3 MB/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    tools = (("cfc-extract", run_cfc, args.repeat), ("iocextract", run_iocextract, args.repeat),
             ("ioc-finder", run_finder, max(1, args.repeat // 10)))
    texts, truth = corpus()
    iocx_kinds = {"url", "ipv4-addr", "ipv6-addr", "email-addr", "md5", "sha1", "sha256", "sha512", "domain-name"}
    print(f"labelled corpus: {len(texts)} reports, {sum(len(t.encode()) for t in texts.values()) / 1e3:.0f} kB, "
          f"{sum(len(v) for v in truth.values())} labelled indicators")
    rows = [(name, *throughput(fn, texts, repeat), score(fn, texts, truth)["f1"],
             score(fn, texts, truth, iocx_kinds)["f1"]) for name, fn, repeat in tools]
    print(f"{'tool':<12} {'MB/s cpu':>9} {'MB/s wall':>10} {'F1 (all kinds)':>15} {'F1 (iocextract kinds)':>22}")
    for name, cpu, wall, f1, f1k in rows:
        print(f"{name:<12} {cpu:>9.2f} {wall:>10.2f} {f1:>15.3f} {f1k:>22.3f}")
    print(ratio_line(rows))
    texts = prose()
    print(f"\nprose: {len(texts)} short reports, {sum(len(t.encode()) for t in texts.values()) / 1e3:.0f} kB "
          "(the classification set: few indicators; throughput only)")
    rows = [(name, *throughput(fn, texts, repeat)) for name, fn, repeat in tools]
    print(f"{'tool':<12} {'MB/s cpu':>9} {'MB/s wall':>10}")
    for name, cpu, wall in rows:
        print(f"{name:<12} {cpu:>9.2f} {wall:>10.2f}")
    print(ratio_line(rows))
    print(f"load average while measuring: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
