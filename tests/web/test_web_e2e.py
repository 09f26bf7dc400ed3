"""End-to-end: a real browser (Debian's chromium driven by Playwright) against the app served by
uvicorn on 127.0.0.1 with the demo loaded — each test does what a person would and asserts what
that person sees. Screenshots of key pages go to $CFC_E2E_ARTIFACTS (default /tmp).

Skipped, with the reason shown, when playwright or chromium is not installed.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None  # type: ignore[assignment]

if sync_playwright is None:
    pytest.skip("e2e: the playwright package is not installed (pip install -e '.[test]')", allow_module_level=True)
if CHROMIUM is None:
    pytest.skip("e2e: no chromium on the PATH (Debian: apt-get install -y chromium)", allow_module_level=True)

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
PASSWORD = "demo-password"
ARTIFACTS = Path(os.environ.get("CFC_E2E_ARTIFACTS", "/tmp"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The demo fusion centre served by uvicorn in a background thread."""
    import uvicorn
    from sqlalchemy import select

    from cyberfusion.app import create_app
    from cyberfusion.config import get_settings
    from cyberfusion.db import make_engine, make_sessionmaker, transaction, upgrade
    from cyberfusion.demo import load_demo
    from cyberfusion.intel.models import Observable
    from cyberfusion.partners import repository as partners_repo

    data = tmp_path_factory.mktemp("e2e")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CFC_DATA_DIR", str(data / "data"))
        mp.setenv("CFC_DATABASE_URL", f"sqlite:///{data / 'demo.db'}")
        get_settings.cache_clear()
        settings = get_settings()
        engine = make_engine(settings.effective_database_url)
        upgrade(engine)
        # The demo's thirteen members with argon2id at its lowest cost: signing in stays the real
        # argon2 check, without seconds of key stretching per member on a busy test machine.
        from argon2 import PasswordHasher
        cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        mp.setattr("cyberfusion.partners.service.hash_password", cheap.hash)
        load_demo(engine, indicators=300, quiet=True)
        with transaction(make_sessionmaker(engine)) as s:
            bank = partners_repo.org_by_name(s, "First Meridian Bank")
            bank_value = s.scalar(select(Observable.value).where(
                Observable.organisation_id == bank.id, Observable.kind == "ipv4-addr").order_by(Observable.pk))
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(settings, engine=engine), host="127.0.0.1", port=port,
                                               log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started, "uvicorn did not start"
        yield {"url": f"http://127.0.0.1:{port}", "bank_value": bank_value}
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page_for(browser: Browser, server: dict[str, Any]) -> Iterator[Any]:
    """A fresh browser context per person (its own cookies), signed in through the form."""
    contexts = []

    def open_as(email: str, *, width: int = 1280, height: int = 860) -> Page:
        ctx = browser.new_context(base_url=server["url"], viewport={"width": width, "height": height},
                                  accept_downloads=True)
        contexts.append(ctx)
        page = ctx.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.errors = errors  # type: ignore[attr-defined]
        page.goto("/")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        page.get_by_label("E-mail address").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        return page

    yield open_as
    for ctx in contexts:
        ctx.close()


