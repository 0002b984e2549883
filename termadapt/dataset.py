"""Dataset stage: clips → a ``datasets.DatasetDict`` saved in ``run_dir/dataset``.

Reads ``run_dir/synth.jsonl`` (:class:`~termadapt.records.Clip`), ``voices.json`` and the
imports listed in ``[dataset]`` (``eval_imports`` become ``import_<name>`` splits,
``replay_imports`` join ``general_train``). Writes ``run_dir/dataset`` (via a temporary
folder and a rename) and ``run_dir/dataset/stats.json`` (hours, clips per split, voice and
term, dropped clips, import problems).

The dataset contract lives here too: the splits and columns every later stage reads, and
:func:`open_dataset` / :func:`split_rows`, the one way training, merging and evaluation
open a split (audio left undecoded, decoded on demand by :func:`termadapt.audio.decode_cell`).

Splits: ``train`` (training voices: term sentences, terms alone, context and homophone-guard
sentences), ``validation`` (held-out voices), ``test_terms`` (held-out voices × test
templates), ``test_context`` (held-out voices × the dictionary's held-out context sentences:
the generalization check), ``general`` (held-out voices × regression-pool general and homophone sentences),
``general_train`` (training voices × replay pool). Audio is embedded as 16 kHz wav bytes in
an ``Audio(sampling_rate=16000)`` column, so the saved dataset does not depend on the cache.
Decoding that column needs torchcodec in datasets ≥ 4, which has no build for the pinned
torch: splits are opened with ``Audio(decode=False)`` and read with soundfile instead.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .audio import SAMPLE_RATE, cell_key
from .config import Recipe, save_resolved
from .errors import TermadaptError
from .records import DATASET_DIR, SYNTH_FILE, TERMS_FILE, VOICES_FILE, Clip, TermEntry, atomic_write_text, read_jsonl
from .speech.imports import import_name, load_import
from .speech.synth import audio_cache

__all__ = [
    "SPLITS",
    "EVAL_SPLITS",
    "FEATURE_COLUMNS",
    "build_dataset",
    "input_files",
    "split_of",
    "features",
    "open_dataset",
    "undecoded",
    "check_columns",
    "split_rows",
]

SPLITS = ("train", "validation", "test_terms", "test_context", "general", "general_train")
# Splits scored by the evaluation besides imported real sets (import_*); train, validation
# and general_train are never scored (their sentences or voices were seen in training).
# test_context (the dictionary's own held-out context sentences) is the generalization check.
EVAL_SPLITS = ("test_terms", "test_context", "general")
FEATURE_COLUMNS = (
    "audio",
    "text",
    "kind",
    "voice",
    "held_out",
    "terms",
    "utterance_id",
    "homophone_of",
    "decides",
    "duration",
    "augment",
)
TRAIN_SPLITS = ("train", "general_train")
HELD_OUT_ONLY_SPLITS = ("test_terms", "test_context", "general", "validation")
# Audio cells hashed per batch when keying clips: bounded memory on large datasets.
KEY_CHUNK = 256


def features(raw_audio: bool = False) -> Any:
    """The ``datasets.Features`` of every split.

    With ``raw_audio`` the audio column is a plain ``{bytes, path}`` struct: datasets ≥ 4
    needs torchcodec to *encode* Audio values, but casting a struct column to Audio does not.
    """
    import datasets

    audio = (
        {"bytes": datasets.Value("binary"), "path": datasets.Value("string")}
        if raw_audio
        else datasets.Audio(sampling_rate=SAMPLE_RATE)
    )
    return datasets.Features(
        {
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
        }
    )


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
        if general:
            return "general"
        return "test_context" if clip.kind == "term_context" else "test_terms"
    raise TermadaptError(f"synth.jsonl: clip of {clip.utterance_id} has unknown split '{clip.split}' — re-run synth")


def _decides(value: bool | None) -> int:
    return -1 if value is None else int(bool(value))


def _rows(clips: list[Clip]):
    for clip in clips:
        yield {
            "audio": {"bytes": Path(clip.audio_path).read_bytes(), "path": Path(clip.audio_path).name},
            "text": clip.text,
            "kind": clip.kind,
            "voice": clip.voice,
            "held_out": bool(clip.held_out),
            "terms": list(clip.terms),
            "utterance_id": clip.utterance_id,
            "homophone_of": clip.homophone_of or "",
            "decides": _decides(clip.decides),
            "duration": float(clip.duration),
            "augment": clip.augment,
        }


def _check_voices(by_split: dict[str, list[Clip]]) -> None:
    for split in TRAIN_SPLITS:
        bad = [c for c in by_split.get(split, []) if c.held_out]
        if bad:
            raise TermadaptError(
                f"held-out voice {bad[0].voice} found in the {split} split "
                f"({bad[0].text!r}) — check synth.train_voices / synth.heldout_voices"
            )
    for split in HELD_OUT_ONLY_SPLITS:
        bad = [c for c in by_split.get(split, []) if not c.held_out]
        if bad:
            raise TermadaptError(
                f"training voice {bad[0].voice} found in the {split} split "
                f"({bad[0].text!r}) — evaluation audio must come from held-out voices"
            )


def _term_targets(run_dir: Path) -> list[str]:
    path = run_dir / TERMS_FILE
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
    stats: dict[str, Any] = {
        "splits": {},
        "clips_per_term": {},
        "clips_per_voice": {},
        "dropped_too_long": len(dropped),
    }
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
    stats["imports"] = [
        {
            "name": r.name,
            "source": r.source,
            "format": r.format,
            "clips": r.clips,
            "problems": {k: {"count": v[0], "first": v[1]} for k, v in r.problems.items()},
            "notices": {k: {"count": v[0], "first": v[1]} for k, v in r.notices.items()},
        }
        for r in reports
    ]
    voices_json = run_dir / VOICES_FILE
    if voices_json.is_file():
        plan = json.loads(voices_json.read_text(encoding="utf-8"))
        stats["voice_plan"] = {k: plan.get(k) for k in ("train", "heldout", "validation", "fallback_used", "notes")}
    return stats


def input_files(recipe: Recipe) -> list[Path]:
    """Files outside the run directory the stage reads: the imports of real speech."""
    return [recipe.path(p) for p in recipe.dataset.eval_imports + recipe.dataset.replay_imports]


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
    manifest = run_dir / SYNTH_FILE
    if not manifest.is_file():
        raise TermadaptError(f"{manifest}: not found — run `termadapt synth RECIPE --run-dir {run_dir}` first")
    clips: list[Clip] = read_jsonl(manifest, Clip)
    missing = [c for c in clips if not Path(c.audio_path).is_file()]
    if missing:
        raise TermadaptError(
            f"{len(missing)} clips in {manifest} have no audio (first: {missing[0].audio_path}) — "
            "the audio cache was cleared; re-run `termadapt synth`"
        )
    root = audio_cache(recipe) / "imports"
    targets = _term_targets(run_dir)
    reports = []
    for spec, held_out in [(p, True) for p in recipe.dataset.eval_imports] + [
        (p, False) for p in recipe.dataset.replay_imports
    ]:
        path = recipe.path(spec)
        imported, report = load_import(
            path, root, name=import_name(path), held_out=held_out, max_duration=recipe.dataset.max_duration
        )
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
                    _rows,
                    gen_kwargs={"clips": split_clips},
                    features=raw,
                    cache_dir=str(work / "cache"),
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


def open_dataset(run_dir: str | Path, needed_by: str) -> Any:
    """The run's saved DatasetDict, or a one-line error naming the stage that needs it.

    Args:
        run_dir: The run directory.
        needed_by: What reads it, for the message (``"training"``, ``"merge --alpha auto"``).
    """
    import datasets

    path = Path(run_dir) / DATASET_DIR
    if not path.is_dir():
        raise TermadaptError(
            f"{path}: no dataset for {needed_by} — run `termadapt dataset RECIPE` (or build-and-train) first"
        )
    try:
        dd = datasets.load_from_disk(str(path))
    except Exception as exc:  # noqa: BLE001 - any load failure is a broken dataset folder
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise TermadaptError(
            f"{path}: cannot load the dataset ({reason}) — rebuild it with `termadapt dataset RECIPE`"
        ) from None
    if not isinstance(dd, datasets.DatasetDict):
        raise TermadaptError(f"{path}: not a DatasetDict of splits — rebuild it with `termadapt dataset RECIPE`")
    return dd


def undecoded(dd: Any, name: str) -> Any:
    """Split ``name`` with its audio column left undecoded (``{"bytes", "path"}``: no torchcodec needed)."""
    import datasets

    split = dd[name]
    if "audio" not in split.column_names:
        raise TermadaptError(
            f"dataset/{name} has no 'audio' column — rebuild the dataset with `termadapt dataset RECIPE`"
        )
    return split.cast_column("audio", datasets.Audio(sampling_rate=SAMPLE_RATE, decode=False))


def check_columns(split: Any, name: str, needed: Sequence[str]) -> None:
    """Raise a one-line error naming the missing columns of a split."""
    missing = [c for c in needed if c not in split.column_names]
    if missing:
        raise TermadaptError(
            f"dataset/{name}: missing column(s) {', '.join(missing)} — rebuild it with `termadapt dataset RECIPE`"
        )


def split_rows(
    split: Any, columns: Sequence[str] = ("text", "kind", "terms", "duration", "decides", "homophone_of")
) -> list[dict[str, Any]]:
    """Rows of an undecoded split without audio, each with its clip's content ``key``.

    Missing optional columns get their defaults (``decides`` −1, ``homophone_of`` ""), so
    every stage reads the same row shape. Audio cells are hashed in chunks (bounded memory).
    """
    cols = [c for c in columns if c in split.column_names]
    rows = split.select_columns(cols).to_list() if cols else [{} for _ in range(len(split))]
    i = 0
    for chunk in split.select_columns(["audio"]).iter(batch_size=KEY_CHUNK):
        for cell in chunk["audio"]:
            rows[i]["key"] = cell_key(cell)
            i += 1
    for row in rows:
        row["decides"] = -1 if row.get("decides") is None else int(row["decides"])
        row["homophone_of"] = row.get("homophone_of") or ""
        row["terms"] = list(row.get("terms") or [])
    return rows
