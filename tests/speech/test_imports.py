"""Imports of real speech: Kaldi folders, CSV/JSONL, audio folders, datasets dirs; problem counts."""

from __future__ import annotations

import json

import datasets
import numpy as np
import pytest
import soundfile as sf
from synth_helpers import make_run

from termadapt.config import recipe_from_dict
from termadapt.dataset import build_dataset, open_dataset
from termadapt.errors import TermadaptError
from termadapt.speech.imports import load_import
from termadapt.speech.synth import synthesize


def _wav(path, seconds=0.5, sr=22050):
    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr)
    return path


def _kaldi(tmp_path, audio_list="audio_paths"):
    d = tmp_path / "real_ja"
    d.mkdir()
    for i in range(3):
        _wav(d / f"u{i}.wav")
    (d / "broken.wav").write_bytes(b"RIFF not really a wav")
    (d / "text").write_text(
        "u0 心電図を確認します\nu1 今日は晴れ\nu2 痙攣が起きた\nu3 \nu4 音声がない\nu5 壊れた音声\n", encoding="utf-8"
    )
    (d / audio_list).write_text(
        f"u0 {d / 'u0.wav'}\nu1 u1.wav\nu2 {d / 'u2.wav'}\nu3 {d / 'u0.wav'}\n"
        f"u4 {d / 'gone.wav'}\nu5 broken.wav\nu9 {d / 'u1.wav'}\n",
        encoding="utf-8",
    )
    return d


def test_kaldi_import_counts_problems(tmp_path):
    clips, report = load_import(_kaldi(tmp_path), tmp_path / "cache")
    assert [c.text for c in clips] == ["心電図を確認します", "今日は晴れ", "痙攣が起きた"]
    assert {c.split for c in clips} == {"import_real_ja"} and all(c.held_out for c in clips)
    assert all(sf.info(c.audio_path).samplerate == 16000 for c in clips)
    counts = {k: v[0] for k, v in report.problems.items()}
    assert counts == {"empty text": 1, "missing audio": 1, "unreadable audio": 1, "audio without text": 1}
    lines = report.lines()
    assert len(lines) == 4 and any("1 × missing audio (first: u4: " in line and "gone.wav" in line for line in lines)


def test_wav_scp_csv_jsonl_and_folder(tmp_path):
    d = _kaldi(tmp_path, "wav.scp")
    with open(d / "wav.scp", "a", encoding="utf-8") as fh:
        fh.write("u7 sox in.flac -t wav - |\n")
    (d / "text").write_text((d / "text").read_text(encoding="utf-8") + "u7 パイプ\n", encoding="utf-8")
    clips, report = load_import(d, tmp_path / "cache")
    assert len(clips) == 3 and report.problems["unsupported wav.scp command"][0] == 1

    (tmp_path / "set.csv").write_text(
        f"path,transcript\n{d / 'u0.wav'},こんにちは\nmissing.wav,さようなら\n", encoding="utf-8"
    )
    clips, report = load_import(tmp_path / "set.csv", tmp_path / "cache")
    assert [c.text for c in clips] == ["こんにちは"] and report.problems["missing audio"][0] == 1
    (tmp_path / "bad.csv").write_text("file_name,words\na.wav,x\n", encoding="utf-8")
    with pytest.raises(TermadaptError, match="missing an audio path column"):
        load_import(tmp_path / "bad.csv", tmp_path / "cache")

    (tmp_path / "set.jsonl").write_text(
        json.dumps({"audio": str(d / "u1.wav"), "text": "はい"}, ensure_ascii=False) + "\n{not json\n", encoding="utf-8"
    )
    clips, report = load_import(tmp_path / "set.jsonl", tmp_path / "cache")
    assert len(clips) == 1 and report.problems["malformed line"][0] == 1

    folder = tmp_path / "folder"
    folder.mkdir()
    _wav(folder / "a.wav")
    (folder / "a.txt").write_text("はい\n", encoding="utf-8")
    _wav(folder / "b.flac")
    clips, report = load_import(folder, tmp_path / "cache")
    assert [c.text for c in clips] == ["はい"] and report.problems["audio without text"][0] == 1

    with pytest.raises(TermadaptError, match="cannot import a '.txt' file"):
        load_import(folder / "a.txt", tmp_path / "cache")


def test_datasets_dir_import(tmp_path):
    _wav(tmp_path / "x.wav")
    ds = datasets.Dataset.from_dict({"audio": [str(tmp_path / "x.wav")], "sentence": ["テスト"]})
    ds = ds.cast_column("audio", datasets.Audio(sampling_rate=16000))
    ds.save_to_disk(str(tmp_path / "hfset"))
    clips, report = load_import(tmp_path / "hfset", tmp_path / "cache")
    assert report.format == "datasets" and [c.text for c in clips] == ["テスト"]


