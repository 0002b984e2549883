"""Merging the adapted model with its base: θ = (1−α)·θ_base + α·θ_adapted.

Fine-tuning learns the terms quickly and then keeps pulling the decoder away from the base
model; interpolating the weights back toward the base trades a little term recall for
general accuracy (DESIGN.md §9: 50/50 averaging kept 48/48 recall and cut general CER from
15.6% to 11.6%). With ``alpha = "auto"`` the stage decodes the run's ``validation`` split
at every α of ``merge.alpha_grid`` (and at α = 0, the base model) and picks the α with the
best term recall whose general CER increase, invented terms and homophone swaps stay within
the recipe's forgetting budget (``[evaluate]``).

Reads: ``run_dir/model/`` (adapted HF model dir written by ``train``), the base model
``recipe.model.base`` (any spec :func:`termadapt.models.resolve_model` accepts) and, for
``auto``, ``run_dir/dataset/`` (its ``validation`` split).
Writes: ``run_dir/merged/``: the merged model (safetensors), processor and the adapted
model's generation config; ``merge.json`` (chosen α, written last: its presence means the
directory is complete); for ``auto`` also ``merge_curve.json`` (one point per α) and
``hyps_alpha_<α>.jsonl`` (cached validation transcripts, so a rerun decodes nothing).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Recipe, save_resolved
from .errors import TermadaptError
from .metrics import GENERAL_KINDS, TERM_KINDS, score_validation
from .records import atomic_write_text, read_jsonl, write_jsonl
from .transcribe import greedy_generate

__all__ = [
    "CurvePoint",
    "interpolate",
    "differing_keys",
    "select_alpha",
    "merge_weights",
    "merge",
    "MERGED_DIR",
]

MERGED_DIR = "merged"
# Whisper's feature extractor expects 16 kHz audio.
SAMPLING_RATE = 16000
# Columns of the dataset contract the merge stage reads besides the audio.
_META_COLUMNS = ("text", "kind", "terms", "homophone_of", "decides")


# --------------------------------------------------------------------------- interpolation


def _storage_key(t: Any) -> tuple[int, int, tuple[int, ...], tuple[int, ...]] | None:
    """Identity of a tensor's memory (tied weights share it); None for empty tensors."""
    if t.numel() == 0:
        return None
    return (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()))


def interpolate(base_state: Mapping[str, Any], adapted_state: Mapping[str, Any], alpha: float) -> dict[str, Any]:
    """Interpolate two state dicts: ``(1 − alpha)·base + alpha·adapted``.

    Floating-point tensors are combined in float32 and cast back to the adapted tensor's
    dtype (so fp16/bf16 models lose no precision in the sum); tensors that are equal in both
    models (a frozen encoder) and non-float tensors are taken from ``adapted_state`` as they
    are. Keys that share memory in ``adapted_state`` (Whisper's tied ``proj_out`` and token
    embedding) share one tensor in the result too. Unchanged tensors are the adapted
    tensors themselves, not copies.

    Args:
        base_state: State dict of the base model.
        adapted_state: State dict of the fine-tuned model (same architecture and shapes).
        alpha: Weight of the adapted model, in [0, 1]. 0 gives the base, 1 the adapted model.

    Returns:
        A new state dict with the keys of ``adapted_state``.

    Raises:
        TermadaptError: ``alpha`` is outside [0, 1], or the two models differ in keys or shapes.
    """
    import torch

    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise TermadaptError(f"merge α must be in [0, 1], got {alpha} — use e.g. --alpha 0.5 or --alpha auto")
    missing = [k for k in adapted_state if k not in base_state]
    extra = [k for k in base_state if k not in adapted_state]
    if missing or extra:
        name, side = (missing[0], "the adapted model but not the base") if missing else (extra[0], "the base model but not the adapted one")
        raise TermadaptError(
            f"cannot merge: parameter '{name}' is in {side} ({len(missing) + len(extra)} such) — "
            "merge a model only with the base it was fine-tuned from (check model.base / --base)"
        )
    out: dict[str, Any] = {}
    seen: dict[tuple[int, int, tuple[int, ...], tuple[int, ...]], str] = {}
    for name, a in adapted_state.items():
        b = base_state[name]
        if tuple(a.shape) != tuple(b.shape):
            raise TermadaptError(
                f"cannot merge: '{name}' has shape {tuple(b.shape)} in the base model but {tuple(a.shape)} "
                "in the adapted one — the adapted model must be fine-tuned from this base (check model.base / --base)"
            )
        key = _storage_key(a)
        if key is not None and key in seen:  # tied to an earlier key: keep it tied
            out[name] = out[seen[key]]
            continue
        if key is not None:
            seen[key] = name
        if not a.is_floating_point() or alpha == 1.0:
            out[name] = a
        elif torch.equal(a, b.to(device=a.device, dtype=a.dtype)):
            out[name] = a  # frozen tensor: exact, whatever α (the fp32 sum could round it)
        else:
            mixed = (1.0 - alpha) * b.detach().to(device=a.device, dtype=torch.float32) + alpha * a.detach().float()
            out[name] = mixed.to(a.dtype)
    return out


