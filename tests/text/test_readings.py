"""Readings, OpenJTalk user dictionary and homophones (termadapt.readings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from termadapt.config import SHIPPED_DIR, recipe_from_dict
from termadapt.errors import DictionaryError
from termadapt.records import TermEntry, read_jsonl
from termadapt.text.homophones import find_homophones
from termadapt.text.readings import (
    build_user_dictionary,
    fill_readings,
    reset_user_dictionary,
    tts_reading,
    user_dictionary_rows,
)
from termadapt.text.templates import load_general_sentences as load_corpus
from termadapt.text.terms import build_terms, sample_terms

DATA = Path(__file__).parent.parent / "data" / "dictionaries"


@pytest.fixture
def clean_openjtalk():
    """No user dictionary before and after the test (pyopenjtalk's state is global)."""
    reset_user_dictionary()
    yield
    reset_user_dictionary()


@pytest.fixture(scope="module")
def user_dict(tmp_path_factory):
    entries = [
        TermEntry("嚥下", "エンゲ"),
        TermEntry("ailia SDK", "アイリアエスディーケー"),
        TermEntry("痙攣", "けいれん"),  # hiragana readings are accepted
    ]
    return build_user_dictionary(entries, tmp_path_factory.mktemp("userdict"))


def test_fill_readings_derives_katakana_reading_forms():
    entries = fill_readings([TermEntry("痙攣", "", ""), TermEntry("心電図", "", ""), TermEntry("嚥下", "エンゲ")])
    assert [(e.reading, e.reading_source) for e in entries] == [
        ("ケイレン", "auto"),
        ("シンデンズ", "auto"),
        ("エンゲ", "given"),
    ]


def test_user_dictionary_changes_readings_inside_sentences(user_dict, clean_openjtalk):
    sentence = "高齢の患者は嚥下の機能が落ちています。"
    without = tts_reading(sentence)
    assert "エンカ" in without and "エンゲ" not in without  # OpenJTalk's own (wrong) reading
    with_dict = tts_reading(sentence, user_dict=user_dict)
    assert with_dict == without.replace("エンカ", "エンゲ")
    assert "エンゲショウガイ" in tts_reading("嚥下障害の検査")  # also inside a compound


def test_latin_term_is_read_from_its_given_reading(user_dict, clean_openjtalk):
    sentence = "推論にはailia SDKを使います。"
    assert "アイリアエスディーケー" not in tts_reading(sentence)  # spelled letter by letter
    assert (
        tts_reading(sentence, user_dict=user_dict, punctuation=False)
        == "スイロンニハアイリアエスディーケーヲツカイマス"
    )


def test_terms_read_right_by_default(clean_openjtalk):
    assert "ケイレン" in tts_reading("夜中に痙攣が起きた")
    assert "シンデンズ" in tts_reading("心電図を取ります")


def test_user_dictionary_csv_fields(user_dict):
    rows = (user_dict.parent / "user.csv").read_text(encoding="utf-8").splitlines()
    fields = {r.split(",")[0]: r.split(",") for r in rows}
    assert set(fields) == {"嚥下", "ａｉｌｉａ\u3000ＳＤＫ", "痙攣"}  # full-width surfaces
    keirin = fields["痙攣"]
    assert keirin[11:15] == ["ケイレン", "ケーレン", "0/4", "*"]  # reading, pronunciation, accent/morae
    assert fields["ａｉｌｉａ\u3000ＳＤＫ"][13].endswith("/10")
    assert all(len(f) == 15 for f in fields.values())


def test_user_dictionary_rejects_empty_input(tmp_path):
    assert user_dictionary_rows([TermEntry("x", "")]) == []
    with pytest.raises(DictionaryError, match="no entry has a reading"):
        build_user_dictionary([], tmp_path)


def test_homophones_from_dictionaries_and_corpus():
    corpus = load_corpus(SHIPPED_DIR / "general-ja.txt")
    entries = find_homophones(
        [
            TermEntry("動悸", "ドウキ"),
            TermEntry("誤嚥", "ゴエン"),
            TermEntry("蒸留", "ジョウリュウ"),
            TermEntry("動機付け", "ドウキヅケ"),
        ],
        corpus,
        max_per_term=5,
    )
    homophones = {e.target: e.homophones for e in entries}
    assert {"動機", "同期"} <= set(homophones["動悸"])
    assert "ご縁" in homophones["誤嚥"]  # only in the corpus: ご+縁 in both system dictionaries
    assert "上流" in homophones["蒸留"] and "蒸溜" not in homophones["蒸留"]  # spelling variants are not homophones
    assert all(len(h) <= 5 for h in homophones.values())
    assert all(e.target not in e.homophones for e in entries)


def test_sound_alikes_are_everyday_words_one_kana_away():
    from termadapt.text.homophones import find_sound_alikes

    corpus = ["箱に千個の部品が入っています。", "筋電図の検査を受けました。", "先月は雨が多かった。"]
    terms = [TermEntry("仙骨", "センコツ"), TermEntry("心電図", "シンデンズ"), TermEntry("胃", "イ")]
    entries = {e.target: e for e in find_sound_alikes(find_homophones(terms, corpus), corpus)}
    sacrum = entries["仙骨"].sound_alikes
    assert sacrum[:2] == ("千個", "先月") or sacrum[:2] == ("先月", "千個")  # the corpus first, 千個 without の
    assert "千個の" not in sacrum and all(len(w) >= 2 for w in sacrum)
    assert not set(sacrum) & set(entries["仙骨"].homophones)
    assert "筋電図" in entries["心電図"].sound_alikes and "心電" not in entries["心電図"].sound_alikes
    assert entries["胃"].sound_alikes == ()  # one kana: everything is one kana away
    (none,) = find_sound_alikes([TermEntry("仙骨", "センコツ")], corpus, max_per_term=0)
    assert none.sound_alikes == ()
    (no_corpus,) = find_sound_alikes([TermEntry("仙骨", "センコツ")])
    assert "千個" not in no_corpus.sound_alikes  # a numeral and a counter: in no dictionary as one noun


def test_sound_alikes_skip_kana_spellings_of_kanji_words():
    from termadapt.text.homophones import find_sound_alikes

    (entry,) = find_sound_alikes(find_homophones([TermEntry("蒸留", "ジョウリュウ")]))
    # naist-jdic lists ジョウキュウ (= 上級) and ショウリュウ as cheap nouns; nobody writes them.
    assert entry.sound_alikes and not {"ジョウキュウ", "ショウリュウ"} & set(entry.sound_alikes)
    (hankachi,) = find_sound_alikes(find_homophones([TermEntry("汎化", "ハンカ")]), ["ハンカチで汗を拭いた。"])
    assert "ハンカチ" in hankachi.sound_alikes  # a katakana word of its own stays


def test_homophones_without_corpus_lack_compounds_and_cap_zero():
    (entry,) = find_homophones([TermEntry("誤嚥", "ゴエン")])
    assert "ご縁" not in entry.homophones  # neither Sudachi nor naist-jdic has ご縁 as one word
    (entry,) = find_homophones([TermEntry("動悸", "ドウキ")], max_per_term=0)
    assert entry.homophones == ()


def _recipe(tmp_path: Path, *dicts: str, **extra):
    return recipe_from_dict(
        {"name": "t", "dictionary": {"paths": list(dicts), **extra}}, source=str(tmp_path / "recipe.toml")
    )


def test_build_terms_writes_the_stage_outputs(tmp_path, clean_openjtalk):
    (tmp_path / "d.csv").write_text("エンゲ,嚥下\n痙攣\nアイリアエスディーケー , ailia SDK\n動悸\n", encoding="utf-8")
    run = tmp_path / "run"
    out = build_terms(_recipe(tmp_path, "d.csv"), run)
    assert out == run / "terms.jsonl"
    terms = {e.target: e for e in read_jsonl(out, TermEntry)}
    assert terms["痙攣"].reading == "ケイレン" and terms["痙攣"].reading_source == "auto"
    assert terms["嚥下"].reading_source == "given"
    assert "動機" in terms["動悸"].homophones
    assert (run / "userdict" / "user.dic").is_file() and (run / "config.resolved.toml").is_file()
    assert tts_reading("嚥下", user_dict=run / "userdict" / "user.dic") == "エンゲ"
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert first["source"].endswith("d.csv:1")


def test_terms_stage_does_not_depend_on_a_dictionary_applied_before(tmp_path, clean_openjtalk):
    """Re-running the stage where the last run's user dictionary is applied (a voice check does
    that) gives the same user dictionary: accents come from the system dictionary alone."""
    from termadapt.text.readings import apply_user_dictionary

    recipe = _recipe(tmp_path, "shipped:demo-product.csv")
    build_terms(recipe, tmp_path / "run")
    first = (tmp_path / "run" / "userdict" / "user.csv").read_text(encoding="utf-8")
    apply_user_dictionary(tmp_path / "run" / "userdict" / "user.dic")
    build_terms(recipe, tmp_path / "run")
    assert (tmp_path / "run" / "userdict" / "user.csv").read_text(encoding="utf-8") == first


def test_openjtalk_voice_reads_with_the_rewritten_dictionary(tmp_path, clean_openjtalk):
    """An engine made before the terms stage rewrote the dictionary speaks with the new one."""
    from termadapt.text.readings import applied_user_dictionary
    from termadapt.tts import engine_class
    from termadapt.tts.base import parse_voice

    (tmp_path / "a.csv").write_text("エンゲ,嚥下\n", encoding="utf-8")
    build_terms(_recipe(tmp_path, "a.csv"), tmp_path / "run")
    dic = tmp_path / "run" / "userdict" / "user.dic"
    engine = engine_class("openjtalk")(user_dict=str(dic))
    build_terms(_recipe(tmp_path, "a.csv"), tmp_path / "run")  # rewrites user.dic, resets pyopenjtalk
    assert applied_user_dictionary() == ""
    engine.synthesize("嚥下", parse_voice("openjtalk:mei_normal"))
    assert applied_user_dictionary().startswith(str(dic.resolve()))


def test_max_terms_takes_a_stable_seeded_sample_in_dictionary_order(tmp_path, clean_openjtalk):
    entries = [TermEntry(f"用語{i}", "ヨウゴ") for i in range(40)]
    picked = sample_terms(entries, 10, seed=0)
    assert len(picked) == 10 and picked == [e for e in entries if e in picked]  # dictionary order kept
    assert sample_terms(entries, 10, seed=0) == picked and sample_terms(entries, 10, seed=1) != picked
    grown = sample_terms(entries + [TermEntry("新語", "シンゴ")], 10, seed=0)
    assert len(set(map(id, grown)) & set(map(id, picked))) >= 9  # adding a term barely changes the choice
    assert sample_terms(entries, 0, seed=0) == entries

    (tmp_path / "d.csv").write_text("".join(f"ケイレン{i} , 痙攣{i}\n" for i in range(12)), encoding="utf-8")
    out = build_terms(_recipe(tmp_path, "d.csv", max_terms=5), tmp_path / "run")
    assert len(read_jsonl(out, TermEntry)) == 5


def test_build_terms_fails_on_dictionary_errors(tmp_path):
    (tmp_path / "bad.csv").write_text("target,reading\n,エンゲ\nx,y,z\n", encoding="utf-8")
    with pytest.raises(DictionaryError, match=r"bad\.csv:2: missing target .*1 more problem"):
        build_terms(_recipe(tmp_path, "bad.csv"), tmp_path / "run")
    assert not (tmp_path / "run" / "terms.jsonl").exists()
    (tmp_path / "warn.csv").write_text("ケイレン,痙攣\nケイレン,痙攣\n", encoding="utf-8")
    with pytest.raises(DictionaryError, match="fail_on_warnings"):
        build_terms(_recipe(tmp_path, "warn.csv", fail_on_warnings=True), tmp_path / "run")
