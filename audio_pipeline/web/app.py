"""The review UI's routes. Each request opens its own Store (SQLite connections are per thread);
reads run in Starlette's thread pool, writes are one short IMMEDIATE transaction each."""
from __future__ import annotations

import json
import logging
import mimetypes
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import decisions as dec
from ..config import Config, load_config
from ..scorecard import ANSWERS, Scorecard, load_scorecard, score
from ..store import Store, parse_when
from . import callview
from .options import WebOptions, load_web_options
from .render import templates
from .queue import SEVERITIES, SORTS, QueueFilter, choices, queue_page
from .security import Guard, check_csrf

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
REVIEWER_COOKIE = "ap_reviewer"


@dataclass(frozen=True)
class Settings:
    db: Path
    token: str | None = None
    scorecard: Scorecard = field(default_factory=load_scorecard)
    config: Config = field(default_factory=load_config)
    web: WebOptions = field(default_factory=load_web_options)
    live: str | None = None   # the live monitoring server (`stream serve`), e.g. ws://127.0.0.1:8765


def create_app(settings: Settings) -> Starlette:
    env = templates()
    views = ReviewViews(settings.web.review_cache)

    def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.update(request=request, csrf=request.scope.get("state", {}).get("csrf", ""),
                       reviewer=request.cookies.get(REVIEWER_COOKIE, ""))
        return HTMLResponse(env.get_template(name).render(**context), status_code=status)

    def store() -> Store:
        return Store(settings.db)

    # -- pages -----------------------------------------------------------------------------
    def queue(request: Request) -> Response:
        p = request.query_params
        try:
            flt = QueueFilter(
                since=parse_when(p["since"]) if p.get("since") else None,
                until=parse_when(p["until"], end_of_day=True) if p.get("until") else None,
                agent=p.get("agent") or None, queue=p.get("queue") or None, finding_type=p.get("type") or None,
                severity=p.get("severity") if p.get("severity") in SEVERITIES else None,
                reviewed=_tristate(p.get("reviewed")), disputed=_tristate(p.get("disputed")),
                text=p.get("q") or None, flagged_only=p.get("flagged") == "1",
                sort=p.get("sort") if p.get("sort") in SORTS else "severity")
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        with store() as s:
            page = queue_page(s.db, flt, p.get("after"), settings.web.page_size, settings.web.count_cap)
            options = choices(s.db)
        params = {k: v for k, v in p.items() if k != "after" and v}
        next_url = f"/?{urlencode({**params, 'after': page.next_cursor})}" if page.next_cursor else None
        return render(request, "queue.html", page=page, options=options, params=p, sorts=list(SORTS),
                      severities=SEVERITIES, next_url=next_url, first_url=f"/?{urlencode(params)}",
                      paged=bool(p.get("after")), count_cap=settings.web.count_cap)

    def call_page(request: Request) -> Response:
        call_pk = request.path_params["call_pk"]
        with store() as s:
            view = load_call_view(s, call_pk, settings, views)
            trail = dec.audit_trail(s.db, call_pk)
            comments = dec.events(s.db, call_pk, "comment")
        return render(request, "call.html", v=view, trail=trail, comments=comments, offline=False,
                      answers=ANSWERS, audio_src=f"/calls/{call_pk}/audio")

    def live_page(request: Request) -> Response:
        return render(request, "live.html", events=f"{settings.live}/v1/events" if settings.live else None)

    def call_by_id(request: Request) -> Response:
        """The latest stored review of a call id (a live call's review once it has hung up)."""
        with store() as s:
            row = s.db.execute("SELECT id FROM calls WHERE call_id = ? ORDER BY updated_at DESC LIMIT 1",
                               (request.path_params["call_id"],)).fetchone()
        if row is None:
            raise HTTPException(404, "no stored review of this call yet")
        return RedirectResponse(f"/calls/{row[0]}", status_code=303)

    def agent_page(request: Request) -> Response:
        agent = request.path_params["agent"]
        from .agents import agent_view

        with store() as s:
            view = agent_view(s.db, agent)
        if view is None:
            raise HTTPException(404, f"no calls for agent {agent}")
        return render(request, "agent.html", v=view)

    def audio(request: Request) -> Response:
        call_pk = request.path_params["call_pk"]
        with store() as s:
            row = s.db.execute("SELECT path FROM calls WHERE id=?", (call_pk,)).fetchone()
        if row is None:
            raise HTTPException(404, "no such call")
        path = Path(row[0])
        if not path.is_file():
            raise HTTPException(404, "the recording is no longer where it was reviewed")
        media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return FileResponse(path, media_type=media)  # answers Range requests (206) itself

    # -- state changes (POST + CSRF) ----------------------------------------------------------
    async def post(request: Request, action) -> Response:
        form = await request.form()
        if not check_csrf(request, form):
            raise HTTPException(403, "the form is stale or came from another site: reload the page and try again")
        reviewer = (form.get("reviewer") or request.cookies.get(REVIEWER_COOKIE) or "").strip()
        if not reviewer:
            raise HTTPException(400, "say who you are first (the name field at the top of the page)")
        try:
            target = await run_in_threadpool(action, request, form, reviewer[:80])
        except dec.DecisionError as exc:
            raise HTTPException(400, str(exc)) from None
        return RedirectResponse(target, status_code=303)

    def _decide(request: Request, form, reviewer: str) -> str:
        fid = request.path_params["finding_id"]
        with store() as s:
            dec.decide_finding(s.transaction, fid, str(form.get("decision", "")), str(form.get("reason", "")), reviewer)
            call_pk = s.db.execute("SELECT call_pk FROM findings WHERE id=?", (fid,)).fetchone()[0]
        return f"/calls/{call_pk}#finding-{fid}"

    def _comment(request: Request, form, reviewer: str) -> str:
        call_pk = request.path_params["call_pk"]
        with store() as s:
            dec.add_event(s.transaction, call_pk, "comment", reviewer, str(form.get("body", ""))[:5000])
        return f"/calls/{call_pk}#comments"

    def _reviewed(request: Request, form, reviewer: str) -> str:
        call_pk = request.path_params["call_pk"]
        kind = "reopened" if form.get("reopen") else "reviewed"
        with store() as s:
            dec.add_event(s.transaction, call_pk, kind, reviewer)
        return f"/calls/{call_pk}"

    def _evaluate(request: Request, form, reviewer: str) -> str:
        call_pk = request.path_params["call_pk"]
        card = settings.scorecard
        answers = {q.id: form.get(f"q_{q.id}") for q in card.questions if form.get(f"q_{q.id}") in ANSWERS}
        notes = {q.id: str(form.get(f"note_{q.id}"))[:500] for q in card.questions if form.get(f"note_{q.id}")}
        result = score(card, answers)
        with store() as s:
            latest = dec.latest_evaluation(s.db, call_pk)
            base = str(form.get("base", ""))
            # both versions are kept; this one says which it replaced, so a concurrent edit is visible
            superseded = latest is not None and str(latest.id) != base
            dec.add_event(s.transaction, call_pk, "evaluation", reviewer,
                          f"score {result.score if result.score is not None else '—'}"
                          + (" (auto-fail)" if result.auto_failed else ""),
                          {"answers": answers, "notes": notes, "score": result.score,
                           "auto_failed": list(result.auto_failed), "based_on": base or None,
                           "superseded_other": latest.id if superseded else None})
        return f"/calls/{call_pk}#evaluation"

    def _swap(request: Request, form, reviewer: str) -> str:
        from ..reanalyse import swap_roles

        call_pk = request.path_params["call_pk"]
        with store() as s:
            row = s.db.execute("SELECT r.id, r.model, r.config_fp, r.review_json FROM queue_items q"
                               " JOIN reviews r ON r.id = q.review_id WHERE q.call_pk=?", (call_pk,)).fetchone()
            if row is None:
                raise dec.DecisionError(f"no call {call_pk}")
            review = json.loads(row["review_json"])
            if review.get("roles") is None:
                raise dec.DecisionError("roles can only be swapped on a diarized (mono) call")
            new = swap_roles(review, settings.config, reviewer)
            n = len(dec.events(s.db, call_pk, "roles_swapped")) + 1
            s.save_review(new, model=row["model"], config_fp=f"{row['config_fp'].split('+')[0]}+swap{n}", run_id=None)
            new_id = s.db.execute("SELECT review_id FROM queue_items WHERE call_pk=?", (call_pk,)).fetchone()[0]
            dec.add_event(s.transaction, call_pk, "roles_swapped", reviewer,
                          f"agent and customer swapped (review {row['id']} -> {new_id})", review_id=new_id)
        return f"/calls/{call_pk}"

    def _whoami(request: Request, form, reviewer: str) -> str:
        target = str(form.get("next") or "/")
        # only a path on this server ("//host" or "/\\host" would leave it)
        return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/"

    async def whoami(request: Request) -> Response:
        response = await post(request, _whoami)
        form = await request.form()
        name = str(form.get("reviewer", "")).strip()[:80]
        response.set_cookie(REVIEWER_COOKIE, name, httponly=True, samesite="strict", max_age=3600 * 24 * 365)
        return response

    def poster(action):
        async def endpoint(request: Request) -> Response:
            return await post(request, action)
        return endpoint

    async def on_error(request: Request, exc: HTTPException) -> Response:
        return render(request, "error.html", status=exc.status_code, status_code=exc.status_code, detail=exc.detail)

    routes = [
        Route("/", queue),
        Route("/calls/{call_pk:int}", call_page),
        Route("/live", live_page),
        Route("/calls/by-id/{call_id:path}", call_by_id),
        Route("/calls/{call_pk:int}/audio", audio),
        Route("/agents/{agent:path}", agent_page),
        Route("/findings/{finding_id:int}/decision", poster(_decide), methods=["POST"]),
        Route("/calls/{call_pk:int}/comments", poster(_comment), methods=["POST"]),
        Route("/calls/{call_pk:int}/reviewed", poster(_reviewed), methods=["POST"]),
        Route("/calls/{call_pk:int}/evaluation", poster(_evaluate), methods=["POST"]),
        Route("/calls/{call_pk:int}/swap-roles", poster(_swap), methods=["POST"]),
        Route("/reviewer", whoami, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: on_error})
    return Guard(app, settings.token, connect=(settings.live,) if settings.live else ())


