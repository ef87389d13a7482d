"""Review UI server time: the queue over 10,000 stored reviews and the call page of a 1-hour call.

    python bench/ui.py [--calls 10000] [--repeat 30] [--db bench/.data/ui/reviews.sqlite] [--copies 9]

The store is filled once (kept in bench/.data/ui, reused while it has the requested size) with
reviews built by the real analysis from the samples' truth files (tests/web_data.py), varied in
agent, queue, date and audio hash, through `Store.save_review` as the batch stores them; the 1-hour
call is the demo call's script played 60 times in a row. Each page is requested in-process through
the ASGI app (Starlette's test client): the time is the server's (routing, SQLite, rendering), not
the network's. Budgets: queue ≤ 200 ms, 1-hour call page ≤ 300 ms (median; p95 printed beside).
`--copies 9` then measures the same pages over 100,000 calls (the 10,000 copied inside SQLite).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from audio_pipeline.config import load_config  # noqa: E402
from audio_pipeline.store import CallMeta, Store  # noqa: E402
from tests.web_data import build  # noqa: E402

QUEUE_BUDGET_MS, CALL_BUDGET_MS = 200.0, 300.0
AGENTS = [f"A{n:02d}" for n in range(40)]
QUEUES = ["billing", "broadband", "home-services", "mobile", "cancellations", "travel"]


def fill(db: Path, calls: int) -> int:
    """Store `calls` varied reviews plus the 1-hour call; returns the 1-hour call's key."""
    cfg = load_config()
    bases = [build("demo_call", cfg), build("sample_crosstalk", cfg), build("sample_monologue", cfg)]
    hour = build("demo_call", cfg, repeat=60, variant="hour")
    rng = random.Random(0)
    with Store(db) as store:
        for i in range(calls):
            review = json.loads(json.dumps(bases[i % len(bases)]))
            review["audio"]["sha256"] = f"{i:064x}"
            day = rng.randrange(90)
            meta = CallMeta(call_id=f"call-{i:06d}", agent_id=rng.choice(AGENTS), queue=rng.choice(QUEUES),
                            started_at=f"2026-{9 + day // 30:02d}-{1 + day % 30:02d}T{rng.randrange(8, 18):02d}:"
                                       f"{rng.randrange(60):02d}:00")
            store.save_review(review, model="truth", config_fp="bench", run_id=None, meta=meta)
        store.save_review(hour, model="truth", config_fp="bench", run_id=None,
                          meta=CallMeta(call_id="one-hour", agent_id="A00", queue="billing",
                                        started_at="2026-11-20T10:00:00"))
        return int(store.db.execute("SELECT id FROM calls WHERE call_id='one-hour'").fetchone()[0])


def replicate(db: Path, copies: int) -> None:
    """Grow the store by copying its 10,000 varied calls `copies` times inside SQLite (each copy a new
    call, review and findings; the triggers index them as for any stored review): the scale test
    for the queue without hours of Python-side inserts."""
    with Store(db) as store, store.transaction() as tx:
        for k in range(1, copies + 1):
            tx.execute("""INSERT INTO calls (sha256, path, size, mtime_ns, call_id, agent_id, queue, started_at,
                                             duration, metadata, created_at, updated_at)
                          SELECT sha256 || '-' || ?1, path, size, mtime_ns, call_id || '-' || ?1, agent_id, queue,
                                 started_at, duration, metadata, created_at, updated_at
                          FROM calls WHERE call_id GLOB 'call-[0-9][0-9][0-9][0-9][0-9][0-9]'""", (k,))
            tx.execute("""INSERT INTO reviews (call_pk, run_id, model, config_fp, schema, review_json, flagged,
                              flag_reasons, n_reasons, critical, warning, interruptions, empathy, dismissive,
                              missed_empathy, dead_air, dead_air_seconds, created_at)
                          SELECT nc.id, r.run_id, r.model, r.config_fp, r.schema, r.review_json, r.flagged,
                                 r.flag_reasons, r.n_reasons, r.critical, r.warning, r.interruptions, r.empathy,
                                 r.dismissive, r.missed_empathy, r.dead_air, r.dead_air_seconds, r.created_at
                          FROM calls oc JOIN reviews r ON r.call_pk = oc.id
                          JOIN calls nc ON nc.sha256 = oc.sha256 || '-' || ?1
                          WHERE oc.call_id GLOB 'call-[0-9][0-9][0-9][0-9][0-9][0-9]'""", (k,))
            tx.execute("""INSERT INTO findings (review_id, call_pk, type, speaker, severity, severity_rank, start,
                                                "end", category, message, agent_id, call_date)
                          SELECT nr.id, nc.id, f.type, f.speaker, f.severity, f.severity_rank, f.start, f."end",
                                 f.category, f.message, f.agent_id, f.call_date
                          FROM calls oc JOIN findings f ON f.call_pk = oc.id
                          JOIN calls nc ON nc.sha256 = oc.sha256 || '-' || ?1
                          JOIN reviews nr ON nr.call_pk = nc.id
                          WHERE oc.call_id GLOB 'call-[0-9][0-9][0-9][0-9][0-9][0-9]' ORDER BY nr.id, f.id""", (k,))