def differing_keys(base_state: Mapping[str, Any], adapted_state: Mapping[str, Any]) -> list[str]:
    """Keys of float tensors whose values differ between the two state dicts."""
    import torch

    interpolate(base_state, adapted_state, 1.0)  # key and shape check, cheap at α = 1
    return [
        k for k, a in adapted_state.items()
        if a.is_floating_point() and not torch.equal(a, base_state[k].to(device=a.device, dtype=a.dtype))
    ]


def _clone_tied(state: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """Copies of ``state[k]`` for ``keys`` that keep shared tensors shared."""
    clones: dict[Any, Any] = {}
    out = {}
    for k in keys:
        t = state[k]
        sk = _storage_key(t) or id(t)
        if sk not in clones:
            clones[sk] = t.detach().clone()
        out[k] = clones[sk]
    return out


def merge_weights(base_model: Any, adapted_model: Any, alpha: float) -> Any:
    """Load the interpolated weights into ``adapted_model`` (in place) and return it."""
    merged = interpolate(base_model.state_dict(), adapted_model.state_dict(), alpha)
    adapted_model.load_state_dict(merged, strict=True)
    return adapted_model


# --------------------------------------------------------------------------- scoring


@dataclass
class CurvePoint:
    """Validation scores of one α.

    Attributes:
        alpha: Weight of the adapted model (0 = base).
        term_recall: Share of expected term occurrences found, on term rows whose context
            decides the spelling (or is not a homophone case).
        term_hits: Term occurrences found (same rows).
        term_total: Term occurrences expected (same rows).
        neutral_recall: Recall on term rows whose context allows a homophone (reported apart;
            None when there are none).
        general_cer: Corpus CER on general and homophone rows, in percent.
        general_cer_increase: ``general_cer`` minus the base model's, in points.
        invented: General/homophone rows whose hypothesis contains a term their reference lacks.
        swaps: Homophone rows whose hypothesis writes the term instead of its homophone.
        general_rows: Rows scored for general CER.
        qualifies: Whether the point is within the forgetting budget.
        chosen: Whether this α was picked.
        reason: Why it was (or was not) picked.
    """

    alpha: float
    term_recall: float
    term_hits: int
    term_total: int
    neutral_recall: float | None
    general_cer: float
    general_cer_increase: float
    invented: int
    swaps: int
    general_rows: int
    qualifies: bool = False
    chosen: bool = False
    reason: str = ""




def select_alpha(
    points: Sequence[CurvePoint],
    *,
    max_cer_increase: float,
    max_invented: int,
    max_swaps: int,
) -> tuple[float, str]:
    """Pick α from scored points (the base point, α = 0, may be among them but is not picked
    unless it is the only one).

    Rule: among points within budget (general CER increase ≤ ``max_cer_increase`` points,
    invented ≤ ``max_invented``, swaps ≤ ``max_swaps``), the best term recall; ties go to the
    smaller α. If none qualifies: the smallest CER increase (then fewest invented + swaps,
    best recall, smaller α), and the reason says the budget was not met.
    Marks ``qualifies``, ``chosen`` and ``reason`` on the points (in place).

    Returns:
        ``(alpha, reason)``.
    """
    candidates = [p for p in points if p.alpha > 0.0] or list(points)
    if not candidates:
        raise TermadaptError("merge: no α values to choose from — set merge.alpha_grid to a list such as [0.3, 0.5, 0.7, 1.0]")
    for p in points:
        over = []
        if p.general_cer_increase > max_cer_increase + 1e-9:
            over.append(f"general CER +{p.general_cer_increase:.2f} pt > {max_cer_increase:g}")
        if p.invented > max_invented:
            over.append(f"{p.invented} invented > {max_invented}")
        if p.swaps > max_swaps:
            over.append(f"{p.swaps} swaps > {max_swaps}")
        p.qualifies = not over
        p.chosen = False
        p.reason = "within budget" if not over else "over budget: " + ", ".join(over)
    ok = [p for p in candidates if p.qualifies]
    if ok:
        best = min(ok, key=lambda p: (-p.term_recall, p.alpha))
        reason = (f"best term recall within the forgetting budget ({best.term_recall:.1%}, general CER "
                  f"{best.general_cer_increase:+.2f} pt, {best.invented} invented, {best.swaps} swaps)")
    else:
        best = min(candidates, key=lambda p: (p.general_cer_increase, p.invented + p.swaps, -p.term_recall, p.alpha))
        reason = (f"no α met the forgetting budget; chose the smallest general CER increase "
                  f"({best.general_cer_increase:+.2f} pt, recall {best.term_recall:.1%}, "
                  f"{best.invented} invented, {best.swaps} swaps)")
    best.chosen = True
    best.reason = reason
    return best.alpha, reason


# --------------------------------------------------------------------------- decoding


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _read_audio(value: Mapping[str, Any]) -> Any:
    """Decode one ``Audio(decode=False)`` cell to 16 kHz mono float32."""
    import numpy as np
    import soundfile as sf

    data = value.get("bytes")
    source = io.BytesIO(data) if data else value.get("path")
    if not source:
        raise TermadaptError("dataset: an audio cell has neither bytes nor path — rebuild it with `termadapt dataset`")
    wav, sr = sf.read(source, dtype="float32", always_2d=True)
    wav = wav.mean(axis=1)
    if sr != SAMPLING_RATE:
        from scipy.signal import resample_poly

        g = np.gcd(int(sr), SAMPLING_RATE)
        wav = resample_poly(wav, SAMPLING_RATE // g, int(sr) // g).astype(np.float32)
    return wav


def _load_validation(run_dir: Path) -> tuple[list[dict[str, Any]], Any]:
    """Rows (without audio) of ``run_dir/dataset``'s validation split, and the split itself."""
    path = run_dir / "dataset"
    if not path.is_dir():
        raise TermadaptError(f"{path}: no dataset — run `termadapt dataset` first (merge --alpha auto picks α on its validation split)")
    import datasets

    dd = datasets.load_from_disk(str(path))
    if not isinstance(dd, datasets.DatasetDict) or "validation" not in dd or len(dd["validation"]) == 0:
        raise TermadaptError(f"{path}: no 'validation' split with rows — rebuild the dataset, or pass a fixed --alpha")
    split = dd["validation"]
    missing = [c for c in ("audio", "text", "kind", "terms") if c not in split.column_names]
    if missing:
        raise TermadaptError(f"{path}: validation split lacks column(s) {', '.join(missing)} — rebuild it with `termadapt dataset`")
    split = split.cast_column("audio", datasets.Audio(decode=False))
    cols = [c for c in _META_COLUMNS if c in split.column_names]
    rows = split.select_columns(cols).to_list()
    for row in rows:
        row.setdefault("homophone_of", "")
        row.setdefault("decides", -1)
        row["decides"] = -1 if row["decides"] is None else int(row["decides"])
    for kinds, what in ((TERM_KINDS, "term sentences (recall)"), (GENERAL_KINDS, "general sentences (forgetting)")):
        if not any(r["kind"] in kinds for r in rows):
            raise TermadaptError(f"{path}: the validation split has no {what}, so α cannot be picked on it — "
                                 "rebuild the dataset (sentences.validation_template_fraction / "
                                 "general_validation_fraction) or pass a fixed --alpha")
    return rows, split


def _alpha_tag(alpha: float) -> str:
    return f"{alpha:.4g}"


def _fingerprint(*states: Mapping[str, Any], extra: str) -> str:
    """Hash of tensor contents (and ``extra``): keys the transcript cache to the exact weights."""
    import torch

    h = hashlib.sha256(extra.encode())
    for state in states:
        for name in sorted(state):
            t = state[name].detach().contiguous().cpu()
            h.update(name.encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


class _HypCache:
    """Per-α transcripts in ``hyps_alpha_<α>.jsonl``, keyed to weights and data by ``hyps_key.json``.

    Rows finished during an interrupted run sit in ``*.jsonl.partial`` (appended per batch)
    and are reused; a complete α is rewritten atomically as ``hyps_alpha_<α>.jsonl``.
    """

    def __init__(self, out_dir: Path, key: str, n_rows: int) -> None:
        self.out_dir, self.n = out_dir, n_rows
        key_file = out_dir / "hyps_key.json"
        old = json.loads(key_file.read_text()).get("key") if key_file.is_file() else None
        if old != key:
            for p in out_dir.glob("hyps_alpha_*"):
                p.unlink()
            atomic_write_text(key_file, json.dumps({"key": key}) + "\n")

    def _path(self, alpha: float) -> Path:
        return self.out_dir / f"hyps_alpha_{_alpha_tag(alpha)}.jsonl"

    def load(self, alpha: float) -> dict[int, str]:
        done: dict[int, str] = {}
        if self._path(alpha).is_file():
            return {int(r["index"]): r["hyp"] for r in read_jsonl(self._path(alpha))}
        partial = self._path(alpha).with_suffix(".jsonl.partial")
        if partial.is_file():
            for line in partial.read_text(encoding="utf-8").splitlines():
                try:
                    r = json.loads(line)
                    done[int(r["index"])] = r["hyp"]
                except (ValueError, KeyError):
                    continue  # a line cut by an interruption
        return done

    def append(self, alpha: float, rows: list[dict[str, Any]]) -> None:
        with open(self._path(alpha).with_suffix(".jsonl.partial"), "a", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")

    def finish(self, alpha: float, hyps: dict[int, str], meta: list[dict[str, Any]]) -> None:
        write_jsonl(self._path(alpha), [{"index": i, "text": meta[i]["text"], "hyp": hyps[i]} for i in range(self.n)])
        self._path(alpha).with_suffix(".jsonl.partial").unlink(missing_ok=True)


def _decode_grid(recipe: Recipe, out_dir: Path, model: Any, processor: Any, base_sub: dict[str, Any],
                 adapted_sub: dict[str, Any], alphas: Sequence[float], rows: list[dict[str, Any]], split: Any,
                 key: str) -> dict[float, list[str]]:
    """Transcribe the validation rows at every α, reusing cached transcripts.

    The tensors that differ between base and adapted (``*_sub``) are interpolated per α and
    loaded into ``model``. When none of them is in the encoder (training froze it), the
    encoder runs once per batch and its outputs are shared by every α.
    """
    import torch
    from tqdm.auto import tqdm

    cache = _HypCache(out_dir, key, len(rows))
    done = {a: cache.load(a) for a in alphas}
    shared_encoder = not any(k.startswith(("model.encoder.", "encoder.")) for k in adapted_sub)
    todo = [i for i in range(len(rows)) if any(i not in done[a] for a in alphas)]
    batch = max(1, int(recipe.evaluate.batch_size))
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    loaded: float | None = None
    decode = dict(language=recipe.model.language, task=recipe.model.task, max_new_tokens=recipe.merge.max_new_tokens)
    with tqdm(total=len(todo), desc=f"merge: validation × {len(alphas)} α", unit="clip", disable=not todo) as bar:
        for start in range(0, len(todo), batch):
            idx = todo[start:start + batch]
            audio = [_read_audio(v) for v in split.select_columns(["audio"])[idx]["audio"]]
            feats = processor.feature_extractor(audio, sampling_rate=SAMPLING_RATE, return_tensors="pt").input_features
            feats = feats.to(device=device, dtype=dtype)
            hidden = None
            if shared_encoder:
                with torch.inference_mode():
                    hidden = model.get_encoder()(feats).last_hidden_state
            for a in alphas:
                need = [j for j, i in enumerate(idx) if i not in done[a]]
                if not need:
                    continue
                if loaded != a:
                    result = model.load_state_dict(interpolate(base_sub, adapted_sub, a), strict=False)
                    if result.unexpected_keys:  # cannot happen with keys taken from this model
                        raise RuntimeError(f"merge: unexpected keys {result.unexpected_keys[:3]}")
                    loaded = a
                sel = torch.tensor(need, device=device)
                texts = (greedy_generate(model, processor, encoder_hidden=hidden.index_select(0, sel), **decode) if shared_encoder
                         else greedy_generate(model, processor, input_features=feats.index_select(0, sel), **decode))
                new = [{"index": idx[j], "hyp": t} for j, t in zip(need, texts, strict=True)]
                cache.append(a, new)
                done[a].update({r["index"]: r["hyp"] for r in new})
            bar.update(len(idx))
    for a in alphas:
        if not cache._path(a).is_file():
            cache.finish(a, done[a], rows)
    return {a: [done[a][i] for i in range(len(rows))] for a in alphas}


# --------------------------------------------------------------------------- the stage


def _dictionary_terms(run_dir: Path, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Targets of every term: ``terms.jsonl`` when present, plus terms seen in the rows."""
    terms: dict[str, None] = {}
    manifest = run_dir / "terms.jsonl"
    if manifest.is_file():
        for entry in read_jsonl(manifest):
            terms[str(entry["target"])] = None
    for row in rows:
        for t in row.get("terms") or ():
            terms[str(t)] = None
        if row.get("homophone_of"):
            terms[str(row["homophone_of"])] = None
    return list(terms)


def _parse_alpha(value: Any) -> float | str:
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        a = float(value)
    except (TypeError, ValueError):
        raise TermadaptError(f'merge α must be "auto" or a number in [0, 1], got {value!r}') from None
    if not 0.0 <= a <= 1.0:
        raise TermadaptError(f'merge α must be "auto" or a number in [0, 1], got {value!r}')
    return a


def _write_model_dir(model: Any, processor: Any, adapted_dir: Path, out_dir: Path) -> None:
    """Save model + processor into ``out_dir`` through a temporary folder, file by file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir, prefix=".model-"))
    try:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        gen = adapted_dir / "generation_config.json"
        if gen.is_file():  # the adapted run's language/task settings, exactly as trained
            shutil.copyfile(gen, tmp / "generation_config.json")
        for old in out_dir.glob("model*.safetensors*"):
            old.unlink()
        for f in tmp.iterdir():
            os.replace(f, out_dir / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def merge(recipe: Recipe, run_dir: str | Path, alpha: float | str | None = None, *,
          adapted_dir: str | Path | None = None, out_dir: str | Path | None = None,
          progress: Callable[[str], None] | None = None) -> Path:
    """Merge ``run_dir/model`` with the base model and write ``run_dir/merged/``.

    Args:
        recipe: The recipe (``model.base``, ``merge.alpha``/``alpha_grid``/``max_new_tokens``,
            ``evaluate`` budget and batch size, ``model.language``/``task``).
        run_dir: The run directory.
        alpha: α in [0, 1], ``"auto"``, or None for ``recipe.merge.alpha``.
        adapted_dir: Adapted model dir (default ``run_dir/model``).
        out_dir: Output dir (default ``run_dir/merged``).
        progress: Called with one-line status messages.

    Returns:
        The output directory.

    Raises:
        TermadaptError: missing model/dataset, mismatched models, bad α.
    """
    import torch

    from .models import resolve_model

    say = progress or (lambda _m: None)
    run_dir = Path(run_dir)
    explicit_model = adapted_dir
    adapted_dir = Path(adapted_dir) if adapted_dir else run_dir / "model"
    out = Path(out_dir) if out_dir else run_dir / MERGED_DIR
    choice = _parse_alpha(recipe.merge.alpha if alpha is None else alpha)
    if not adapted_dir.is_dir():
        raise TermadaptError(f"{adapted_dir}: no adapted model — run `termadapt train` first, or pass the model directory")
    out.mkdir(parents=True, exist_ok=True)
    (out / "merge.json").unlink(missing_ok=True)  # written last: marks a complete directory

    if choice == "auto":  # check the data before spending time on the models
        rows, split = _load_validation(run_dir)
    say(f"loading adapted model {adapted_dir} and base model {recipe.model.base}")
    adapted, processor = resolve_model(str(adapted_dir))
    base, _ = resolve_model(recipe.model.base)
    base_state, adapted_state = base.state_dict(), adapted.state_dict()
    changed = differing_keys(base_state, adapted_state)
    base_sub = _clone_tied(base_state, changed)
    adapted_sub = _clone_tied(adapted_state, changed)
    del base, base_state
    shared = not any(k.startswith(("model.encoder.", "encoder.")) for k in changed)
    info: dict[str, Any] = {"base": recipe.model.base, "adapted": str(adapted_dir), "mode": "fixed",
                            "changed_tensors": len(changed), "encoder_shared": shared}

    if choice == "auto":
        terms = _dictionary_terms(run_dir, rows)
        alphas = sorted({0.0, *(float(a) for a in recipe.merge.alpha_grid)})
        key = _fingerprint(base_sub, adapted_sub, extra=json.dumps(
            [recipe.model.language, recipe.model.task, recipe.merge.max_new_tokens,
             [(r["text"], r["kind"]) for r in rows], split._fingerprint], ensure_ascii=False))
        adapted.to(_device()).eval()
        say(f"picking α on {len(rows)} validation clips at α ∈ {alphas}"
            + (" (encoder shared by every α)" if shared else ""))
        hyps = _decode_grid(recipe, out, adapted, processor, base_sub, adapted_sub, alphas, rows, split, key)
        scores = {a: score_validation(rows, hyps[a], terms) for a in alphas}
        base_cer = scores[0.0]["general_cer"]
        points = [CurvePoint(alpha=a, general_cer_increase=s["general_cer"] - base_cer, **s) for a, s in scores.items()]
        grid = [p for p in points if p.alpha in {float(x) for x in recipe.merge.alpha_grid}] or points
        chosen, reason = select_alpha(grid, max_cer_increase=recipe.evaluate.max_general_cer_increase,
                                      max_invented=recipe.evaluate.max_invented_terms,
                                      max_swaps=recipe.evaluate.max_homophone_swaps)
        budget = {"max_general_cer_increase": recipe.evaluate.max_general_cer_increase,
                  "max_invented_terms": recipe.evaluate.max_invented_terms,
                  "max_homophone_swaps": recipe.evaluate.max_homophone_swaps}
        base_point = next(p for p in points if p.alpha == 0.0)
        base_point.reason = base_point.reason or "the base model: reference for the CER increase"
        curve = {"chosen_alpha": chosen, "reason": reason, "budget": budget, "validation_rows": len(rows),
                 "base": dataclasses.asdict(base_point), "points": [dataclasses.asdict(p) for p in grid]}
        atomic_write_text(out / "merge_curve.json", json.dumps(curve, ensure_ascii=False, indent=2) + "\n")
        info.update(mode="auto", reason=reason, within_budget=any(p.qualifies and p.chosen for p in grid))
        choice = chosen
        say(f"α = {chosen:g}: {reason}")

    with torch.no_grad():
        full = dict(adapted.state_dict())
        full.update(interpolate(base_sub, adapted_sub, float(choice)))
        adapted.load_state_dict(full, strict=True)
    adapted.to("cpu")
    _write_model_dir(adapted, processor, adapted_dir, out)
    info["alpha"] = float(choice)
    if explicit_model is None:  # a pipeline stage: record the recipe next to the run's other outputs
        save_resolved(recipe, run_dir)
    atomic_write_text(out / "merge.json", json.dumps(info, ensure_ascii=False, indent=2) + "\n")
    return out
