"""End-to-end: a real browser (Debian's chromium driven by Playwright) against the server the README's
first command starts (``cfc demo``: the demo loaded, served on 127.0.0.1) — each test does what a
person would, with the logins that command printed, and asserts what that person sees. Screenshots of key pages go to $CFC_E2E_ARTIFACTS (default /tmp).

Skipped, with the reason shown, when playwright or chromium is not installed.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
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
ARTIFACTS = Path(os.environ.get("CFC_E2E_ARTIFACTS", "/tmp"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LOGIN_ROW = re.compile(r"^\W*(?P<role>[^│|]+?)\s+[│|]\s+(?P<email>\S+@\S+)\s+[│|]\s+(?P<password>\S+)\s+[│|]")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The README's first command, as a new user runs it: ``cfc demo`` loads the demo fusion centre
    into a fresh data directory, prints the demo logins and the URL, and serves it (here with 300
    indicators instead of 50,000, on a free port). The tests use only what it printed."""
    from sqlalchemy import select

    from cyberfusion.db import make_engine, make_sessionmaker, transaction
    from cyberfusion.intel.models import Observable
    from cyberfusion.partners import repository as partners_repo

    data = tmp_path_factory.mktemp("e2e")
    cfc = shutil.which("cfc", path=str(Path(sys.executable).parent)) or shutil.which("cfc")
    assert cfc, "the cfc command is not installed (pip install -e '.[test]')"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CFC_")}
    env |= {"CFC_DATA_DIR": str(data / "data"), "CFC_PORT": str(_free_port()), "COLUMNS": "200",
            "CFC_LOG_LEVEL": "warning"}
    proc = subprocess.Popen([cfc, "demo", "--indicators", "300"], cwd=data, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines: list[str] = []
    url: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            m = re.search(r"serving on (http://\S+/)", line)
            if m:
                url.append(m.group(1))
                ready.set()
        ready.set()  # the process ended

    threading.Thread(target=read, daemon=True).start()
    try:
        assert ready.wait(240) and url, "cfc demo did not start serving:\n" + "".join(lines[-40:])
        logins = {m["email"]: m["password"] for m in map(LOGIN_ROW.match, lines) if m}
        assert "analyst@cfc.example" in logins, "no demo logins printed:\n" + "".join(lines)
        _wait_until_served(url[0], proc)
        engine = make_engine(f"sqlite:///{data / 'data' / 'cyberfusion.db'}")
        with transaction(make_sessionmaker(engine)) as s:
            bank = partners_repo.org_by_name(s, "First Meridian Bank")
            bank_value = s.scalar(select(Observable.value).where(
                Observable.organisation_id == bank.id, Observable.kind == "ipv4-addr").order_by(Observable.pk))
        engine.dispose()
        yield {"url": url[0].rstrip("/"), "logins": logins, "bank_value": bank_value, "output": "".join(lines)}
    finally:
        proc.send_signal(signal.SIGINT)  # as Ctrl+C, which the output says stops it
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_until_served(url: str, proc: subprocess.Popen[str]) -> None:
    """uvicorn prints before it listens: connect until it accepts (or the process ends)."""
    host, port = url.split("//")[1].rstrip("/").split(":")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the demo server did not accept connections")


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
        page.get_by_label("Password").fill(server["logins"][email])  # as printed by cfc demo
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


def test_a_new_user_follows_the_readme(browser: Browser, server: dict[str, Any], tmp_path: Path) -> None:
    """The issue's "done means": after the README's first command, open the printed URL, sign in
    with a printed demo login, and do each task from the navigation — no URL typed but the first."""
    assert f"serving on {server['url']}/" in server["output"]
    ctx = browser.new_context(viewport={"width": 1280, "height": 860})
    page = ctx.new_page()
    page.goto(server["url"] + "/")
    page.get_by_label("E-mail address").fill("analyst@cfc.example")
    page.get_by_label("Password").fill(server["logins"]["analyst@cfc.example"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    # Search, and open an object.
    nav.get_by_role("link", name="Search", exact=True).click()
    page.get_by_label("Value or text").fill("Emotet")
    page.get_by_role("button", name="Search", exact=True).click()
    first = page.locator("table tbody tr td a").first
    name = first.inner_text()
    first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.get_by_role("region", name="Handling")).to_contain_text("TLP:")
    # Contribute a file: check it, then store it.
    nav.get_by_role("link", name="Contribute", exact=True).click()
    feed = tmp_path / "readme-feed.txt"
    feed.write_text("203.0.113.201\nreadme-example-phish.com\n")
    page.get_by_label("Format").select_option("text")
    page.get_by_label("File").set_input_files(str(feed))
    page.get_by_role("button", name="Check (dry run)").click()
    expect(page.get_by_text("No problems:")).to_be_visible()
    page.get_by_role("button", name="Store contribution").click()
    expect(page.get_by_text("“readme-feed.txt” is stored: 2 objects")).to_be_visible()
    # A hit/no-hit lookup of what was just stored.
    nav.get_by_role("link", name="Lookup", exact=True).click()
    page.get_by_label(re.compile("^Values, one per line")).fill("readme-example-phish.com\n198.51.100.251")
    page.get_by_role("button", name="Look up").click()
    expect(page.get_by_role("region", name="Answer").get_by_role("status")).to_have_text(
        "2 values: 1 hit, 1 no hit.")
    # Open an RFI from the board.
    nav.get_by_role("link", name="RFIs", exact=True).click()
    expect(page.get_by_role("heading", name="Requests for information")).to_be_visible()
    page.locator(".board article a").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(re.compile(r"^RFI \d+: "))
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    # Generate a country report and open it.
    nav.get_by_role("link", name="Reports", exact=True).click()
    page.get_by_label(re.compile("^Period")).fill("2026-10")
    page.get_by_label(re.compile("^Countries")).fill("NG")
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_text("1 report generated.")).to_be_visible()
    page.get_by_role("link", name="Nigeria (NG)").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Country report: Nigeria (NG), 2026-10")
    page.screenshot(path=str(ARTIFACTS / "web-readme-journey.png"), full_page=True)
    ctx.close()
