"""Tests of termadapt.text.guard_sentences and of the sentences stage making guard sentences."""

from __future__ import annotations

import dataclasses

import pytest

from termadapt.config import SHIPPED_DIR, SentencesConfig
from termadapt.records import TermEntry
from termadapt.text.guard_sentences import (
    _corpus_words,
    _words,
    load_guard_frames,
    make_guard_sentences,
    term_classes,
    word_classes,
)
from termadapt.text.readings import to_katakana
from termadapt.text.sentences import guard_minimums, plan_utterances
from termadapt.text.templates import load_general_sentences, load_template_set

# 定款 takes no する; its sound-alikes 転換 and 提案 do, so する rules the term out.
TEIKAN = TermEntry("定款", "テイカン", homophones=("諦観",), sound_alikes=("転換", "提案"), source="t.csv:2")
# 悪 is rare alone but common in compounds (最悪, 悪質): they guard 灰汁.
AKU = TermEntry("灰汁", "アク", homophones=("悪",), source="t.csv:3")
# 両親 is one kana from 量子化 and no grammar or compound separates them, but it is heard apart.
RYOSHIKA = TermEntry("量子化", "リョウシカ", sound_alikes=("両親",), source="t.csv:4")
# ご縁 sounds exactly like 誤嚥, is in neither dictionary and has no compound: nothing decides.
GOEN = TermEntry("誤嚥", "ゴエン", homophones=("ご縁",), source="t.csv:6")
PLAIN = TermEntry("ailia SDK", "アイリアエスディーケー", source="t.csv:5")
TERMS = [TEIKAN, AKU, RYOSHIKA, GOEN, PLAIN]


@pytest.fixture(scope="module")
def frames():
    return load_guard_frames()


@pytest.fixture(scope="module")
def plan():
    templates = load_template_set([SHIPPED_DIR / "templates" / f"{d}.txt" for d in ("general", "tech")])
    general = load_general_sentences(SHIPPED_DIR / "general-ja.txt")
    cfg = SentencesConfig(max_general_replay=120, max_general_validation=40, max_general_test=60)
    return plan_utterances(TERMS, templates, general, cfg, seed=0), cfg


def test_shipped_frames_have_one_slot_each(frames):
    assert set(frames) == {"noun", "suru", "na"}
    for how, fs in frames.items():
        assert len(fs) >= 10, how
        assert all(f.text.count("{term}") == 1 for f in fs)


@pytest.mark.parametrize(
    ("word", "classes"),
    [
        ("転換", {"suru"}),
        ("提案", {"suru"}),
        ("繁華", {"na"}),
        ("良質", {"na"}),
        ("定款", set()),
        ("上流", set()),
        ("灰汁", set()),
        ("原因", set()),  # サ変 to Sudachi only: 原因する is no Japanese
        ("定年", set()),
    ],
)
def test_word_classes_from_both_dictionaries(word, classes):
    assert word_classes(word) == classes


@pytest.mark.parametrize(
    ("term", "classes"), [("正則化", {"suru"}), ("定款", set()), ("Kubernetes", {"suru", "na"}), ("剪定", {"suru"})]
)
def test_term_classes_err_toward_more(term, classes):
    # Sudachi lists 正則化 as a plain noun, but it takes する; a word it does not know might take anything.
    assert term_classes(term) == classes


def test_a_homophone_gets_no_grammar_the_term_could_take(frames):
    # 正則化する is good Japanese: a する-frame would not rule the term out if 生息 sounded exactly like it…
    as_homophone = TermEntry("正則化", "セイソクカ", homophones=("生息",))
    made = make_guard_sentences([as_homophone], {"test": {"正則化": 8}}, {"test": frames}, [], seed=0)
    assert made["test"] and not [g for g in made["test"] if g.how == "suru"]
    # …but 生息 (セイソク) is one kana from it, heard apart: its own grammar is guard enough.
    as_sound_alike = TermEntry("正則化", "セイソクカ", sound_alikes=("生息",))
    made = make_guard_sentences([as_sound_alike], {"test": {"正則化": 8}}, {"test": frames}, [], seed=0)
    assert [g for g in made["test"] if g.how == "suru"]