class ReviewViews:
    """Recently shown reviews' views, by review id (a stored review never changes): a reviewer's
    every decision reloads the call page, and a long call's transcript is most of its cost."""

    def __init__(self, size: int = 16) -> None:
        self.size, self.lock, self.items = size, threading.Lock(), OrderedDict()

    def get(self, s: Store, review_id: int, settings: Settings) -> callview.ReviewView:
        with self.lock:
            if review_id in self.items:
                self.items.move_to_end(review_id)
                return self.items[review_id]
        view = callview.review_view(s.review_json(review_id), dec.finding_ids(s.db, review_id),
                                    settings.scorecard, settings.web)
        with self.lock:
            self.items[review_id] = view
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return view


def load_call_view(s: Store, call_pk: int, settings: Settings, views: ReviewViews | None = None) -> dict[str, Any]:
    row = s.db.execute("SELECT q.review_id, q.reviewed, q.disputed, c.* FROM queue_items q"
                       " JOIN calls c ON c.id = q.call_pk WHERE q.call_pk=?", (call_pk,)).fetchone()
    if row is None:
        raise HTTPException(404, "no such call")
    call = {k: row[k] for k in row.keys()}
    call["pk"] = call_pk
    rv = (views or ReviewViews(0)).get(s, row["review_id"], settings)
    return callview.call_view(rv, call=call, decisions=dec.latest_decisions(s.db, row["review_id"]),
                              card=settings.scorecard, saved_evaluation=dec.latest_evaluation(s.db, call_pk))


def _tristate(value: str | None) -> bool | None:
    return {"yes": True, "no": False}.get(value or "")
