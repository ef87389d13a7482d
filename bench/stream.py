"""Live monitoring, measured: labelled calls replayed through a real server on 127.0.0.1.

    python bench/stream.py [DIR ...] [--speeds 1,4] [--concurrent 1,2,4] [--minutes 2] [--json OUT]
    python bench/stream.py --policy [--busy] [DIR ...]  # 0. only: the policy's own delay, CPU time excluded

0. Policy latency (--policy): each call is fed to a CallMonitor in 0.25 s steps with no clock, every
   step decoding when due; an alert's latency is the audio heard when it was decided minus the
   moment below. This is the delay of the streaming policy itself (local agreement, settling) on a
   machine fast enough to keep up; the wall-clock figures add queueing and decoding time. Also the
   WER of those streamed reviews and of the offline reviews of the same files (no clock either).
   --busy: each call decoded as a loaded server decodes it (other calls always waiting for a decoder).

1. Latency: each labelled call (DIR holds NAME.wav/.flac + NAME.truth.json; default samples/) is
   replayed at each speed, one call at a time, with a subscriber on /v1/events. For every truth event
   the first matching alert's arrival is compared with the moment the event became decidable in the
   audio (wall clock, so at speed 4 one audio second is 0.25 s):
     interruption   end of the overlap + turns.floor_taken_min_after (the interrupter kept the floor)
     slow_response  the agent's reply starts
     dead_air       start + turns.dead_air_min (the threshold is crossed; the "started" alert)
     empathy/dismissive/sympathy/customer_distress   end of the truth turn carrying the label
     missed_empathy the later of the agent's reply end and distress end + empathy.missed_window
   p50/p95 per type; events with no alert at all are counted as missed.
2. Capacity: N copies of the calls (back to back, to fill --minutes) stream concurrently in real
   time; the lag each call reports (audio received - audio decoded) is sampled; "held" = the lag
   in the last quarter is no higher than in the second quarter + 1 s and never past 10 s.
3. WER of the streamed final reviews vs the offline reviews of the same files, per speaker, against
   the truth turns (speed 1 runs).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audio_pipeline.evaluation import Tally, normalise_text, score  # noqa: E402

PHRASING = {"empathy": "empathy", "dismissive": "dismissive", "sympathy": "sympathy", "distress": "customer_distress"}


def start_server(cfg, out: Path):
    import uvicorn

    from audio_pipeline.stream.server import StreamService, server_config

    service = StreamService(cfg, output_dir=out / "reviews", db=None)
    service.load()
    srv = uvicorn.Server(server_config(service))
    threading.Thread(target=srv.run, daemon=True).start()
    while not srv.started:
        time.sleep(0.05)
    return service, srv, f"127.0.0.1:{srv.servers[0].sockets[0].getsockname()[1]}"


def triggers(truth: dict, cfg) -> list[tuple[str, str | None, float, float, float]]:
    """(alert kind, speaker, span start, span end, decidable moment) per truth event / labelled turn."""
    t = cfg.turns
    out = []
    for e in truth["events"]:
        if e["type"] == "interruption":
            out.append(("interruption", e["speaker"], e["start"], e["end"], e["end"] + t.floor_taken_min_after))
        elif e["type"] == "slow_response":
            out.append(("slow_response", None, e["start"], e["end"], e["end"]))
        elif e["type"] == "dead_air":
            out.append(("dead_air", None, e["start"], e["end"], e["start"] + t.dead_air_min))
        elif e["type"] == "missed_empathy":
            distress = [x["end"] for x in truth["turns"] if "distress" in x["labels"] and x["end"] <= e["start"] + 1]
            closes = (max(distress) if distress else e["start"]) + cfg.empathy.missed_window
            out.append(("missed_empathy", None, e["start"], e["end"], max(e["end"], closes)))
    for turn in truth["turns"]:
        kinds = {PHRASING[label.split(":")[0]] for label in turn["labels"] if label.split(":")[0] in PHRASING}
        for kind in sorted(kinds):
            out.append((kind, None, turn["start"], turn["end"], turn["end"]))
    return out


def match_latency(trig, alerts: list[dict], t0: float, speed: float) -> tuple[float, float] | None:
    """(wall-clock latency, audio latency): when the alert arrived, and how much later in the call
    than the decidable moment it was decided (the policy's own delay, without processing time)."""
    moment = trig[4]
    for a in sorted(alerts, key=lambda a: a["arrived"]):
        if kind_matches(trig, a) and (trig[0] != "dead_air" or a["phase"] == "started"):
            return a["arrived"] - (t0 + moment / speed), a["time"] - moment
    return None


def kind_matches(trig, alert: dict) -> bool:
    """The alert is about this truth event: its kind, its speaker (when the event has one), and
    spans that overlap or lie within 1 s."""
    kind, speaker, start, end, _ = trig
    return (alert["kind"] == kind and alert.get("phase") != "withdrawn" and (not speaker or alert.get("speaker") == speaker)
            and min(alert["end"], end) + 1.0 >= max(alert["start"], start))


async def replay(base: str, items: list[tuple[str, object]], speed: float, sample_every: float = 1.0):
    """Stream every (call_id, CallAudio) at once; returns (results, alerts per call, t0 per call,
    lag samples per call)."""
    from audio_pipeline.stream.client import send_call, watch

    alerts: dict[str, list] = {cid: [] for cid, _ in items}
    t0: dict[str, float] = {}
    lags: dict[str, list] = {cid: [] for cid, _ in items}
    ended: set[str] = set()

    def on_event(msg: dict) -> None:
        now = time.monotonic()
        cid = msg.get("call_id")
        if msg["type"] == "call_started":
            t0[cid] = now
        elif msg["type"] == "call_ended":
            ended.add(cid)
        elif msg["type"] == "alert" and cid in alerts:
            alerts[cid].append({**msg, "arrived": now})

    ready = asyncio.Event()
    watcher = asyncio.create_task(watch(f"ws://{base}/v1/events", on_event, ready=ready))
    await asyncio.wait_for(ready.wait(), 30)

    async def sample_lag():
        import urllib.request

        while True:
            await asyncio.sleep(sample_every)
            try:
                body = await asyncio.to_thread(lambda: urllib.request.urlopen(f"http://{base}/v1/calls", timeout=5).read())
            except Exception:
                continue
            now = time.monotonic()
            for c in json.loads(body)["calls"]:
                if c["call_id"] in lags:
                    lags[c["call_id"]].append((now - t0.get(c["call_id"], now), c["received"], c["lag"]))

    sampler = asyncio.create_task(sample_lag())
    results = await asyncio.gather(*(send_call(audio, f"ws://{base}/v1/calls", cid, speed=speed)
                                     for cid, audio in items))
    deadline = time.monotonic() + 60  # alerts sent at hang-up may still be on their way
    while len(ended) < len(items) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    sampler.cancel()
    watcher.cancel()
    return dict(zip((c for c, _ in items), results)), alerts, t0, lags


def load_calls(audio: list, n: int, seconds: float) -> list[tuple[str, object]]:
    """N calls of `seconds` each, the given calls back to back (each call starting at another), at 8 kHz."""
    from audio_pipeline.stream.client import CallAudio

    items = []
    for i in range(n):
        parts, total, k = [], 0.0, i
        while total < seconds:
            a = audio[k % len(audio)]
            parts.append(a.samples if a.sample_rate == 8000 else a.samples[::2])
            total += len(parts[-1]) / 8000
            k += 1
        items.append((f"load{n}-{i}", CallAudio(np.concatenate(parts)[: int(seconds * 8000)], 8000)))
    return items


def quarters(lags: list[float]) -> tuple[list[float], list[float]]:
    """A call's lag samples in its second and last quarters (the first is the warm-up)."""
    q = max(1, len(lags) // 4)
    return lags[q:2 * q] or [0.0], lags[-q:] or [0.0]


def rss_mb() -> float:
    """This process's resident memory now (MB)."""
    import os

    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def wer_by_speaker(reviews: list[dict], truths: list[dict]) -> dict[str, float]:
    import jiwer

    out = {}
    for role in ("agent", "customer"):
        refs = [normalise_text(" ".join(t["text"] for t in tr["turns"] if t["speaker"] == role)) for tr in truths]
        hyps = [normalise_text(" ".join(u["text"] for u in rv["utterances"] if u["speaker"] == role)) for rv in reviews]
        out[role] = float(jiwer.wer(refs, hyps))
    return out


def findings_f1(streamed: dict, offline: dict) -> Tally:
    kinds = {f["type"] for f in streamed["findings"] + offline["findings"]} - {"backchannel"}
    tally = Tally()
    for kind in sorted(kinds):
        score(streamed["findings"], offline["findings"], kind, tally=tally, name=kind)
    return tally


def policy_latency(truths: dict, cfg, busy: bool = False) -> dict:
    from audio_pipeline.stream.monitor import CallMonitor
    from audio_pipeline.stream.client import feed_recording, load_call
    from audio_pipeline.stream.protocol import StartMessage
    from audio_pipeline.export import review_to_dict
    from audio_pipeline.pipeline import Reviewer
    from audio_pipeline.stream.server import StreamService

    service = StreamService(cfg)
    service.load()
    lat: dict[str, list[float]] = {}
    missed: dict[str, int] = {}
    extra: dict[str, int] = {}
    retracted = withdrawn = 0
    streamed: list[dict] = []
    for p, truth in truths.items():
        call = load_call(p.parent / truth["audio"])
        start = StartMessage(p.stem, None, call.sample_rate, "pcm16", 2, ("agent", "customer"))
        monitor = CallMonitor(start, cfg, service.transcriber, service.lexicon, service.embedder, service.phrasing)
        monitor.spare = not busy  # busy: as a loaded server runs it, other calls always waiting
        alerts = [a.to_json() for a in feed_recording(monitor, call, 0.25)]
        review, late, summary = monitor.finish(True)
        streamed.append(review_to_dict(review))
        retracted += summary["retracted_alerts"]
        withdrawn += summary["withdrawn_alerts"]
        alerts += [a.to_json() for a in late]
        for a in alerts:
            a["arrived"] = a["time"]
        for kind, n in unmatched(truth, cfg, alerts).items():
            extra[kind] = extra.get(kind, 0) + n
        for trig in triggers(truth, cfg):
            found = match_latency(trig, alerts, 0.0, 1.0)
            if found is None:
                missed[trig[0]] = missed.get(trig[0], 0) + 1
            else:
                lat.setdefault(trig[0], []).append(found[1])
        st = monitor.stats
        print(f"policy {p.name}: {st.decodes} passes for {st.received:.0f} s, {st.decoded_audio:.0f} s decoded "
              f"({st.decoded_audio / max(st.received, 1e-9):.1f}x the call, {st.heard:.0f} s heard); second pass: {st.revised_speech:.0f} s of "
              f"speech ({st.revised_speech / max(st.received, 1e-9):.1f}x)", file=sys.stderr)
    out: dict = {k: {"n": len(v), "p50": round(pct(v, 50), 2), "p95": round(pct(v, 95), 2), "max": round(max(v), 2),
                     "missed": missed.get(k, 0), "false": extra.get(k, 0)} for k, v in sorted(lat.items())}
    out["retracted_at_hangup"] = retracted
    out["withdrawn_during_call"] = withdrawn
    reviewer = Reviewer(cfg, transcriber=service.transcriber)
    offline = [review_to_dict(reviewer.review(p.parent / t["audio"])) for p, t in truths.items()]
    w_stream, w_off = wer_by_speaker(streamed, list(truths.values())), wer_by_speaker(offline, list(truths.values()))
    out["wer"] = {role: {"streamed": round(w_stream[role], 4), "offline": round(w_off[role], 4),
                         "difference": round(w_stream[role] - w_off[role], 4)} for role in w_stream}
    return out


def unmatched(truth: dict, cfg, alerts: list[dict]) -> dict[str, int]:
    """Live turn-taking alerts (not sent at hang-up) that match no truth event of their kind: the
    false alarms a supervisor would have seen."""
    trig = triggers(truth, cfg)
    out: dict[str, int] = {}
    for a in alerts:
        if a["kind"] not in ("interruption", "slow_response") or a.get("late") or a.get("phase") == "withdrawn":
            continue
        if not any(kind_matches(t, a) for t in trig):
            out[a["kind"]] = out.get(a["kind"], 0) + 1
            print(f"  false {a['kind']} {a.get('speaker')} {a['start']:.2f}-{a['end']:.2f} decided at {a['time']:.2f}"
                  f" confirmed={a.get('confirmed', True)}: {a.get('evidence', '')}", file=sys.stderr)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="*", type=Path, default=[ROOT / "samples"])
    ap.add_argument("--speeds", default="1,4")
    ap.add_argument("--concurrent", default="1,2,4")
    ap.add_argument("--minutes", type=float, default=2.0)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--policy", action="store_true", help="only the policy latency (no server, no clock)")
    ap.add_argument("--busy", action="store_true",
                    help="with --policy: decode as a loaded server does (another call always waiting)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a configuration override, e.g. stream.context_seconds=0 (repeatable)")
    args = ap.parse_args()

    import tempfile

    from audio_pipeline.config import load_config, parse_overrides
    from audio_pipeline.export import review_to_dict
    from audio_pipeline.pipeline import Reviewer
    from audio_pipeline.stream.client import load_call

    cfg = load_config(overrides=parse_overrides(args.set))
    if args.policy:
        truths = {p: json.loads(p.read_text()) for d in args.dirs for p in sorted(d.glob("*.truth.json"))}
        report = {"calls": [p.name for p in truths], "policy_latency": policy_latency(truths, cfg, args.busy)}
        print(json.dumps(report, indent=1))
        if args.json:
            args.json.write_text(json.dumps(report, indent=1))
        return
    out = Path(tempfile.mkdtemp())
    service, srv, base = start_server(cfg, out)
    truths = {p: json.loads(p.read_text()) for d in args.dirs for p in sorted(d.glob("*.truth.json"))}
    audio = {p: load_call(p.parent / t["audio"]) for p, t in truths.items()}
    report: dict = {"calls": [p.name for p in truths], "latency": {}, "capacity": [], "wer": {}}

    # 1. latency, one call at a time
    streamed_reviews: dict[Path, dict] = {}
    for speed in (float(s) for s in args.speeds.split(",")):
        lat: dict[str, list[float]] = {}
        audio_lat: dict[str, list[float]] = {}
        missed: dict[str, int] = {}
        for p, truth in truths.items():
            cid = f"{p.name.split('.')[0]}-x{speed:g}"
            results, alerts, t0, _ = asyncio.run(replay(base, [(cid, audio[p])], speed))
            for trig in triggers(truth, cfg):
                latency = match_latency(trig, alerts[cid], t0[cid], speed)
                if latency is None:
                    missed[trig[0]] = missed.get(trig[0], 0) + 1
                else:
                    lat.setdefault(trig[0], []).append(latency[0])
                    audio_lat.setdefault(trig[0], []).append(latency[1])
            if speed == 1.0:
                streamed_reviews[p] = json.loads((out / "reviews" / f"{cid}.review.json").read_text())
            print(f"speed {speed:g} {p.name}: lag max {results[cid].get('lag_max')} s, "
                  f"alerts live {results[cid].get('live_alerts')} late {results[cid].get('late_alerts')}",
                  file=sys.stderr)
        report["latency"][f"x{speed:g}"] = {
            k: {"n": len(v), "p50": round(pct(v, 50), 2), "p95": round(pct(v, 95), 2),
                "audio_p50": round(pct(audio_lat[k], 50), 2), "audio_p95": round(pct(audio_lat[k], 95), 2),
                "missed": missed.get(k, 0)}
            for k, v in sorted(lat.items())} | {k: {"n": 0, "missed": n} for k, n in missed.items() if k not in lat}

    # 2. capacity: N concurrent real-time calls of about --minutes each
    seconds = args.minutes * 60
    for n in (int(x) for x in args.concurrent.split(",")):
        items = load_calls(list(audio.values()), n, seconds)
        results, _, _, lags = asyncio.run(replay(base, items, 1.0))
        held, per_call = True, []
        for cid, samples in lags.items():
            ls = [lag for _, _, lag in samples]
            second, last = quarters(ls)
            ok = max(last) <= max(second) + 1.0 and max(ls or [0.0]) <= 10.0
            held &= ok
            # medians as well: a quarter's maximum is one spike (a slow pass), its median the trend
            per_call.append({"call": cid, "lag_p50": round(pct(ls, 50), 2), "lag_max": round(max(ls or [0.0]), 2),
                             "lag_second_quarter": round(max(second), 2), "lag_last_quarter": round(max(last), 2),
                             "lag_second_quarter_p50": round(pct(second, 50), 2),
                             "lag_last_quarter_p50": round(pct(last, 50), 2), "held": ok})
        report["capacity"].append({"concurrent": n, "minutes": args.minutes, "held": held, "calls": per_call})
        print(f"{n} concurrent real-time calls for {args.minutes:g} min: held={held} {per_call}", file=sys.stderr)

    # 3. WER: streamed (speed 1) vs offline, and findings agreement
    reviewer = Reviewer(cfg, transcriber=service.transcriber)
    offline = {p: review_to_dict(reviewer.review(p.parent / truths[p]["audio"])) for p in truths}
    paths = [p for p in truths if p in streamed_reviews]
    w_stream = wer_by_speaker([streamed_reviews[p] for p in paths], [truths[p] for p in paths])
    w_off = wer_by_speaker([offline[p] for p in paths], [truths[p] for p in paths])
    report["wer"] = {role: {"streamed": round(w_stream[role], 4), "offline": round(w_off[role], 4),
                            "difference": round(w_stream[role] - w_off[role], 4)} for role in w_stream}
    f1 = [findings_f1(streamed_reviews[p], offline[p]) for p in paths]
    total = Tally()
    for t in f1:
        total.add(t.tp, t.fp, t.fn)
    report["findings_f1_vs_offline"] = {"tp": total.tp, "fp": total.fp, "fn": total.fn, "f1": round(total.f1, 3)}
    srv.should_exit = True
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