def test_everyday_means_a_word_of_the_sentences_not_a_substring(frames):
    assert "最悪" in _corpus_words(("最悪の天気でした。",)) and "悪" not in _corpus_words(("最悪の天気でした。",))
    made = make_guard_sentences([AKU], {"test": {"灰汁": 8}}, {"test": frames}, ["最悪の天気でした。"], seed=0)
    words = _words()
    assert made["test"] and all(g.how == "noun" and g.filler != "悪" for g in made["test"])
    assert all(words.is_common(g.filler) for g in made["test"])  # 悪 is rare alone: common compounds only


def test_rejected_sentences_do_not_count(frames):
    first = make_guard_sentences([TEIKAN], {"test": {"定款": 3}}, {"test": frames}, [], seed=0)["test"]
    taken = {first[0].text}
    again = make_guard_sentences(
        [TEIKAN], {"test": {"定款": 3}}, {"test": frames}, [], seed=0, rejects=taken.__contains__
    )["test"]
    assert len(again) == 3 and first[0].text not in {g.text for g in again}


def test_two_terms_sharing_a_homophone_get_different_sentences(frames):
    other = TermEntry("丁寧化", "テイカン", homophones=("諦観",), sound_alikes=("転換", "提案"))
    made = make_guard_sentences([TEIKAN, other], {"test": {"定款": 4, "丁寧化": 4}}, {"test": frames}, [], seed=0)
    texts = [g.text for g in made["test"]]
    assert len(texts) == len(set(texts)) and {g.term for g in made["test"]} == {"定款", "丁寧化"}


def test_grammar_rules_the_term_out(frames):
    made = make_guard_sentences([TEIKAN], {"test": {"定款": 6}}, {"test": frames}, [], seed=0, excluded=["定款"])
    sentences = made["test"]
    assert len(sentences) == 6
    assert {g.word for g in sentences} >= {"転換", "提案"}  # the words in turn, not one word six times
    for g in sentences:
        assert "定款" not in g.text
        if g.how == "suru":
            assert f"{g.word}し" in g.text or f"{g.word}す" in g.text or f"{g.word}で" in g.text
        assert to_katakana(g.word) in to_katakana(g.text)


def test_compounds_keep_the_reading(frames):
    made = make_guard_sentences([AKU], {"test": {"灰汁": 8}}, {"test": frames}, [], seed=0, excluded=["灰汁"])
    texts = [g.text for g in made["test"]]
    assert texts and all(g.how == "noun" for g in made["test"])
    # Each compound is said with アク (悪質 アクシツ), never with ワル (悪口 ワルクチ).
    assert all("アク" in to_katakana(t) for t in texts)
    assert not any("悪口" in t for t in texts)
    assert len(texts) == len(set(texts))


def test_no_sentence_where_nothing_decides(frames):
    made = make_guard_sentences([GOEN], {"test": {"誤嚥": 4}}, {"test": frames}, ["ご縁があってこの町に来た。"], seed=0)
    assert made == {"test": []}


