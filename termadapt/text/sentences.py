"""Stage ``sentences``: carrier templates, context sentences and general sentences → utterances.

Every sentence exists twice: its label text (the term's target substituted) and its TTS
text (the term's reading substituted), so the TTS speaks ``アイリアエスディーケー`` while the
model learns to write ``ailia SDK``.

Splits are deterministic and stable: each template or general sentence is assigned to a
split by a hash of its own text and the recipe seed, so adding or removing other lines never
moves it. Templates split into train / validation / test (tests never reuse a training
wording); general sentences split into a replay pool (split ``train``), a validation pool and
a regression pool (split ``test``) that never share a sentence, because a sentence that was
trained on says nothing about forgetting (docs/design.md, "Held out means never trained on").

Reads: ``terms.jsonl`` (:class:`~termadapt.records.TermEntry`) in the run directory, the
templates (:mod:`termadapt.text.templates`) and the general sentence file. Writes:
``utterances.jsonl`` (:class:`~termadapt.records.Utterance`) and ``config.resolved.toml``.
"""

from __future__ import annotations

import math
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from ..config import Recipe, SentencesConfig, save_resolved
from ..errors import ConfigError, DictionaryError, TermadaptError
from ..records import TERMS_FILE, UTTERANCES_FILE, TermEntry, Utterance, read_jsonl, sha256_text, write_jsonl
from .guard_sentences import FRAMES_DIR, GuardSentence, load_guard_frames, make_guard_sentences
from .templates import GENERAL_DOMAIN, SLOT, Template, load_general_corpus, load_template_set, template_paths

__all__ = [
    "SPLITS",
    "SentencePlan",
    "split_items",
    "split_templates",
    "plan_utterances",
    "make_utterances",
    "build_utterances",
    "input_files",
    "preview",
    "count_table",
    "guard_minimums",
]

T = TypeVar("T")

SPLITS = ("train", "validation", "test")
# Characters that must come before {term} for a domain template to decide a homophone term's
# spelling: the decoder has seen only those when it writes the term.
MIN_LEFT_CONTEXT = 2
# Under a cap, at most this share of a general pool is reserved for homophone sentences, so
# the guard sentences get in without crowding out everyday vocabulary.
HOMOPHONE_SHARE = 0.5
# Warnings list at most this many names; the full lists are in SentencePlan.unguarded.
MAX_NAMES_LISTED = 12
# Replay sentences per homophone or sound-alike the held-out sets score: a swap test on a
# word the guard never trained measures luck, not the guard (made up to this where frames can).
TRAINED_PER_WORD = 2
# Ids are the first 16 hex digits of a SHA-256: 64 bits, no collisions at any realistic size.
ID_CHARS = 16


@dataclass
class SentencePlan:
    """Everything the sentences stage decided, for writing, previewing and testing.

    Attributes:
        utterances: The utterances, deduplicated by id, in a stable order.
        warnings: One-line problems worth a look (sentences moved out, missing guards).
        template_splits: Split name → templates in it.
        general_pools: Split name → general sentences in it (after caps).
        unguarded: ``train`` / ``test`` → targets of terms with homophones that no replay /
            regression sentence uses (their guard or their swap test is missing).
        made_guards: Split → guard sentences made for it (:mod:`termadapt.text.guard_sentences`);
            they are in ``general_pools`` too, on top of the pools' caps.
    """

    utterances: list[Utterance]
    warnings: list[str] = field(default_factory=list)
    template_splits: dict[str, list[Template]] = field(default_factory=dict)
    general_pools: dict[str, list[str]] = field(default_factory=dict)
    unguarded: dict[str, list[str]] = field(default_factory=dict)
    made_guards: dict[str, list[GuardSentence]] = field(default_factory=dict)


# ----------------------------------------------------------------------------- splitting


def _unit(seed: int, *parts: str) -> float:
    """A deterministic pseudo-random number in [0, 1) from the seed and some text."""
    return int(sha256_text(str(seed), *parts)[:15], 16) / float(16**15)


def _text_of(item: object) -> str:
    return item.text if isinstance(item, Template) else str(item)


