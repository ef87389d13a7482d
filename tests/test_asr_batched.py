"""Batched decoding of the pipeline's own speech regions (asr_batched.py): clip packing, and on the
labelled samples with real tiny.en on CPU, the same words as the sequential path (WER against the
truth within 0.01 of it, words close to each other in time) and clips of several tracks decoded
in shared batches."""
from __future__ import annotations

import json
import threading
from dataclasses import replace

import jiwer
import numpy as np
import pytest
import soundfile as sf

from audio_pipeline.asr_batched import (BatchedWhisperTranscriber, ClipDecoder, ClipJob, SharedClipDecoder,
                                        make_transcriber, pack_clips, uses_batched)
from audio_pipeline.config import ConfigError
from audio_pipeline.evaluation import normalise_text
from audio_pipeline.export import review_to_dict
from audio_pipeline.pipeline import Reviewer
from audio_pipeline.transcribe import WhisperTranscriber, join_speech
from audio_pipeline.types import UNHEARD

from .conftest import SAMPLES

SR = 16000
TRUTHS = sorted(SAMPLES.glob("sample_*.truth.json"))


# ------------------------------------------------------------------------------ pure logic

def _layout(regions, gap=0.2):
    samples = np.zeros(max(b for _, b in regions) + SR, dtype=np.float32)
    return join_speech(samples, regions, int(gap * SR))[1]


def test_pack_clips_fills_windows_and_cuts_at_region_starts():
    regions = [(0, 10 * SR), (12 * SR, 25 * SR), (30 * SR, 40 * SR), (41 * SR, 42 * SR)]
    layout = _layout(regions)
    starts = layout.joined_starts
    total = starts[-1] + SR
    # 10 s + 0.2 + 13 s fit in a window, the third region does not: the cut goes at its start
    assert pack_clips(layout, SR) == [(0, starts[2]), (starts[2], total)]


def test_pack_clips_cuts_a_long_region_at_its_quietest_place():
    layout = _layout([(0, 70 * SR)])
    assert pack_clips(layout, SR) == [(0, 30 * SR), (30 * SR, 60 * SR), (60 * SR, 70 * SR)]
    audio = np.full(70 * SR, 0.1, dtype=np.float32)
    audio[int(26.0 * SR):int(26.05 * SR)] = 0.0  # a pause 4 s before the window's end
    clips = pack_clips(layout, SR, audio)
    assert clips[0] == (0, int(26.025 * SR)) and clips[1][0] == clips[0][1]
    assert all(b - a <= 30 * SR for a, b in clips) and clips[-1][1] == 70 * SR


def test_decoder_choice(cfg):
    auto = replace(cfg.asr, decoder="auto")
    assert uses_batched(auto, "cuda") and not uses_batched(auto, "cpu")
    assert uses_batched(replace(cfg.asr, decoder="batched"), "cpu")
    assert not uses_batched(replace(cfg.asr, decoder="sequential"), "cuda")


def test_unknown_decoder_is_a_config_error(cfg):
    with pytest.raises(ConfigError, match="asr.decoder"):
        make_transcriber(replace(cfg.asr, decoder="fast"), device="cpu")


# ------------------------------------------------------------------------------ real model


@pytest.fixture(scope="module")
def transcribers(cfg):
    seq = make_transcriber(replace(cfg.asr, decoder="auto"), device="cpu")
    batched = make_transcriber(replace(cfg.asr, decoder="batched"), device="cpu")
    return seq, batched


@pytest.fixture(scope="module")
def paired_reviews(cfg, transcribers):
    seq, batched = transcribers
    # the channels as recorded: with sample_crosstalk's echo cancelled the speech regions change and
    # the drift below no longer shows, though nothing in the batched decoder was fixed
    cfg = replace(cfg, channels=replace(cfg.channels, echo_cancel=False))
    by = {"sequential": Reviewer(cfg, transcriber=seq), "batched": Reviewer(cfg, transcriber=batched)}
    out = []
    for truth_path in TRUTHS:
        truth = json.loads(truth_path.read_text())
        path = truth_path.parent / truth["audio"]
        out.append((truth, {k: review_to_dict(r.review(path)) for k, r in by.items()}))
    return out


def _text(review, role):
    return normalise_text(" ".join(w["text"] for u in review["utterances"] if u["speaker"] == role
                                   for w in u["words"] if w["text"] != UNHEARD))


