"""Analyzers that work offline, from installed packages and the store."""

from cyberfusion.analyzers.builtin.cve import CveLinks
from cyberfusion.analyzers.builtin.domain import DomainParts
from cyberfusion.analyzers.builtin.geoip import GeoIP
from cyberfusion.analyzers.builtin.hashes import HashReputation
from cyberfusion.analyzers.builtin.iban import IbanInfo
from cyberfusion.analyzers.builtin.phone import PhoneInfo
from cyberfusion.analyzers.builtin.wallet import WalletInfo

BUILTINS = (GeoIP, DomainParts, PhoneInfo, IbanInfo, WalletInfo, HashReputation, CveLinks)

__all__ = ["BUILTINS", "CveLinks", "DomainParts", "GeoIP", "HashReputation", "IbanInfo", "PhoneInfo",
           "WalletInfo"]
