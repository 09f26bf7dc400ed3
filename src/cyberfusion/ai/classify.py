"""Crime-type classification of a report or RFI: a small multinomial naive Bayes, shipped as data.

Chosen because it is transparent: each word's weight for each crime type is a readable
log-probability, so the reasons for a suggestion are the words and sentences that added
the most evidence for the winning type over the runner-up. It trains in milliseconds on
the labelled set in ``eval/classification/reports.jsonl`` (written for the project, every
crime type of ``partners.models.CATEGORIES``), so the shipped model is that file.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from cyberfusion.errors import InvalidInput

MODEL_ID = "cfc-crime-type-nb"
VERSION = "1.1.0"  # 1.1: investment_scam, sextortion and data_breach split out
MAX_CHARS = 2_000_000

_TOKEN = re.compile(r"[^\W\d_][\w'-]{2,}")
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
_STOP = frozenset("""the and for with that this from was were are been has had have not but its their they them
into onto over than then there these those which while who whom what when where why how all any each
our out off his her him she you your yours also very can could would should may might will shall about
after before during until upon via per due such more most less least some other only own same just
les des une est pour que qui dans sur par aux avec ont été son ses leur leurs pas plus ces cette los las
del por para con una que sus fue han este esta como más sobre dos das com para pelo pela uma foram
""".split())


# Domain knowledge written down: stems that signal a crime type, counted as if each had been
# seen LEXICON_WEIGHT times in that type's training reports. Stems (the first six letters)
# let one entry cover "encrypted", "encryption" and "encryptor", and French, Spanish and
# Portuguese spellings that share a stem.
LEXICON_WEIGHT = 3
LEXICON: dict[str, str] = {
    "phishing": "phishing phish smishing credential login lookalike spoofed password harvest cloned fake page "
                "sign-in hameçonnage identifiants usurpant",
    "malware": "malware trojan loader backdoor infostealer stealer keylogger implant dropper payload inject "
               "remote access reverse shell sample packed troyano",
    "ransomware": "ransomware ransom encrypted encryptor encryption decryptor extortion leak note locker "
                  "negotiation criptografados resgate rançongiciel rescate cifrado",
    "bec": "business email compromise invoice supplier vendor wire transfer payroll ceo cfo remittance "
           "mailbox forwarding instructions bank details virement président",
    "fraud": "fraud scam scammer romance victims fake gift cards advance fee impersonating shop rental "
             "overpayment fraude estafa arnaque",
    "investment_scam": "investment investors invested broker trading platform returns profits forex ponzi "
                       "withdraw withdrawals deposit pig-butchering exchange inversión investissement "
                       "investimento",
    "sextortion": "sextortion intimate explicit nude images webcam recording recorded compromising video "
                  "threatened contacts embarrassing sextorsion chantage íntimas",
    "data_breach": "breach breached exfiltrated exposed records database dump customer personal stolen "
                   "misconfigured bucket sold forum regulator notified fuite filtración vazamento",
    "ddos": "ddos denial service flood amplification reflection volumetric booter stresser gbps packets "
            "saturating unavailable déni",
    "vulnerabilities": "vulnerability vulnerable exploit exploited patch patching cve cvss flaw zero-day advisory "
                       "injection overflow unpatched vulnerabilidad parche",
    "botnet": "botnet bots bot infected devices sinkhole sinkholed herder mirai zombie beacon propagates",
    "cryptojacking": "cryptojacking miner mining monero xmrig coin pool cpu gpu minero criptomonedas mineur",
    "child_abuse": "child children minors sexual abuse grooming groomed exploitation csam teenagers mineurs "
                   "abus enfants",
    "money_laundering": "laundering laundered launder mule mules layering mixer otc hawala shell proceeds "
                        "cash-out kyc blanqueo blanchiment",
    "other": "meeting agenda workshop training statistics announcement invitation inventory legislation "
             "programme contact points cooperation réunion",
}


def _stem(word: str) -> str:
    return word[:6]


def tokens(text: str) -> list[str]:
    words = [_stem(w) for w in (m.group().lower().strip("'-") for m in _TOKEN.finditer(text)) if w not in _STOP]
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])]


@dataclass(frozen=True, slots=True)
class Example:
    id: str
    text: str
    label: str
    language: str
    region: str


@cache
def training_set() -> tuple[Example, ...]:
    raw = resources.files("cyberfusion.ai").joinpath("eval/classification/reports.jsonl").read_text("utf-8")
    return tuple(Example(d["id"], d["text"], d["label"], d["language"], d["region"])
                 for d in map(json.loads, raw.splitlines()) if d)


class NaiveBayes:
    def __init__(self, examples: Iterable[Example], *, alpha: float = 0.5) -> None:
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        docs: Counter[str] = Counter()
        for ex in examples:
            counts[ex.label].update(tokens(ex.text))
            docs[ex.label] += 1
        for label, terms in LEXICON.items():
            if label in docs:
                for term in terms.split():
                    counts[label][_stem(term.lower())] += LEXICON_WEIGHT
        self.labels = sorted(docs)
        self.vocabulary = set().union(*counts.values())
        total_docs = sum(docs.values())
        self.prior = {c: math.log(docs[c] / total_docs) for c in self.labels}
        v = len(self.vocabulary)
        self.loglik: dict[str, dict[str, float]] = {}
        self.unseen: dict[str, float] = {}
        for c in self.labels:
            total = sum(counts[c].values())
            self.unseen[c] = math.log(alpha / (total + alpha * v))
            self.loglik[c] = {w: math.log((n + alpha) / (total + alpha * v)) for w, n in counts[c].items()}

    def weight(self, label: str, word: str) -> float:
        return self.loglik[label].get(word, self.unseen[label])

    def scores(self, words: Sequence[str]) -> dict[str, float]:
        known = [w for w in words if w in self.vocabulary]
        return {c: self.prior[c] + sum(self.weight(c, w) for w in known) for c in self.labels}


@cache
def model() -> NaiveBayes:
    return NaiveBayes(training_set())


@dataclass(frozen=True, slots=True)
class Classification:
    label: str
    confidence: float
    ranking: list[tuple[str, float]]
    words: list[tuple[str, float]]
    passages: list[str]
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "confidence": round(self.confidence, 3),
                "ranking": [{"label": c, "probability": round(p, 3)} for c, p in self.ranking],
                "words": [{"word": w, "weight": round(s, 2)} for w, s in self.words],
                "passages": self.passages, "reason": self.reason,
                "model": {"id": MODEL_ID, "version": VERSION}}


def classify(text: str, *, nb: NaiveBayes | None = None) -> Classification:
    """The most likely crime type, its probability and the words and sentences behind it."""
    if not text or not text.strip():
        raise InvalidInput("no text to classify", field="text")
    if len(text) > MAX_CHARS:
        raise InvalidInput(f"longer than {MAX_CHARS} characters", field="text")
    nb = nb or model()
    words = tokens(text)
    scores = nb.scores(words)
    top = max(scores.values())
    # Naive Bayes multiplies evidence as if words were independent, which makes it
    # overconfident on long texts; a temperature growing with the length tempers that.
    temperature = 1 + 0.1 * sum(1 for w in words if w in nb.vocabulary)
    exp = {c: math.exp((s - top) / temperature) for c, s in scores.items()}
    norm = sum(exp.values())
    ranking = sorted(((c, e / norm) for c, e in exp.items()), key=lambda x: -x[1])
    label, confidence = ranking[0]
    runner_up = ranking[1][0] if len(ranking) > 1 else label
    evidence: Counter[str] = Counter()
    for w in words:
        if w in nb.vocabulary:
            evidence[w] += nb.weight(label, w) - nb.weight(runner_up, w)
    top_words = [(w, s) for w, s in evidence.most_common(8) if s > 0]
    sentences = [m.group().strip() for m in _SENTENCE.finditer(text) if m.group().strip()]
    ranked = sorted(sentences, key=lambda s: -sum(evidence.get(w, 0.0) for w in tokens(s)))
    passages = [s for s in ranked[:2] if sum(evidence.get(w, 0.0) for w in tokens(s)) > 0]
    if not words or all(w not in nb.vocabulary for w in words):
        reason = "no word of the text was seen in training: the prior decided (treat as unknown)"
    else:
        reason = (f"{label} over {runner_up}: the words "
                  + ", ".join(f"'{w}'" for w, _ in top_words[:5]) + " weigh most for it") if top_words else \
            f"{label} by a small margin over {runner_up}"
    return Classification(label, confidence, ranking[:5], top_words, passages, reason)


def cross_validate(examples: Sequence[Example] | None = None, *, folds: int = 5) -> list[tuple[Example, str]]:
    """(example, predicted label) for every example, each predicted by a model that never saw it."""
    examples = list(examples or training_set())
    seen: Counter[str] = Counter()
    fold_of = {}
    for ex in examples:
        fold_of[ex.id] = seen[ex.label] % folds
        seen[ex.label] += 1
    out = []
    for k in range(folds):
        nb = NaiveBayes(ex for ex in examples if fold_of[ex.id] != k)
        out += [(ex, classify(ex.text, nb=nb).label) for ex in examples if fold_of[ex.id] == k]
    return out



__all__ = ["classify", "Classification", "cross_validate", "training_set", "model", "MODEL_ID", "VERSION"]
