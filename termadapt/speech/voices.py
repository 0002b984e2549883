"""The voice plan: which voices speak the training sentences, which are held out.

Voice specs (``engine:voice?knob=value``) are parsed by :func:`termadapt.tts.parse_voice`.
The voice plan (:func:`plan_voices`) takes the recipe's ``[synth]`` training and held-out
voices; when a held-out engine is not installed here, it uses ``fallback_heldout_voices``
and records that, so the report can say the held-out speech came from the training engine.
``validation_voices`` (optional) speak the validation split instead of the held-out voices,
so the voices of the test never take part in a decision (early stopping, the merge α).

Writes (``write_voice_plan``): ``voices.json`` in the run directory.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..records import VOICES_FILE, atomic_write_text
from ..tts import VoiceSpec, engine_class, get_engine, parse_voice

__all__ = ["VoicePlan", "plan_voices", "write_voice_plan", "read_voice_plan"]


@dataclass
class VoicePlan:
    """Which voices speak which split.

    Attributes:
        train: Voices for training audio (train split: terms and replay pool).
        heldout: Voices for test audio (and validation audio without ``validation``), never
            used for training.
        validation: Voices for validation audio when they differ from ``heldout`` (empty:
            ``heldout`` speaks validation too); never used for training.
        fallback_used: True when ``heldout`` came from ``fallback_heldout_voices``.
        unavailable: Requested held-out voices not usable here, with the reason.
        notes: Human-readable lines for the report.
    """

    train: list[VoiceSpec]
    heldout: list[VoiceSpec]
    validation: list[VoiceSpec] = field(default_factory=list)
    fallback_used: bool = False
    unavailable: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["train"] = [str(v) for v in self.train]
        data["heldout"] = [str(v) for v in self.heldout]
        data["validation"] = [str(v) for v in self.validation]
        return data

    @property
    def validation_voices(self) -> list[VoiceSpec]:
        """The voices that speak the validation split."""
        return self.validation or self.heldout

    @property
    def never_trained(self) -> list[VoiceSpec]:
        """Every voice kept out of training (test and validation)."""
        return self.heldout + [v for v in self.validation if v not in self.heldout]


def _not_installed(spec: VoiceSpec, options: dict[str, dict[str, Any]], where: str) -> str:
    """Why a voice's engine is not installed here ("" when it is); a misspelt voice is an error.

    Raises:
        ConfigError: unknown engine, unknown voice or knob of an installed engine (a typo must
            not silently switch to another voice).
    """
    try:
        cls = engine_class(spec.engine)
    except ConfigError as exc:
        raise ConfigError(f"{where}: '{spec}': {exc}") from None
    if not cls.available():
        return f"engine '{spec.engine}' is not installed — {cls.install_hint}"
    try:
        get_engine(spec.engine, **options.get(spec.engine, {})).check_voice(spec)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return ""


def _sounds_like(spec: VoiceSpec, options: dict[str, dict[str, Any]]) -> str:
    """The effective voice (engine, voice, knobs that differ from their defaults), as a string."""
    cls = engine_class(spec.engine)
    if not cls.available():
        return str(spec)
    return str(get_engine(spec.engine, **options.get(spec.engine, {})).effective(spec))


def plan_voices(synth: Any, engine_options: dict[str, dict[str, Any]] | None = None) -> VoicePlan:
    """Build the voice plan from a recipe's ``[synth]`` section.

    Training voices must all be usable (a missing training engine is an error naming the
    install command); a held-out voice whose engine is not installed is replaced by the
    fallback list — the only case a fallback is used: a misspelt engine, voice or knob is an
    error. No held-out voice may sound like a training voice: voices are compared by their
    engine, voice and effective knob values (``?half_tone=0`` is the default voice).

    Raises:
        ConfigError: bad or misspelt spec, unusable training voice, overlap, or no held-out voice left.
    """
    options = engine_options or {}
    train = [parse_voice(v, "synth.train_voices") for v in synth.train_voices]
    if not train:
        raise ConfigError("synth.train_voices is empty — list at least one voice (see `termadapt voices`)")
    for spec in train:
        problem = _not_installed(spec, options, "synth.train_voices")
        if problem:
            raise ConfigError(f"synth.train_voices: '{spec}' cannot be used: {problem}")
    requested = [parse_voice(v, "synth.heldout_voices") for v in synth.heldout_voices]
    heldout: list[VoiceSpec] = []
    unavailable: dict[str, str] = {}
    for spec in requested:
        problem = _not_installed(spec, options, "synth.heldout_voices")
        if problem:
            unavailable[str(spec)] = problem
        else:
            heldout.append(spec)
    plan = VoicePlan(train=train, heldout=heldout, unavailable=unavailable)
    if unavailable:
        fallback = [parse_voice(v, "synth.fallback_heldout_voices") for v in synth.fallback_heldout_voices]
        for spec in fallback:
            problem = _not_installed(spec, options, "synth.fallback_heldout_voices")
            if problem:
                raise ConfigError(f"synth.fallback_heldout_voices: '{spec}' cannot be used: {problem}")
        missing = ", ".join(unavailable)
        if not heldout:
            plan.heldout = fallback
            plan.fallback_used = True
            plan.notes.append(
                f"held-out voices {missing} are not installed here; held-out speech comes from the fallback "
                f"voices {', '.join(map(str, fallback))} (same engine as training, settings outside the training range)"
            )
        else:
            plan.notes.append(f"held-out voices {missing} are not installed here and were skipped")
    if not plan.heldout:
        raise ConfigError("synth.heldout_voices is empty — list at least one voice never used for training")
    _plan_validation(plan, synth, options)
    trained = {_sounds_like(v, options): v for v in plan.train}
    for spec in plan.never_trained:
        same = trained.get(_sounds_like(spec, options))
        if same is not None:
            raise ConfigError(
                f"held-out voice '{spec}' sounds exactly like training voice '{same}' (both are "
                f"'{_sounds_like(spec, options)}') — give it other settings or remove it from one of "
                "synth.train_voices / synth.heldout_voices / synth.validation_voices"
            )
    return plan


def _plan_validation(plan: VoicePlan, synth: Any, options: dict[str, dict[str, Any]]) -> None:
    """Fill ``plan.validation`` from ``synth.validation_voices``: the installed ones; when none
    is installed, the held-out voices speak validation too (and a note says so)."""
    requested = [parse_voice(v, "synth.validation_voices") for v in getattr(synth, "validation_voices", ())]
    missing = []
    for spec in requested:
        problem = _not_installed(spec, options, "synth.validation_voices")
        if problem:
            missing.append(str(spec))
            plan.unavailable[str(spec)] = problem
        else:
            plan.validation.append(spec)
    if missing:
        where = "were skipped" if plan.validation else "so the held-out (test) voices speak validation too"
        plan.notes.append(f"validation voices {', '.join(missing)} are not installed here; {where}")


def write_voice_plan(plan: VoicePlan, run_dir: str | Path) -> Path:
    """Write ``voices.json`` into ``run_dir``."""
    out = Path(run_dir) / VOICES_FILE
    atomic_write_text(out, json.dumps(plan.to_json(), ensure_ascii=False, indent=2) + "\n")
    return out


def read_voice_plan(run_dir: str | Path) -> VoicePlan:
    """Read ``voices.json`` back (see :func:`write_voice_plan`)."""
    data = json.loads((Path(run_dir) / VOICES_FILE).read_text(encoding="utf-8"))
    return VoicePlan(
        train=[parse_voice(v) for v in data["train"]],
        heldout=[parse_voice(v) for v in data["heldout"]],
        validation=[parse_voice(v) for v in data.get("validation", [])],
        fallback_used=bool(data.get("fallback_used", False)),
        unavailable=dict(data.get("unavailable", {})),
        notes=list(data.get("notes", [])),
    )
