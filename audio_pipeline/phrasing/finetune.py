"""Fine-tune the sentence encoder as a pair classifier of one speaker's lines (`make train-phrasing-pairs`).

The shipped head reads fixed MiniLM vectors of a line and of its context; what a dismissive line
is often turns on one clause read against the customer's words ("that's how the terms work" after
a complaint about a fee). Here all six transformer layers learn from the labels, reading the line
and the turn before it as one sequence ([CLS] line [SEP] context [SEP]); the word, position
and segment embeddings stay the packaged model's, so the weights written are the layers alone
(int8 per output unit: a quarter of fp32).

Calibration is held to the head's standard: the dev authors are split into folds, a model trained
without one fold scores it, and those out-of-fold logits are stored with the weights; the head's
training (`make train-phrasing`) fits the pair model's Platt calibration and the thresholds of
the averaged probability on them. The final weights are then trained on all of dev. Training
only: imports torch; a review runs the result in numpy (`phrasing/pairs.py`). The test split is
never read here."""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from . import corpus
from .labels import heads, targets
from .model import save_weights
from .pairs import FORMAT, context_text, quantize, tokenizer
from .train import SEED

log = logging.getLogger(__name__)
FOLDS = 2
EPOCHS = 3
BATCH = 32
LR = 4e-5
HEAD_LR = 1e-3
WEIGHTS = Path(__file__).parent / "weights"


def rows_of(dev: Sequence[corpus.Example], speaker: str) -> list[corpus.Example]:
    """That speaker's lines, text and ASR; not the head's context-free copies (a sequence without
    a second segment is ordinary to a BERT, and calibration reads the real rows only)."""
    return [ex for ex in dev if ex.speaker == speaker]


def tokenize(tok, rows: Sequence[corpus.Example]) -> list[tuple[list[int], list[int]]]:
    encs = tok.encode_batch([(ex.text, context_text(ex.context)) if ex.context else ex.text for ex in rows])
    return [(e.ids, e.type_ids) for e in encs]


