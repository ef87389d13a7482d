"""Cross-call batching: the `shared` batch engine (`audio-pipeline batch … --engine shared`).

One process holds ONE Whisper model behind a SharedClipDecoder, and `workers` threads review calls
with it, each with its own Reviewer (diarizer, empathy model) but the same transcriber. While one
thread decodes audio, runs the VAD, the energy masks, diarization or the analysis, the clips the
other threads asked for are decoded together: speech regions of several calls — both channels of
each — share the model's batches, so the decoder (the GPU) is kept busy by the CPU work of many
calls at once. One such process per GPU; the CPU-side work that holds the GIL (the turn and
empathy analysis) is small next to decoding, VAD and diarization, which release it.

Same guarantees as the other engines: one bad file yields its one-line error and the others go
on; the driver (batch._Run) alone writes the store and the files.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import TYPE_CHECKING, Iterator, Sequence

from .batch import BatchAbort, Outcome, Task, _one_line, review_file

if TYPE_CHECKING:
    from .batch import EngineOptions
    from .config import Config

log = logging.getLogger(__name__)


def shared_reviewers(cfg: Config, device: str, workers: int) -> tuple[list, object]:
    """`workers` Reviewers around one batched transcriber whose clips go through one shared
    decoder thread; returns (reviewers, the SharedClipDecoder) — close the decoder after use."""
    from .asr_batched import BatchedWhisperTranscriber, ClipDecoder, SharedClipDecoder
    from .device import load_transcriber
    from .pipeline import Reviewer

    asr = replace(cfg.asr, decoder="batched")
    transcriber = load_transcriber(asr, device, factory=lambda o, d, c: BatchedWhisperTranscriber(o, d, c))
    shared = SharedClipDecoder(ClipDecoder(transcriber.model, asr, asr.batch_size))
    transcriber.decoder = shared
    return [Reviewer(cfg, device=transcriber.device, transcriber=transcriber) for _ in range(workers)], shared


def run_shared(tasks: Sequence[Task], cfg: Config, opts: EngineOptions) -> Iterator[Outcome]:
    """Review `tasks` on `opts.workers` threads (0 = 4) sharing one model; yields outcomes as
    calls finish. `opts.factory` is not used: the reviewers are built around the shared model."""
    workers = max(1, min(opts.workers or 4, len(tasks) or 1))
    started = time.perf_counter()
    try:
        reviewers, shared = shared_reviewers(cfg, opts.device, workers)
    except Exception as exc:  # noqa: BLE001 - nothing can be reviewed: stop the run with one line
        raise BatchAbort(f"workers could not load the models: {type(exc).__name__}: {_one_line(exc)}") from None
    opts.on_started(workers, time.perf_counter() - started)
    free = list(reviewers)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="review")
    running: dict[Future[Outcome], object] = {}
    queue = list(reversed(tasks))
    try:
        while queue or running:
            while queue and free:
                reviewer = free.pop()
                running[pool.submit(review_file, reviewer, queue.pop())] = reviewer
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                free.append(running.pop(future))
                yield future.result()
    finally:
        # on Ctrl-C the calls in flight finish (threads cannot be killed); nothing more starts
        pool.shutdown(wait=True, cancel_futures=True)
        shared.close()
        log.info("shared decoder: %d calls to the model for %d decode requests", shared.batches, shared.jobs)
