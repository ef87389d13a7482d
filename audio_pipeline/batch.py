"""Many calls: find them, skip what is done, review the rest on a process pool or a Ray cluster,
and store each result as it arrives.

Guarantees (what the nightly job relies on):
- models load once per worker (a process-pool initializer / a Ray actor builds one Reviewer);
- idempotent: a call with the same audio hash, model and settings fingerprint is never reviewed
  twice, so re-running the same command after Ctrl-C or SIGKILL finishes the job;
- the driver alone writes the store and the files, one transaction per call, files via rename;
- one bad file never stops the run: its one-line error is recorded, the others go on. A file that
  kills its worker process is found by retrying the suspects one at a time, then recorded.

Ray is imported only by the Ray engine.
"""
from __future__ import annotations

import csv
import glob
import logging
import os
import re
import signal
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generator, Protocol

from .audio import AudioError, sha256_of
from .config import Config
from .store import CallMeta, FileStat, RunCounts, Store, normalize_time

if TYPE_CHECKING:
    from .types import Review

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = ("path", "call_id", "agent_id", "queue", "started_at")


class BatchInputError(ValueError):
    """The batch's input (folder, glob, manifest) is unusable; the message says how."""


class BatchAbort(RuntimeError):
    """Nothing can be reviewed (e.g. the workers cannot load the model); the run stops."""


# ---------------------------------------------------------------------------------------------
# data

@dataclass(frozen=True, slots=True)
class CallInput:
    path: Path
    meta: CallMeta = CallMeta()