def split_items(items: Sequence[T], fractions: Mapping[str, float], seed: int) -> dict[str, list[T]]:
    """Assign each item to a split by a hash of its text and the seed.

    An item's split depends only on its own text, the seed and the fractions, so adding or
    removing other items never moves it. When there are at least as many items as splits
    with a positive fraction, every such split gets at least one item (the item whose hash
    lies nearest to the empty split's interval is moved there from the largest split).

    Args:
        items: Strings or :class:`Template` records (hashed on their text).
        fractions: Split name → share; shares are normalized to sum to 1.
        seed: The recipe seed.

    Returns:
        Split name → items, in input order, for every name in ``fractions``.
    """
    names = list(fractions)
    total = sum(max(0.0, float(f)) for f in fractions.values())
    if total <= 0:
        raise ConfigError("split fractions must have a positive sum")
    bounds: dict[str, tuple[float, float]] = {}
    low = 0.0
    for name in names:
        high = low + max(0.0, float(fractions[name])) / total
        bounds[name] = (low, high)
        low = high
    units = [_unit(seed, _text_of(item)) for item in items]
    assign: list[str] = []
    for u in units:
        chosen = next((n for n in names if bounds[n][0] <= u < bounds[n][1] and bounds[n][1] > bounds[n][0]), None)
        assign.append(chosen or max((n for n in names if fractions[n] > 0), key=lambda n: bounds[n][1]))
    wanted = [n for n in names if fractions[n] > 0]
    if len(items) >= len(wanted):
        for name in wanted:
            if name in assign:
                continue
            sizes = Counter(assign)
            lo, hi = bounds[name]
            movable = [i for i, n in enumerate(assign) if sizes[n] > 1]
            best = min(movable, key=lambda i: (max(lo - units[i], units[i] - hi, 0.0), i))
            assign[best] = name
    out: dict[str, list[T]] = {n: [] for n in names}
    for item, name in zip(items, assign):
        out[name].append(item)
    return out


def _template_fractions(cfg: SentencesConfig) -> dict[str, float]:
    test, val = cfg.test_template_fraction, cfg.validation_template_fraction
    return {"train": 1.0 - test - val, "validation": val, "test": test}


def _general_fractions(cfg: SentencesConfig) -> dict[str, float]:
    replay, val = cfg.general_replay_fraction, cfg.general_validation_fraction
    return {"train": replay, "validation": val, "test": 1.0 - replay - val}


def split_templates(templates: Sequence[Template], cfg: SentencesConfig, seed: int) -> dict[str, list[Template]]:
    """Split templates per domain (so every domain reaches every split) into train/validation/test."""
    by_domain: dict[str, list[Template]] = defaultdict(list)
    for t in templates:
        by_domain[t.domain].append(t)
    out: dict[str, list[Template]] = {s: [] for s in SPLITS}
    for domain in by_domain:
        for name, items in split_items(by_domain[domain], _template_fractions(cfg), seed).items():
            out[name].extend(items)
    return out


# ----------------------------------------------------------------------------- utterances


def _utterance(kind: str, text: str, tts_text: str, split: str, **extra: object) -> Utterance:
    return Utterance(
        id=sha256_text(kind, text, tts_text)[:ID_CHARS], text=text, tts_text=tts_text, kind=kind, split=split, **extra
    )  # type: ignore[arg-type]


def _pick_per_term(templates: Sequence[Template], k: int, seed: int, target: str) -> list[Template]:
    """Choose ``k`` templates for one term (0 = all), alternating domains.

    The order within each domain is a hash of (seed, term, template), so different terms get
    different subsets and the wording varies across the training set.
    """
    by_domain: dict[str, list[Template]] = defaultdict(list)
    for t in templates:
        by_domain[t.domain].append(t)
    queues = [sorted(ts, key=lambda t: _unit(seed, "pick", target, t.text)) for _, ts in sorted(by_domain.items())]
    if queues:  # start the alternation at a per-term domain, so k = 1 does not always pick the same one
        start = int(_unit(seed, "start", target) * len(queues))
        queues = queues[start:] + queues[:start]
    picked: list[Template] = []
    limit = len(templates) if k <= 0 else min(k, len(templates))
    while len(picked) < limit:
        for queue in queues:
            if queue and len(picked) < limit:
                picked.append(queue.pop(0))
    return picked


