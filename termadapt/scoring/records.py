"""The scored records: what the scorer finds, as the report stores them.

:mod:`.evaluation` fills these from clips and hypotheses; :mod:`termadapt.report.schema`
puts them into the versioned ``report.json``. A metric declared in :mod:`.table` is a field
of :class:`ConditionMetrics` here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

__all__ = [
    "EvalClip",
    "ConditionMetrics",
    "SetMetrics",
    "TermRow",
    "UtteranceRow",
    "ClipChange",
    "OverTrigger",
    "Leak",
]


@dataclass
class EvalClip:
    """One clip of an evaluation set, with the dataset columns the metrics need.

    Attributes:
        set: Dataset split name (``test_terms``, ``general``, ``import_*``).
        index: Row index within the split.
        audio_key: Content key of the audio (:func:`termadapt.audio.cell_key`).
        audio: 16 kHz float32 samples.
        decides: 1 when the context decides a homophone term's spelling, 0 when neutral,
            -1 when the clip has no homophone term.
    """

    set: str
    index: int
    audio_key: str
    audio: np.ndarray
    text: str
    kind: str = "general"
    voice: str = ""
    terms: tuple[str, ...] = ()
    utterance_id: str = ""
    homophone_of: str = ""
    decides: int = -1
    duration: float = 0.0

    @property
    def clip_id(self) -> str:
        """Readable id unique within the report: ``set/index/utterance_id``."""
        return f"{self.set}/{self.index}/{self.utterance_id or self.audio_key[:8]}"

    def samples(self) -> np.ndarray:
        """The audio (for the decoder)."""
        return self.audio


@dataclass
class ConditionMetrics:
    """Metrics of one condition on one evaluation set (rates are fractions, not %).

    ``None`` marks a metric that does not apply (term recall on a general set, deltas of the
    base condition itself).
    """

    condition: str
    clips: int
    cer: float = 0.0
    reading_cer: float = 0.0
    wer: float = 0.0
    cer_clean: Optional[float] = None  # CER without TTS-suspect clips (None: every clip is suspect)
    cer_delta: Optional[float] = None  # vs base, fraction
    cer_delta_ci: Optional[list[float]] = None  # paired bootstrap 95% CI [low, high]
    term_hits: int = 0
    term_total: int = 0
    term_recall: Optional[float] = None
    decides_hits: int = 0
    decides_total: int = 0
    recall_decides: Optional[float] = None  # homophone terms, context decides
    neutral_hits: int = 0
    neutral_total: int = 0
    recall_neutral: Optional[float] = None  # homophone terms, context allows either word
    budget_recall: Optional[float] = None  # recall without neutral sentences
    invented_terms: int = 0  # clips with a term the reference lacks (not homophone sentences)
    homophone_swaps: int = 0  # homophone sentences written with the term
    homophone_clips: int = 0
    base_correct: int = 0
    retained: int = 0
    retention: Optional[float] = None
    regressions: int = 0
    fixes: int = 0
    leaks: int = 0  # clips with leaked training-template wording
    repetition_rate: Optional[float] = None  # share of hypotheses stuck in a loop (scoring.table)


@dataclass
class SetMetrics:
    """One evaluation set (a dataset split) and every condition's metrics on it."""

    name: str
    role: str  # "terms" (test_terms), "general" or "import"
    clips: int
    voices: list[str] = field(default_factory=list)
    suspect_clips: int = 0
    conditions: list[ConditionMetrics] = field(default_factory=list)

    def get(self, condition: str) -> Optional[ConditionMetrics]:
        """Metrics of ``condition`` on this set, or None."""
        return next((c for c in self.conditions if c.condition == condition), None)


@dataclass
class TermRow:
    """Recall of one term per condition on the test_terms set, and its swaps in the general sets."""

    term: str
    homophones: list[str] = field(default_factory=list)
    total: int = 0
    neutral_total: int = 0
    hits: dict[str, int] = field(default_factory=dict)
    neutral_hits: dict[str, int] = field(default_factory=dict)
    sound_alikes: list[str] = field(default_factory=list)
    homophone_clips: int = 0  # general/imported clips that say one of its homophones or sound-alikes
    homophone_sentences: int = 0  # the distinct sentences among them (a sentence by two voices is one)
    swaps: dict[str, int] = field(default_factory=dict)  # condition → those clips written with the term

    def recall(self, condition: str) -> Optional[float]:
        """Share of this term's clips whose hypothesis contains it."""
        return self.hits.get(condition, 0) / self.total if self.total else None


@dataclass
class UtteranceRow:
    """One evaluated clip: reference and every condition's hypothesis."""

    set: str
    clip_id: str
    utterance_id: str
    voice: str
    kind: str
    ref: str
    terms: list[str] = field(default_factory=list)
    hyps: dict[str, str] = field(default_factory=dict)
    cer: dict[str, float] = field(default_factory=dict)
    suspect: bool = False


@dataclass
class ClipChange:
    """A clip whose CER got worse (regression) or better (fix) than the base model's."""

    set: str
    clip_id: str
    condition: str
    change: str  # "regression" or "fix"
    ref: str
    base_hyp: str
    hyp: str
    base_cer: float
    cer: float
    suspect: bool = False
    audio: str = ""  # wav path relative to the run directory ("" when not saved)


@dataclass
class OverTrigger:
    """A term written in a hypothesis whose reference lacks it."""

    set: str
    clip_id: str
    condition: str
    term: str
    kind: str  # "invented" or "homophone_swap"
    ref: str
    hyp: str


@dataclass
class Leak:
    """Training-template wording in a hypothesis whose reference (and base hypothesis) lack it."""

    set: str
    clip_id: str
    condition: str
    ngram: str
    template: str
    ref: str
    hyp: str