def _batches(lengths: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Batches of similar length (little padding), in random order."""
    order = rng.permutation(len(lengths))
    chunks = [order[s:s + BATCH * 50] for s in range(0, len(order), BATCH * 50)]
    out = []
    for chunk in chunks:
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        out += [chunk[s:s + BATCH] for s in range(0, len(chunk), BATCH)]
    rng.shuffle(out)
    return out


def _tensors(enc, idx):
    import torch

    length = max(len(enc[i][0]) for i in idx)
    ids = torch.zeros((len(idx), length), dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for r, i in enumerate(idx):
        n = len(enc[i][0])
        ids[r, :n] = torch.tensor(enc[i][0])
        types[r, :n] = torch.tensor(enc[i][1])
        mask[r, :n] = 1
    return ids, types, mask


class PairNet:
    """BertModel (packaged weights) + mean pooling + one linear layer per head."""

    def __init__(self, model_dir: Path, n_heads: int):
        import torch

        from ..analysis.embedder import _torchaudio_without_extension

        _torchaudio_without_extension()
        from transformers import BertModel

        torch.manual_seed(SEED)
        self.bert = BertModel.from_pretrained(str(model_dir), add_pooling_layer=False)
        for p in self.bert.embeddings.parameters():
            p.requires_grad = False
        self.head = torch.nn.Linear(self.bert.config.hidden_size, n_heads)

    def logits(self, ids, types, mask):
        x = self.bert(input_ids=ids, token_type_ids=types, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).float()
        return self.head((x * m).sum(1) / m.sum(1).clamp(min=1e-9))

    def train(self, flag: bool) -> None:
        self.bert.train(flag)
        self.head.train(flag)


def fit(model_dir: Path, enc, y: np.ndarray, epochs: int, label: str) -> PairNet:
    import torch

    net = PairNet(model_dir, y.shape[1])
    params = [{"params": [p for p in net.bert.parameters() if p.requires_grad], "lr": LR},
              {"params": net.head.parameters(), "lr": HEAD_LR}]
    opt = torch.optim.AdamW(params, weight_decay=0.01)
    pos = y.sum(0).clip(1)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(np.sqrt((len(y) - pos) / pos), dtype=torch.float32))
    rng = np.random.default_rng(SEED)
    lengths = np.array([len(e[0]) for e in enc])
    steps = epochs * math.ceil(len(enc) / BATCH)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, s / max(1, 0.06 * steps)) * max(0.0, (steps - s) / steps))
    target = torch.tensor(y, dtype=torch.float32)
    started, step = time.perf_counter(), 0
    net.train(True)
    for epoch in range(epochs):
        for idx in _batches(lengths, rng):
            loss = loss_fn(net.logits(*_tensors(enc, idx)), target[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step % 50 == 0:
                rate = step / (time.perf_counter() - started)
                print(f"\r{label}: epoch {epoch + 1}/{epochs}, step {step}/{steps}, loss {loss.item():.3f}, "
                      f"{(steps - step) / rate / 60:.0f} min left", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    net.train(False)
    return net


def predict(net: PairNet, enc) -> np.ndarray:
    import torch

    order = np.argsort([len(e[0]) for e in enc], kind="stable")
    out = np.zeros((len(enc), net.head.out_features), np.float32)
    with torch.no_grad():
        for s in range(0, len(order), 64):
            idx = order[s:s + 64]
            out[idx] = net.logits(*_tensors(enc, idx)).numpy()
    return out


def export(net: PairNet) -> dict[str, np.ndarray]:
    """The fine-tuned layers (int8 weight matrices with an fp32 scale per output unit; biases and
    layer norms as they are) and the head."""
    arrays: dict[str, np.ndarray] = {}
    for name, value in net.bert.encoder.state_dict().items():
        v = value.detach().numpy().astype(np.float32)
        if name.endswith(".weight") and v.ndim == 2:
            arrays[f"enc.{name}.q"], arrays[f"enc.{name}.scale"] = quantize(v)
        else:
            arrays[f"enc.{name}"] = v
    arrays["head.w"] = net.head.weight.detach().numpy().T.astype(np.float32)
    arrays["head.b"] = net.head.bias.detach().numpy().astype(np.float32)
    return arrays


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("data/phrasing"))
    ap.add_argument("--speaker", choices=("agent", "customer"), default="agent")
    ap.add_argument("--out", type=Path, help="default: weights/phrasing-pairs-SPEAKER.npz")
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--folds", type=int, default=FOLDS, help="author folds for the out-of-fold logits (0: none)")
    ap.add_argument("--limit", type=int, default=0, help="train on this many rows only (a timing trial)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from sklearn.model_selection import GroupKFold

    from ..analysis.embedder import encoder_identity, load_embedder
    from ..models import find_sentence_model

    model_dir = find_sentence_model()
    split = corpus.split_of(args.data)
    dev = [ex for ex in corpus.load(args.data) if split.get(ex.batch) == "dev"]
    rows = rows_of(dev, args.speaker)
    out = args.out or WEIGHTS / f"phrasing-pairs-{args.speaker}.npz"
    if args.limit:
        rows = rows[::max(1, len(rows) // args.limit)][:args.limit]     # every author, a few lines each
    enc = tokenize(tokenizer(model_dir), rows)
    names = heads(args.speaker)
    y = np.array([targets(args.speaker, ex.labels) for ex in rows], dtype=np.float32)
    groups = np.array([ex.batch for ex in rows])
    oof = np.full(y.shape, np.nan, np.float32)
    if args.folds:
        for k, (train, held) in enumerate(GroupKFold(n_splits=args.folds).split(y, y, groups)):
            net = fit(model_dir, [enc[i] for i in train], y[train], args.epochs, f"fold {k + 1}/{args.folds}")
            oof[held] = predict(net, [enc[i] for i in held])
            log.info("fold %d: held out %s", k + 1, sorted(set(groups[held])))
    net = fit(model_dir, enc, y, args.epochs, "all of dev")
    arrays = export(net)
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(v).tobytes() for v in arrays.values())).hexdigest()[:16]
    header = {"format": FORMAT, "encoder": encoder_identity(load_embedder(model_dir)), "speaker": args.speaker,
              "heads": list(names), "digest": digest, "epochs": args.epochs, "folds": args.folds,
              "rows": len(rows), "batches": sorted(set(groups)), "trained": time.strftime("%Y-%m-%d")}
    arrays["oof.ids"] = np.frombuffer(json.dumps([ex.id for ex in rows]).encode(), np.uint8)
    arrays["oof.logits"] = oof.astype(np.float16)
    save_weights(out, arrays, header)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
