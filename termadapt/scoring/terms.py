"""Term recall and over-triggering: the two ways a term shows up in a transcript.

Both validation (early stopping, the merge α) and evaluation count through these functions,
so "a hit", "an invented term" and "a homophone swap" mean one thing everywhere:

- a **hit**: the normalized term occurs in the normalized hypothesis (:func:`~.text.contains_term`);
  for a term that sounds like an everyday word, clips whose context decides the spelling
  (``decides`` ≠ 0) count for the budget and neutral ones (``decides`` = 0) are reported
  apart (docs/design.md, "Homophones");
- an **over-trigger**: a dictionary term in a hypothesis whose reference lacks it — a
  *homophone swap* when the clip is a homophone sentence of that very term (動機 written as
  動悸), else an *invented term*. A clip is a homophone sentence of a term when it was made
  as one (kind ``homophone``) **or** its reference contains one of the term's known
  homophones (:func:`homophone_sentence_of`) — a general sentence or imported real speech
  that happens to say 動機 guards 動悸 as much as a made one.

Reads: hypotheses, references and clip kinds. Writes: nothing.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .text import contains_term, normalize, strip_marks

__all__ = [
    "TERM_KINDS",
    "GENERAL_KINDS",
    "INVENTED",
    "SWAP",
    "TermInfo",
    "TermRecall",
    "term_recall",
    "over_triggers",
    "homophone_sentence_of",
    "counts_for_budget",
    "aligned_span",
    "written_instead",
    "replaced_by",
]

# Utterance kinds whose `terms` are scored for recall, and kinds scored for general CER
# (everyday sentences and homophone-guard sentences).
TERM_KINDS = ("term", "term_alone", "term_context")
GENERAL_KINDS = ("general", "homophone")
INVENTED = "invented"
SWAP = "homophone_swap"
# Shortest homophone looked for in a reference: a one-character word (紙, 神) occurs inside
# too many unrelated words to say what a sentence is about.
MIN_HOMOPHONE_CHARS = 2


@dataclass(frozen=True)
class TermInfo:
    """A dictionary term as the scorer needs it."""

    target: str
    homophones: tuple[str, ...] = ()
    sound_alikes: tuple[str, ...] = ()

    @property
    def guarded_words(self) -> tuple[str, ...]:
        """Words whose sentences are homophone sentences of this term: homophones, then sound-alikes."""
        return tuple(dict.fromkeys((*self.homophones, *self.sound_alikes)))


@dataclass
class TermRecall:
    """Term recall over clips.

    Attributes:
        hits: Term occurrences found in the hypotheses.
        total: Term occurrences expected (one per term per clip).
        per_term: ``term -> (hits, total)``.
    """

    hits: int = 0
    total: int = 0
    per_term: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def recall(self) -> float:
        """Share of expected term occurrences found (1.0 when nothing was expected)."""
        return self.hits / self.total if self.total else 1.0

    def term_recall(self, term: str) -> float:
        """Recall of one term (1.0 when it never occurred)."""
        h, t = self.per_term.get(term, (0, 0))
        return h / t if t else 1.0


def term_recall(items: Iterable[tuple[str, Sequence[str]]]) -> TermRecall:
    """Term recall of ``(hypothesis, expected_terms)`` pairs.

    Each expected term of a clip counts once: a hit when :func:`~.text.contains_term` finds it.

    Args:
        items: Pairs of a hypothesis and the targets of the terms its reference contains.

    Returns:
        A :class:`TermRecall` with overall and per-term counts.
    """
    result = TermRecall()
    per: dict[str, list[int]] = {}
    for hyp, terms in items:
        for term in dict.fromkeys(terms):  # a term listed twice still counts once per clip
            found = contains_term(hyp, term)
            slot = per.setdefault(term, [0, 0])
            slot[0] += int(found)
            slot[1] += 1
            result.hits += int(found)
            result.total += 1
    result.per_term = {t: (h, n) for t, (h, n) in per.items()}
    return result


def counts_for_budget(decides: int) -> bool:
    """Whether a term clip counts for the budget's recall: not a neutral homophone sentence."""
    return int(decides) != 0


