"""Dataset stage: clips → a ``datasets.DatasetDict`` saved in ``run_dir/dataset``.

Reads ``run_dir/synth.jsonl`` (:class:`~termadapt.records.Clip`), ``voices.json`` and the
imports listed in ``[dataset]`` (``eval_imports`` become ``import_<name>`` splits,
``replay_imports`` join ``general_train``). Writes ``run_dir/dataset`` (via a temporary
folder and a rename) and ``run_dir/dataset/stats.json`` (hours, clips per split, voice and
term, dropped clips, import problems).

Splits: ``train`` (training voices: term sentences, terms alone, context and homophone-guard
sentences), ``validation`` (held-out voices), ``test_terms`` (held-out voices × test
templates), ``general`` (held-out voices × regression-pool general and homophone sentences),
``general_train`` (training voices × replay pool). Audio is embedded as 16 kHz wav bytes in
an ``Audio(sampling_rate=16000)`` column, so the saved dataset does not depend on the cache.
Decoding that column needs torchcodec in datasets ≥ 4; :func:`load_dataset_dict` with
``decode=False`` plus :func:`decode_audio` reads it with soundfile instead.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from .config import Recipe, save_resolved
from .errors import TermadaptError
from .imports import import_name, load_import
from .records import Clip, TermEntry, atomic_write_text, read_jsonl

__all__ = ["SPLITS", "FEATURE_COLUMNS", "build_dataset", "split_of", "load_dataset_dict", "decode_audio", "features"]

SPLITS = ("train", "validation", "test_terms", "general", "general_train")
FEATURE_COLUMNS = ("audio", "text", "kind", "voice", "held_out", "terms", "utterance_id", "homophone_of",
                   "decides", "duration", "augment")
TRAIN_SPLITS = ("train", "general_train")
HELD_OUT_ONLY_SPLITS = ("test_terms", "general", "validation")
DATASET_DIR = "dataset"


def features(raw_audio: bool = False) -> Any:
    """The ``datasets.Features`` of every split.

    With ``raw_audio`` the audio column is a plain ``{bytes, path}`` struct: datasets ≥ 4
    needs torchcodec to *encode* Audio values, but casting a struct column to Audio does not.
    """
    import datasets

    audio = ({"bytes": datasets.Value("binary"), "path": datasets.Value("string")} if raw_audio
             else datasets.Audio(sampling_rate=16000))
    return datasets.Features({
        "audio": audio,
        "text": datasets.Value("string"),
        "kind": datasets.Value("string"),
        "voice": datasets.Value("string"),
        "held_out": datasets.Value("bool"),
        "terms": datasets.List(datasets.Value("string")),
        "utterance_id": datasets.Value("string"),
        "homophone_of": datasets.Value("string"),
        "decides": datasets.Value("int8"),
        "duration": datasets.Value("float32"),
        "augment": datasets.Value("string"),
    })


def split_of(clip: Clip) -> str:
    """Dataset split of a synthesized clip (see the module docstring)."""
    if clip.split.startswith("import_"):
        return clip.split
    general = clip.kind in ("general", "homophone")
    if clip.split == "train":
        return "general_train" if clip.kind == "general" else "train"
    if clip.split == "validation":
        return "validation"
    if clip.split == "test":
        return "general" if general else "test_terms"
    raise TermadaptError(f"synth.jsonl: clip of {clip.utterance_id} has unknown split '{clip.split}' — re-run synth")


def _decides(value: bool | None) -> int:
    return -1 if value is None else int(bool(value))


def _rows(clips: list[Clip]):
    for clip in clips:
        yield {
            "audio": {"bytes": Path(clip.audio_path).read_bytes(), "path": Path(clip.audio_path).name},
            "text": clip.text, "kind": clip.kind, "voice": clip.voice, "held_out": bool(clip.held_out),
            "terms": list(clip.terms), "utterance_id": clip.utterance_id, "homophone_of": clip.homophone_of or "",
            "decides": _decides(clip.decides), "duration": float(clip.duration), "augment": clip.augment,
        }


def _check_voices(by_split: dict[str, list[Clip]]) -> None:
    for split in TRAIN_SPLITS:
        bad = [c for c in by_split.get(split, []) if c.held_out]
        if bad:
            raise TermadaptError(f"held-out voice {bad[0].voice} found in the {split} split "
                                 f"({bad[0].text!r}) — check synth.train_voices / synth.heldout_voices")
    for split in HELD_OUT_ONLY_SPLITS:
        bad = [c for c in by_split.get(split, []) if not c.held_out]
        if bad:
            raise TermadaptError(f"training voice {bad[0].voice} found in the {split} split "
                                 f"({bad[0].text!r}) — evaluation audio must come from held-out voices")


def _term_targets(run_dir: Path) -> list[str]:
    path = run_dir / "terms.jsonl"
    if not path.is_file():
        return []
    return sorted({t.target for t in read_jsonl(path, TermEntry)}, key=len, reverse=True)


def _tag_terms(clip: Clip, targets: list[str]) -> Clip:
    """Imported speech: mark the dictionary terms its transcript contains."""
    found = tuple(t for t in targets if t and t in clip.text)
    if not found:
        return clip
    return Clip(**{**clip.__dict__, "terms": found, "kind": "term"})


def _stats(by_split: dict[str, list[Clip]], dropped: list[Clip], reports: list[Any], run_dir: Path) -> dict[str, Any]:
    stats: dict[str, Any] = {"splits": {}, "clips_per_term": {}, "clips_per_voice": {}, "dropped_too_long": len(dropped)}
    per_term: dict[str, Counter] = defaultdict(Counter)
    per_voice: dict[str, Counter] = defaultdict(Counter)
    for split, clips in by_split.items():
        stats["splits"][split] = {
            "clips": len(clips),
            "hours": round(sum(c.duration for c in clips) / 3600, 4),
            "augmented": sum(1 for c in clips if c.augment),
            "voices": sorted({c.voice for c in clips}),
        }
        for c in clips:
            per_voice[c.voice][split] += 1
            for t in c.terms:
                per_term[t][split] += 1
    stats["clips_per_term"] = {t: dict(c) for t, c in sorted(per_term.items())}
    stats["clips_per_voice"] = {v: dict(c) for v, c in sorted(per_voice.items())}
    stats["hours"] = round(sum(s["hours"] for s in stats["splits"].values()), 4)
    stats["imports"] = [{"name": r.name, "source": r.source, "format": r.format, "clips": r.clips,
                         "problems": {k: {"count": v[0], "first": v[1]} for k, v in r.problems.items()}}
                        for r in reports]
    voices_json = run_dir / "voices.json"
    if voices_json.is_file():
        plan = json.loads(voices_json.read_text(encoding="utf-8"))
        stats["voice_plan"] = {k: plan.get(k) for k in ("train", "heldout", "fallback_used", "notes")}
    return stats


def build_dataset(recipe: Recipe, run_dir: str | Path) -> Path:
    """Build and save the DatasetDict of a run (see the module docstring).

    Returns:
        Path of ``run_dir/dataset``.

    Raises:
        TermadaptError: ``synth.jsonl`` missing, a clip's audio missing, a held-out voice
            in a training split (or a training voice in an evaluation split), bad imports.
    """
    import datasets

    run_dir = Path(run_dir)
    manifest = run_dir / "synth.jsonl"
    if not manifest.is_file():
        raise TermadaptError(f"{manifest}: not found — run `termadapt synth RECIPE --run-dir {run_dir}` first")
    clips: list[Clip] = read_jsonl(manifest, Clip)
    missing = [c for c in clips if not Path(c.audio_path).is_file()]
    if missing:
        raise TermadaptError(f"{len(missing)} clips in {manifest} have no audio (first: {missing[0].audio_path}) — "
                             "the audio cache was cleared; re-run `termadapt synth`")
    from .synth import cache_root

    root = cache_root(recipe) / "imports"
    targets = _term_targets(run_dir)
    reports = []
    for spec, held_out in [(p, True) for p in recipe.dataset.eval_imports] + \
                          [(p, False) for p in recipe.dataset.replay_imports]:
        path = recipe.path(spec)
        imported, report = load_import(path, root, name=import_name(path), held_out=held_out)
        for line in [report.summary(), *report.lines()]:
            print(line, file=sys.stderr)
        reports.append(report)
        imported = [_tag_terms(c, targets) for c in imported]
        if not held_out:
            imported = [Clip(**{**c.__dict__, "split": "train", "kind": "general"}) for c in imported]
        clips.extend(imported)

    by_split: dict[str, list[Clip]] = {s: [] for s in SPLITS}
    dropped: list[Clip] = []
    for clip in clips:
        if clip.duration > recipe.dataset.max_duration:
            dropped.append(clip)
            continue
        by_split.setdefault(split_of(clip), []).append(clip)
    _check_voices(by_split)

    feats, raw = features(), features(raw_audio=True)
    out = run_dir / DATASET_DIR
    work = Path(tempfile.mkdtemp(prefix=".dataset-", dir=run_dir))
    try:
        parts = {}
        for split, split_clips in by_split.items():
            if split_clips:
                parts[split] = datasets.Dataset.from_generator(
                    _rows, gen_kwargs={"clips": split_clips}, features=raw, cache_dir=str(work / "cache"),
                ).cast(feats)
            else:
                parts[split] = datasets.Dataset.from_dict({k: [] for k in feats}, features=raw).cast(feats)
        dd = datasets.DatasetDict(parts)
        # An empty split saved with 0 shards cannot be loaded back (datasets 5.2): force one.
        dd.save_to_disk(str(work / "dataset"), num_shards={k: 1 for k, v in dd.items() if len(v) == 0} or None)
        stats = _stats(by_split, dropped, reports, run_dir)
        atomic_write_text(work / "dataset" / "stats.json", json.dumps(stats, ensure_ascii=False, indent=2) + "\n")
        if out.exists():
            old = run_dir / f".dataset-old-{os.getpid()}"
            os.replace(out, old)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(work / "dataset", out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    save_resolved(recipe, run_dir)
    sizes = ", ".join(f"{s} {len(c)}" for s, c in by_split.items())
    print(f"dataset: {sizes} clips ({stats['hours']:.2f} h) → {out}", file=sys.stderr)
    return out


def load_dataset_dict(path: str | Path, decode: bool = False) -> Any:
    """Load a saved dataset; with ``decode=False`` the audio column stays wav bytes (no torchcodec)."""
    import datasets

    dd = datasets.load_from_disk(str(path))
    if not decode:
        dd = dd.cast_column("audio", datasets.Audio(sampling_rate=16000, decode=False))
    return dd


def decode_audio(value: dict[str, Any]) -> np.ndarray:
    """Undecoded audio value (``{"bytes", "path"}``) → float32 16 kHz mono samples."""
    import io

    import soundfile as sf

    data = value.get("bytes")
    wav, sr = sf.read(io.BytesIO(data) if data else value["path"], dtype="float32", always_2d=True)
    if sr != 16000:
        raise TermadaptError(f"audio {value.get('path')} is {sr} Hz, expected 16000 — rebuild the dataset")
    return wav.mean(axis=1)
