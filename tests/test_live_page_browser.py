"""The review UI's Live calls page in a real browser (Debian's Chromium via Playwright) against a
real live server (`stream serve`'s app, real tiny.en) fed a sample call by the real replay client:
the call appears while it streams, its alerts arrive, and at hang-up it links to its stored review."""
from __future__ import annotations

import asyncio
import threading

import pytest

from audio_pipeline.stream.client import load_call, send_call

from .conftest import SAMPLES
from .live_server import live_server
from .test_review_ui_browser import Server, browser, wait_js, watched_page  # noqa: F401 (browser: a fixture)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(cfg, tmp_path_factory):
    out = tmp_path_factory.mktemp("live-page")
    with live_server(cfg, out) as (_, base):
        yield base, out / "reviews.sqlite"


@pytest.fixture()
def page(live, browser, request):
    with watched_page(browser, request.node.name, 30_000) as pg:
        yield pg  # a CSP refusal of the WebSocket would fail here


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