def timed(client, url: str, repeat: int) -> tuple[float, float, float, int]:
    """(median wall ms, p95 wall ms, median CPU ms, bytes). CPU time is the process's (the app runs
    in the test client's thread, nothing else does): on a shared machine wall time also counts the
    time other processes held the cores."""
    client.get(url)  # warm: templates compiled, pages cached by SQLite
    wall, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        r = client.get(url)
        wall.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
        assert r.status_code == 200, (url, r.status_code)
    wall.sort()
    return statistics.median(wall), wall[int(0.95 * (len(wall) - 1))], statistics.median(cpu), len(r.content)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--db", type=Path, default=ROOT / "bench" / ".data" / "ui" / "reviews.sqlite")
    ap.add_argument("--copies", type=int, default=0,
                    help="then copy the calls this many times inside SQLite (9: 100,000 calls; a separate store)")
    args = ap.parse_args()
    args.db.parent.mkdir(parents=True, exist_ok=True)
    have = 0
    if args.db.exists():
        with Store(args.db) as s:
            have = s.count("calls")
    if have != args.calls + 1:
        args.db.unlink(missing_ok=True)
        t = time.perf_counter()
        fill(args.db, args.calls)
        print(f"filled {args.db.name}: {args.calls} reviews + a 1-hour call in {time.perf_counter() - t:.0f} s, "
              f"{args.db.stat().st_size / 1e6:.0f} MB")
    if args.copies:
        big = args.db.with_name(f"{args.db.stem}-x{args.copies + 1}.sqlite")
        if not big.exists():
            t = time.perf_counter()
            with Store(args.db) as s:
                s.db.execute("VACUUM INTO ?", (str(big),))
            replicate(big, args.copies)
            print(f"copied to {big.name}: {args.calls * (args.copies + 1) + 1} calls in "
                  f"{time.perf_counter() - t:.0f} s, {big.stat().st_size / 1e6:.0f} MB")
        args.db, args.calls = big, args.calls * (args.copies + 1)
    with Store(args.db) as s:
        hour = int(s.db.execute("SELECT id FROM calls WHERE call_id='one-hour'").fetchone()[0])
        words = sum(len(u["words"]) for u in s.review_json(
            s.db.execute("SELECT review_id FROM queue_items WHERE call_pk=?", (hour,)).fetchone()[0])["utterances"])
        cursor_url = None

    from starlette.testclient import TestClient

    from audio_pipeline.web.app import Settings, create_app
    from audio_pipeline.web.options import load_web_options

    client = TestClient(create_app(Settings(db=args.db)), base_url="http://127.0.0.1:8000")
    # a server that keeps no review's page parts: every request is a first view
    cold = TestClient(create_app(Settings(db=args.db, web=replace(load_web_options(), review_cache=0))),
                      base_url="http://127.0.0.1:8000")
    # page 50 of the default queue: follow the keyset links from page 1
    url = "/"
    for _ in range(49):
        html = client.get(url).text
        nxt = html.split('id="next-page"')[0].rsplit('href="', 1)[-1].split('"')[0].replace("&amp;", "&")
        url = nxt
    cursor_url = url
    cases = [
        ("queue, first page (severity order)", "/", QUEUE_BUDGET_MS),
        ("queue, page 50 (keyset)", cursor_url, QUEUE_BUDGET_MS),
        ("queue, agent + finding type filter", "/?agent=A07&type=missed_empathy", QUEUE_BUDGET_MS),
        ("queue, date range + unreviewed, newest", "/?since=2026-10-01&until=2026-10-31&reviewed=no&sort=newest",
         QUEUE_BUDGET_MS),
        ("queue, transcript search 'plumber'", "/?q=plumber", QUEUE_BUDGET_MS),
        ("queue, search + critical only", "/?q=router&severity=critical", QUEUE_BUDGET_MS),
        (f"call page, 1-hour call ({words} words), first view", f"/calls/{hour}", CALL_BUDGET_MS),
        ("call page, 1-hour call, again (after a decision)", f"/calls/{hour}", CALL_BUDGET_MS),
    ]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"review UI server time, {args.calls} reviews, {args.repeat} requests each; {platform.machine()} "
          f"{os.cpu_count()} CPU, Python {platform.python_version()}, load average {load:.1f} at start")
    print(f"{'page':52s} {'wall median':>11s} {'p95':>6s} {'CPU median':>10s} {'KB':>6s}  budget (wall median)")
    failed = False
    for name, url, budget in cases:
        median, p95, cpu, size = timed(cold if "first view" in name else client, url, args.repeat)
        ok = median <= budget
        failed |= not ok
        print(f"{name:52s} {median:8.1f} ms {p95:6.1f} {cpu:7.1f} ms {size / 1024:6.0f}  "
              f"{'ok' if ok else 'OVER'} ≤ {budget:.0f} ms")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
