"""The review UI in a real browser: Debian's Chromium driven by Playwright, against `serve`'s app
on a real uvicorn server and a real SQLite store. Screenshots of every test's last page go to
out/test-artifacts/ui/ (git-ignored)."""
from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from .web_data import fill

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "out" / "test-artifacts" / "ui"


class Server:
    """The app on a real uvicorn server in a thread, on a free loopback port."""

    def __init__(self, db: Path, token: str | None = None, live: str | None = None) -> None:
        import uvicorn

        from audio_pipeline.web.app import Settings, create_app

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.srv = uvicorn.Server(uvicorn.Config(create_app(Settings(db=db, token=token, live=live)), host="127.0.0.1",
                                                 port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.srv.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.srv.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.srv.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def database(tmp_path_factory, cfg):
    db = tmp_path_factory.mktemp("ui-browser") / "reviews.sqlite"
    return db, fill(db, cfg)


@pytest.fixture(scope="module")
def server(database):
    with Server(database[0]) as base:
        yield base, database[1]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "Debian chromium is missing: `make setup` installs it"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        yield b
        b.close()


@contextmanager
def watched_page(browser, name: str, timeout_ms: int = 15_000):
    """A fresh page whose script errors and console errors fail the test; screenshot at the end."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    pg.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    pg.set_default_timeout(timeout_ms)
    yield pg
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    context.close()
    assert not problems, problems  # a CSP violation or a script error fails the test


@pytest.fixture()
def page(browser, server, request):
    with watched_page(browser, request.node.name) as pg:
        yield pg


def wait_js(page, expression: str, timeout: float = 15.0):
    """Poll a JS expression from here: Playwright's wait_for_function evaluates strings with eval(),
    which the page's CSP (rightly) refuses."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.05)


def sign_in(page, name: str) -> None:
    page.fill("#reviewer-name", name)
    page.click("nav.top button")
    page.wait_for_load_state()


def test_queue_filter_and_open_a_call(page, server):
    base, ids = server
    page.goto(base + "/")
    assert page.locator("#queue tbody tr").count() == len(ids)
    page.select_option("select[name=agent]", "B04")
    page.click("#apply")
    page.wait_for_url("**agent=B04**")
    assert sorted(page.locator("a.call-link").all_inner_texts()) == ["mono-0003", "xss-0004"]
    page.goto(base + "/")
    page.fill("#search", "plumber")
    page.click("#apply")
    page.wait_for_url("**q=plumber**")
    assert page.locator("a.call-link").all_inner_texts() == ["cross-0002"]
    page.click("a.call-link")
    page.wait_for_url(f"**/calls/{ids['cross-0002']}")
    assert page.locator("#transcript .utt").count() > 3 and page.locator("#findings .finding").count() > 0
    wait_js(page, "document.getElementById('player').readyState >= 1")
    assert page.evaluate("document.getElementById('player').duration") == pytest.approx(42.7, abs=0.3)


def _seeked_to(page, t: float) -> float:
    wait_js(page, f"(() => {{ const a = document.getElementById('player');"
                  f" return !a.seeking && Math.abs(a.currentTime - {t}) <= 0.1; }})()")
    return page.evaluate("document.getElementById('player').currentTime")


def test_click_finding_marker_and_word_seek_the_audio(page, server):
    base, ids = server
    page.goto(f"{base}/calls/{ids['demo-0001']}")
    wait_js(page, "document.getElementById('player').readyState >= 1")
    buttons = page.locator("#findings button.seek")
    assert buttons.count() >= 3
    last = buttons.nth(buttons.count() - 1)
    t = float(last.get_attribute("data-seek"))
    assert t > 10
    last.click()
    assert abs(_seeked_to(page, t) - t) <= 0.1
    # the word being played is highlighted
    start = page.evaluate("parseFloat(document.querySelector('#transcript .w.now')?.dataset.s ?? 'NaN')")
    assert start <= t + 0.01 or start != start  # none when t falls in a silence
    word = page.locator("#transcript .w").nth(20)
    ws = float(word.get_attribute("data-s"))
    word.click()
    assert abs(_seeked_to(page, ws) - ws) <= 0.1
    assert page.locator("#transcript .w.now").first.get_attribute("data-s") == word.get_attribute("data-s")
    marker = page.locator("#timeline rect.marker").first
    ms = float(marker.get_attribute("data-seek"))
    marker.click(force=True)
    assert abs(_seeked_to(page, ms) - ms) <= 0.1
    # keyboard: n = next finding after the current time, space = play/pause
    starts = sorted(float(x) for x in page.locator("#findings .finding").evaluate_all(
        "els => els.map(e => e.dataset.start)"))
    page.locator("body").press("n")
    nxt = min(s for s in starts if s > ms + 0.05)
    assert abs(_seeked_to(page, nxt) - nxt) <= 0.1
    page.locator("body").press("p")
    assert abs(_seeked_to(page, ms) - ms) <= 0.1
    page.locator("body").press(" ")
    wait_js(page, "!document.getElementById('player').paused")
    page.locator("body").press(" ")
    wait_js(page, "document.getElementById('player').paused")


def test_dispute_a_finding_and_see_it_after_reload(page, server):
    base, ids = server
    page.goto(f"{base}/calls/{ids['cross-0002']}")
    sign_in(page, "Tess")
    finding = page.locator("#findings .finding").first
    fid = finding.get_attribute("id")
    finding.locator("input[name=reason]").fill("the customer had finished <her> sentence")
    finding.locator("button.dispute").click()
    page.wait_for_load_state()
    page.reload()
    decided = page.locator(f"#{fid} .decision")
    assert "Disputed by Tess" in decided.inner_text()
    assert "the customer had finished <her> sentence" in decided.inner_text()
    assert "dispute" in page.locator("#audit").inner_text()
    page.goto(base + "/?disputed=yes")
    assert page.locator("a.call-link").all_inner_texts() == ["cross-0002"]


def test_fill_the_evaluation_form(page, server):
    base, ids = server
    page.goto(f"{base}/calls/{ids['demo-0001']}")
    sign_in(page, "Omar")
    form = page.locator("#evaluation-form")
    assert form.locator("input[name=q_greeting_intro][value=yes]").is_checked()  # pre-filled from the call
    form.locator("input[name=q_resolved][value=yes]").check()
    form.locator("input[name=q_no_dismissive][value=no]").check()   # an auto-fail item
    assert page.locator("#score").inner_text() == "0 (auto-fail)"    # the score follows before saving
    form.locator("input[name=q_no_dismissive][value=yes]").check()
    live = page.locator("#score").inner_text()
    form.locator("input[name=note_resolved]").fill("gave a ticket number")
    page.click("#save-evaluation")
    page.wait_for_load_state()
    page.reload()
    assert page.locator("input[name=q_resolved][value=yes]").is_checked()
    assert page.locator("input[name=note_resolved]").input_value() == "gave a ticket number"
    assert page.locator("#score").inner_text() == live
    assert "saved by Omar" in page.locator("#evaluation").inner_text()
    page.goto(base + "/?agent=A17")
    assert live in page.locator("#queue").inner_text()


def test_transcript_markup_renders_as_text(page, server):
    base, ids = server
    page.goto(f"{base}/calls/{ids['xss-0004']}")
    assert page.evaluate("window.__xss") is None
    assert page.locator("#transcript script, #transcript img").count() == 0
    assert "<script>window.__xss = 1</script>" in page.locator("#transcript").inner_text()


def test_call_page_screenshot(page, server):
    """The README's picture of the call page."""
    base, ids = server
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{base}/calls/{ids['demo-0001']}")
    wait_js(page, "document.getElementById('player').readyState >= 1")
    page.locator("#findings button.seek").nth(1).click()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "call_page.png"))
    assert (ARTIFACTS / "call_page.png").stat().st_size > 10_000


