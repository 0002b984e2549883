"""Guard sentences made for homophones the general sentences rarely use.

A term's homophone guard trains on, and its swap test scores, sentences that say one of the
term's homophones or sound-alikes in its everyday sense, with words that decide the
spelling. The shipped general sentences hold such sentences only for common words; for a
new glossary most homophones have none. Where a split holds fewer than the minimum
(``sentences.min_homophone_sentences``), the sentences stage asks this module for more,
made only where something other than the sound rules the term out:

- **grammar**: a サ変 noun said with する (方針を転換しました) when the term takes no する
  (定款); a な-adjective said with な (繁華な場所) when the term is none (汎化). A
  sound-alike (生息 for 正則化) is heard apart, so its own grammar is guard enough;
- **compounds** of the system dictionaries that hold the word with its reading (上流社会,
  繁華街, 不参加, 最悪), in a neutral frame: the rest of the compound decides;
- **the word itself** in a neutral frame, for a sound-alike only (千個 for 仙骨, 両親 for
  量子化): it is heard apart, so the sound decides — and that is what such a guard teaches
  (センコ without ツ is 千個). Only where the sound names that word: a rarer spelling of a
  reading (栖息 beside 生息; 前回 beside the dictionary's cheaper 全開) would teach a guess.

A homophone no grammar or compound separates from the term (ご縁 / 誤嚥) gets none: a
neutral sentence would let either spelling stand, and the stage's warning asks for the
user's own (``sentences.extra_general_sentences``). A caller may also ask for sentences of
one word (``word_needs``): the stage does, so every word the held-out sets score is also
said in training. Frames live in ``termadapt/data/guard_frames/``
(one file per construction; the slot is written ``{term}`` like a template's) and the
stage splits them into train / validation / test by the seeded hash and the shares the
general sentences use, so a test guard sentence never shares its frame with a trained one. Every sentence made is checked with OpenJTalk: its reading must
contain the word's reading (the TTS says what the guard is about).

Reads: the system dictionaries (:func:`~termadapt.text.homophones.reading_index`, Sudachi)
and the frame files. Writes: nothing.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import SHIPPED_DIR
from ..records import TermEntry, sha256_text
from .homophones import _KANJI, COMMON_WORD_COST, reading_index
from .readings import openjtalk, sudachi_tokenizer, to_katakana
from .templates import SLOT, Template, load_template_set

__all__ = ["FRAMES_DIR", "GuardSentence", "load_guard_frames", "make_guard_sentences", "term_classes", "word_classes"]

# One file per construction: noun (a compound in a neutral frame), suru (a サ変 noun with
# する), na (a な-adjective with な).
FRAMES_DIR = SHIPPED_DIR / "guard_frames"
# Compounds used per word: a few distinct ones spread the guard over different contexts
# without filling it with rare dictionary entries.
MAX_COMPOUNDS = 4
# A word written in kana only: no rival spelling of a sound (ゼンカイ is no word to guard).
_KANA_ONLY = re.compile(r"^[\u3041-\u309f\u30a1-\u30faー]+$")
# Construction → the frame file it fills: a bare sound-alike (``word``) goes where a compound does.
_FRAME_FILE = {"word": "noun"}
# Sudachi POS (third field) of nouns that take する / な.
_SURU = {"サ変可能", "サ変形状詞可能"}
_NA = {"形状詞可能", "サ変形状詞可能"}


@dataclass(frozen=True)
class GuardSentence:
    """One made guard sentence.

    Attributes:
        text: The sentence (label text and TTS text alike).
        term: The term it guards (the target whose homophone it says).
        word: The homophone or sound-alike it says.
        how: ``suru``, ``na`` (grammar), ``noun`` (a compound) or ``word`` (a sound-alike alone).
        frame: The frame's ``file:line``.
        filler: What went into the frame's slot: the word, or the compound holding it.
    """

    text: str
    term: str
    word: str
    how: str
    frame: str
    filler: str = ""


def load_guard_frames(directory: Path = FRAMES_DIR) -> dict[str, list[Template]]:
    """Construction (file stem: noun, suru, na) → its frames, read like templates."""
    return {p.stem: load_template_set([p]) for p in sorted(directory.glob("*.txt"))}


def _sudachi_classes(word: str) -> frozenset[str]:
    """Grammar of the last morpheme (the head) by Sudachi's POS."""
    morphemes = list(sudachi_tokenizer().tokenize(word))
    if not morphemes:
        return frozenset()
    pos = morphemes[-1].part_of_speech()
    out = set()
    if pos[0] in {"名詞", "接尾辞"} and pos[2] in _SURU:
        out.add("suru")
    if (pos[0] == "形状詞" and pos[1] != "タリ") or (pos[0] in {"名詞", "接尾辞"} and pos[2] in _NA):
        out.add("na")
    if pos[0] == "形状詞" and pos[1] == "タリ":
        out.add("tari")  # 堂々 takes たる, not な
    return frozenset(out)


