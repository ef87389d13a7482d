"""Review UI without a browser: queue paging and filters, FTS, decisions under concurrency, the
evaluation form, coaching, role swaps, the disputes export, the guards (token, CSRF, headers,
audio by id with range requests), the offline HTML page. A real SQLite file filled with reviews
built by the real analysis (tests/web_data.py)."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from audio_pipeline import decisions as dec
from audio_pipeline.coaching import suggest
from audio_pipeline.scorecard import load_scorecard, prefill, score
from audio_pipeline.store import CallMeta, Store
from audio_pipeline.web.queue import QueueFilter, queue_page

from audio_pipeline.web.app import Settings, create_app
from starlette.testclient import TestClient

from .web_data import XSS_TEXT, build, fill

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def filled(tmp_path_factory, cfg):
    db = tmp_path_factory.mktemp("ui") / "reviews.sqlite"
    ids = fill(db, cfg)
    return db, ids


@pytest.fixture()
def db(filled, tmp_path):
    """A private copy per test: decisions written by one test never leak into another."""
    copy = tmp_path / "reviews.sqlite"
    with Store(filled[0]) as s:
        s.db.execute(f"VACUUM INTO '{copy}'")
    return copy, filled[1]


def client(db_path: Path, token: str | None = None) -> TestClient:
    return TestClient(create_app(Settings(db=db_path, token=token)), base_url="http://127.0.0.1:8000")


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


# -- queue ----------------------------------------------------------------------------------------

def test_queue_orders_flagged_and_most_severe_first(db):
    with Store(db[0]) as s:
        rows = queue_page(s.db, QueueFilter()).rows
        ordered = [(r.flagged, r.critical, r.warning) for r in rows]
        assert ordered == sorted(ordered, reverse=True)
        assert rows[0].flagged and rows[0].critical + rows[0].warning > 0


def test_queue_filters_and_search(db):
    with Store(db[0]) as s:
        assert {r.call_id for r in queue_page(s.db, QueueFilter(agent="B04")).rows} == {"mono-0003", "xss-0004"}
        assert {r.call_id for r in queue_page(s.db, QueueFilter(queue="broadband")).rows} == {"demo-0001"}
        week = queue_page(s.db, QueueFilter(since="2026-11-23T00:00:00", until="2026-11-25T00:00:00")).rows
        assert {r.call_id for r in week} == {"demo-0001", "cross-0002"}
        # full-text search over what was said: "plumber" is said only in the crosstalk call
        assert [r.call_id for r in queue_page(s.db, QueueFilter(text="plumber")).rows] == ["cross-0002"]
        assert queue_page(s.db, QueueFilter(text='plumber" OR "x')).total == 0  # FTS syntax is not the user's
        typed = queue_page(s.db, QueueFilter(finding_type="missed_empathy")).rows
        assert typed and all("missed_empathy" in r.finding_types for r in typed)
        assert queue_page(s.db, QueueFilter(reviewed=True)).total == 0


def test_keyset_paging_visits_every_call_once(tmp_path, cfg):
    path = tmp_path / "many.sqlite"
    base = build("demo_call", cfg)
    quiet = build("sample_monologue", cfg)
    with Store(path) as s:
        for i in range(57):
            review = json.loads(json.dumps(base if i % 3 else quiet))
            review["audio"]["sha256"] = f"{i:064x}"
            s.save_review(review, model="m", config_fp="c", run_id=None,
                          meta=CallMeta(call_id=f"c{i}", agent_id=f"A{i % 4}",
                                        started_at=f"2026-11-{1 + i % 28:02d}T10:00:00"))
        for sort in ("severity", "newest", "oldest", "longest"):
            seen, cursor = [], None
            while True:
                page = queue_page(s.db, QueueFilter(sort=sort), cursor, limit=10)
                seen += [r.call_id for r in page.rows]
                cursor = page.next_cursor
                if cursor is None:
                    break
            assert sorted(seen) == sorted(f"c{i}" for i in range(57)), sort
        newest = queue_page(s.db, QueueFilter(sort="newest"), limit=57).rows
        assert [r.started_at for r in newest] == sorted((r.started_at for r in newest), reverse=True)


# -- decisions ------------------------------------------------------------------------------------

def test_concurrent_reviewers_lose_nothing(db):
    with Store(db[0]) as s:
        review_id = s.db.execute("SELECT review_id FROM queue_items WHERE call_pk=?", (db[1]["demo-0001"],)).fetchone()[0]
        fids = dec.finding_ids(s.db, review_id)
    errors = []

    def reviewer(name: str) -> None:
        try:
            with Store(db[0]) as mine:  # each thread its own connection, as each web request has
                for fid in fids:
                    dec.decide_finding(mine.transaction, fid, "dispute", f"{name} disagrees", name)
                    dec.add_event(mine.transaction, db[1]["demo-0001"], "comment", name, f"note on {fid}")
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=reviewer, args=(f"r{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with Store(db[0]) as s:
        assert s.db.execute("SELECT COUNT(*) FROM finding_decisions").fetchone()[0] == 4 * len(fids)
        assert s.db.execute("SELECT COUNT(*) FROM call_events WHERE kind='comment'").fetchone()[0] == 4 * len(fids)
        assert s.db.execute("SELECT disputed FROM queue_items WHERE call_pk=?", (db[1]["demo-0001"],)).fetchone()[0] == len(fids)
        dec.decide_finding(s.transaction, fids[0], "acknowledge", "", "r9")
        assert s.db.execute("SELECT disputed FROM queue_items WHERE call_pk=?", (db[1]["demo-0001"],)).fetchone()[0] == len(fids) - 1
        assert queue_page(s.db, QueueFilter(disputed=True)).total == 1
        with pytest.raises(dec.DecisionError):
            dec.decide_finding(s.transaction, fids[0], "dispute", "  ", "r9")


def test_disputes_export_is_labelled_examples(db):
    with Store(db[0]) as s:
        review_id = s.db.execute("SELECT review_id FROM queue_items WHERE call_pk=?", (db[1]["demo-0001"],)).fetchone()[0]
        review = s.review_json(review_id)
        fids = dec.finding_ids(s.db, review_id)
        dismissive = next(i for i, f in enumerate(review["findings"]) if f["type"] in ("dismissive", "missed_empathy"))
        dec.decide_finding(s.transaction, fids[dismissive], "dispute", "customer was joking", "ann")
        dec.decide_finding(s.transaction, fids[0], "acknowledge", "", "bob")
    out = subprocess.run([sys.executable, "-m", "audio_pipeline", "disputes", "--db", str(db[0]), "--format", "jsonl"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    by_label = {r["label"]: r for r in rows}
    assert set(by_label) == {"disputed", "confirmed"}
    d = by_label["disputed"]
    assert d["type"] == review["findings"][dismissive]["type"] and d["reason"] == "customer was joking"
    assert d["text"] == review["findings"][dismissive]["evidence"] and d["context"]
    bad = subprocess.run([sys.executable, "-m", "audio_pipeline", "disputes", "--db", str(db[0]), "--format", "xml"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


# -- evaluation form and coaching ----------------------------------------------------------------------

def test_scorecard_prefill_and_score(db):
    card = load_scorecard()
    with Store(db[0]) as s:
        review = s.review_json(s.db.execute("SELECT review_id FROM queue_items WHERE call_pk=?",
                                            (db[1]["demo-0001"],)).fetchone()[0])
    pre = prefill(card, review)
    assert pre["greeting_intro"].answer == "yes"          # "Thank you for calling Northwind Telecom"
    types = {f["type"] for f in review["findings"]}
    assert pre["empathy_acknowledged"].answer == ("no" if "missed_empathy" in types else "yes")
    assert pre["resolved"].answer is None                  # the reviewer decides
    assert pre["no_dismissive"].answer == ("no" if "dismissive" in types else "yes")
    answers = {q: p.answer or "yes" for q, p in pre.items()}
    answers["no_dismissive"] = "yes"  # the reviewer overrides the pre-filled answer
    answers["no_monologue"] = "na"
    result = score(card, answers)
    weights = {q.id: q.weight for q in card.questions if answers[q.id] != "na"}
    expected = 100 * sum(w for q, w in weights.items() if answers[q] == "yes") / sum(weights.values())
    assert result.score == pytest.approx(expected, abs=0.1) and not result.auto_failed
    failed = score(card, {**answers, "no_dismissive": "no"})  # an auto-fail item
    assert failed.score == 0.0 and failed.auto_failed == ("no_dismissive",)
    assert score(card, {}).score is None and len(score(card, {}).unanswered) == len(card.questions)


def test_coaching_uses_the_customers_words(db):
    with Store(db[0]) as s:
        review = s.review_json(s.db.execute("SELECT review_id FROM queue_items WHERE call_pk=?",
                                            (db[1]["demo-0001"],)).fetchone()[0])
    missed = next(f for f in review["findings"] if f["type"] == "missed_empathy")
    tip = suggest(missed, review)
    cue = " ".join(u["text"] for u in review["utterances"]
                   if u["speaker"] == "customer" and u["end"] > missed["cue_start"] and u["start"] < missed["cue_end"])
    assert tip.customer_words and tip.customer_words.rstrip("…") in cue
    assert tip.acknowledge and tip.validate and tip.act and tip.customer_words in tip.text
    assert suggest(next(f for f in review["findings"] if f["type"] == "interruption"), review) is None


def test_role_swap_recomputes_from_the_transcript(db):
    c = client(db[0])
    call = db[1]["mono-0003"]
    page = c.get(f"/calls/{call}")
    assert "decided by" in page.text
    with Store(db[0]) as s:
        before = s.review_json(s.db.execute("SELECT review_id FROM queue_items WHERE call_pk=?", (call,)).fetchone()[0])
    c.cookies.set("ap_reviewer", "sue")
    r = c.post(f"/calls/{call}/swap-roles", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 303
    with Store(db[0]) as s:
        after = s.review_json(s.db.execute("SELECT review_id FROM queue_items WHERE call_pk=?", (call,)).fetchone()[0])
        assert s.db.execute("SELECT COUNT(*) FROM call_events WHERE kind='roles_swapped'").fetchone()[0] == 1
    swap = {"agent": "customer", "customer": "agent"}
    assert [(swap[u["speaker"]], u["text"]) for u in before["utterances"]] == \
           [(u["speaker"], u["text"]) for u in after["utterances"]]
    assert after["roles"]["method"] == "supervisor" and "sue" in after["roles"]["evidence"]
    assert after["metrics"]["agent_talk_ratio"] == pytest.approx(before["metrics"]["customer_talk_ratio"], abs=0.01)


# -- web guards ---------------------------------------------------------------------------------

def test_headers_csrf_and_reviewer_required(db):
    c = client(db[0])
    page = c.get("/")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    call = db[1]["demo-0001"]
    html = c.get(f"/calls/{call}").text
    token = csrf_of(html)
    assert c.post(f"/calls/{call}/comments", data={"body": "hi", "reviewer": "x"}).status_code == 403   # no token
    assert c.post(f"/calls/{call}/comments", data={"body": "hi", "csrf": token}).status_code == 400      # who?
    evil = c.post(f"/calls/{call}/comments", data={"body": "hi", "csrf": token, "reviewer": "x"},
                  headers={"origin": "http://evil.example"})
    assert evil.status_code == 403
    ok = c.post(f"/calls/{call}/comments", data={"body": "<b>hi</b>", "csrf": token, "reviewer": "amy"})
    assert ok.status_code == 200 and "&lt;b&gt;hi&lt;/b&gt;" in ok.text
    assert c.get(f"/calls/{call}/comments").status_code == 405  # state changes are POST only
    for target, expected in (("//evil.example/x", "/"), (f"/calls/{call}", f"/calls/{call}")):
        r = c.post("/reviewer", data={"csrf": token, "reviewer": "amy", "next": target}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == expected  # no open redirect


def test_token_is_checked_on_every_request(db):
    token = "s3cret-token-0123456789"
    c = client(db[0], token)
    assert c.get("/").status_code == 401
    assert c.get(f"/calls/{db[1]['demo-0001']}/audio").status_code == 401
    assert c.get("/static/call.js").status_code == 401
    assert c.get("/", headers={"authorization": f"Bearer {token}"}).status_code == 200
    login = c.get(f"/?token={token}", follow_redirects=False)
    assert login.status_code == 303 and "token" not in login.headers["location"]
    assert c.get("/").status_code == 200  # the cookie from the login link
    assert client(db[0], token).get("/?token=wrong").status_code == 401


def test_audio_by_id_with_ranges(db):
    c = client(db[0])
    call = db[1]["demo-0001"]
    whole = (ROOT / "samples" / "demo_call.wav").read_bytes()
    part = c.get(f"/calls/{call}/audio", headers={"range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == whole[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(whole)}"
    assert c.get("/calls/999999/audio").status_code == 404
    assert c.get("/calls/../../etc/passwd/audio").status_code == 404


def test_serve_refuses_other_addresses_without_a_token(db, monkeypatch):
    monkeypatch.delenv("AUDIO_PIPELINE_TOKEN", raising=False)
    out = subprocess.run([sys.executable, "-m", "audio_pipeline", "serve", "--db", str(db[0]), "--host", "0.0.0.0"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 2 and "token" in out.stderr and "Traceback" not in out.stderr
    missing = subprocess.run([sys.executable, "-m", "audio_pipeline", "serve", "--db", str(db[0].parent / "nope.sqlite")],
                             capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def test_serve_refuses_a_live_server_that_is_not_a_websocket_address(db):
    out = subprocess.run([sys.executable, "-m", "audio_pipeline", "serve", "--db", str(db[0]), "--live",
                          "http://127.0.0.1:8765/v1/events"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 2 and "--live" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_live_page_allows_only_its_live_server_to_be_connected_to(db):
    with TestClient(create_app(Settings(db=db[0], live="ws://10.0.0.5:8765"))) as client:
        page = client.get("/live")
    assert page.status_code == 200 and 'data-events="ws://10.0.0.5:8765/v1/events"' in page.text
    assert "connect-src 'self' ws://10.0.0.5:8765" in page.headers["content-security-policy"]
    with TestClient(create_app(Settings(db=db[0]))) as client:
        page = client.get("/live")
    assert "stream serve" in page.text and "connect-src 'self';" in page.headers["content-security-policy"] + ";"


def test_transcript_is_escaped_and_offline_page_is_self_contained(db, tmp_path):
    from audio_pipeline.web.offline import render_offline

    c = client(db[0])
    html = c.get(f"/calls/{db[1]['xss-0004']}").text
    assert "<script>window.__xss" not in html and "&lt;script&gt;window.__xss" in html
    with Store(db[0]) as s:
        review = s.review_json(s.db.execute("SELECT review_id FROM queue_items WHERE call_pk=?",
                                            (db[1]["xss-0004"],)).fetchone()[0])
    page = render_offline(review, tmp_path)
    assert "&lt;script&gt;window.__xss" in page and "<script>window.__xss" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)        # nothing from the network
    src = re.search(r'<audio id="player"[^>]* src="([^"]+)"', page).group(1)
    assert (tmp_path / src).resolve() == (ROOT / "samples" / "sample_monologue.flac").resolve()
    assert XSS_TEXT.split()[0] in page


def test_mark_reviewed_comment_and_agent_page(db):
    c = client(db[0])
    call = db[1]["cross-0002"]
    token = csrf_of(c.get(f"/calls/{call}").text)
    c.cookies.set("ap_reviewer", "lee")
    assert c.post(f"/calls/{call}/reviewed", data={"csrf": token}).status_code == 200
    assert c.post(f"/calls/{call}/comments", data={"csrf": token, "body": "coach on hold etiquette"}).status_code == 200
    with Store(db[0]) as s:
        assert [r.call_id for r in queue_page(s.db, QueueFilter(reviewed=True)).rows] == ["cross-0002"]
        assert queue_page(s.db, QueueFilter(reviewed=False)).total == len(db[1]) - 1
        trail = dec.audit_trail(s.db, call)
    assert [(e["who"], e["what"]) for e in trail] == [("lee", "reviewed"), ("lee", "comment")]
    page = c.get(f"/calls/{call}").text
    assert "Reviewed ✓" in page and "coach on hold etiquette" in page
    agent = c.get("/agents/A17")
    assert agent.status_code == 200
    assert "<td>2026-11-23</td><td>2 </td>".replace(" ", "") in agent.text.replace(" ", "")  # both in one week
    weeks = re.findall(r"<tr><td>(\d{4}-\d\d-\d\d)</td>", c.get("/agents/B04").text)
    assert weeks == ["2026-11-16", "2026-11-23"]                      # Mondays of the calls' weeks
    assert "missed_empathy" in agent.text or "interruption" in agent.text
    assert c.get("/agents/nobody").status_code == 404


def test_two_reviewers_saving_one_evaluation_both_kept(db):
    call = db[1]["demo-0001"]
    ann, bob = client(db[0]), client(db[0])
    forms = {}
    for name, c in (("ann", ann), ("bob", bob)):  # both open the page before either saves
        html = c.get(f"/calls/{call}").text
        forms[name] = {"csrf": csrf_of(html), "base": re.search(r'name="base" value="([^"]*)"', html).group(1),
                       "reviewer": name}
    ann.post(f"/calls/{call}/evaluation", data={**forms["ann"], "q_resolved": "yes"})
    page = bob.post(f"/calls/{call}/evaluation", data={**forms["bob"], "q_resolved": "no"}).text
    assert 'id="evaluation-conflict"' in page
    with Store(db[0]) as s:
        saved = dec.events(s.db, call, "evaluation")
    assert [(e.reviewer, e.payload["answers"]["resolved"]) for e in saved] == [("ann", "yes"), ("bob", "no")]
    assert saved[1].payload["superseded_other"] == saved[0].id


def test_options_files_refuse_unknown_keys():
    from audio_pipeline.config import ConfigError
    from audio_pipeline.scorecard import parse_scorecard
    from audio_pipeline.web.options import load_web_options, parse_web_options

    assert load_web_options().page_size > 0
    assert parse_web_options({"coaching": {"lookback": 30}}).coaching_lookback == 30.0
    with pytest.raises(ConfigError, match="page_sise"):
        parse_web_options({"page_sise": 10})
    with pytest.raises(ConfigError, match="wieght"):
        parse_scorecard({"sections": [{"id": "s", "questions": [{"id": "q", "wieght": 3}]}]})


def test_unreadable_or_malformed_options_files_are_config_errors(tmp_path):
    from audio_pipeline.config import ConfigError
    from audio_pipeline.scorecard import load_scorecard
    from audio_pipeline.web.options import load_web_options

    bad = tmp_path / "bad.yaml"
    bad.write_text("page_size: [1,\n")
    for load, what in ((load_web_options, "web options"), (load_scorecard, "scorecard")):
        with pytest.raises(ConfigError, match=f"{what} is not valid YAML"):
            load(bad)
        with pytest.raises(ConfigError, match=f"cannot read the {what}"):
            load(tmp_path / "missing.yaml")


def test_serve_command_off_loopback_with_a_token(db):
    """The real `serve` command on all addresses: refused without the token, served with it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = "cli-token-0123456789abcdef"
    proc = subprocess.Popen([sys.executable, "-m", "audio_pipeline", "serve", "--db", str(db[0]), "--host", "0.0.0.0",
                             "--port", str(port)], cwd=ROOT, env={**os.environ, "AUDIO_PIPELINE_TOKEN": token},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                raise AssertionError("served without the token")
            except urllib.error.HTTPError as exc:
                assert exc.code == 401
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.poll() else ""
                time.sleep(0.2)
        ok = urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"}), timeout=5)
        assert ok.status == 200 and b"Review queue" in ok.read()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