def test_kaldi_import_becomes_eval_split_and_replay(tmp_path):
    recipe, run, _ = make_run(tmp_path)
    synthesize(recipe, run)
    kaldi = _kaldi(tmp_path)
    folder = tmp_path / "replay"
    folder.mkdir()
    _wav(folder / "r.wav")
    (folder / "r.txt").write_text("普通の文です", encoding="utf-8")
    data = {
        "synth": {
            **{
                k: getattr(recipe.synth, k)
                for k in ("train_voices", "heldout_voices", "cache_dir", "command_template", "fallback_heldout_voices")
            }
        },
        "dataset": {"eval_imports": [str(kaldi)], "replay_imports": [str(folder)]},
    }
    out = build_dataset(recipe_from_dict(data), run)
    dd = open_dataset(run, "a test")
    assert dd["import_real_ja"].num_rows == 3 and all(dd["import_real_ja"]["held_out"])
    assert "普通の文です" in dd["general_train"]["text"]
    assert not any(dd["general_train"]["held_out"])
    stats = json.loads((out / "stats.json").read_text())
    assert {i["name"]: i["clips"] for i in stats["imports"]} == {"real_ja": 3, "replay": 1}
    assert stats["imports"][0]["problems"]["missing audio"]["count"] == 1


def test_import_with_nothing_usable_fails_clearly(tmp_path):
    d = tmp_path / "empty_kaldi"
    d.mkdir()
    (d / "text").write_text("u1 こんにちは\n", encoding="utf-8")
    (d / "audio_paths").write_text(f"u1 {d / 'nope.wav'}\n", encoding="utf-8")
    with pytest.raises(TermadaptError, match="no usable clip .*missing audio"):
        load_import(d, tmp_path / "cache")


def test_cp932_transcripts_truncated_long_and_short_audio(tmp_path):
    d = tmp_path / "sjis"
    d.mkdir()
    _wav(d / "ok.wav", seconds=1.0)
    _wav(d / "long.wav", seconds=3.0)
    _wav(d / "short.wav", seconds=0.1)
    whole = (d / "ok.wav").read_bytes()
    (d / "cut.wav").write_bytes(whole[: len(whole) // 2])  # header still declares 1.0 s
    (d / "text").write_bytes(
        "ok 心電図を確認します\nlong 長い音声\nshort これは短すぎる音声のはずです\ncut 途中で切れた\n".encode("cp932")
    )
    (d / "wav.scp").write_text("".join(f"{k} {k}.wav\n" for k in ("ok", "long", "short", "cut")), encoding="utf-8")
    clips, report = load_import(d, tmp_path / "cache", max_duration=2.0)
    assert [c.text for c in clips] == ["心電図を確認します"]  # CP932 decoded, not mojibake
    assert {k: v[0] for k, v in report.problems.items()} == {
        "too long": 1,
        "too short for its text": 1,
        "truncated audio": 1,
    }
    assert "3.0 s > dataset.max_duration 2 s" in report.problems["too long"][1]
    assert "of the 1.00 s its header declares" in report.problems["truncated audio"][1]


def test_audio_outside_folder_is_noticed_and_undecodable_txt_skipped(tmp_path):
    outside = _wav(tmp_path / "elsewhere.wav")
    d = tmp_path / "kaldi"
    d.mkdir()
    _wav(d / "in.wav")
    (d / "text").write_text("a 中の音声\nb 外の音声\n", encoding="utf-8")
    (d / "audio_paths").write_text(f"a in.wav\nb ../{outside.name}\n", encoding="utf-8")
    clips, report = load_import(d, tmp_path / "cache")
    assert len(clips) == 2 and not report.problems  # followed, not refused: users keep audio elsewhere
    assert report.notices["audio outside the import folder (followed)"][0] == 1
    assert any("outside the import folder" in line and "elsewhere.wav" in line for line in report.lines())

    folder = tmp_path / "folder"
    folder.mkdir()
    _wav(folder / "good.wav")
    (folder / "good.txt").write_text("はい", encoding="utf-8")
    _wav(folder / "bad.wav")
    (folder / "bad.txt").write_bytes(b"\xff\xfe\x00\x81")  # neither UTF-8 nor CP932
    clips, report = load_import(folder, tmp_path / "cache")
    assert [c.text for c in clips] == ["はい"]
    assert report.problems["undecodable text"][0] == 1 and "bad.txt" in report.problems["undecodable text"][1]