def _openjtalk_classes(word: str) -> frozenset[str]:
    """Grammar of the last morpheme by naist-jdic's POS (サ変接続, 形容動詞語幹)."""
    features = openjtalk().run_frontend(word)
    if not features:
        return frozenset()
    group = features[-1].get("pos_group1", "")
    return frozenset({"suru"} if group == "サ変接続" else {"na"} if group == "形容動詞語幹" else set())


@functools.lru_cache(maxsize=4096)
def word_classes(word: str) -> frozenset[str]:
    """Grammar a word surely takes: ``suru`` when both dictionaries say so (Sudachi alone lists
    原因 and 定年 as サ変), ``na`` when either does and Sudachi does not call it a タリ
    adjective (良質 and 繁華 are な-adjectives to only one of them each)."""
    sudachi, jdic = _sudachi_classes(word), _openjtalk_classes(word)
    out = set()
    if "suru" in sudachi and "suru" in jdic:
        out.add("suru")
    if ("na" in sudachi or "na" in jdic) and "tari" not in sudachi:
        out.add("na")
    return frozenset(out)


@functools.lru_cache(maxsize=4096)
def term_classes(term: str) -> frozenset[str]:
    """Grammar a *term* may take, erring toward more: a guard made from grammar the term could
    take would teach the homophone where the term fits too. Either dictionary's word for it
    counts; every noun in 化 takes する (正則化する, though both list it as a plain noun); a word
    Sudachi does not know might take anything."""
    morphemes = list(sudachi_tokenizer().tokenize(term))
    if any(m.is_oov() for m in morphemes):
        return frozenset({"suru", "na"})
    either = (_sudachi_classes(term) | _openjtalk_classes(term)) - {"tari"}
    return frozenset(either | ({"suru"} if term.endswith("化") else set()))


@functools.lru_cache(maxsize=4)
def _corpus_words(corpus: tuple[str, ...]) -> frozenset[str]:
    """Sudachi words (split mode C) of the general sentences: 悪 is not one of 最悪's."""
    return frozenset(m.surface() for sentence in corpus for m in sudachi_tokenizer().tokenize(sentence))


class _Words:
    """Dictionary nouns by surface, and compounds by prefix or suffix (bisect over sorted lists)."""

    def __init__(self) -> None:
        readings: dict[str, dict[str, int]] = {}  # surface → reading → cost (悪: アク, ワル, オ…)
        for reading, words in reading_index().items():
            for surface, cost in words:
                readings.setdefault(surface, {})[reading] = cost
        self.readings = readings
        self.best = {s: min(((c, r) for r, c in rs.items()))[::-1] for s, rs in readings.items()}
        self.forward = sorted(readings)
        self.backward = sorted(s[::-1] for s in readings)

    def reading(self, word: str, near: str) -> str:
        """The reading of ``word`` closest to ``near`` (the term's): 悪 as アク for 灰汁."""
        from rapidfuzz.distance import Levenshtein

        options = self.readings.get(word) or {to_katakana(word): 0}
        return min(options, key=lambda r: (Levenshtein.distance(r, near), options[r]))

    def names_its_sound(self, word: str, reading: str, corpus_words: frozenset[str]) -> bool:
        """Whether ``reading`` heard in a neutral sentence is best written ``word``: no other
        kanji spelling of it is as cheap in the dictionary (栖息 loses to 生息, 前回 to 全開; a
        dearer one, 良心 beside 両親, is taken as the rarer sense), or — for a word the dictionary
        lacks (千個) — no other spelling is a word of the sentences. OpenJTalk's costs are the
        only frequency offline; they rank, they do not prove."""
        spellings = {s: c for s, c in reading_index().get(reading, ()) if s != word and not _KANA_ONLY.match(s)}
        if reading in self.readings.get(word, {}):
            own = self.readings[word][reading]
            return not any(c <= own for c in spellings.values())
        return not any(s in corpus_words for s in spellings)

    def is_common(self, word: str) -> bool:
        return word in self.best and self.best[word][1] <= COMMON_WORD_COST

    def _with_prefix(self, keys: list[str], prefix: str) -> Iterable[str]:
        i = bisect.bisect_left(keys, prefix)
        while i < len(keys) and keys[i].startswith(prefix):
            yield keys[i]
            i += 1

    def compounds(self, word: str, reading: str, excluded: frozenset[str], common_only: bool = False) -> list[str]:
        """Nouns that begin or end with ``word`` said as ``reading`` (悪質 アクシツ, not 悪口
        ワルクチ), holding no excluded string; commonest first (OpenJTalk cost, then the
        cost of the rest of the compound, then length). ``common_only``: only compounds
        cheaper than :data:`COMMON_WORD_COST`."""
        found: list[tuple[int, int, int, str]] = []
        starts = list(self._with_prefix(self.forward, word))
        ends = [s[::-1] for s in self._with_prefix(self.backward, word[::-1])]
        for surface, at_start in [(s, True) for s in starts] + [(s, False) for s in ends]:
            if surface == word or _holds_any(surface, excluded):
                continue
            fits = [
                c
                for r, c in self.readings[surface].items()
                if r != reading and (r.startswith(reading) if at_start else r.endswith(reading))
            ]
            if not fits:
                continue
            cost = min(fits)
            if common_only and cost > COMMON_WORD_COST:
                continue
            rest = surface[len(word) :] if at_start else surface[: -len(word)]
            if rest not in self.best and not (len(rest) == 1 and _KANJI.match(rest)):
                continue  # a compound is the word and another word or a one-kanji affix (街, 不), not ハンカチ+ーフ
            rest_cost = self.best[rest][1] if rest in self.best else COMMON_WORD_COST
            found.append((cost, rest_cost, len(surface), surface))
        return [s for *_, s in sorted(set(found))]


