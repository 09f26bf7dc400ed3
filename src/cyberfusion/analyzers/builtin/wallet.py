"""Cryptocurrency wallet → chain, network and address format, with the checksum checked again."""

from __future__ import annotations

import base58
import bech32
from Crypto.Hash import keccak

from cyberfusion.analyzers.base import (
    Analyzer,
    AnalyzerError,
    AnalyzerResult,
    Observable,
)
from cyberfusion.errors import InvalidInput
from cyberfusion.kit.observables import normalise

_CHAINS = {"btc": "bitcoin", "eth": "ethereum", "xmr": "monero"}
_BTC_BASE58 = {0x00: ("mainnet", "P2PKH"), 0x05: ("mainnet", "P2SH"),
               0x6F: ("testnet", "P2PKH"), 0xC4: ("testnet", "P2SH")}
# Monero: first character -> network and address type (standard length 95, integrated 106).
_XMR = {"4": ("mainnet", "standard"), "8": ("mainnet", "subaddress"), "9": ("testnet", "standard"),
        "B": ("testnet", "subaddress"), "5": ("stagenet", "standard"), "7": ("stagenet", "subaddress")}


def _btc(address: str) -> tuple[str, str]:
    if address.startswith(("bc1", "tb1")):
        network = "mainnet" if address.startswith("bc1") else "testnet"
        _hrp, _, data = address.rpartition("1")
        version = bech32.CHARSET.find(data[0])
        program = bech32.convertbits([bech32.CHARSET.find(c) for c in data[1:-6]], 5, 8, False) or []
        if version == 0:
            return network, "P2WPKH (segwit v0, bech32)" if len(program) == 20 else "P2WSH (segwit v0, bech32)"
        return network, "P2TR (taproot, bech32m)" if version == 1 else f"segwit v{version} (bech32m)"
    return _BTC_BASE58[base58.b58decode_check(address)[0]]


def _eip55(address: str) -> str:
    digits = address[2:].lower()
    digest = keccak.new(digest_bits=256, data=digits.encode("ascii")).hexdigest()
    return "0x" + "".join(c.upper() if d in "89abcdef" else c for c, d in zip(digits, digest))


class WalletInfo(Analyzer):
    name = "wallet-info"
    version = "1.0"
    description = "crypto wallet → chain, network, address format (checksum verified, offline)"
    accepts = frozenset({"btc", "eth", "xmr"})

    def run(self, observable: Observable) -> AnalyzerResult:
        kind, address = observable.kind, observable.value
        try:
            normalise(kind, address)
        except InvalidInput as exc:
            raise AnalyzerError(exc.detail) from None
        data = {"chain": _CHAINS[kind], "checksum_valid": True}
        if kind == "btc":
            data["network"], data["format"] = _btc(address)
        elif kind == "eth":
            data.update(network="any EVM chain", format="account address (20 bytes)", eip55=_eip55(address))
        else:
            network, form = _XMR.get(address[0], ("unknown", "unknown"))
            data.update(network=network, format="integrated" if len(address) == 106 else form)
        return AnalyzerResult(summary=f"{address}: {data['chain']} {data['network']}, {data['format']}, "
                                      "checksum valid", confidence=95, data=data)