def homophone_sentence_of(
    ref: str, kind: str, homophone_of: str = "", homophones: Mapping[str, Sequence[str]] | None = None
) -> set[str]:
    """The terms whose homophone sentence a clip is (see the module docstring).

    Args:
        ref: The clip's reference.
        kind: Its kind (``homophone`` for a made guard sentence).
        homophone_of: For a made guard sentence, the term whose homophone it uses.
        homophones: ``term -> its known homophones`` (terms.jsonl); None: made sentences only.
    """
    out = {homophone_of} if kind == "homophone" and homophone_of else set()
    for term, words in (homophones or {}).items():
        if term not in out and not contains_term(ref, term):
            if any(len(w) >= MIN_HOMOPHONE_CHARS and contains_term(ref, w) for w in words):
                out.add(term)
    return out


def over_triggers(
    hyp: str,
    ref: str,
    targets: Sequence[str],
    kind: str,
    homophone_of: str = "",
    homophones: Mapping[str, Sequence[str]] | None = None,
) -> list[tuple[str, str]]:
    """``(term, INVENTED | SWAP)`` for every dictionary term written in ``hyp`` but absent from ``ref``.

    Args:
        hyp: The hypothesis.
        ref: The reference.
        targets: Every dictionary term.
        kind: The clip's kind (``homophone`` for guard sentences).
        homophone_of: For a homophone sentence, the term whose homophone it uses.
        homophones: ``term -> its known homophones``: a reference holding one makes the clip
            a homophone sentence of that term too.
    """
    out = []
    guarded: set[str] | None = None
    for term in targets:
        if contains_term(hyp, term) and not contains_term(ref, term):
            if guarded is None:
                guarded = homophone_sentence_of(ref, kind, homophone_of, homophones)
            out.append((term, SWAP if term in guarded else INVENTED))
    return out


def aligned_span(src: str, dst: str, start: int, end: int) -> str:
    """The part of ``dst`` a character alignment puts against ``src[start:end]``.

    The alignment is the Levenshtein one CER counts with (rapidfuzz opcodes). A replaced
    block partly inside the span contributes its proportional share; characters inserted
    inside the span or at its edges belong to it (a longer spelling of the same sound).
    """
    from rapidfuzz.distance import Levenshtein

    lo, hi = None, None
    for tag, s1, s2, d1, d2 in Levenshtein.opcodes(src, dst):
        if tag == "insert":
            inside = start <= s1 <= end
            a, b = (d1, d2) if inside else (None, None)
        else:
            a_src, b_src = max(s1, start), min(s2, end)
            if a_src >= b_src:
                continue
            scale = (d2 - d1) / (s2 - s1)
            a, b = d1 + round((a_src - s1) * scale), d1 + round((b_src - s1) * scale)
        if a is not None:
            lo, hi = (a, b) if lo is None else (min(lo, a), max(hi, b))
    return dst[lo:hi] if lo is not None else ""


def _display(text: str) -> str:
    """Text as shown in a confusion: NFKC, casefolded, without spaces and punctuation — but
    with its own numerals (千個 stays 千個, where scoring's :func:`~.text.normalize` says 1000個)."""
    return strip_marks(unicodedata.normalize("NFKC", text or "").casefold())


def _span_against(src: str, dst: str, term: str) -> str:
    """``dst``'s text against ``term`` in ``src``, aligned on display text (scoring text if the
    term only matches there, e.g. 三日 against 3日)."""
    s, d, t = _display(src), _display(dst), _display(term)
    if not t or t not in s:
        s, d, t = normalize(src), normalize(dst), normalize(term)
    start = s.index(t)
    return aligned_span(s, d, start, start + len(t))


def written_instead(ref: str, hyp: str, term: str) -> str | None:
    """What ``hyp`` has where ``ref`` says ``term``, or None when ``hyp`` has the term (or
    ``ref`` lacks it). "" means the hypothesis has nothing there (the term was left out)."""
    if contains_term(hyp, term) or not contains_term(ref, term):
        return None
    return _span_against(ref, hyp, term)


def replaced_by(ref: str, hyp: str, term: str) -> str | None:
    """What ``ref`` says where ``hyp`` wrote an invented ``term``, or None when it is no invention."""
    if not contains_term(hyp, term) or contains_term(ref, term):
        return None
    return _span_against(hyp, ref, term)
