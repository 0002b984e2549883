"""Term dictionary parsing and validation (termadapt.dictionary)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from termadapt.config import SHIPPED_DIR
from termadapt.errors import DictionaryError
from termadapt.text.dictionary import (
    MAX_CONTEXT_CHARS,
    MAX_TARGET_CHARS,
    check_bytes,
    check_dictionary,
    load_dictionaries,
    load_dictionary,
    parse_dictionary_text,
)

DATA = Path(__file__).parent.parent / "data" / "dictionaries"


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


# --- formats --------------------------------------------------------------------------


def test_seed_format_with_spaces_single_column_and_comments():
    result = load_dictionary(DATA / "seed-style.csv")
    got = [(e.target, e.reading, e.reading_source, e.source.rsplit(":", 1)[1]) for e in result.entries]
    assert got == [
        ("ailia SDK", "アイリアエスディーケー", "given", "2"),
        ("嚥下", "エンゲ", "given", "4"),
        ("痙攣", "", "", "5"),
        ("目覚ましい発展", "", "", "6"),
    ]
    assert result.warnings == [] and result.errors == []
    assert result.entries[0].source == f"{DATA / 'seed-style.csv'}:2"


def test_header_format_tsv_with_all_columns():
    result = load_dictionary(DATA / "header.tsv")
    first, second = result.entries
    assert (first.target, first.reading, first.category, first.weight) == ("誤嚥", "ゴエン", "症状", 2.0)
    assert first.context == ("食事中の誤嚥に注意してください。", "誤嚥を防ぐ体操です。")
    assert (second.target, second.context, second.weight) == ("動悸", (), 1.0)


def test_header_is_case_insensitive_and_columns_may_be_reordered(tmp_path):
    path = write(tmp_path, "d.csv", "Reading,TARGET\nシンデンズ,心電図\n")
    (entry,) = load_dictionary(path).entries
    assert (entry.target, entry.reading) == ("心電図", "シンデンズ")


def test_quoted_fields_with_commas_and_spaces(tmp_path):
    path = write(tmp_path, "d.csv", 'target,context\n"a, b","x ""a, b"" y" \n')
    (entry,) = load_dictionary(path).entries
    assert entry.target == "a, b" and entry.context == ('x "a, b" y',)


def test_crlf_line_endings(tmp_path):
    path = write(tmp_path, "d.csv", "ケイレン,痙攣\r\nドウキ,動悸\r\n")
    assert [e.target for e in load_dictionary(path).entries] == ["痙攣", "動悸"]


@pytest.mark.parametrize("name", ["demo-product.csv", "medical-ja.csv"])
def test_shipped_dictionaries_are_valid(name):
    result = check_dictionary(SHIPPED_DIR / name)
    assert result.errors == [], [str(e) for e in result.errors[:5]]
    assert len(result.entries) >= (300 if name.startswith("medical") else 5)
    targets = {e.target for e in result.entries}
    if name.startswith("medical"):
        assert {"痙攣", "心電図", "嚥下", "動悸"} <= targets
        assert all(e.category for e in result.entries)
    else:
        assert "ailia SDK" in targets


# --- encodings ------------------------------------------------------------------------

TEXT = "アイリアエスディーケー , ailia SDK\nエンゲ,嚥下\n"


@pytest.mark.parametrize("codec", ["utf-8", "utf-8-sig", "cp932", "shift_jis"])
def test_encodings_are_detected(tmp_path, codec):
    path = write(tmp_path, "d.csv", TEXT.encode(codec))
    result = load_dictionary(path)
    assert [(e.target, e.reading) for e in result.entries] == [
        ("ailia SDK", "アイリアエスディーケー"),
        ("嚥下", "エンゲ"),
    ]


def test_bom_is_not_part_of_the_header(tmp_path):
    path = write(tmp_path, "d.csv", "\ufefftarget,reading\n嚥下,エンゲ\n".encode("utf-8"))
    assert load_dictionary(path).entries[0].reading == "エンゲ"


def test_explicit_wrong_encoding_is_an_error_with_line(tmp_path):
    path = write(tmp_path, "d.csv", "ケイレン,痙攣\nエンゲ,嚥下\n".encode("cp932"))
    with pytest.raises(DictionaryError) as info:
        load_dictionary(path, encoding="utf-8")
    assert info.value.line == 1 and str(path) in str(info.value)
    with pytest.raises(DictionaryError, match="unknown encoding"):
        load_dictionary(path, encoding="latin-9")


# --- malformed input: one line naming file and line -----------------------------------

MALFORMED = [
    # (id, content, expected line, words in the message)
    ("empty", b"", 0, "empty file"),
    ("only-bom", b"\xef\xbb\xbf\n\n", 0, "empty file"),
    ("only-comments", b"# nothing\n", 0, "no entries"),
    ("header-only", b"target,reading\n", 0, "no entries"),
    ("separators-only-row", "ケイレン,痙攣\n , \n".encode(), 2, "no values"),
    ("missing-target", "ケイレン,痙攣\nエンゲ,\n".encode(), 2, "missing target"),
    ("missing-target-header", "target,reading\n,エンゲ\n".encode(), 2, "missing target"),
    ("binary", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 3, "binary"),
    ("utf16", "ケイレン,痙攣\n".encode("utf-16"), 1, "binary"),
    ("undecodable", "ケイレン,痙攣\n".encode() + b"\xff\xfe\xfa,x\n", 2, "undecodable"),
    ("unterminated-quote", 'ケイレン,痙攣\n"シンデンズ,心電図\n'.encode(), 2, "unterminated quote"),
    ("text-after-quote", '"シンデンズ"x,心電図\n'.encode(), 1, "closing quote"),
    ("control-char", "ケイ\x07レン,痙攣\n".encode(), 1, "U+0007"),
    ("zero-width", "ケイレン,痙\u200b攣\n".encode(), 1, "U+200B"),
    ("too-many-columns", "エンゲ,嚥下,症状\n".encode(), 1, "3 columns without a header"),
    ("too-many-values", "target,reading\n嚥下,エンゲ,症状\n".encode(), 2, "header (line 1) names 2"),
    ("unknown-column", "target,readng\n嚥下,エンゲ\n".encode(), 1, "did you mean 'reading'"),
    ("misspelled-header", "taget,reading\n嚥下,エンゲ\n".encode(), 1, "did you mean 'target'"),
    ("duplicate-column", "target,reading,reading\n嚥下,エンゲ,エンゲ\n".encode(), 1, "appears twice"),
    ("no-target-column", "reading,category\nエンゲ,症状\n".encode(), 1, "no 'target' column"),
    ("conflicting-readings", "エンゲ,嚥下\nケイレン,痙攣\nエンカ,嚥下\n".encode(), 3, "at f.csv:1"),
    ("context-without-target", "target,context\n嚥下,嚥下が難しい。|飲み込めない。\n".encode(), 2, "does not contain"),
    ("long-target", ("ア" * (MAX_TARGET_CHARS + 1) + "\n").encode(), 1, "target is"),
    ("long-reading", ("ア" * 101 + ",x\n").encode(), 1, "reading is"),
    (
        "long-context",
        ("target,context\n嚥下," + "嚥下" + "あ" * MAX_CONTEXT_CHARS + "\n").encode(),
        2,
        "context sentence is",
    ),
    ("weight-negative", "target,weight\n嚥下,-2\n".encode(), 2, "not a positive number"),
    ("weight-text", "target,weight\n嚥下,heavy\n".encode(), 2, "not a positive number"),
    ("weight-nan", "target,weight\n嚥下,nan\n".encode(), 2, "not a positive number"),
]


@pytest.mark.parametrize("content,line,words", [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_input_is_rejected_with_one_line(tmp_path, content, line, words):
    path = write(tmp_path, "f.csv", content)
    result = check_dictionary(path)
    assert result.errors, "expected an error"
    error = result.errors[0]
    assert error.line == line
    assert error.path == str(path)
    text = str(error).replace(str(path.parent) + "/", "")
    assert words in text
    assert "\n" not in text and text.startswith(f"f.csv:{line}: " if line else "f.csv: ")
    assert " — " in text, "every error says how to fix it"
    with pytest.raises(DictionaryError) as info:
        load_dictionary(path)
    assert info.value.line == line


@pytest.mark.parametrize(
    "name,line",
    [
        ("unknown-columns.csv", 1),
        ("too-many-columns.csv", 1),
        ("unterminated-quote.csv", 2),
        ("context-without-target.csv", 2),
        ("conflicting-readings.csv", 2),
    ],
)
def test_malformed_fixture_files(name, line):
    result = check_dictionary(DATA / name)
    assert result.errors and result.errors[0].line == line
    assert str(DATA / name) in str(result.errors[0])


def test_all_errors_of_a_file_are_collected_and_load_reports_the_count(tmp_path):
    path = write(tmp_path, "d.csv", 'target,reading,weight\n,エンゲ,1\nx,エックス,-1\n"y,z\n')
    result = check_dictionary(path)
    assert [e.line for e in result.errors] == [2, 3, 4]
    with pytest.raises(DictionaryError, match=r"2 more problems: run `termadapt validate"):
        load_dictionary(path)


def test_missing_file_and_directory(tmp_path):
    assert "file not found" in str(check_dictionary(tmp_path / "nope.csv").errors[0])
    assert "directory" in str(check_dictionary(tmp_path).errors[0])


# --- warnings -------------------------------------------------------------------------


def test_exact_duplicates_warn_and_are_deduplicated():
    result = load_dictionary(DATA / "warnings-only.csv")
    assert [e.target for e in result.entries] == ["痙攣", "ailia SDK"]
    messages = [str(w) for w in result.warnings]
    assert any(":2: exact duplicate of" in m and ":1" in m for m in messages)


def test_latin_reading_warns_suggesting_katakana(tmp_path):
    path = write(tmp_path, "d.csv", "エスディーケー１,SDK1\nSDK,ailia SDK\n")
    result = load_dictionary(path)
    assert len(result.entries) == 2
    assert [w.line for w in result.warnings] == [1, 2]
    assert all("katakana" in w.fix for w in result.warnings)


def test_duplicate_without_reading_keeps_the_given_reading(tmp_path):
    path = write(tmp_path, "d.csv", "嚥下\nエンゲ,嚥下\n")
    result = load_dictionary(path)
    assert [(e.target, e.reading, e.reading_source) for e in result.entries] == [("嚥下", "エンゲ", "given")]
    assert len(result.warnings) == 1


def test_conflicting_readings_across_files(tmp_path):
    a = write(tmp_path, "a.csv", "エンゲ,嚥下\n")
    b = write(tmp_path, "b.csv", "ケイレン,痙攣\nエンカ,嚥下\n")
    with pytest.raises(DictionaryError) as info:
        load_dictionaries([a, b])
    assert info.value.path == str(b) and info.value.line == 2 and f"{a}:1" in str(info.value)
    merged = load_dictionaries([a, write(tmp_path, "c.csv", "エンゲ,嚥下\nドウキ,動悸\n")])
    assert [e.target for e in merged.entries] == ["嚥下", "動悸"] and len(merged.warnings) == 1


# --- fuzzing --------------------------------------------------------------------------

ALPHABET = st.sampled_from(
    list('ab,\t"| \n\r#\x00\x07\u3000アイ嚥下\ufeff\u200b') + ["target", "reading", "weight", "context"]
)


def _assert_well_formed(result, path: str) -> None:
    for problem in result.errors + result.warnings:
        assert isinstance(problem, DictionaryError)
        assert problem.line >= 0 and problem.path == path
        assert "\n" not in str(problem)
    for entry in result.entries:
        assert entry.target and entry.source.startswith(path + ":")
        assert int(entry.source.rsplit(":", 1)[1]) >= 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_fuzz_bytes_end_in_entries_or_located_errors(data):
    _assert_well_formed(check_bytes(data, "fuzz.csv"), "fuzz.csv")


@settings(max_examples=300, deadline=None)
@given(st.lists(ALPHABET, max_size=40).map("".join), st.sampled_from(["utf-8", "utf-8-sig", "cp932"]))
def test_fuzz_text_end_in_entries_or_located_errors(text, codec):
    data = text.encode(codec, errors="replace")
    result = check_bytes(data, "fuzz.tsv")
    _assert_well_formed(result, "fuzz.tsv")
    if result.errors:
        with pytest.raises(DictionaryError):  # load_* raises exactly the collected problems
            from termadapt.text.dictionary import _raise_first

            _raise_first(result)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("😀😀 , 絵文字\n", "reading '😀😀' has nothing a TTS can speak"),
        ("★☆\n", "target '★☆' has nothing a TTS can speak, so no reading can be derived"),
    ],
)
def test_readings_a_tts_cannot_speak_are_errors(text, message):
    result = parse_dictionary_text(text, "d.csv")
    assert len(result.errors) == 1 and not result.entries
    assert str(result.errors[0]).startswith(f"d.csv:1: {message}") and " — " in str(result.errors[0])


def test_symbols_a_tts_skips_are_a_warning_naming_the_line():
    result = parse_dictionary_text("ケイレン , 痙攣\nアイリア★ , ailia★\n", "d.csv")
    assert not result.errors and len(result.entries) == 2
    (warning,) = result.warnings
    assert str(warning).startswith("d.csv:2: reading contains symbols a TTS skips (★)")