def test_a_sound_alike_alone_is_a_guard(frames):
    # 両親 has no grammar or compound apart from 量子化, but リョウシン is heard apart from リョウシカ.
    made = make_guard_sentences([RYOSHIKA], {"test": {"量子化": 4}}, {"test": frames}, [], seed=0)["test"]
    assert len(made) == 4 and {(g.how, g.filler) for g in made} == {("word", "両親")}
    assert all("リョウシン" in to_katakana(g.text) and "量子化" not in g.text for g in made)
    # …and so is a sound-alike no dictionary lists, once the general sentences say it (千個 for 仙骨).
    senkotsu = TermEntry("仙骨", "センコツ", sound_alikes=("千個",))
    none = make_guard_sentences([senkotsu], {"test": {"仙骨": 2}}, {"test": frames}, [], seed=0)["test"]
    said = make_guard_sentences([senkotsu], {"test": {"仙骨": 2}}, {"test": frames}, ["箱に千個入っている。"], seed=0)
    assert none == [] and [g.filler for g in said["test"]] == ["千個", "千個"]
    # A rarer spelling of its sound is not: セイソク heard alone is 生息, so 栖息 would teach a guess.
    rare = TermEntry("正則化", "セイソクカ", sound_alikes=("栖息",))
    corpus = ["鳥が栖息している。"]  # the sentences use it: only the sound's rival spelling rules it out
    made = make_guard_sentences([rare], {"test": {"正則化": 4}}, {"test": frames}, corpus, seed=0)["test"]
    assert not [g for g in made if g.how == "word"]
    assert _words().names_its_sound("両親", "リョウシン", frozenset()) and not _words().names_its_sound(
        "栖息", "セイソク", frozenset()
    )


def test_word_needs_are_made_first_and_count_toward_the_shortfall(frames):
    senkotsu = TermEntry("仙骨", "センコツ", sound_alikes=("潜血", "千個"))
    corpus = ["箱に千個入っている。", "潜血の検査を受けた。"]

    def words_made(shortfall, needs=None):
        made = make_guard_sentences(
            [senkotsu], {"train": {"仙骨": shortfall}}, {"train": frames}, corpus, seed=0, word_needs=needs
        )
        return [g.word for g in made["train"]]

    need = {"train": {"仙骨": {"千個": 2}}}
    assert words_made(0, need) == ["千個", "千個"]
    both = words_made(3, need)
    assert len(both) == 3 and both[:2] == ["千個", "千個"]  # the need first…
    assert words_made(3)[0] == "潜血"  # …where without it the words take turns, 潜血 first


def test_shortfall_bounds_what_is_made(frames):
    made = make_guard_sentences([TEIKAN], {"test": {"定款": 0}, "train": {"定款": 3}}, {"train": frames}, [], seed=0)
    assert made["test"] == [] and len(made["train"]) == 3


def test_stage_makes_guards_up_to_the_minimum(plan):
    plan, cfg = plan
    minimums = guard_minimums(cfg)
    for term in ("定款", "灰汁"):
        for split, least in minimums.items():
            n = sum(u.kind == "homophone" and u.homophone_of == term and u.split == split for u in plan.utterances)
            made = sum(g.term == term for g in plan.made_guards.get(split, []))
            assert n >= least and made >= 1, (term, split, n, made)
    # 灰汁's homophone 悪 is in no shipped general sentence as a word: every one was made.
    aku = [u.text for u in plan.utterances if u.kind == "homophone" and u.homophone_of == "灰汁"]
    assert sorted(aku) == sorted(g.text for gs in plan.made_guards.values() for g in gs if g.term == "灰汁")
    # Every homophone sentence is marked as deciding and never contains its term.
    hom = [u for u in plan.utterances if u.kind == "homophone"]
    assert all(u.decides is True and u.homophone_of not in u.text for u in hom)


def test_made_test_guards_share_no_frame_with_training(plan):
    plan, _ = plan
    frames = [f.text for fs in load_guard_frames().values() for f in fs]

    def frames_of(split):
        out = set()
        for u in plan.utterances:
            if u.kind == "homophone" and u.split == split:
                for f in frames:
                    head, tail = f.split("{term}")
                    if u.text.startswith(head) and u.text.endswith(tail) and len(u.text) > len(head) + len(tail):
                        out.add(f)
        return out

    train, test = frames_of("train"), frames_of("test")
    assert train and test
    assert not train & test


def test_stage_warns_where_no_guard_can_be_made(plan):
    plan, _ = plan
    (warning,) = [w for w in plan.warnings if "test sentences using a homophone" in w]
    assert "誤嚥" in warning and "extra_general_sentences" in warning
    assert "定款" not in warning and "灰汁" not in warning and "量子化" not in warning