def _holds_any(text: str, strings: frozenset[str]) -> bool:
    """Whether any of ``strings`` occurs in ``text`` (every substring looked up: a compound is
    short, a dictionary may hold 10,000 terms)."""
    return any(text[i:j] in strings for i in range(len(text)) for j in range(i + 1, len(text) + 1))


@functools.lru_cache(maxsize=1)
def _words() -> _Words:
    return _Words()


def _order(seed: int, *parts: str) -> str:
    return sha256_text(str(seed), "guard", *parts)


def _says(sentence: str, reading: str) -> bool:
    """Whether OpenJTalk reads ``sentence`` with ``reading`` in it."""
    return reading in to_katakana(sentence)


def make_guard_sentences(
    terms: Sequence[TermEntry],
    shortfall: Mapping[str, Mapping[str, int]],
    frames: Mapping[str, Mapping[str, Sequence[Template]]],
    corpus: Iterable[str],
    seed: int,
    excluded: Sequence[str] = (),
    rejects: Callable[[str], bool] | None = None,
    word_needs: Mapping[str, Mapping[str, Mapping[str, int]]] | None = None,
    prepared: dict[tuple, tuple[list[tuple[str, str, str]], dict[str, str]]] | None = None,
) -> dict[str, list[GuardSentence]]:
    """Guard sentences for the terms that lack them.

    Args:
        terms: Entries with ``homophones`` and ``sound_alikes`` filled.
        shortfall: Split → term target → how many sentences it still needs.
        frames: Split → construction → frames of that split (the stage splits them).
        corpus: The general sentences: a word they use counts as an everyday word even when
            the dictionaries rank it rare.
        seed: The recipe seed (which frames and compounds come first).
        excluded: Strings no compound may contain (every term's target).
        rejects: Sentences the caller cannot use (one holding a term, one it already has);
            they are skipped before they count, so the next frame fills the place.
        word_needs: Split → term target → word → how many sentences must say that word;
            made first, and counted toward the term's shortfall (a split may be in either map).
        prepared: A dict to keep each term's fillers in across calls (the stage calls twice:
            held-out splits, then replay); looked up by the term's target, reading and words.

    Returns:
        Split → the sentences made for it: per term, each word's need, then up to the
        shortfall spread over the term's words and constructions in turn; no sentence is
        made twice.
    """
    corpus_texts = tuple(corpus)
    context = _Context(_words(), _corpus_words(corpus_texts), "\n".join(corpus_texts), frozenset(excluded))
    made_texts: set[str] = set()  # across terms: two terms sharing a homophone get different sentences

    def unusable(text: str) -> bool:
        return text in made_texts or (rejects is not None and rejects(text))

    word_needs = word_needs or {}
    splits = list(dict.fromkeys((*shortfall, *word_needs)))
    out: dict[str, list[GuardSentence]] = {split: [] for split in splits}
    for term in terms:
        needed = {split: shortfall.get(split, {}).get(term.target, 0) for split in splits}
        per_word_need = {split: word_needs.get(split, {}).get(term.target, {}) for split in splits}
        if not any(n > 0 for n in needed.values()) and not any(any(w.values()) for w in per_word_need.values()):
            continue
        key = (term.target, term.reading, term.homophones, term.sound_alikes)
        if prepared is None or key not in prepared:
            found = _term_fillers(term, context)
            if prepared is not None:
                prepared[key] = found
        fillers, said_as = prepared[key] if prepared is not None else found
        for split in splits:
            made = []
            for word, k in per_word_need[split].items():
                own = [f for f in fillers if f[0] == word]
                if k > 0 and own:
                    made += _fill(term, own, frames.get(split, {}), k, seed, said_as, unusable)
                    made_texts.update(g.text for g in made)
            if needed[split] > len(made) and fillers:
                made += _fill(term, fillers, frames.get(split, {}), needed[split] - len(made), seed, said_as, unusable)
            made_texts.update(g.text for g in made)
            out[split].extend(made)
    return out