def _template_decides(template: Template, has_homophones: bool) -> bool | None:
    """Whether a template's context decides between a term and its homophones.

    Whisper writes left to right: only the words before the term can decide its spelling,
    so a template that opens with the term decides nothing, whatever its domain.
    """
    if not has_homophones:
        return None
    if template.domain == GENERAL_DOMAIN or template.text.find(SLOT) < MIN_LEFT_CONTEXT:
        return False
    return True if template.domain in {"medical", "tech"} else None


class _Finder:
    """Which of many strings occur in a text, in time linear in the text, not in their number.

    Needles are bucketed by first character, so a 10,000-term dictionary costs a few bucket
    probes per character of each sentence instead of 10,000 substring searches (the scale
    benchmark saw the sentences stage grow 3× faster than the dictionary before this).
    """

    def __init__(self, needles: Iterable[str]) -> None:
        self.order: dict[str, int] = {}
        for n in needles:
            if n and n not in self.order:
                self.order[n] = len(self.order)
        self.by_first: dict[str, list[str]] = defaultdict(list)
        for n in self.order:
            self.by_first[n[0]].append(n)

    def find(self, text: str) -> list[str]:
        """The needles found in ``text``, in the order they were given."""
        found = {n for i, ch in enumerate(text) for n in self.by_first.get(ch, ()) if text.startswith(n, i)}
        return sorted(found, key=self.order.__getitem__)


def _terms_in(text: str, main: str, finder: _Finder) -> tuple[str, ...]:
    """The main target plus every other target written in ``text`` (not inside the main one)."""
    rest = text.replace(main, "\x00")
    return (main, *[t for t in finder.find(rest) if t != main])


def _cap_pool(pool: list[str], cap: int, homophone_of: Mapping[str, str], seed: int, prefer: bool) -> list[str]:
    """Keep at most ``cap`` sentences, reserving up to HOMOPHONE_SHARE for homophone sentences."""
    if cap <= 0 or len(pool) <= cap:
        return pool
    order = sorted(pool, key=lambda s: _unit(seed, "cap", s))
    chosen: set[str] = set()
    if prefer:
        by_term: dict[str, list[str]] = defaultdict(list)
        for s in order:
            if s in homophone_of:
                by_term[homophone_of[s]].append(s)
        budget = int(cap * HOMOPHONE_SHARE)
        queues = [by_term[t] for t in sorted(by_term)]
        while len(chosen) < budget and any(queues):
            for queue in queues:
                if queue and len(chosen) < budget:
                    chosen.add(queue.pop(0))
    for s in order:
        if len(chosen) >= cap:
            break
        chosen.add(s)
    return [s for s in pool if s in chosen]