def _six_templates():
    from termadapt.text.templates import Template

    return [Template(f"{{term}}の{x}を調べます。", "t", f"t.txt:{i + 1}") for i, x in enumerate("上下左右前後")]


def test_every_word_the_test_scores_is_trained():
    """A swap test on a word replay never said measures luck: the medical run swapped 千個 → 仙骨,
    whose guard count 先月 had filled."""

    senkotsu = TermEntry("仙骨", "センコツ", sound_alikes=("先月", "千個"))
    general = [f"先月は{x}でした。" for x in ("雨", "晴れ", "忙しい月", "寒い日ばかり", "休みが多い月", "旅行")]
    general += [f"先月、{x}に行きました。" for x in ("海", "山", "京都", "病院", "銀行", "図書館", "駅前", "実家")]
    general += ["工場では一時間に千個の部品を作る。"]
    templates = _six_templates()
    cfg = SentencesConfig(min_homophone_sentences=2)
    checked = 0
    for seed in range(8):
        plan = plan_utterances([senkotsu], templates, general, cfg, seed=seed)
        said = {
            split: [u.text for u in plan.utterances if u.kind == "homophone" and u.split == split and "千個" in u.text]
            for split in ("train", "validation", "test")
        }
        if said["validation"] or said["test"]:  # the held-out sets score 千個…
            assert len(said["train"]) >= 2, (seed, said)  # …so replay says it at least twice
            assert not [w for w in plan.warnings if "said fewer than" in w]
            checked += general[-1] not in said["train"]  # made, where the corpus had none to give
    assert checked


def test_stage_warns_of_a_scored_word_replay_cannot_say():

    # Three sentences say ご縁: one per split, so replay says it once, and no frame can say it.
    general = [f"これもご縁だと思って{x}。" for x in ("引き受けた", "参加した", "買った")]
    templates = _six_templates()
    plan = plan_utterances([GOEN], templates, general, SentencesConfig(), seed=0)
    trained = [u for u in plan.utterances if u.kind == "homophone" and u.split == "train"]
    assert len(trained) == 1 and any(u.kind == "homophone" and u.split == "test" for u in plan.utterances)
    (warning,) = [w for w in plan.warnings if "said fewer than" in w]
    assert "ご縁 (誤嚥)" in warning and "extra_general_sentences" in warning


def test_minimum_zero_makes_none():
    templates = load_template_set([SHIPPED_DIR / "templates" / "general.txt"])
    general = load_general_sentences(SHIPPED_DIR / "general-ja.txt")
    cfg = SentencesConfig(max_general_test=60, min_homophone_sentences=0)
    plan = plan_utterances([AKU], templates, general, cfg, seed=0)
    assert not [u for u in plan.utterances if u.kind == "homophone" and u.homophone_of == "灰汁"]
    made = plan_utterances([AKU], templates, general, dataclasses.replace(cfg, min_homophone_sentences=4), seed=0)
    assert [u for u in made.utterances if u.kind == "homophone" and u.homophone_of == "灰汁"]


def test_a_word_replay_already_says_gets_no_more():
    """Eight replay sentences of 千個 already: the per-word need is met, nothing is made for it."""
    senkotsu = TermEntry("仙骨", "センコツ", sound_alikes=("千個",))
    general = [
        f"箱に千個の{x}が入っています。"
        for x in ("部品", "ねじ", "玉", "豆", "石", "札", "釘", "鈴", "栗", "貝", "種", "粒")
    ]
    general += [f"今日は{x}が良い日です。" for x in ("天気", "気分", "調子", "運", "風", "景色")]
    plan = plan_utterances([senkotsu], _six_templates(), general, SentencesConfig(min_homophone_sentences=2), seed=0)
    trained = [u.text for u in plan.utterances if u.kind == "homophone" and u.split == "train"]
    assert len(trained) >= 4 and all(t in general for t in trained)  # every replay guard is a shipped one
    assert not plan.made_guards.get("train")