@dataclass(frozen=True)
class _Context:
    """What every term's fillers are looked up in (built once per call)."""

    words: _Words
    corpus_words: frozenset[str]
    corpus_joined: str  # the general sentences joined: one substring search per word
    banned: frozenset[str]  # strings no compound may hold (every term's target)


def _term_fillers(term: TermEntry, ctx: _Context) -> tuple[list[tuple[str, str, str]], dict[str, str]]:
    """A term's fillers ``(word, construction, filler)`` in the order they are used (the words in
    turn, each word's grammar, then compounds, then the word alone), and each word's reading
    nearest the term's."""
    words = ctx.words
    takes = term_classes(term.target)
    reading = to_katakana(term.reading or term.target)
    homophones = set(term.homophones)
    said_as: dict[str, str] = {}
    per_word: list[list[tuple[str, str, str]]] = []
    for word in dict.fromkeys((*term.homophones, *term.sound_alikes)):
        if not word:
            continue
        # A rare dictionary reading (反歌, 頒価) is no everyday sense to guard; a word rare on
        # its own (悪) is guarded through its common compounds (最悪, 悪質).
        everyday = words.is_common(word) or word in ctx.corpus_words
        said = words.reading(word, reading)
        # A homophone sounds exactly like the term: only grammar the term cannot take
        # decides. A sound-alike is heard apart: any grammar of its own is a guard.
        grammar = word_classes(word) - takes if word in homophones else word_classes(word)
        mine = [(word, how, word) for how in sorted(grammar)] if everyday else []
        compounds = words.compounds(word, said, ctx.banned | {term.target}, common_only=not everyday)
        mine += [(word, "noun", c) for c in compounds[:MAX_COMPOUNDS]]
        # A sound-alike that is an everyday word or one the sentences use (千個 is in no
        # dictionary) is guard enough alone: the sound decides, where it names the word.
        if (
            word not in homophones
            and said != reading
            and (everyday or word in ctx.corpus_joined)
            and words.names_its_sound(word, said, ctx.corpus_words)
        ):
            mine.append((word, "word", word))
        if mine:
            per_word.append(mine)
            said_as[word] = said
    # The words in turn (each word's grammar before its compounds), so a short shortfall
    # still reaches several words.
    fillers = [mine[i] for i in range(max(map(len, per_word), default=0)) for mine in per_word if i < len(mine)]
    return fillers, said_as


def _fill(
    term: TermEntry,
    fillers: Sequence[tuple[str, str, str]],
    frames: Mapping[str, Sequence[Template]],
    n: int,
    seed: int,
    said_as: Mapping[str, str],
    unusable: Callable[[str], bool],
) -> list[GuardSentence]:
    """Up to ``n`` sentences, one per (filler, frame) pair, taking the fillers in turn.

    Fillers come in the caller's order (homophones before sound-alikes; per word grammar,
    compounds, then the word alone); each filler's frames in a seeded order, so every frame
    gets used.
    """
    queues = []
    for word, how, filler in fillers:
        pool = sorted(
            frames.get(_FRAME_FILE.get(how, how), ()), key=lambda f, w=filler: _order(seed, term.target, w, f.text)
        )
        queues.append([(word, how, filler, f) for f in pool])
    made: list[GuardSentence] = []
    seen: set[str] = set()
    while len(made) < n and any(queues):
        for queue in queues:
            while queue and len(made) < n:
                word, how, filler, frame = queue.pop(0)
                text = frame.text.replace(SLOT, filler)
                if text in seen or unusable(text) or not _says(text, said_as[word]):
                    continue
                seen.add(text)
                made.append(GuardSentence(text, term.target, word, how, frame.source, filler))
                break
    return made
