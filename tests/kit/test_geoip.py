"""One geolocation reader per process, shared by everything that locates addresses."""

from __future__ import annotations

from cyberfusion.analyzers.builtin import geoip as analyzer
from cyberfusion.fusion import geo as fusion_geo
from cyberfusion.kit import geoip
from cyberfusion.products import geo as products_geo


def test_watch_items_reports_and_the_analyzer_read_the_same_loaded_data() -> None:
    reader = geoip.reader()
    assert analyzer.database() is reader and products_geo._reader() is reader
    assert reader.lookup("8.8.8.8").country_code == "US"
    assert fusion_geo.country_of("ipv4-addr", "8.8.8.8") == "US"
    assert products_geo.locate_ip("8.8.8.8").country == "US"
    assert products_geo.GEO_DATA_FILE == analyzer.DATA_FILE == geoip.DATA_FILE == "geoip2fast-asn-ipv6.dat.gz"