def plan_utterances(
    terms: Sequence[TermEntry],
    templates: Sequence[str | Template],
    general_sentences: Sequence[str],
    cfg: SentencesConfig,
    seed: int,
) -> SentencePlan:
    """Make every utterance of a run (see :func:`make_utterances`) and report what to check."""
    tpls = [t if isinstance(t, Template) else Template(t) for t in templates]
    for t in tpls:
        if t.text.count(SLOT) != 1:
            raise DictionaryError(
                t.source or "<templates>",
                0,
                f"template without exactly one {{term}}: {t.text!r}",
                "write exactly one {term} where the term goes",
            )
    warnings: list[str] = []
    finder = _Finder(t.target for t in terms)
    tsplits = split_templates(tpls, cfg, seed)
    if terms and not tsplits["test"]:
        warnings.append("no test templates: add templates (at least 3) so held-out wording can be tested")
    utterances: list[Utterance] = []

    # 1. Term sentences: templates per split, the term alone, the dictionary's context sentences.
    caps = {
        "train": cfg.templates_per_term,
        "validation": cfg.validation_templates_per_term,
        "test": cfg.test_templates_per_term,
    }
    for term in terms:
        if not term.reading:
            warnings.append(
                f"{term.source or term.target}: no reading, the TTS reads the target as written "
                f"— run the terms stage (readings) or give a reading"
            )
            term = replace(term, reading=term.target)
        has_h = bool(term.homophones)
        deciding_only = has_h and cfg.homophone_terms_deciding_only
        for split in SPLITS:
            k = caps[split]
            if split == "train" and k > 0:
                k = max(1, round(k * max(term.weight, 0.0)))  # weight scales how often a term is heard
            pool = tsplits[split]
            if deciding_only and split != "test":  # test keeps neutral sentences: reported apart
                deciding = [t for t in pool if _template_decides(t, True)]
                if deciding:
                    pool = deciding
                elif pool:
                    warnings.append(
                        f"{term.target}: sounds like {'、'.join(term.homophones[:3])} but no {split} "
                        f"template decides the spelling — add domain templates or context sentences"
                    )
            for tpl in _pick_per_term(pool, k, seed, term.target):
                text = tpl.text.replace(SLOT, term.target)
                utterances.append(
                    _utterance(
                        "term",
                        text,
                        tpl.text.replace(SLOT, term.reading),
                        split,
                        terms=_terms_in(text, term.target, finder),
                        template=tpl.text,
                        decides=_template_decides(tpl, has_h),
                    )
                )
        if cfg.include_alone and not deciding_only:
            utterances.append(
                _utterance(
                    "term_alone",
                    term.target,
                    term.reading,
                    "train",
                    terms=(term.target,),
                    decides=False if has_h else None,
                )
            )
        if cfg.include_context:
            usable = []
            for sentence in term.context:
                if term.target not in sentence:
                    warnings.append(f"{term.source or term.target}: context sentence lacks '{term.target}': {sentence}")
                    continue
                usable.append(sentence)
            # The generalization test: a seeded few of the term's own sentences, never trained on.
            held = min(cfg.context_test_per_term, max(0, len(usable) - 1))
            tested = set(sorted(usable, key=lambda s: _unit(seed, "context", term.target, s))[:held])
            for sentence in usable:
                utterances.append(
                    _utterance(
                        "term_context",
                        sentence,
                        sentence.replace(term.target, term.reading),
                        "test" if sentence in tested else "train",
                        terms=_terms_in(sentence, term.target, finder),
                        decides=True if has_h else None,
                    )
                )

    # 2. General sentences: split into disjoint pools, drop any that contain a term. Sentences
    # using a term's homophones are split per term, so each pool (validation included: early
    # stopping and the merge α watch for swaps) gets some of every term's when it has three.
    uses: dict[str, list[str]] = {}  # sentence → terms whose homophone it uses
    users: dict[str, list[str]] = defaultdict(list)  # homophone → terms that sound like it
    for term in terms:
        for h in dict.fromkeys((*term.homophones, *term.sound_alikes)):  # sound-alikes are guarded the same way
            if h:
                users[h].append(term.target)
    homophones = _Finder(users)
    term_index = {t.target: i for i, t in reversed(list(enumerate(terms)))}
    for s in general_sentences:
        found = {t for h in homophones.find(s) for t in users[h]}
        if found:
            uses[s] = sorted(found, key=term_index.__getitem__)
    homophone_of = {s: ts[0] for s, ts in uses.items()}  # the first term names the sentence
    fractions = _general_fractions(cfg)
    groups: dict[str, list[str]] = defaultdict(list)
    for s in general_sentences:
        groups[homophone_of.get(s, "")].append(s)
    pools: dict[str, list[str]] = {split: [] for split in fractions}
    for group in groups.values():
        for split, part in split_items(group, fractions, seed).items():
            pools[split].extend(part)
    order = {s: i for i, s in enumerate(general_sentences)}
    for split, pool in pools.items():
        kept = []
        for s in sorted(pool, key=order.__getitem__):
            found = finder.find(s)
            if found:
                warnings.append(
                    f"general sentence contains the term '{found[0]}', moved out of the "
                    f"{'replay' if split == 'train' else split} pool: {s}"
                )
            else:
                kept.append(s)
        pools[split] = kept
    limits = {"train": cfg.max_general_replay, "validation": cfg.max_general_validation, "test": cfg.max_general_test}
    for split in SPLITS:
        pools[split] = _cap_pool(pools[split], limits[split], homophone_of, seed, cfg.include_homophones)
        for s in pools[split]:
            if s in homophone_of:
                # Written to use the homophone in its general sense: the context decides.
                utterances.append(_utterance("homophone", s, s, split, homophone_of=homophone_of[s], decides=True))
            else:
                utterances.append(_utterance("general", s, s, split))

    # 2b. Guard sentences made where the general ones say a term's homophones too rarely
    # (on top of the caps: they are few, and the caps are about everyday vocabulary).
    made_guards: dict[str, list[GuardSentence]] = {}
    if cfg.include_homophones and cfg.min_homophone_sentences > 0:
        made_guards, untrained = _made_guards(terms, pools, uses, cfg, seed, general_sentences, finder)
        if untrained:
            warnings.append(
                f"{len(untrained)} homophones or sound-alikes are scored in the held-out sets but said fewer "
                f"than {TRAINED_PER_WORD} times in replay, and the guard frames gave too few: "
                f"{_listed([f'{w} ({t})' for t, w in untrained])}{_ADD_YOUR_OWN}"
            )
        for split, made in made_guards.items():
            for g in made:
                utterances.append(_utterance("homophone", g.text, g.text, split, homophone_of=g.term, decides=True))
                uses[g.text] = [g.term]
                pools[split].append(g.text)
        tested = _guard_counts(pools["test"], uses)
        short = [
            t.target
            for t in terms
            if (t.homophones or t.sound_alikes) and tested[t.target] < cfg.min_homophone_sentences
        ]
        if short:
            warnings.append(
                f"{len(short)} terms have fewer than {cfg.min_homophone_sentences} test sentences using a "
                f"homophone or sound-alike, and the shipped guard frames with the grammar and dictionary "
                f"compounds that rule the term out gave no more: {_listed(short)}{_ADD_YOUR_OWN}"
            )

    # 3. Homophone guards: every term with homophones needs replay and regression sentences.
    unguarded: dict[str, list[str]] = {"train": [], "test": []}
    for term in terms:
        if term.homophones:
            for split in unguarded:
                if not any(term.target in uses.get(s, ()) for s in pools[split]):
                    unguarded[split].append(term.target)
    n_hom = sum(bool(t.homophones) for t in terms)
    for split, role in (("train", "replay (guard)"), ("test", "regression")):
        if unguarded[split]:
            warnings.append(
                f"{len(unguarded[split])} of {n_hom} terms with homophones have no {role} sentence "
                f"using a homophone: {_listed(unguarded[split])}{_ADD_YOUR_OWN}"
            )

    # 4. Deduplicate by id; a held-out sentence identical to a training one would leak.
    seen: set[str] = set()
    train_texts = {u.text for u in utterances if u.split == "train"}
    final: list[Utterance] = []
    for u in utterances:
        if u.id in seen:
            continue
        if u.split != "train" and u.text in train_texts:
            warnings.append(f"held-out sentence is also a training sentence, dropped: {u.text}")
            continue
        seen.add(u.id)
        final.append(u)
    return SentencePlan(final, warnings, tsplits, pools, unguarded, made_guards)


