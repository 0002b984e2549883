"""Unit tests for termadapt.scoring.text (normalization, numerals, CER/WER) and term recall."""

from __future__ import annotations

import jiwer
import pytest

from termadapt.scoring import text as metrics
from termadapt.scoring.terms import term_recall
from termadapt.scoring.text import (
    cer,
    char_errors,
    contains_term,
    convert_numerals,
    normalize,
    parse_kanji_number,
    reading,
    reading_cer,
    wer,
    words,
)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("三日", "3日"),
        ("六時に起きた", "6時に起きた"),
        ("二〇二四年", "2024年"),
        ("二千二十四年", "2024年"),
        ("二〇二四年", "二千二十四年"),
        ("百二十円", "120円"),
        ("三万五千人", "35000人"),
        ("1万2千", "12000"),
        ("十一月", "11月"),
        ("ＳＤＫ", "sdk"),
        ("ｱｲﾘｱ", "アイリア"),  # half-width katakana (NFKC)
        ("今日は、いい天気ですね。", "今日はいい天気ですね"),
        ("「心電図」を 取る！", "心電図を取る"),
        ("ailia SDK", "ailiasdk"),
    ],
)
def test_equal_after_normalization(a: str, b: str) -> None:
    assert normalize(a) == normalize(b)


@pytest.mark.parametrize(
    ("run", "value"),
    [
        ("一", 1),
        ("十", 10),
        ("十五", 15),
        ("二十", 20),
        ("百", 100),
        ("百一", 101),
        ("三百六十五", 365),
        ("千", 1000),
        ("二千二十四", 2024),
        ("一万", 10000),
        ("十万", 100000),
        ("百万", 1000000),
        ("一億二千万", 120_000_000),
        ("二〇二四", 2024),
        ("一二三", 123),
        ("3千", 3000),
        ("2万5千", 25000),
        ("〇", 0),
    ],
)
def test_parse_kanji_number(run: str, value: int) -> None:
    assert parse_kanji_number(run) == value


def test_numeral_edge_cases() -> None:
    assert convert_numerals("万一に備える") == "万1に備える"  # a run never starts with 万
    assert convert_numerals("007号") == "007号"  # Arabic digits kept as written
    assert normalize("三日") != normalize("4日")  # different numbers stay different
    assert normalize("スーパーの々") == "スーパーの々"  # ー and 々 are letters, not punctuation


def test_cer_values() -> None:
    assert cer(["三日に来た"], ["3日に来た"]) == 0.0
    assert cer(["abcd"], ["abxd"]) == pytest.approx(0.25)
    assert cer(["abcd", "ef"], ["abcd", ""]) == pytest.approx(2 / 6)  # deletions
    assert cer(["ab"], ["abcdef"]) == pytest.approx(2.0)  # can exceed 1 with insertions
    assert cer([], []) == 0.0
    assert cer(["", "ab"], ["x", "ab"]) == pytest.approx(0.5)  # empty ref: insertion counted
    assert cer([""], [""]) == 0.0
    with pytest.raises(ValueError):
        cer(["a"], [])


def test_char_errors_agree_with_jiwer() -> None:
    refs = ["今日は晴れです", "心電図を取りました", "動悸がする", "三日"]
    hyps = ["今日は晴れ", "新電図を取りました", "動機がする。", "3日"]
    errs = [char_errors(r, h) for r, h in zip(refs, hyps)]
    total = sum(e for e, _ in errs) / sum(n for _, n in errs)
    assert total == pytest.approx(cer(refs, hyps))
    assert total == pytest.approx(jiwer.cer([normalize(r) for r in refs], [normalize(h) for h in hyps]))
    assert errs[3] == (0, 2)


def test_wer_on_sudachi_words() -> None:
    assert "心電図" in words("心電図を取りました")  # split mode C keeps it whole
    assert wer(["心電図を取りました"], ["心電図を取りました。"]) == 0.0
    assert wer(["心電図を取りました"], ["新電図を取りました"]) > 0.0
    assert words("") == []


def test_reading_cer_hears_homophones_as_equal() -> None:
    assert reading("動悸がした") == reading("動機がした")
    assert reading_cer(["動悸がした"], ["動機がした"]) == 0.0
    assert cer(["動悸がした"], ["動機がした"]) > 0.0
    assert reading_cer(["痙攣がある"], ["系連がある"]) > 0.0 or reading("痙攣") == reading("系連")
    assert reading("。") == ""


def test_contains_term() -> None:
    assert contains_term("ailia sdkで推論する", "ailia SDK")
    assert contains_term("ａｉｌｉａ　ＳＤＫ", "ailia SDK")
    assert not contains_term("アイリアSDK", "ailia SDK")
    assert contains_term("3日後", "三日")
    assert not contains_term("何か", "")


def test_term_recall() -> None:
    r = term_recall(
        [("痙攣がある", ["痙攣"]), ("系連がある", ["痙攣"]), ("心電図と動悸", ["心電図", "動悸", "心電図"])]
    )
    assert (r.hits, r.total) == (3, 4)
    assert r.recall == pytest.approx(0.75)
    assert r.per_term["痙攣"] == (1, 2)
    assert r.term_recall("痙攣") == pytest.approx(0.5)
    assert r.term_recall("never") == 1.0
    assert term_recall([]).recall == 1.0


def test_normalize_is_cached_and_pure() -> None:
    assert metrics.normalize("ＡＢ。") == metrics.normalize("ＡＢ。") == "ab"
