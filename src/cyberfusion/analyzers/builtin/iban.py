"""IBAN → country, bank code and, where python-stdnum ships a bank register, bank name and BIC."""

from __future__ import annotations

import re

from stdnum import numdb

from cyberfusion.analyzers.base import Analyzer, AnalyzerResult, Observable

# Bank registers in python-stdnum's numdb: country -> (database, slice of the IBAN holding the key).
_REGISTERS = {"BE": ("be/banks", slice(4, 7)), "CZ": ("cz/banks", slice(4, 8))}
_PART = re.compile(r"([0-9]+)!?([nac])")


def _first_bban_part(iban: str, structure: str) -> str:
    """The first component of the BBAN: the bank (or institution) identifier in the IBAN registry."""
    m = _PART.match(structure)
    return iban[4:4 + int(m[1])] if m else ""


class IbanInfo(Analyzer):
    name = "iban-info"
    version = "1.0"
    description = "IBAN → country, bank code, bank and BIC where known (python-stdnum, offline)"
    accepts = frozenset({"iban"})

    def run(self, observable: Observable) -> AnalyzerResult:
        iban = observable.value
        (cc, info), *_ = numdb.get("iban").info(iban)
        data = {"country_code": cc, "country": info.get("country"), "bban_structure": info.get("bban"),
                "bank_code": _first_bban_part(iban, info.get("bban", "")), "bank": None, "bic": None,
                "source": "python-stdnum IBAN registry"}
        if cc in _REGISTERS:
            db, key = _REGISTERS[cc]
            found = numdb.get(db).info(iban[key])
            bank = found[0][1] if found else {}
            data.update(bank=bank.get("bank"), bic=bank.get("bic"), bank_code=iban[key])
        bank_text = f", {data['bank']} (BIC {data['bic']})" if data["bank"] else ""
        return AnalyzerResult(summary=f"{iban}: {data['country']} ({cc}), bank code {data['bank_code']}{bank_text}",
                              confidence=90 if data["bank"] else 70, data=data)