def test_sign_in_dashboard_search_and_object_page(page_for: Any) -> None:
    page = page_for("analyst@cfc.example")
    expect(page.get_by_text("Signed in as analyst@cfc.example")).to_be_visible()
    expect(page.get_by_role("heading", name="Recent contributions of Cyber Fusion Centre")).to_be_visible()
    trends = page.locator("[data-fragment]")
    expect(trends.get_by_role("heading", name="Trends in your region")).to_be_visible()
    expect(trends).not_to_have_attribute("aria-busy", "true", timeout=30_000)  # fetched by app.js
    expect(trends).to_contain_text("Indicators per week by crime type")
    page.screenshot(path=str(ARTIFACTS / "web-dashboard.png"), full_page=True)
    # Search from the dashboard, keyboard only.
    page.get_by_label("Search intelligence").fill("Emotet")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=re.compile("^Results"))).to_be_visible()
    results = page.locator("table tbody tr")
    expect(results.first).to_be_visible()
    assert results.count() >= 1
    # A facet narrows the list.
    page.get_by_role("group", name="Object type").get_by_label(re.compile("^malware")).check()
    page.get_by_role("button", name="Apply filters").click()
    first = page.locator("table tbody tr td a").first
    name = first.inner_text()
    first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    banner = page.get_by_role("region", name="Handling")
    expect(banner).to_contain_text(re.compile(r"TLP:(CLEAR|GREEN|AMBER|AMBER\+STRICT|RED)"))
    expect(page.get_by_role("heading", name="Related cluster")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "web-object.png"), full_page=True)
    assert not [e for e in page.errors if "Content Security Policy" in e]  # type: ignore[attr-defined]


def test_contribute_a_file_with_a_deliberate_error(page_for: Any, tmp_path: Path) -> None:
    page = page_for("contributor@sentinel-vector.example")
    page.get_by_role("link", name="Contribute", exact=True).click()
    feed = tmp_path / "feed.txt"
    feed.write_text("203.0.113.77\nnot-an-indicator at all\nbad-domain-login.com\n")
    page.get_by_label("Format").select_option("text")
    page.get_by_label("File").set_input_files(str(feed))
    page.get_by_role("button", name="Check (dry run)").click()
    expect(page.get_by_role("heading", name="Check of “feed.txt”")).to_be_visible()
    expect(page.get_by_text("1 problem found.")).to_be_visible()
    bad = page.locator("li.bad")
    expect(bad).to_have_count(1)
    expect(bad).to_contain_text("line 2")
    expect(bad).to_contain_text("not a recognised indicator: 'not-an-indicator at all'")
    expect(page.get_by_role("button", name="Store contribution")).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "web-contribute-error.png"), full_page=True)
    # Fixed, checked again, then stored.
    feed.write_text("203.0.113.77\nbad-domain-login.com\n")
    page.get_by_label("File").set_input_files(str(feed))
    page.get_by_role("button", name="Check (dry run)").click()
    expect(page.get_by_text("No problems:")).to_be_visible()
    page.get_by_role("button", name="Store contribution").click()
    expect(page.get_by_role("heading", name="Contribution stored")).to_be_visible()
    expect(page.get_by_text("“feed.txt” is stored: 2 objects")).to_be_visible()


def test_rfi_filed_answered_and_read_by_the_requester(page_for: Any) -> None:
    officer = page_for("officer@ncb-lyon.example")
    officer.get_by_role("link", name="RFIs", exact=True).click()
    officer.get_by_role("link", name="File an RFI").click()
    officer.get_by_label("Title").fill("Who runs the e2e phishing kit?")
    officer.get_by_label("Question").fill("Which infrastructure hosts the kit targeting French banks?")
    officer.get_by_label("Priority").select_option("urgent")
    officer.get_by_role("button", name="File RFI").click()
    heading = officer.get_by_role("heading", level=1)
    expect(heading).to_contain_text("Who runs the e2e phishing kit?")
    rfi_url = officer.url.split("?")[0]
    rfi_path = rfi_url[rfi_url.index("/rfis/"):]

    analyst = page_for("analyst@cfc.example")
    expect(analyst.get_by_role("heading", name="My RFI queue (urgent first)")).to_be_visible()
    analyst.goto(rfi_path)
    analyst.get_by_role("button", name="Triage (accept)").click()
    analyst.get_by_role("button", name="Assign").click()
    analyst.get_by_role("button", name="Start work").click()
    analyst.get_by_label("Answer", exact=True).fill("The kit is hosted on bulletproof infrastructure in AS64500.")
    analyst.get_by_role("button", name="Send answer").click()
    expect(analyst.get_by_text("Answer sent.")).to_be_visible()
    expect(analyst.locator(".timeline")).to_contain_text("answer → answered")

    officer.goto(rfi_path)
    expect(officer.get_by_role("heading", name="Answer")).to_be_visible()
    expect(officer.get_by_text("The kit is hosted on bulletproof infrastructure in AS64500.")).to_be_visible()