@dataclass(frozen=True, slots=True)
class Task:
    """What travels to a worker: small and picklable."""

    path: str
    sha256: str | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What comes back: a Review, or a one-line error. kind: '' ok | input | crash | internal | fatal."""

    task: Task
    review: Review | None
    error: str = ""
    kind: str = ""
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Failure:
    path: str
    message: str


@dataclass(frozen=True, slots=True)
class Plan:
    todo: tuple[Task, ...]
    already_done: int
    known_bad: tuple[Failure, ...]     # failed before with the same bytes and settings: not retried
    unreadable: tuple[Failure, ...]    # could not even be hashed (missing, no permission)


@dataclass(frozen=True, slots=True)
class FileEvent:
    """One finished file, for progress reporting."""

    path: str
    status: str                        # reviewed | duplicate | failed
    audio_seconds: float = 0.0
    seconds: float = 0.0
    flagged: bool = False
    message: str = ""


@dataclass(frozen=True, slots=True)
class BatchSummary:
    run_id: int
    engine: str
    workers: int
    total: int
    reviewed: int
    already_done: int
    duplicates: int
    flagged: int
    failed: tuple[Failure, ...]        # failed in this run
    known_bad: tuple[Failure, ...]     # failed in an earlier run, skipped now
    audio_seconds: float
    wall_seconds: float
    startup_seconds: float
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 1 if self.failed or self.known_bad else 0

    @property
    def realtime_factor(self) -> float:
        return self.audio_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class BatchRequest:
    source: str
    db: Path
    out_dir: Path | None = None
    formats: tuple[str, ...] = ("json",)
    engine: str = "local"
    workers: int = 0
    address: str | None = None
    device: str = "auto"
    retry_failed: bool = False


class Reporter(Protocol):
    def planned(self, plan: Plan) -> None: ...
    def started(self, engine: str, workers: int, seconds: float) -> None: ...
    def file_done(self, event: FileEvent) -> None: ...


class NullReporter:
    def planned(self, plan: Plan) -> None: ...
    def started(self, engine: str, workers: int, seconds: float) -> None: ...
    def file_done(self, event: FileEvent) -> None: ...


class ReviewerLike(Protocol):
    def review(self, path: str | Path) -> Review: ...


ReviewerFactory = Callable[[Config, str], ReviewerLike]


def default_reviewer(cfg: Config, device: str) -> ReviewerLike:
    from .pipeline import Reviewer

    return Reviewer(cfg, device=device)


# ---------------------------------------------------------------------------------------------
# finding the calls

def discover(source: str, extensions: Sequence[str]) -> list[CallInput]:
    """A folder (searched recursively), a glob pattern, or a manifest .csv → calls, sorted by path."""
    exts = {"." + e.lower().lstrip(".") for e in extensions}
    path = Path(source).expanduser()
    if path.suffix.lower() == ".csv" and path.is_file():
        return read_manifest(path)
    if path.is_dir():
        found = _audio_under(path, exts)
        where = f"folder {source}"
    elif glob.has_magic(source):
        found = set()
        for match in map(Path, glob.glob(os.path.expanduser(source), recursive=True)):
            found |= _audio_under(match, exts) if match.is_dir() else ({match} if match.suffix.lower() in exts else set())
        where = f"pattern {source}"
    elif path.exists():
        raise BatchInputError(f"{source}: not a folder, a glob pattern or a manifest .csv")
    else:
        raise BatchInputError(f"{source}: no such folder or manifest")
    if not found:
        raise BatchInputError(f"no audio files in {where} (looked for {', '.join(sorted(exts))})")
    return [CallInput(p) for p in sorted(p.absolute() for p in found)]


def _audio_under(folder: Path, exts: set[str]) -> set[Path]:
    return {p for p in folder.rglob("*") if p.suffix.lower() in exts and p.is_file()}


def read_manifest(path: Path) -> list[CallInput]:
    """CSV with a `path` column (relative to the manifest's folder) and optional call_id, agent_id,
    queue, started_at; any other column is kept as metadata."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = [c.strip().lower() for c in reader.fieldnames or []]
        if "path" not in columns:
            raise BatchInputError(f"{path}: manifest needs a 'path' column (has: {', '.join(columns) or 'none'})")
        reader.fieldnames = columns
        calls, seen = [], set()
        for line, row in enumerate(reader, start=2):
            call = _manifest_row(path, line, {k: (v or "").strip() for k, v in row.items() if k})
            if call.path not in seen:  # the first row for a file wins
                seen.add(call.path)
                calls.append(call)
    if not calls:
        raise BatchInputError(f"{path}: manifest lists no calls")
    return calls


def _manifest_row(manifest: Path, line: int, row: dict[str, str]) -> CallInput:
    if not row.get("path"):
        raise BatchInputError(f"{manifest} line {line}: empty path")
    audio = Path(row["path"]).expanduser()
    audio = (audio if audio.is_absolute() else manifest.parent / audio).absolute()
    started = row.get("started_at") or None
    if started:
        try:
            started = normalize_time(started)
        except ValueError:
            raise BatchInputError(f"{manifest} line {line}: started_at '{row['started_at']}' is not an ISO "
                                  f"date/time (e.g. 2026-11-23T09:15:00)") from None
    extra = {k: v for k, v in row.items() if k not in MANIFEST_COLUMNS and v}
    return CallInput(audio, CallMeta(call_id=row.get("call_id") or None, agent_id=row.get("agent_id") or None,
                                     queue=row.get("queue") or None, started_at=started, extra=extra))


# ---------------------------------------------------------------------------------------------
# what is left to do

def plan_batch(calls: Sequence[CallInput], store: Store, model: str, config_fp: str,
               retry_failed: bool = False) -> Plan:
    """Hash every file (unchanged files reuse the stored hash) and drop what is already done."""
    done = store.reviewed_hashes(model, config_fp)
    bad = {} if retry_failed else store.known_bad(model, config_fp)
    cache = store.known_hashes()
    todo, known_bad, unreadable, already = [], [], [], 0
    for call in calls:
        path = str(call.path)
        try:
            sha = _hash(call.path, cache.get(path))
        except OSError as exc:
            if (path, None) in bad:
                known_bad.append(Failure(path, bad[(path, None)]))
            else:
                unreadable.append(Failure(path, _os_error_line(call.path, exc)))
            continue
        if sha in done:
            already += 1
            if _has_meta(call.meta):
                store.update_call_meta(sha, call.meta)  # a corrected manifest re-labels done calls
        elif (path, sha) in bad:
            known_bad.append(Failure(path, bad[(path, sha)]))
        else:
            todo.append(Task(path, sha))
    return Plan(tuple(todo), already, tuple(known_bad), tuple(unreadable))


def _hash(path: Path, cached: tuple[int, int, str] | None) -> str:
    stat = FileStat.of(path)
    if cached is not None and cached[:2] == (stat.size, stat.mtime_ns):
        return cached[2]
    return sha256_of(path)


def _has_meta(meta: CallMeta) -> bool:
    return any((meta.call_id, meta.agent_id, meta.queue, meta.started_at, meta.extra))


def _os_error_line(path: Path, exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"{path}: no such file"
    if isinstance(exc, PermissionError):
        return f"{path}: permission denied"
    return f"{path}: cannot read ({exc.strerror or exc})"


# ---------------------------------------------------------------------------------------------
# one file, inside a worker

def review_file(reviewer: ReviewerLike, task: Task) -> Outcome:
    started = time.perf_counter()
    try:
        review = reviewer.review(Path(task.path))
    except AudioError as exc:
        return Outcome(task, None, _one_line(exc), "input", time.perf_counter() - started)
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others
        log.debug("review of %s failed", task.path, exc_info=True)
        return Outcome(task, None, f"{task.path}: {type(exc).__name__}: {_one_line(exc)}", "internal",
                       time.perf_counter() - started)
    return Outcome(task, review, seconds=time.perf_counter() - started)


def _one_line_os(exc: BaseException) -> str:
    from .failures import one_line

    return one_line(exc)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _crash_outcome(task: Task, how: str) -> Outcome:
    return Outcome(task, None, f"{task.path}: {how} while reviewing this file (crash or out of memory)", "crash")


# ---------------------------------------------------------------------------------------------
# local engine: a process pool, one Reviewer per process

_worker_reviewer: ReviewerLike | None = None
_worker_init_error: str | None = None


def _exit_with_parent(parent: int) -> None:
    """A SIGKILLed driver cannot stop its pool, and a pool worker waits for work forever: leave
    when the parent is gone (we get re-parented), so no orphan keeps a model in memory."""
    import threading

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _init_worker(factory: ReviewerFactory, cfg: Config, device: str, threads: int) -> None:
    global _worker_reviewer, _worker_init_error
    # Ctrl-C goes to the whole process group: the driver alone decides, then stops the workers
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent(os.getppid())
    if threads and "OMP_NUM_THREADS" not in os.environ:
        # N workers x default thread pools would oversubscribe the cores; set before ctranslate2/torch load
        os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        _worker_reviewer = factory(cfg, device)
    except Exception as exc:  # noqa: BLE001 - reported by the first task, so the driver can stop cleanly
        _worker_init_error = f"workers could not load the models: {type(exc).__name__}: {_one_line(exc)}"


def _review_in_worker(task: Task) -> Outcome:
    if _worker_reviewer is None:
        return Outcome(task, None, _worker_init_error or "worker not initialised", "fatal")
    return review_file(_worker_reviewer, task)


@dataclass(frozen=True, slots=True)
class EngineOptions:
    workers: int
    device: str
    in_flight_per_worker: int
    factory: ReviewerFactory = default_reviewer
    on_started: Callable[[int, float], None] = field(default=lambda workers, seconds: None)


def cpu_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def available_memory_gb() -> float | None:
    """MemAvailable from /proc/meminfo (Linux); None where it cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024 ** 2
    except (OSError, ValueError, IndexError):
        pass
    return None


def local_workers(requested: int, n_tasks: int, worker_memory_gb: float = 0.0,
                  available_gb: float | None = None) -> int:
    """0 = one per core; never more workers than files (each one loads the models), nor more than
    the available memory holds at `worker_memory_gb` each (0 = no memory cap)."""
    workers = max(1, min(requested or cpu_cores(), n_tasks or 1))
    available_gb = available_memory_gb() if available_gb is None and worker_memory_gb > 0 else available_gb
    if worker_memory_gb > 0 and available_gb is not None:
        fits = max(1, int(available_gb // worker_memory_gb))
        if fits < workers:
            log.warning("%d workers wanted, memory for %d (%.1f GB available, %.1f GB each)", workers, fits,
                        available_gb, worker_memory_gb)
            workers = fits
    return workers


def run_local(tasks: Sequence[Task], cfg: Config, opts: EngineOptions) -> Iterator[Outcome]:
    if opts.workers <= 1:  # in-process: no pickling, no second model copy, easiest to debug
        started = time.perf_counter()
        reviewer = opts.factory(cfg, opts.device)
        opts.on_started(1, time.perf_counter() - started)
        for task in tasks:
            yield review_file(reviewer, task)
        return
    queue, suspects = deque(tasks), []
    while queue:
        suspects += yield from _pool_pass(queue, cfg, opts, opts.workers)
    # a worker died with these in flight; one of them may kill every worker it meets: try each alone
    for task in suspects:
        if (yield from _pool_pass(deque([task]), cfg, replace(opts, on_started=lambda w, s: None), 1)):
            yield _crash_outcome(task, "the worker process died")


def _pool_pass(queue: deque[Task], cfg: Config, opts: EngineOptions,
               workers: int) -> Generator[Outcome, None, list[Task]]:
    """Run tasks from `queue` on a fresh pool until it is empty or a worker dies; returns the tasks
    that were in flight when it died (empty when all went well)."""
    import multiprocessing

    cores = cpu_cores()
    started = time.perf_counter()
    # spawn, not fork: the driver may hold threads (progress bar) and must not share model state
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                               initargs=(opts.factory, cfg, opts.device, max(1, cores // workers)))
    running: dict[Future[Outcome], Task] = {}
    limit = workers * max(1, opts.in_flight_per_worker)
    graceful = False
    try:
        first = True
        while queue or running:
            while queue and len(running) < limit:
                task = queue.popleft()
                try:
                    running[pool.submit(_review_in_worker, task)] = task
                except BrokenProcessPool:  # a worker died before its future said so: retried alone too
                    return [task, *running.values()]
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                task = running.pop(future)
                try:
                    outcome = future.result()
                except BrokenProcessPool:
                    return [task, *running.values()]
                if outcome.kind == "fatal":
                    raise BatchAbort(outcome.error)
                if first:  # start-up = pool start + model load, measured to the first answer
                    opts.on_started(workers, time.perf_counter() - started - outcome.seconds)
                    first = False
                yield outcome
        graceful = True
        return []
    finally:
        _stop_pool(pool, graceful)


def _stop_pool(pool: ProcessPoolExecutor, graceful: bool) -> None:
    if not graceful:
        # Ctrl-C, abort or a dead worker: do not wait for calls in progress (their results would be
        # thrown away anyway; the next run redoes them). Python 3.14 has pool.terminate_workers().
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------------------------------------
# Ray engine: one model-holding actor per worker; the driver streams results with ray.wait

ACTOR_START_TIMEOUT = 600  # seconds for every actor to be placed and load its models


class _ReviewerActor:
    def __init__(self, factory: ReviewerFactory, cfg: Config, device: str) -> None:
        self.reviewer = factory(cfg, device)

    def ready(self) -> bool:
        return True

    def review(self, task: Task) -> Outcome:
        return review_file(self.reviewer, task)


@dataclass(frozen=True, slots=True)
class RayPlacement:
    actors: int
    num_cpus: float
    num_gpus: float
    device: str


def check_ray_address(address: str, timeout: float = 5.0) -> None:
    """HOST:PORT must answer: ray.init would otherwise retry an unreachable address for minutes."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "auto" (Ray finds the local cluster itself, or fails at once)
    import socket

    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise BatchInputError(f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); "
                              f"start it with `ray start --head --port {port}`") from None


def ray_placement(resources: dict[str, float], requested: int, device: str, cpus_per_actor: float,
                  gpus_per_actor: float, n_tasks: int) -> RayPlacement:
    """Actors share GPUs (fractional num_gpus) where the cluster has them, else take CPUs."""
    gpus = resources.get("GPU", 0.0)
    use_gpu = gpus > 0 and device in ("auto", "cuda") and gpus_per_actor > 0
    if device == "cuda" and not use_gpu:
        raise BatchAbort("--device cuda, but the Ray cluster has no GPUs")
    capacity = int(gpus / gpus_per_actor) if use_gpu else int(resources.get("CPU", 1.0) / max(cpus_per_actor, 1e-3))
    if requested > capacity:
        log.warning("%d Ray workers asked for, the cluster has room for %d", requested, capacity)
    actors = max(1, min(requested or capacity, capacity, n_tasks or 1))
    return RayPlacement(actors, cpus_per_actor, gpus_per_actor if use_gpu else 0.0,
                        "cuda" if use_gpu else ("cpu" if device == "auto" else device))


def run_ray(tasks: Sequence[Task], cfg: Config, opts: EngineOptions, address: str | None) -> Iterator[Outcome]:
    try:
        import ray
    except ImportError:
        raise BatchAbort("--engine ray needs Ray: pip install 'ray[default]'") from None
    started = time.perf_counter()
    if address:
        check_ray_address(address)
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            hint = ("; a cluster started with `ray start` wants its token: set RAY_AUTH_MODE=token and "
                    "RAY_AUTH_TOKEN (or ~/.ray/auth_token)" if "RAY_AUTH_MODE" not in os.environ else "")
            raise BatchInputError(f"cannot join the Ray cluster at {address}: {_one_line(exc)}{hint}") from None
    else:  # a private single-machine instance, gone when the batch ends
        ray.init(num_cpus=cpu_cores(), include_dashboard=False, log_to_driver=False)
    try:
        place = ray_placement(ray.cluster_resources(), opts.workers, opts.device, cfg.batch.ray_num_cpus,
                              cfg.batch.ray_num_gpus, len(tasks))
        actor_cls = ray.remote(_ReviewerActor).options(num_cpus=place.num_cpus, num_gpus=place.num_gpus)

        def new_actor() -> Any:
            return actor_cls.remote(opts.factory, cfg, place.device)

        actors = [new_actor() for _ in range(place.actors)]
        try:
            # an actor the cluster cannot place would wait forever: give up with a clear message
            ray.get([a.ready.remote() for a in actors], timeout=ACTOR_START_TIMEOUT)
        except ray.exceptions.GetTimeoutError:
            raise BatchAbort(f"Ray could not start {place.actors} workers in {ACTOR_START_TIMEOUT} s "
                             f"(cluster has {ray.available_resources()})") from None
        except ray.exceptions.RayError as exc:
            raise BatchAbort(f"Ray workers could not load the models: {_ray_error_line(exc)}") from None
        opts.on_started(place.actors, time.perf_counter() - started)
        per_actor = max(1, opts.in_flight_per_worker)
        suspects = yield from _ray_stream(ray, actors, new_actor, deque(tasks), per_actor)
        for actor in actors:  # free their CPUs/GPU shares for the retries
            ray.kill(actor)
        # as in the local engine: calls that were on an actor when it died are retried one at a time
        for task in suspects:
            lone = new_actor()
            if (yield from _ray_stream(ray, [lone], new_actor, deque([task]), 1)):
                yield _crash_outcome(task, "the Ray worker process died")
            ray.kill(lone)
    finally:
        ray.shutdown()


def _ray_stream(ray: Any, actors: list[Any], new_actor: Callable[[], Any], queue: deque[Task],
                per_actor: int) -> Generator[Outcome, None, list[Task]]:
    """Keep `per_actor` calls queued on every actor, yield results as they complete (ray.wait);
    a dead actor is replaced. Returns the calls that were on an actor when it died."""
    in_flight: dict[Any, tuple[int, Any, Task]] = {}
    suspects: list[Task] = []

    def submit(index: int) -> None:
        if queue:
            task = queue.popleft()
            in_flight[actors[index].review.remote(task)] = (index, actors[index], task)

    for index in range(len(actors)):
        for _ in range(per_actor):
            submit(index)
    while in_flight:
        # a timeout keeps Ctrl-C responsive while every actor is busy
        ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=1.0)
        for ref in ready:
            index, actor, task = in_flight.pop(ref)
            try:
                outcome = ray.get(ref)
            except ray.exceptions.RayError as exc:
                log.warning("Ray worker lost while reviewing %s: %s", task.path, _ray_error_line(exc))
                suspects.append(task)
                if actors[index] is actor and queue:  # the first failure of this actor replaces it
                    actors[index] = new_actor()
                submit(index)
                continue
            submit(index)
            yield outcome
    return suspects