def _guard_counts(pool: Iterable[str], uses: Mapping[str, list[str]]) -> Counter[str]:
    """Term → sentences of ``pool`` that say one of its homophones or sound-alikes."""
    return Counter(t for s in pool for t in uses.get(s, ()))


def guard_minimums(cfg: SentencesConfig) -> dict[str, int]:
    """Split → fewest sentences per term saying its homophones or sound-alikes (made up to this)."""
    m = cfg.min_homophone_sentences
    return {"train": 2 * m, "validation": math.ceil(m / 2), "test": m}


def _listed(names: Sequence[str]) -> str:
    """At most :data:`MAX_NAMES_LISTED` names, and how many more."""
    more = len(names) - MAX_NAMES_LISTED
    return ", ".join(names[:MAX_NAMES_LISTED]) + (f" and {more} more" if more > 0 else "")


# The fix every guard warning ends with.
_ADD_YOUR_OWN = " — add sentences that use them in their everyday sense (sentences.extra_general_sentences)"


def _said_by(made: Iterable[GuardSentence]) -> dict[str, list[str]]:
    """Made sentence → the term it guards (the shape of the stage's ``uses``)."""
    return {g.text: [g.term] for g in made}


def _words_said(
    pool: Iterable[str], uses: Mapping[str, list[str]], terms: Sequence[TermEntry]
) -> Counter[tuple[str, str]]:
    """(term target, homophone or sound-alike) → sentences of ``pool`` that say that word."""
    words = {t.target: tuple(dict.fromkeys((*t.homophones, *t.sound_alikes))) for t in terms}
    return Counter((t, w) for s in pool for t in uses.get(s, ()) for w in words.get(t, ()) if w and w in s)


