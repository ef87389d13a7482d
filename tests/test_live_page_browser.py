"""The review UI's Live calls page in a real browser (Debian's Chromium via Playwright) against a
real live server (`stream serve`'s app, real tiny.en) fed a sample call by the real replay client:
the call appears while it streams, its alerts arrive, and at hang-up it links to its stored review."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest

from audio_pipeline.stream.client import load_call, send_call
from audio_pipeline.stream.server import StreamService, server_config

from .conftest import SAMPLES
from .test_review_ui_browser import ARTIFACTS, CHROMIUM, FLAGS, Server, wait_js

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(cfg, tmp_path_factory):
    import uvicorn

    out = tmp_path_factory.mktemp("live-page")
    service = StreamService(cfg, output_dir=out / "reviews", db=out / "reviews.sqlite")
    service.load()
    srv = uvicorn.Server(server_config(service))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "live server did not start"
        time.sleep(0.05)
    yield f"127.0.0.1:{srv.servers[0].sockets[0].getsockname()[1]}", out / "reviews.sqlite"
    srv.should_exit = True
    thread.join(20)


@pytest.fixture()
def page(live, request):
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "Debian chromium is missing: `make setup` installs it"
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        pg.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
        pg.set_default_timeout(30_000)
        yield pg
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        browser.close()
    assert not problems, problems  # a CSP refusal of the WebSocket would show here


def test_live_page_shows_a_streamed_call_its_alerts_and_then_its_review(live, page):
    base, db = live
    with Server(db, live=f"ws://{base}") as ui:
        page.goto(ui + "/live")
        wait_js(page, "document.getElementById('live-status').dataset.state === 'open'")
        assert page.locator("#live-empty").is_visible()
        call = load_call(SAMPLES / "demo_call.wav")
        sender = threading.Thread(target=lambda: asyncio.run(
            send_call(call, f"ws://{base}/v1/calls", "live-demo", agent_id="A17", speed=4.0)))
        sender.start()
        wait_js(page, "document.querySelector('#live-call-live-demo.live-on') !== null", 30)
        assert page.locator("#live-call-live-demo .c-agent").inner_text() == "A17"
        assert not page.locator("#live-empty").is_visible()
        wait_js(page, "document.querySelectorAll('#live-alerts li').length > 0", 60)
        first = page.locator("#live-alerts li").first.inner_text()
        assert first.startswith("live-demo ")
        sender.join(120)
        wait_js(page, "document.querySelector('#live-call-live-demo.live-ended') !== null", 60)
        assert int(page.locator("#live-call-live-demo .c-alerts").inner_text()) >= 1
        page.click("#live-call-live-demo .c-state a")
        page.wait_for_load_state()
        assert "/calls/" in page.url and "live-demo" in page.content()
        # the live server recorded the call as it arrived: its review page plays it
        wait_js(page, "document.getElementById('player').readyState >= 1")
        assert abs(page.evaluate("document.getElementById('player').duration") - call.samples.shape[0] / call.sample_rate) < 0.5


def test_live_page_without_a_live_server_says_how_to_start_one(live, page, tmp_path):
    with Server(tmp_path / "none.sqlite") as ui:
        page.goto(ui + "/live")
        assert "stream serve" in page.locator("#live-off").inner_text()