def _ray_error_line(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None)
    return _one_line(cause) if isinstance(cause, BaseException) else _one_line(exc)


# ---------------------------------------------------------------------------------------------
# the driver

def output_stem(call: CallInput, sha256: str) -> str:
    """File name for a call's outputs: call_id or file name, plus the hash so that two files named
    alike (in different folders) never overwrite each other."""
    base = call.meta.call_id or call.path.stem
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '_', base)[:80]}-{sha256[:8]}"


def run_batch(request: BatchRequest, cfg: Config, reporter: Reporter | None = None,
              factory: ReviewerFactory | None = None) -> BatchSummary:
    """Review everything under request.source that is not yet in request.db. Raises BatchInputError
    (bad source), StoreError (bad db) or BatchAbort (models cannot load); KeyboardInterrupt is
    caught and reported as an interrupted run."""
    reporter = reporter or NullReporter()
    factory = factory or default_reviewer  # looked up per call: tests swap in a fake
    calls = discover(request.source, cfg.batch.extensions)
    from .fingerprint import review_fingerprint

    model, fp = cfg.asr.model, review_fingerprint(cfg)
    with Store(request.db) as store:
        run = _Run(store, request, cfg, model, fp, {str(c.path): c for c in calls}, reporter)
        return run.execute(factory)