def _made_guards(
    terms: Sequence[TermEntry],
    pools: Mapping[str, list[str]],
    uses: Mapping[str, list[str]],
    cfg: SentencesConfig,
    seed: int,
    general_sentences: Sequence[str],
    finder: _Finder,
) -> tuple[dict[str, list[GuardSentence]], list[tuple[str, str]]]:
    """Guard sentences where a term has fewer than :func:`guard_minimums` in a split, or replay
    says a word the held-out sets score too rarely.

    Held-out sentences come first; then replay sentences, with at least
    :data:`TRAINED_PER_WORD` for every word the held-out sets say (the medical run swapped
    千個 → 仙骨 on a sound-alike its guard had never trained, because 先月 filled the term's
    count). The frames split by a hash of their text with the general sentences' shares, so
    the test's made sentences never share a frame with the replay's.

    Returns:
        Split → the sentences made, and the (term, word) pairs the held-out sets score that
        replay still says fewer than :data:`TRAINED_PER_WORD` times (for the warning).
    """
    minimums = guard_minimums(cfg)
    guarded = [t for t in terms if t.homophones or t.sound_alikes]
    if not guarded:
        return {}, []
    shortfall: dict[str, dict[str, int]] = {split: {} for split in SPLITS}
    for split in SPLITS:
        have = _guard_counts(pools[split], uses)
        for term in guarded:
            shortfall[split][term.target] = max(0, minimums[split] - have[term.target])
    fractions = _general_fractions(cfg)
    frames: dict[str, dict[str, list[Template]]] = {split: {} for split in SPLITS}
    for how, templates in load_guard_frames().items():
        for split, part in split_items(templates, fractions, seed).items():
            frames[split][how] = part
    targets = [t.target for t in terms]
    taken = {s for pool in pools.values() for s in pool}

    def rejects(text: str) -> bool:  # a sentence the pools have or a phase made, or one that says a term
        return text in taken or bool(finder.find(text))

    held_out = [split for split in SPLITS if split != "train"]
    prepared: dict = {}  # each term's fillers, found once for both calls
    made: dict[str, list[GuardSentence]] = {}
    if any(n for split in held_out for n in shortfall[split].values()):
        made = make_guard_sentences(
            guarded,
            {split: shortfall[split] for split in held_out},
            frames,
            general_sentences,
            seed,
            targets,
            rejects,
            prepared=prepared,
        )
    taken |= {g.text for gs in made.values() for g in gs}
    scored = _said_by(g for gs in made.values() for g in gs)
    held_out_texts = [s for split in held_out for s in pools[split]] + list(scored)
    said_held_out = _words_said(held_out_texts, {**uses, **scored}, guarded)
    said_trained = _words_said(pools["train"], uses, guarded)
    word_needs: dict[str, dict[str, int]] = defaultdict(dict)
    for term, word in said_held_out:
        if said_trained[term, word] < TRAINED_PER_WORD:
            word_needs[term][word] = TRAINED_PER_WORD - said_trained[term, word]
    if word_needs or any(shortfall["train"].values()):
        made |= make_guard_sentences(
            guarded,
            {"train": shortfall["train"]},
            frames,
            general_sentences,
            seed,
            targets,
            rejects,
            word_needs={"train": word_needs},
            prepared=prepared,
        )
    replay = made.get("train", [])
    made_trained = _words_said([g.text for g in replay], _said_by(replay), guarded)
    untrained = [(t, w) for t, w in said_held_out if said_trained[t, w] + made_trained[t, w] < TRAINED_PER_WORD]
    return {split: made[split] for split in SPLITS if made.get(split)}, untrained


