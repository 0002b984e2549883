"""Scoring of evaluation hypotheses: per-set metrics, term table, regressions, over-triggering.

Pure functions from clips + hypotheses (``condition -> clip_id -> text``) to the typed
records of :mod:`.records`; no model is touched here, so everything is testable on
hand-written hypotheses. The metric columns are declared in :mod:`.table`; the budget's
view of a condition is :func:`outcome`.

What is counted (docs/design.md, "Scoring"):

- CER (primary), reading CER (katakana via OpenJTalk), WER on Sudachi words, per set;
- term recall on the ``terms`` role set, split for homophone terms into sentences whose
  context decides the spelling (``decides == 1``) and neutral ones (``decides == 0``);
  the budget uses recall without neutral sentences;
- over-triggering on general sets: a dictionary term in a hypothesis whose reference lacks
  it — an *invented term*, or a *homophone swap* when the clip is a homophone sentence of
  that very term (動機 written as 動悸);
- retention: of the general clips the base got exactly right, the share still right;
- regressions / fixes: clips with more (fewer) character errors than the base model;
- template leakage: character n-grams of training templates in a hypothesis whose
  reference and base hypothesis lack them;
- paired bootstrap 95% CI of the CER difference to base;
- TTS-suspect clips: general clips whose base *reading* CER is far off (the synthesized
  audio is probably wrong, not the model).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from . import text as metrics
from .budget import Outcome, SetOutcome
from .intervals import paired_bootstrap_ci
from .records import ClipChange, ConditionMetrics, EvalClip, Leak, OverTrigger, SetMetrics, TermRow, UtteranceRow
from .table import METRICS, Scored
from .terms import INVENTED, SWAP, TermInfo, counts_for_budget, homophone_sentence_of, over_triggers, term_recall

__all__ = [
    "LEAK_NGRAM",
    "TTS_SUSPECT_READING_CER",
    "TermInfo",
    "set_role",
    "template_ngrams",
    "paired_bootstrap_ci",
    "score",
    "outcome",
    "Scores",
]

# Leakage n-gram length in characters: shorter n-grams (ました, します) occur in almost any
# Japanese sentence; five characters of template wording are specific enough to be a leak.
LEAK_NGRAM = 5
# A general clip whose base-model reading CER exceeds this is flagged as a probable TTS
# misreading: whisper-base hears clean OpenJTalk/Kokoro speech at reading CER ~0.05–0.15,
# so a clip above 0.5 mostly says the audio itself does not match its text.
TTS_SUSPECT_READING_CER = 0.5
BASE = "base"
# The dictionary's own held-out context sentences: term recall on wording no template shares,
# reported apart — a check of how far recall generalizes, not part of the budget.
GENERALIZATION_SET = "test_context"


def set_role(name: str) -> str:
    """``terms`` for test_terms and test_context, ``import`` for import_* sets, else ``general``."""
    if name in ("test_terms", GENERALIZATION_SET):
        return "terms"
    if name.startswith("import_"):
        return "import"
    return "general"


def template_ngrams(templates: Sequence[str], n: int = LEAK_NGRAM, slot: str = "{term}") -> dict[str, str]:
    """Normalized character n-grams of template wording (never across the term slot).

    Returns:
        ``ngram -> template`` (first template containing it).
    """
    out: dict[str, str] = {}
    for tpl in templates:
        for fragment in tpl.split(slot):
            frag = metrics.normalize(fragment)
            for i in range(len(frag) - n + 1):
                out.setdefault(frag[i : i + n], tpl)
    return out


@dataclass
class Scores:
    """Everything :func:`score` computes, ready for the report."""

    sets: list[SetMetrics]
    terms: list[TermRow]
    utterances: list[UtteranceRow]
    changes: list[ClipChange]
    over_triggers: list[OverTrigger]
    leaks: list[Leak]


def _ratio(hits: int, total: int) -> float | None:
    return hits / total if total else None


def _reading_errors(ref: str, hyp: str) -> tuple[int, int]:
    return metrics.char_errors(metrics.reading(ref), metrics.reading(hyp))


def score(
    sets: Mapping[str, Sequence[EvalClip]],
    hyps: Mapping[str, Mapping[str, str]],
    conditions: Sequence[str],
    terms: Sequence[TermInfo],
    templates: Sequence[str] = (),
    bootstrap_samples: int = 1000,
    seed: int = 0,
) -> Scores:
    """Score every condition on every set.

    Args:
        sets: ``set name -> clips``.
        hyps: ``condition -> clip_id -> hypothesis``.
        conditions: Condition names in report order; ``base`` is the reference for deltas,
            regressions, retention and leakage (those stay empty without it).
        terms: Dictionary terms (for recall and over-triggering).
        templates: Training templates with ``{term}`` (for leakage).
        bootstrap_samples: Resamples for the CER-difference CI.
        seed: Bootstrap seed.
    """
    has_base = BASE in conditions
    ngrams = template_ngrams(templates)
    homophones = {t.target: list(t.homophones) for t in terms}
    guarded = {t.target: list(t.guarded_words) for t in terms}  # what makes a clip a homophone sentence
    targets = [t.target for t in terms]
    out = Scores([], [], [], [], [], [])
    term_rows: dict[str, TermRow] = {}
    said_by: dict[str, set[tuple[str, str]]] = defaultdict(set)  # term → its homophone sentences (set, id)

    for set_name, clips in sets.items():
        role = set_role(set_name)
        refs = [c.text for c in clips]
        ref_len = np.array([len(metrics.normalize(r)) for r in refs], dtype=np.int64)
        errs = {
            cond: np.array([metrics.char_errors(c.text, hyps[cond][c.clip_id])[0] for c in clips], dtype=np.int64)
            for cond in conditions
        }
        suspect = [False] * len(clips)
        # The terms each clip is a homophone sentence of: made guard sentences, and any clip
        # whose reference says a known homophone (general sentences, imported speech).
        guards = {c.clip_id: homophone_sentence_of(c.text, c.kind, c.homophone_of, guarded) for c in clips}
        if has_base and role != "terms":
            for i, c in enumerate(clips):
                e, n = _reading_errors(c.text, hyps[BASE][c.clip_id])
                suspect[i] = n > 0 and e / n > TTS_SUSPECT_READING_CER
        sm = SetMetrics(
            name=set_name,
            role=role,
            clips=len(clips),
            voices=sorted({c.voice for c in clips}),
            suspect_clips=sum(suspect),
        )
        for i, c in enumerate(clips):
            out.utterances.append(
                UtteranceRow(
                    set=set_name,
                    clip_id=c.clip_id,
                    utterance_id=c.utterance_id,
                    voice=c.voice,
                    kind=c.kind,
                    ref=c.text,
                    terms=list(c.terms),
                    hyps={k: hyps[k][c.clip_id] for k in conditions},
                    cer={k: float(errs[k][i] / max(ref_len[i], 1)) for k in conditions},
                    suspect=suspect[i],
                )
            )

        for cond in conditions:
            h = [hyps[cond][c.clip_id] for c in clips]
            cm = ConditionMetrics(condition=cond, clips=len(clips))
            scored = Scored(role=role, clips=clips, refs=refs, hyps=h, suspect=suspect)
            for metric in METRICS:
                if metric.compute is not None:
                    setattr(cm, metric.key, metric.compute(scored))
            # Term recall (every set with term clips; the budget reads the terms set): one count
            # (terms.term_recall) over the clips the budget counts, the neutral ones, the deciding ones.
            pairs = list(zip(h, (c.terms for c in clips)))
            counted = term_recall(p for p, c in zip(pairs, clips) if counts_for_budget(c.decides))
            neutral = term_recall(p for p, c in zip(pairs, clips) if not counts_for_budget(c.decides))
            deciding = term_recall(p for p, c in zip(pairs, clips) if c.decides == 1)
            cm.term_hits, cm.term_total = counted.hits + neutral.hits, counted.total + neutral.total
            cm.decides_hits, cm.decides_total = deciding.hits, deciding.total
            cm.neutral_hits, cm.neutral_total = neutral.hits, neutral.total
            if role == "terms" and set_name != GENERALIZATION_SET:  # the term table is the budget's test
                for term in dict.fromkeys(t for c in clips for t in c.terms):
                    row = term_rows.setdefault(term, _term_row(term, homophones, guarded))
                    (ch, ct), (nh, nt) = counted.per_term.get(term, (0, 0)), neutral.per_term.get(term, (0, 0))
                    if cond == conditions[0]:
                        row.total += ct + nt
                        row.neutral_total += nt
                    row.hits[cond] = row.hits.get(cond, 0) + ch + nh
                    row.neutral_hits[cond] = row.neutral_hits.get(cond, 0) + nh
            cm.term_recall = _ratio(cm.term_hits, cm.term_total)
            cm.recall_decides = _ratio(cm.decides_hits, cm.decides_total)
            cm.recall_neutral = _ratio(cm.neutral_hits, cm.neutral_total)
            cm.budget_recall = _ratio(cm.term_hits - cm.neutral_hits, cm.term_total - cm.neutral_total)
            # Over-triggering (general and imported sets).
            if role != "terms":
                for c, hyp in zip(clips, h):
                    found = over_triggers(hyp, c.text, targets, c.kind, c.homophone_of, guarded)
                    out.over_triggers += [
                        OverTrigger(
                            set=set_name, clip_id=c.clip_id, condition=cond, term=term, kind=kind, ref=c.text, hyp=hyp
                        )
                        for term, kind in found
                    ]
                    cm.invented_terms += any(kind == INVENTED for _, kind in found)
                    cm.homophone_swaps += any(kind == SWAP for _, kind in found)
                    for term in guards[c.clip_id]:  # per term: how many clips tested it, how many it swapped
                        row = term_rows.setdefault(term, _term_row(term, homophones, guarded))
                        row.homophone_clips += cond == conditions[0]
                        said_by[term].add((set_name, c.utterance_id or c.text))  # a sentence by two voices is one
                        row.swaps[cond] = row.swaps.get(cond, 0) + any(t == term and k == SWAP for t, k in found)
                cm.homophone_clips = sum(bool(guards[c.clip_id]) for c in clips)
            if has_base and cond != BASE:
                _compare_with_base(cm, set_name, role, clips, hyps, cond, errs, ref_len, suspect, ngrams, out)
                cm.cer_delta = cm.cer - metrics.cer(refs, [hyps[BASE][c.clip_id] for c in clips])
                cm.cer_delta_ci = paired_bootstrap_ci(errs[BASE], errs[cond], ref_len, bootstrap_samples, seed)
            elif has_base and role != "terms":
                cm.base_correct = cm.retained = int(sum(errs[BASE] == 0))
                cm.retention = _ratio(cm.retained, cm.base_correct)
            sm.conditions.append(cm)
        out.sets.append(sm)
    for term, sentences in said_by.items():
        term_rows[term].homophone_sentences = len(sentences)
    out.terms = sorted(term_rows.values(), key=lambda r: targets.index(r.term) if r.term in targets else len(targets))
    return out


def _term_row(term: str, homophones: Mapping[str, list[str]], guarded: Mapping[str, list[str]]) -> TermRow:
    own = homophones.get(term, [])
    return TermRow(term=term, homophones=own, sound_alikes=[w for w in guarded.get(term, []) if w not in own])


def _compare_with_base(
    cm: ConditionMetrics,
    set_name: str,
    role: str,
    clips: Sequence[EvalClip],
    hyps: Mapping[str, Mapping[str, str]],
    cond: str,
    errs: Mapping[str, np.ndarray],
    ref_len: np.ndarray,
    suspect: Sequence[bool],
    ngrams: Mapping[str, str],
    out: Scores,
) -> None:
    """Regressions, fixes, retention and leakage of ``cond`` against the base model."""
    n = LEAK_NGRAM
    for i, c in enumerate(clips):
        b, e = int(errs[BASE][i]), int(errs[cond][i])
        if e != b:
            change = "regression" if e > b else "fix"
            cm.regressions += e > b
            cm.fixes += e < b
            out.changes.append(
                ClipChange(
                    set=set_name,
                    clip_id=c.clip_id,
                    condition=cond,
                    change=change,
                    ref=c.text,
                    base_hyp=hyps[BASE][c.clip_id],
                    hyp=hyps[cond][c.clip_id],
                    base_cer=b / max(int(ref_len[i]), 1),
                    cer=e / max(int(ref_len[i]), 1),
                    suspect=bool(suspect[i]),
                )
            )
        if role != "terms" and b == 0:
            cm.base_correct += 1
            cm.retained += e == 0
        if ngrams:
            nh = metrics.normalize(hyps[cond][c.clip_id])
            nref, nbase = metrics.normalize(c.text), metrics.normalize(hyps[BASE][c.clip_id])
            for j in range(len(nh) - n + 1):
                g = nh[j : j + n]
                if g in ngrams and g not in nref and g not in nbase:
                    cm.leaks += 1
                    out.leaks.append(
                        Leak(
                            set=set_name,
                            clip_id=c.clip_id,
                            condition=cond,
                            ngram=g,
                            template=ngrams[g],
                            ref=c.text,
                            hyp=hyps[cond][c.clip_id],
                        )
                    )
                    break
    cm.retention = _ratio(cm.retained, cm.base_correct) if role != "terms" else None


def outcome(sets: Sequence[SetMetrics], condition: str) -> Outcome:
    """The budget's view of one condition: recall on term sets, CER change on the others, over-triggering."""
    parts: list[SetOutcome] = []
    invented = swaps = 0
    for s in sets:
        m = s.get(condition)
        if m is None:
            continue
        if s.role == "terms":
            if m.budget_recall is not None and s.name != GENERALIZATION_SET:
                parts.append(SetOutcome(s.name, recall=m.budget_recall))
        elif m.cer_delta is not None:  # without the base condition there is nothing to compare
            ci = tuple(100.0 * v for v in m.cer_delta_ci) if m.cer_delta_ci else None
            parts.append(SetOutcome(s.name, cer_increase=m.cer_delta * 100, cer_interval=ci, clips=m.clips))
            invented += m.invented_terms
            swaps += m.homophone_swaps
    return Outcome(
        sets=tuple(parts), invented=invented, swaps=swaps, over_triggering_scored=any(s.role != "terms" for s in sets)
    )
