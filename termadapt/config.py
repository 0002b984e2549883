"""Typed recipes read from TOML.

A recipe has one table per stage (``[dictionary]``, ``[sentences]``, ``[synth]``,
``[dataset]``, ``[model]``, ``[train]``, ``[merge]``, ``[evaluate]``, ``[report]``) plus a few
top-level keys. Every field has a default and a one-line doc (``doc`` metadata); unknown
keys and wrong types are :class:`~termadapt.errors.ConfigError` naming the closest valid
key. Relative paths are resolved against the recipe file's folder.

A path written ``shipped:NAME`` names a file shipped with the package (``termadapt/data/``:
the demo and medical dictionaries, the general sentences, the templates), so recipes work
from a checkout and from an installed wheel alike.

Reads: a ``.toml`` file. Writes (``save_resolved``): ``config.resolved.toml`` in a run
directory, which is itself a valid recipe that reproduces the run.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from .compute import PRECISIONS
from .errors import ConfigError
from .records import RESOLVED_RECIPE, atomic_write_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "Recipe",
    "DictionaryConfig",
    "SentencesConfig",
    "SynthConfig",
    "DatasetConfig",
    "ModelConfig",
    "TrainConfig",
    "MergeConfig",
    "EvaluateConfig",
    "ReportConfig",
    "load_recipe",
    "recipe_from_dict",
    "save_resolved",
    "to_toml",
    "SHIPPED_DIR",
    "SHIPPED_PREFIX",
    "shipped_path",
    "resolve_path",
]

# Shipped dictionaries, templates and general sentences: package data, so `pip install .`
# (not only an editable install) finds them.
SHIPPED_DIR = Path(__file__).resolve().parent / "data"
# Prefix of a path that names a shipped file: `shipped:demo-product.csv`.
SHIPPED_PREFIX = "shipped:"
# The shipped general sentences, used when `sentences.general_sentences` is empty.
GENERAL_SENTENCES = "general-ja.txt"
# Keys that existed in earlier versions: a recipe using one gets a message saying where it went.
MOVED_KEYS = {
    "train.cer_weight": "early stopping now ranks checkpoints by the forgetting budget ([evaluate]) — delete the key",
    "merge.max_new_tokens": "every validation and evaluation decode uses evaluate.max_new_tokens — move the value there",
}


def shipped_path(name: str) -> Path:
    """The shipped file ``name`` (relative to ``termadapt/data/``), e.g. ``templates/tech.txt``."""
    return SHIPPED_DIR / name


def resolve_path(value: str, base: str | Path | None = None) -> Path:
    """A path from a recipe or the command line: ``shipped:NAME``, absolute, or relative to ``base``."""
    if value.startswith(SHIPPED_PREFIX):
        return shipped_path(value[len(SHIPPED_PREFIX) :])
    p = Path(value).expanduser()
    if p.is_absolute() or base is None:
        return p
    return (Path(base) / p).resolve()


@dataclass(frozen=True)
class Range:
    """The valid values of a numeric recipe key, written like an interval: ``"[0, 1)"``, ``"(0, inf)"``."""

    text: str

    def bounds(self) -> tuple[float, float, bool, bool]:
        """``(low, high, low_open, high_open)``."""
        lo, hi = (p.strip() for p in self.text[1:-1].split(","))
        return float(lo), float(hi), self.text[0] == "(", self.text[-1] == ")"

    def contains(self, value: float) -> bool:
        """Whether ``value`` is a finite number inside the interval (NaN never is)."""
        lo, hi, lo_open, hi_open = self.bounds()
        if not math.isfinite(value):
            return False
        return (value > lo if lo_open else value >= lo) and (value < hi if hi_open else value <= hi)


def doc(text: str, default: Any = dataclasses.MISSING, factory: Any = dataclasses.MISSING, valid: str = "") -> Any:
    """A dataclass field with a one-line documentation string and, for numbers, its valid range."""
    metadata = {"doc": text, "range": Range(valid) if valid else None}
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class DictionaryConfig:
    """Which term dictionaries to read."""

    paths: list[str] = doc("Term dictionaries (CSV/TSV), relative to the recipe.", factory=list)
    encoding: str = doc("File encoding: auto, utf-8, utf-8-sig, cp932 or shift_jis.", "auto")
    fail_on_warnings: bool = doc("Treat dictionary warnings (duplicates…) as errors.", False)
    max_homophones: int = doc(
        "Most general words sharing a term's reading to record per term (0 = none).", 5, valid="[0, 100]"
    )
    max_sound_alikes: int = doc(
        "Most everyday words one kana away from a term's reading to record per term, guarded and scored "
        "like homophones (0 = none).",
        3,
        valid="[0, 100]",
    )
    max_terms: int = doc(
        "Use at most this many terms: a seeded sample in dictionary order (0 = all). For a quick "
        "CPU run of a large dictionary.",
        0,
        valid="[0, inf)",
    )


@dataclass
class SentencesConfig:
    """How term and general sentences are made and split."""

    domains: list[str] = doc("Shipped template domains to use: general, medical, tech.", factory=lambda: ["general"])
    template_files: list[str] = doc("Extra template files (one `{term}` template a line).", factory=list)
    general_sentences: str = doc("File of general sentences (one a line); empty = the shipped general-ja.txt.", "")
    extra_general_sentences: list[str] = doc(
        "More general-sentence files, added to general_sentences: e.g. sentences using your terms' homophones "
        "in their everyday sense, which become homophone guards split between training, validation and test.",
        factory=list,
    )
    test_template_fraction: float = doc("Share of templates held out for testing.", 0.3, valid="(0, 1)")
    validation_template_fraction: float = doc("Share of templates held out for validation.", 0.15, valid="[0, 1)")
    templates_per_term: int = doc("Training templates per term (0 = all training templates).", 0, valid="[0, inf)")
    test_templates_per_term: int = doc("Test templates per term (0 = all test templates).", 0, valid="[0, inf)")
    validation_templates_per_term: int = doc(
        "Validation templates per term (0 = all validation templates).", 0, valid="[0, inf)"
    )
    include_alone: bool = doc("Also speak each term alone.", True)
    include_context: bool = doc("Also speak the dictionary's own context sentences.", True)
    context_test_per_term: int = doc(
        "Context sentences per term held out as a generalization test (dataset split test_context: "
        "wording the templates do not share, reported apart from the budget); a term keeps at least "
        "one for training.",
        1,
        valid="[0, inf)",
    )
    include_homophones: bool = doc("Add general sentences that use each term's homophones.", True)
    min_homophone_sentences: int = doc(
        "Fewest test sentences per term that say one of its homophones or sound-alikes in its everyday "
        "sense (validation gets half as many, replay twice as many); where the general sentences have "
        "fewer, the sentences stage makes them from grammar or dictionary compounds that rule the term "
        "out (0 = make none).",
        4,
        valid="[0, 1000]",
    )
    homophone_terms_deciding_only: bool = doc(
        "For a term with homophones, train and validate only on sentences whose context decides the "
        "spelling (domain templates, context sentences): the term alone or in a neutral sentence would "
        "teach its spelling regardless of context, against the homophone guard.",
        True,
    )
    general_replay_fraction: float = doc(
        "Share of general sentences in the replay (training) pool.", 0.6, valid="[0, 1)"
    )
    general_validation_fraction: float = doc("Share of general sentences kept for validation.", 0.1, valid="[0, 1)")
    max_general_replay: int = doc("Cap on replay sentences (0 = no cap).", 0, valid="[0, inf)")
    max_general_validation: int = doc("Cap on validation general sentences (0 = no cap).", 0, valid="[0, inf)")
    max_general_test: int = doc("Cap on regression (test) general sentences (0 = no cap).", 0, valid="[0, inf)")


@dataclass
class SynthConfig:
    """Which voices speak the sentences, and how audio is cached."""

    train_voices: list[str] = doc(
        "Voices used for training audio (see `termadapt voices`).",
        factory=lambda: [
            "openjtalk:mei_normal?speed=1.0",
            "openjtalk:mei_normal?speed=0.9&half_tone=-2",
            "openjtalk:mei_normal?speed=1.15&half_tone=2",
        ],
    )
    heldout_voices: list[str] = doc(
        "Voices never used for training: test and validation audio.",
        factory=lambda: ["kokoro:jf_alpha", "kokoro:jm_kumo"],
    )
    validation_voices: list[str] = doc(
        "Voices for validation audio only (empty = heldout_voices speak it): voices the test does not "
        "use, so no decision is made on the test's voices.",
        factory=list,
    )
    fallback_heldout_voices: list[str] = doc(
        "Held-out voices used when a held-out engine is not installed (outside the training range).",
        factory=lambda: ["openjtalk:mei_normal?speed=1.3&half_tone=-4"],
    )
    workers: int = doc("Worker processes for synthesis (0 = number of CPU cores).", 0, valid="[0, 1024]")
    cache_dir: str = doc("Audio cache shared across runs (empty = $TERMADAPT_CACHE/audio).", "")
    augment_copies: int = doc("Augmented copies per training clip (extra `augment`).", 0, valid="[0, 100]")
    augmentations: list[str] = doc(
        "Augmentations to draw from: noise, bandpass, reverb, pitch, tempo, gain.",
        factory=lambda: ["noise", "bandpass", "reverb", "pitch", "tempo", "gain"],
    )
    train_voices_per_utterance: int = doc(
        "Training voices per training sentence, drawn with the seed (0 = every training voice).", 0, valid="[0, inf)"
    )
    replay_voices_per_utterance: int = doc(
        "Training voices per general replay sentence (0 = as train_voices_per_utterance).", 0, valid="[0, inf)"
    )
    heldout_voices_per_utterance: int = doc(
        "Held-out voices per validation/test sentence, drawn with the seed (0 = every held-out voice).",
        0,
        valid="[0, inf)",
    )
    max_failure_share: float = doc(
        "Fail the synth stage when more than this share of clips fails.", 0.02, valid="[0, 1]"
    )
    command_template: str = doc(
        "Program for `command:NAME` voices: {text_file} {wav_file} {voice} {text} placeholders.", ""
    )
    coqui_models: list[str] = doc(
        "Tacotron2 checkpoint folders (config.json + model .pth) for `coqui:FOLDERNAME` voices.", factory=list
    )
    espnet_models: list[str] = doc(
        "ESPnet2 TTS model folders (config.yaml + .pth, optional vocoder/) for `espnet:FOLDERNAME` voices.",
        factory=list,
    )


@dataclass
class DatasetConfig:
    """How clips become a datasets.DatasetDict, and which real speech is imported."""

    eval_imports: list[str] = doc("Real speech to add as evaluation sets (Kaldi dir, CSV/JSONL, folder).", factory=list)
    replay_imports: list[str] = doc("Real speech to add to the replay pool.", factory=list)
    max_duration: float = doc(
        "Drop clips longer than this many seconds (Whisper's window is 30 s).", 30.0, valid="(0, 30]"
    )


@dataclass
class ModelConfig:
    """The base model."""

    base: str = doc(
        "Model spec: whisper-base, a hub id, a local HF dir, a .pt file or a CTranslate2 dir.", "whisper-base"
    )
    language: str = doc("Whisper language code.", "ja")
    task: str = doc("Whisper task: transcribe.", "transcribe")


@dataclass
class TrainConfig:
    """Fine-tuning and its guards against forgetting."""

    freeze: str = doc("What to freeze: encoder, none or lora.", "encoder")
    learning_rate: float = doc(
        "Peak learning rate (0 = 1/40 of the model size's pre-training LR).", 0.0, valid="[0, 1)"
    )
    epochs: float = doc("Maximum epochs over the term data.", 2.0, valid="(0, 1000]")
    max_steps: int = doc("Stop after this many optimizer steps (0 = use epochs).", 0, valid="[0, inf)")
    batch_size: int = doc("Samples per device step.", 8, valid="[1, 4096]")
    gradient_accumulation_steps: int = doc("Steps accumulated per optimizer step.", 1, valid="[1, 4096]")
    warmup_ratio: float = doc("Share of steps for linear warm-up.", 0.1, valid="[0, 1)")
    weight_decay: float = doc("AdamW weight decay.", 0.0, valid="[0, 1]")
    replay_ratio: float = doc("Share of each batch drawn from general replay speech.", 0.5, valid="[0, 1)")
    distill: str = doc("Distillation on replay speech: none, labels (base transcripts) or kl.", "none")
    distill_weight: float = doc("Weight of the KL term when distill = kl.", 1.0, valid="[0, 100]")
    homophone_guard: bool = doc("Train on sentences using each term's homophones in their general sense.", True)
    homophone_balance: float = doc(
        "Repeat a term's homophone sentences until they are about this share of its own sentences (0 = no repetition).",
        1.0,
        valid="[0, 100]",
    )
    early_stopping: bool = doc(
        "Evaluate during training and keep the best checkpoint, ranked by the forgetting budget "
        "([evaluate]): within it, the best term recall.",
        True,
    )
    eval_every_steps: int = doc("Steps between validation evaluations (0 = once per epoch).", 0, valid="[0, inf)")
    patience: int = doc("Evaluations without improvement before stopping.", 2, valid="[0, 1000]")
    precompute_encoder: str = doc("Run the frozen encoder once per clip: auto, on or off.", "auto")
    timestamps: bool = doc("Keep timestamp prediction alive by training some samples with timestamps.", True)
    timestamp_fraction: float = doc("Share of samples trained with timestamp tokens.", 0.3, valid="[0, 1]")
    precision: str = doc(
        "Training and the frozen encoder's pass: auto, fp32, bf16 or fp16 (auto = bf16 on a GPU that has it "
        "or a CPU with bfloat16 matrix instructions — Intel AMX / AVX512-BF16 — else fp32; fp16 needs a GPU).",
        "auto",
    )
    gradient_checkpointing: bool = doc("Trade compute for memory on large models.", False)
    lora_r: int = doc("LoRA rank when freeze = lora.", 16, valid="[1, 1024]")
    lora_alpha: int = doc("LoRA alpha when freeze = lora.", 32, valid="[1, 4096]")
    save_total_limit: int = doc("Checkpoints kept for resuming.", 2, valid="[1, 1000]")


@dataclass
class MergeConfig:
    """Interpolation of adapted and base weights: θ = (1−α)·θ_base + α·θ_adapted."""

    enabled: bool = doc("Run the merge stage.", True)
    alpha: Union[str, float] = doc('Merge weight α in [0, 1], or "auto" to pick it on validation data.', "auto")
    alpha_grid: list[float] = doc("α values tried by auto.", factory=lambda: [0.3, 0.5, 0.7, 0.85, 1.0])
    task_vector_keep: float = doc(
        "Share of each tensor's change (adapted − base) kept before merging, largest changes first "
        "(TIES-style trimming; 1 = all).",
        1.0,
        valid="(0, 1]",
    )


@dataclass
class EvaluateConfig:
    """Evaluation sets, compared conditions and the forgetting budget."""

    conditions: list[str] = doc(
        "Conditions compared: base, prompt, adapted, merged.", factory=lambda: ["base", "prompt", "adapted", "merged"]
    )
    batch_size: int = doc("Clips per generate() call.", 8, valid="[1, 4096]")
    backend: str = doc("Transcription backend: transformers or faster-whisper.", "transformers")
    ct2_compute_type: str = doc("faster-whisper backend: CTranslate2 compute type on CPU (float32 or int8).", "float32")
    precision: str = doc(
        "Every transformers decode (validation, the merge α sweep, evaluation): auto, fp32, bf16 or fp16, "
        "as train.precision (auto = bf16 where the GPU or CPU runs it natively, else fp32).",
        "auto",
    )
    evidence_trade: bool = doc(
        "Decisions on validation (early-stopping checkpoint, merge α) give up term recall only for "
        "forgetting the clips resolve: a candidate with more recall than the budget's pick wins when its "
        "recall gain over the pick is resolved (paired 95% interval above 0) and its extra CER is not "
        "(false: point estimates alone decide).",
        True,
    )
    max_new_tokens: int = doc(
        "Most tokens decoded per clip, in validation (early stopping, merge α) and evaluation alike "
        "(clips are short sentences; the cap stops repetition loops).",
        128,
        valid="[1, 444]",
    )
    max_general_cer_increase: float = doc(
        "Budget: general CER may rise at most this many points (insertions can push CER past 100).",
        0.5,
        valid="[0, inf)",
    )
    min_term_recall: float = doc("Budget: term recall on held-out speech at least this share.", 0.95, valid="[0, 1]")
    max_invented_terms: int = doc("Budget: general clips with an invented term, at most.", 0, valid="[0, inf)")
    max_homophone_swaps: int = doc("Budget: homophone sentences turned into the term, at most.", 0, valid="[0, inf)")
    bootstrap_samples: int = doc("Bootstrap resamples for confidence intervals.", 1000, valid="[0, 1000000]")


@dataclass
class ReportConfig:
    """Report outputs."""

    formats: list[str] = doc("Files to write: json, md, html, csv.", factory=lambda: ["json", "md", "html", "csv"])
    embed_audio: bool = doc("Embed regressed clips' audio in report.html.", True)
    max_regressions_listed: int = doc(
        "Regressions listed in the report (all are in report.json).", 50, valid="[0, inf)"
    )


@dataclass
class Recipe:
    """A whole recipe. Top-level keys: name, run_dir, seed; one table per stage."""

    name: str = doc("Run name.", "run")
    run_dir: str = doc("Run directory (relative to the recipe; empty = runs/<name> in the working dir).", "")
    seed: int = doc("Seed for every random choice (splits, sampling, initialisation).", 0, valid="[0, 4294967295]")
    dictionary: DictionaryConfig = doc("Term dictionaries.", factory=DictionaryConfig)
    sentences: SentencesConfig = doc("Sentence making.", factory=SentencesConfig)
    synth: SynthConfig = doc("Speech synthesis.", factory=SynthConfig)
    dataset: DatasetConfig = doc("Dataset building.", factory=DatasetConfig)
    model: ModelConfig = doc("Base model.", factory=ModelConfig)
    train: TrainConfig = doc("Fine-tuning.", factory=TrainConfig)
    merge: MergeConfig = doc("Merging with the base model.", factory=MergeConfig)
    evaluate: EvaluateConfig = doc("Evaluation and budget.", factory=EvaluateConfig)
    report: ReportConfig = doc("Report.", factory=ReportConfig)
    source: str = field(default="", metadata={"doc": "", "internal": True})

    def path(self, value: str) -> Path:
        """Resolve a path from the recipe: ``shipped:NAME``, absolute, or relative to the recipe's folder."""
        return resolve_path(value, Path(self.source).parent if self.source else None)

    def general_sentences_path(self) -> Path:
        """The recipe's general sentence file, or the shipped ``general-ja.txt``."""
        value = self.sentences.general_sentences
        return self.path(value) if value else shipped_path(GENERAL_SENTENCES)

    def general_sentence_paths(self) -> list[Path]:
        """Every general sentence file: :meth:`general_sentences_path`, then ``extra_general_sentences``."""
        return [self.general_sentences_path(), *(self.path(p) for p in self.sentences.extra_general_sentences)]

    def resolved_run_dir(self, override: str | Path | None = None) -> Path:
        """The run directory: the CLI's --run-dir, else the recipe's, else runs/<name>."""
        if override:
            return Path(override)
        if self.run_dir:
            return self.path(self.run_dir)
        return Path("runs") / self.name