def test_lookup_hit_reaches_the_owners_inbox(page_for: Any, server: dict[str, Any]) -> None:
    value = server["bank_value"]
    officer = page_for("officer@ncb-lyon.example")
    officer.get_by_role("link", name="Lookup", exact=True).click()
    officer.get_by_label(re.compile("^Values, one per line")).fill(f"{value}\n198.51.100.250")
    officer.get_by_role("button", name="Look up").click()
    expect(officer.get_by_role("region", name="Answer").get_by_role("status")).to_have_text(
        "2 values: 1 hit, 1 no hit.")
    expect(officer.locator("tbody tr").filter(has_text=value)).to_contain_text("HIT")

    owner = page_for("contributor@first-meridian.example")
    expect(owner.get_by_role("heading", name="Hit notifications to answer")).to_be_visible()
    owner.get_by_role("link", name="Hit inbox").first.click()
    notice = owner.locator("article").filter(has_text=value)
    expect(notice).to_contain_text("officer@ncb-lyon.example (NCB Lyon)")
    expect(notice).to_contain_text("investigation")
    notice.get_by_label("Message to the asker").fill("Call our fraud desk.")
    notice.get_by_role("button", name=re.compile("^Answer H-")).click()
    expect(owner.get_by_text("Answer sent.")).to_be_visible()


def test_country_report_generated_and_downloaded(page_for: Any) -> None:
    analyst = page_for("analyst@cfc.example")
    analyst.get_by_role("link", name="Reports", exact=True).click()
    analyst.get_by_label(re.compile("^Period")).fill("2026-10")
    analyst.get_by_label(re.compile("^Countries")).fill("FR")
    analyst.get_by_role("button", name="Generate").click()
    expect(analyst.get_by_text("1 report generated.")).to_be_visible()
    expect(analyst.get_by_role("link", name="France (FR)").first).to_be_visible()

    officer = page_for("officer@ncb-lyon.example")
    officer.get_by_role("link", name="Reports", exact=True).click()
    officer.get_by_role("link", name="France (FR)").first.click()
    expect(officer.get_by_role("heading", level=1)).to_contain_text("Country report: France (FR), 2026-10")
    with officer.expect_download() as info:
        officer.get_by_role("link", name="Download PDF").click()
    download = info.value
    assert download.suggested_filename == "FR-2026-10-report.pdf"
    target = ARTIFACTS / "web-country-report.pdf"
    download.save_as(str(target))
    assert target.read_bytes().startswith(b"%PDF")


def test_tablet_width_keyboard_and_labels(page_for: Any) -> None:
    page = page_for("analyst@cfc.example", width=820, height=1180)
    page.goto("/search")
    # Every form control has a label a screen reader announces.
    unlabeled = page.evaluate("""() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
        .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')).map(el => el.name)""")
    assert unlabeled == []
    # The skip link is the first stop of the keyboard and leads to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.screenshot(path=str(ARTIFACTS / "web-search-tablet.png"), full_page=True)


def test_trends_chart_is_drawn_under_the_content_security_policy(page_for: Any) -> None:
    page = page_for("officer@ncb-lyon.example")
    page.get_by_role("link", name="Trends", exact=True).click()
    page.get_by_label("Region").select_option("")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#chart .main-svg").first).to_be_visible(timeout=20_000)  # 4.6 MB of plotly.js
    expect(page.locator("#chart-png")).to_be_hidden()  # the static image is the fallback without scripts
    expect(page.get_by_role("heading", name="Data")).to_be_visible()
    assert not [e for e in page.errors if "Content Security Policy" in e]  # type: ignore[attr-defined]
    page.screenshot(path=str(ARTIFACTS / "web-trends.png"), full_page=True)