class _Run:
    """The driver's state for one batch run: consumes outcomes, writes files and the store."""

    def __init__(self, store: Store, request: BatchRequest, cfg: Config, model: str, fp: str,
                 calls: dict[str, CallInput], reporter: Reporter) -> None:
        self.store, self.request, self.cfg, self.model, self.fp = store, request, cfg, model, fp
        self.calls, self.reporter = calls, reporter
        self.reviewed = self.duplicates = self.flagged = 0
        self.audio_seconds = self.startup_seconds = 0.0
        self.failed: list[Failure] = []
        self.workers = 1
        from .privacy.apply import Protector

        self.protector = Protector(cfg)  # privacy.redact: masked in the driver, before files and store

    def execute(self, factory: ReviewerFactory) -> BatchSummary:
        started = time.perf_counter()
        req = self.request
        self.run_id = self.store.start_run(engine=req.engine, workers=req.workers, model=self.model,
                                           config_fp=self.fp, source=req.source)
        interrupted, status = False, "failed"
        plan = Plan((), 0, (), ())
        try:
            plan = plan_batch(list(self.calls.values()), self.store, self.model, self.fp, req.retry_failed)
            for failure in plan.unreadable:
                self._record_failure(Outcome(Task(failure.path, None), None, failure.message, "input"))
            self.reporter.planned(plan)
            if plan.todo:
                # closing(): on Ctrl-C the engine's finally stops its workers at once
                with closing(self._engine(plan.todo, factory)) as outcomes:
                    for outcome in outcomes:
                        self._consume(outcome)
            status = "finished"
        except KeyboardInterrupt:
            interrupted, status = True, "interrupted"
        finally:
            summary = self._summary(plan, time.perf_counter() - started, interrupted)
            self.store.finish_run(self.run_id, RunCounts(
                total=summary.total, reviewed=summary.reviewed,
                skipped=summary.already_done + summary.duplicates + len(summary.known_bad),
                failed=len(summary.failed), audio_seconds=summary.audio_seconds,
                wall_seconds=summary.wall_seconds, workers=summary.workers), status)
        return summary

    def _engine(self, tasks: Sequence[Task], factory: ReviewerFactory) -> Iterator[Outcome]:
        req = self.request
        opts = EngineOptions(workers=req.workers or self.cfg.batch.workers, device=req.device,
                             in_flight_per_worker=self.cfg.batch.in_flight_per_worker, factory=factory,
                             on_started=self._started)
        if req.engine == "ray":
            return run_ray(tasks, self.cfg, opts, req.address)
        if req.engine == "shared":  # cross-call batching on one model (batch_shared.py)
            from .batch_shared import run_shared

            return run_shared(tasks, self.cfg, opts)
        workers = local_workers(opts.workers, len(tasks), self.cfg.batch.worker_memory_gb)
        return run_local(tasks, self.cfg, replace(opts, workers=workers))

    def _started(self, workers: int, seconds: float) -> None:
        self.workers, self.startup_seconds = workers, seconds
        self.reporter.started(self.request.engine, workers, seconds)

    def _consume(self, outcome: Outcome) -> None:
        if outcome.review is None:
            self._record_failure(outcome)
            return
        from .export import review_to_dict, write_outputs

        review, call = outcome.review, self.calls.get(outcome.task.path) or CallInput(Path(outcome.task.path))
        try:
            stem = output_stem(call, review.audio.sha256)
            review, _ = self.protector.apply(review, self.request.out_dir, stem)
            if self.request.out_dir is not None:  # files first: the store row is what marks the call done
                write_outputs(review, self.request.out_dir, self.request.formats, stem=stem)
            stat = _stat_or_none(call.path)
            inserted = self.store.save_review(review_to_dict(review), model=self.model, config_fp=self.fp,
                                              run_id=self.run_id, meta=call.meta, stat=stat)
        except (OSError, sqlite3.Error) as exc:  # a full disk or a locked store fails this call, not the run
            from .failures import record_traceback

            record_traceback(exc, outcome.task.path)
            self._record_failure(replace(outcome, review=None, kind="internal",
                                         error=f"{outcome.task.path}: cannot save the review: {_one_line_os(exc)}"))
            return
        self.reviewed += inserted
        self.duplicates += not inserted
        self.flagged += bool(inserted and review.flagged)
        self.audio_seconds += review.audio.duration
        self.reporter.file_done(FileEvent(outcome.task.path, "reviewed" if inserted else "duplicate",
                                          review.audio.duration, outcome.seconds, review.flagged))

    def _record_failure(self, outcome: Outcome) -> None:
        task = outcome.task
        self.store.record_error(run_id=self.run_id, path=task.path, sha256=task.sha256, model=self.model,
                                config_fp=self.fp, kind=outcome.kind, message=outcome.error)
        self.failed.append(Failure(task.path, outcome.error))
        self.reporter.file_done(FileEvent(task.path, "failed", seconds=outcome.seconds, message=outcome.error))

    def _summary(self, plan: Plan, wall: float, interrupted: bool) -> BatchSummary:
        return BatchSummary(
            run_id=self.run_id, engine=self.request.engine, workers=self.workers, total=len(self.calls),
            reviewed=self.reviewed, already_done=plan.already_done, duplicates=self.duplicates,
            flagged=self.flagged, failed=tuple(self.failed), known_bad=plan.known_bad,
            audio_seconds=self.audio_seconds, wall_seconds=wall, startup_seconds=self.startup_seconds,
            interrupted=interrupted)


def _stat_or_none(path: Path) -> FileStat | None:
    try:
        return FileStat.of(path)
    except OSError:
        return None