_PATH_FIELDS = {
    ("dictionary", "paths"),
    ("sentences", "template_files"),
    ("sentences", "general_sentences"),
    ("sentences", "extra_general_sentences"),
    ("dataset", "eval_imports"),
    ("dataset", "replay_imports"),
}


def _type_ok(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if tp is Any:
        return True
    if origin in (Union, types.UnionType):
        return any(_type_ok(value, t) for t in typing.get_args(tp))
    if origin is list:
        (inner,) = typing.get_args(tp)
        return isinstance(value, list) and all(_type_ok(v, inner) for v in value)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, tp)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(t) for t in typing.get_args(tp))
    if origin is list:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    return {str: "string", int: "integer", float: "number", bool: "true/false"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _build(cls: type, data: dict[str, Any], where: str, origin: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if f"{where}{key}" in MOVED_KEYS:
            raise ConfigError(f"{origin}: '{where}{key}' is no longer a recipe key — {MOVED_KEYS[where + key]}")
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1, cutoff=0.5)
            hint = f"did you mean '{close[0]}'?" if close else f"valid keys: {', '.join(fields)}"
            raise ConfigError(f"{origin}: unknown key '{where}{key}' — {hint}")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                raise ConfigError(f"{origin}: '{where}{key}' must be a table [{key}]")
            kwargs[key] = _build(tp, value, f"{where}{key}.", origin)
            continue
        if not _type_ok(value, tp):
            raise ConfigError(
                f"{origin}: '{where}{key}' must be {_type_name(tp)}, got {value!r} — {fields[key].metadata['doc']}"
            )
        if tp is float and isinstance(value, int):
            value = float(value)
        valid = fields[key].metadata.get("range")
        if valid is not None and not valid.contains(value):
            raise ConfigError(
                f"{origin}: '{where}{key}' = {value!r} is outside {valid.text} — {fields[key].metadata['doc']}"
            )
        kwargs[key] = value
    return cls(**kwargs)


def _validate(recipe: Recipe, origin: str) -> None:
    checks = [
        (recipe.train.freeze in {"encoder", "none", "lora"}, "train.freeze must be encoder, none or lora"),
        (recipe.train.distill in {"none", "labels", "kl"}, "train.distill must be none, labels or kl"),
        (recipe.train.precompute_encoder in {"auto", "on", "off"}, "train.precompute_encoder must be auto, on or off"),
        (recipe.train.precision in PRECISIONS, f"train.precision must be one of {', '.join(PRECISIONS)}"),
        (recipe.evaluate.precision in PRECISIONS, f"evaluate.precision must be one of {', '.join(PRECISIONS)}"),
        (
            recipe.merge.alpha == "auto"
            or (isinstance(recipe.merge.alpha, float) and 0.0 <= recipe.merge.alpha <= 1.0)
            or (isinstance(recipe.merge.alpha, int) and recipe.merge.alpha in (0, 1)),
            'merge.alpha must be "auto" or a number in [0, 1]',
        ),
        (all(0.0 <= a <= 1.0 for a in recipe.merge.alpha_grid), "merge.alpha_grid values must be in [0, 1]"),
        (0.0 < recipe.sentences.test_template_fraction < 1.0, "sentences.test_template_fraction must be in (0, 1)"),
        (
            0.0 <= recipe.sentences.validation_template_fraction < 1.0 - recipe.sentences.test_template_fraction,
            "sentences.validation_template_fraction + test_template_fraction must be below 1",
        ),
        (
            0.0 < recipe.sentences.general_replay_fraction + recipe.sentences.general_validation_fraction < 1.0,
            "sentences.general_replay_fraction + general_validation_fraction must be below 1 (the rest is the regression pool)",
        ),
        (
            recipe.evaluate.backend in {"transformers", "faster-whisper"},
            "evaluate.backend must be transformers or faster-whisper",
        ),
        (
            set(recipe.evaluate.conditions) <= {"base", "prompt", "adapted", "merged"},
            "evaluate.conditions may contain base, prompt, adapted, merged",
        ),
        (set(recipe.report.formats) <= {"json", "md", "html", "csv"}, "report.formats may contain json, md, html, csv"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"{origin}: {message}")


def recipe_from_dict(data: dict[str, Any], source: str = "") -> Recipe:
    """Build a validated :class:`Recipe` from a parsed TOML mapping."""
    origin = source or "<recipe>"
    recipe = _build(Recipe, data, "", origin)
    recipe.source = str(source)
    _validate(recipe, origin)
    return recipe


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a TOML recipe.

    Raises:
        ConfigError: the file is missing, not TOML, or has unknown keys / wrong types.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: recipe not found — pass the path of a .toml recipe (see recipes/)")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a UTF-8 text file — save the recipe as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML ({exc}) — check quotes and [table] headers") from None
    return recipe_from_dict(data, str(p.resolve()))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _absolute(recipe: Recipe, value: str) -> str:
    """A path made absolute for a resolved recipe; ``shipped:`` names stay (they are portable)."""
    return value if value.startswith(SHIPPED_PREFIX) else str(recipe.path(value))


def to_toml(recipe: Recipe, absolute_paths: bool = True) -> str:
    """Serialize a recipe (all fields, defaults included) back to TOML."""
    lines: list[str] = [f"# resolved recipe (from {recipe.source or 'defaults'})"]
    tables: list[str] = []
    for f in dataclasses.fields(recipe):
        if f.metadata.get("internal"):
            continue
        value = getattr(recipe, f.name)
        if dataclasses.is_dataclass(value):
            tables.append(f"\n[{f.name}]")
            for sub in dataclasses.fields(value):
                v = getattr(value, sub.name)
                if absolute_paths and (f.name, sub.name) in _PATH_FIELDS:
                    v = [_absolute(recipe, x) for x in v] if isinstance(v, list) else (_absolute(recipe, v) if v else v)
                tables.append(f"{sub.name} = {_toml_value(v)}")
        else:
            if absolute_paths and f.name == "run_dir" and value:
                value = str(recipe.path(value))
            lines.append(f"{f.name} = {_toml_value(value)}")
    return "\n".join(lines + tables) + "\n"


def save_resolved(recipe: Recipe, run_dir: str | Path) -> Path:
    """Write ``config.resolved.toml`` into ``run_dir`` (a recipe reproducing the run)."""
    out = Path(run_dir) / RESOLVED_RECIPE
    atomic_write_text(out, to_toml(recipe))
    return out


def field_docs() -> list[tuple[str, str, str]]:
    """(key, default, doc) for every recipe field, for documentation and `--help`."""
    rows: list[tuple[str, str, str]] = []
    for f in dataclasses.fields(Recipe):
        if f.metadata.get("internal"):
            continue
        default = getattr(Recipe(), f.name)
        if dataclasses.is_dataclass(default):
            for sub in dataclasses.fields(default):
                rows.append((f"{f.name}.{sub.name}", _toml_value(getattr(default, sub.name)), sub.metadata["doc"]))
        else:
            rows.append((f.name, _toml_value(default), f.metadata["doc"]))
    return rows