@pytest.mark.slow
def test_auto_decoder_is_sequential_on_cpu(transcribers):
    seq, batched = transcribers
    assert type(seq) is WhisperTranscriber and isinstance(batched, BatchedWhisperTranscriber)


@pytest.mark.slow
def test_batched_path_hears_the_same_words_as_the_sequential_path(paired_reviews):
    """WER against the truth, over every word of both parties of the labelled samples (312 words:
    one word is 0.003; one party alone is too few words to resolve 0.01)."""
    pairs = [(truth, r, role) for truth, r in paired_reviews for role in ("agent", "customer")]
    refs = [normalise_text(" ".join(t["text"] for t in truth["turns"] if t["speaker"] == role))
            for truth, _, role in pairs]
    wer = {k: jiwer.wer(refs, [_text(r[k], role) for _, r, role in pairs]) for k in ("sequential", "batched")}
    between = jiwer.wer([_text(r["sequential"], role) for _, r, role in pairs],
                        [_text(r["batched"], role) for _, r, role in pairs])
    print(f"WER sequential {wer['sequential']:.4f}, batched {wer['batched']:.4f}, "
          f"batched against sequential {between:.4f}")
    assert abs(wer["batched"] - wer["sequential"]) <= 0.01, wer
    assert between <= 0.1, between  # mostly the same words, not just as many errors


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=(
    "known defect, open in the GPU issue: since the echo guard decodes only each party's own speech "
    "regions, a batched clip on sample_crosstalk's agent channel places 'the plumber had to…' 8.45 s "
    "early (11.08 s; truth and the sequential path 19.53 s). The batched decoder runs only on CUDA by "
    "default, never on CPU; strict, so a fix makes this fail until the mark is removed"))
def test_batched_word_times_do_not_drift(paired_reviews):
    """Words both paths heard alike sit at the same place: the median start difference of aligned
    words stays under 50 ms and none is more than 1 s away (the drift of faster-whisper's own VAD
    joining moved words by up to 30 s)."""
    diffs = []
    for _, r in paired_reviews:
        for role in ("agent", "customer"):
            words = {k: [w for u in r[k]["utterances"] if u["speaker"] == role for w in u["words"]
                         if w["text"] != UNHEARD] for k in r}
            a, b = ([normalise_text(w["text"]) for w in words[k]] for k in ("sequential", "batched"))
            out = jiwer.process_words(" ".join(a), " ".join(b))
            for chunk in out.alignments[0]:
                if chunk.type == "equal":
                    for i, j in zip(range(chunk.ref_start_idx, chunk.ref_end_idx),
                                    range(chunk.hyp_start_idx, chunk.hyp_end_idx)):
                        diffs.append(abs(words["sequential"][i]["start"] - words["batched"][j]["start"]))
    assert diffs and np.median(diffs) < 0.05 and max(diffs) < 1.0, (np.median(diffs), max(diffs))


@pytest.mark.slow
def test_shared_decoder_batches_clips_of_concurrent_callers(transcribers, cfg):
    """Two threads decode a channel each through one SharedClipDecoder: their clips go through
    fewer decoder calls than there were requests, and each gets exactly what a decoder of its own
    would have returned."""
    _, batched = transcribers
    data, _ = sf.read(SAMPLES / "sample_crosstalk.flac", dtype="float32", always_2d=True)
    jobs = []
    for ch in range(data.shape[1]):
        track = np.ascontiguousarray(data[:, ch])
        joined, layout = join_speech(track, batched.speech_regions(track), int(0.2 * SR))
        jobs.append(ClipJob(joined, tuple(pack_clips(layout, SR))))
    alone = ClipDecoder(batched.model, cfg.asr, batch_size=16)
    expected = [alone.decode([job])[0] for job in jobs]
    shared = SharedClipDecoder(ClipDecoder(batched.model, cfg.asr, batch_size=16), linger=0.5)
    got: dict[int, list] = {}
    barrier = threading.Barrier(len(jobs))

    def call(i: int) -> None:
        barrier.wait()
        got[i] = shared.decode([jobs[i]])[0]

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    shared.close()
    assert shared.jobs == len(jobs) and shared.batches < len(jobs)
    for i, texts in enumerate(expected):
        assert [c.text for c in got[i]] == [c.text for c in texts]
        assert all(abs(x.start - y.start) < 0.02 for c, d in zip(got[i], texts) for x, y in zip(c.words, d.words))