def test_offline_html_from_review_command(browser, tmp_path):
    """`review CALL --format html` (real tiny.en on the demo call): one file that works from disk,
    audio linked by a relative path, a finding click seeks."""
    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "reviews"
    r = subprocess.run([sys.executable, "-m", "audio_pipeline", "review", "samples/demo_call.wav", "--format",
                        "json,html", "-o", out, "-q"], capture_output=True, text=True, cwd=root, timeout=600)
    assert r.returncode == 0, r.stderr
    html = (out / "demo_call.review.html").read_text()
    assert "http://" not in html and "https://" not in html  # nothing from the network
    context = browser.new_context()
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto((out / "demo_call.review.html").as_uri())
    wait_js(page, "document.getElementById('player').readyState >= 1")
    src = page.evaluate("document.getElementById('player').currentSrc")
    assert Path(src.removeprefix("file://")).resolve() == (root / "samples" / "demo_call.wav").resolve()
    button = page.locator("#findings button.seek").nth(1)
    t = float(button.get_attribute("data-seek"))
    button.click()
    assert abs(_seeked_to(page, t) - t) <= 0.1
    assert page.locator("#transcript .utt").count() > 3 and page.locator("form.decide").count() == 0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "offline_call_page.png"), full_page=True)
    context.close()
    assert not problems, problems


def test_token_protected_server_in_the_browser(browser, database):
    """Off loopback the app runs with a token: the login link once, then pages, script and audio."""
    token = "browser-test-token-0123456789"
    with Server(database[0], token) as base:
        context = browser.new_context()
        page = context.new_page()
        assert page.goto(base + "/").status == 401
        page.goto(f"{base}/?token={token}")
        assert page.url == base + "/" and page.locator("#queue tbody tr").count() == len(database[1])
        page.goto(f"{base}/calls/{database[1]['demo-0001']}")
        wait_js(page, "document.getElementById('player').readyState >= 1")  # audio fetched with the cookie
        button = page.locator("#findings button.seek").nth(2)
        t = float(button.get_attribute("data-seek"))
        button.click()                                                      # call.js loaded too
        assert abs(_seeked_to(page, t) - t) <= 0.1
        context.close()