def make_utterances(
    terms: Sequence[TermEntry],
    templates: Sequence[str | Template],
    general_sentences: Sequence[str],
    cfg: SentencesConfig,
    seed: int,
) -> list[Utterance]:
    """Every utterance of a run: term sentences in all splits plus general pools.

    For each term: training templates (``templates_per_term`` of them, chosen per term so
    terms use different wordings), the term alone, its context sentences (all ``train``), then
    validation and test templates. General sentences keep their pool's split; those that use a
    term's homophone become kind ``homophone`` with ``homophone_of`` set. Ids are stable
    hashes of (kind, text, tts_text); duplicates are dropped.
    """
    return plan_utterances(terms, templates, general_sentences, cfg, seed).utterances


# ----------------------------------------------------------------------------- stage


def input_files(recipe: Recipe) -> list[Path]:
    """Files outside the run directory the stage reads (their content is part of its key)."""
    frames = sorted(FRAMES_DIR.glob("*.txt")) if recipe.sentences.min_homophone_sentences > 0 else []
    return template_paths(recipe) + recipe.general_sentence_paths() + frames


def _plan_for(recipe: Recipe, terms: Sequence[TermEntry]) -> SentencePlan:
    templates = load_template_set(template_paths(recipe))
    general = load_general_corpus(recipe.general_sentence_paths())
    return plan_utterances(terms, templates, general, recipe.sentences, recipe.seed)


def count_table(utterances: Iterable[Utterance]) -> dict[str, Counter[str]]:
    """Split → Counter of kinds."""
    table: dict[str, Counter[str]] = {s: Counter() for s in SPLITS}
    for u in utterances:
        table.setdefault(u.split, Counter())[u.kind] += 1
    return table


def _print_summary(plan: SentencePlan, out: Path | None = None) -> None:
    from rich.console import Console

    console = Console(stderr=True)
    for split, counts in count_table(plan.utterances).items():
        parts = ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))
        console.print(
            f"{split}: {sum(counts.values())} ({parts or 'none'})", markup=False, highlight=False, soft_wrap=True
        )
    made = [g for gs in plan.made_guards.values() for g in gs]
    if made:
        kinds = {"suru": "grammar", "na": "grammar", "noun": "compounds", "word": "sound-alikes alone"}
        how = Counter(kinds.get(g.how, g.how) for g in made)
        console.print(
            f"made {len(made)} homophone guard sentences for {len({g.term for g in made})} terms "
            f"({', '.join(f'{k} {n}' for k, n in sorted(how.items()))}; sentences.min_homophone_sentences)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    for w in plan.warnings:
        console.print(f"warning: {w}", markup=False, highlight=False, soft_wrap=True)
    if out is not None:
        console.print(
            f"wrote {len(plan.utterances)} utterances to {out}", markup=False, highlight=False, soft_wrap=True
        )


def build_utterances(recipe: Recipe, run_dir: str | Path) -> Path:
    """Sentences stage: ``terms.jsonl`` → ``utterances.jsonl``.

    Reads ``terms.jsonl`` in ``run_dir`` and the recipe's templates and general sentences;
    writes ``utterances.jsonl`` and ``config.resolved.toml`` there and prints counts per
    split and kind, plus warnings. The stage is deterministic and cheap, so it always rebuilds.

    Raises:
        TermadaptError: ``terms.jsonl`` is missing, or a template/sentence file is bad.
    """
    run_dir = Path(run_dir)
    terms_path = run_dir / TERMS_FILE
    if not terms_path.is_file():
        raise TermadaptError(f"{terms_path}: not found — run `termadapt terms RECIPE` first")
    plan = _plan_for(recipe, read_jsonl(terms_path, TermEntry))
    out = run_dir / UTTERANCES_FILE
    write_jsonl(out, plan.utterances)
    save_resolved(recipe, run_dir)
    _print_summary(plan, out)
    return out


def preview(recipe: Recipe, terms: Sequence[TermEntry] | None = None) -> SentencePlan:
    """Plan the utterances without writing anything, for ``termadapt sentences --dry-run``.

    Args:
        recipe: The recipe.
        terms: The run's terms when its ``terms.jsonl`` is current; None runs the terms
            stage (readings and homophones) into a temporary directory instead.
    """
    if terms is None:
        from .terms import build_terms

        with tempfile.TemporaryDirectory(prefix="termadapt-preview-") as tmp:
            terms = read_jsonl(build_terms(recipe, Path(tmp)), TermEntry)
    return _plan_for(recipe, terms)
