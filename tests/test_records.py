"""Atomic writes: whole files or none, with the mode a plain open() gives (the umask is respected)."""

from __future__ import annotations

import os
import stat

import pytest

from termadapt.models.cache import cached_dir
from termadapt.records import atomic_write_bytes, read_jsonl, write_jsonl


@pytest.mark.parametrize("umask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o002, 0o664, 0o775)])
def test_written_files_follow_the_umask(tmp_path, umask, file_mode, dir_mode):
    old = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "a.bin", b"x")
        write_jsonl(tmp_path / "m.jsonl", [{"a": 1}])
        built = cached_dir("k" * 16, lambda d: (d / "f.txt").write_text("y"), cache_dir=tmp_path / "cache")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "a.bin").st_mode) == file_mode  # mkstemp alone gives 0600
    assert stat.S_IMODE(os.stat(tmp_path / "m.jsonl").st_mode) == file_mode
    assert stat.S_IMODE(os.stat(built).st_mode) == dir_mode  # mkdtemp alone gives 0700
    assert read_jsonl(tmp_path / "m.jsonl") == [{"a": 1}]


def test_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "keep.txt"
    target.write_bytes(b"old")

    def boom(*_a):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_damaged_manifest_names_file_line_and_field(tmp_path):
    from termadapt.errors import TermadaptError
    from termadapt.records import Clip, Utterance, read_jsonl

    path = tmp_path / "utterances.jsonl"
    good = '{"id": "u1", "text": "a", "tts_text": "a", "kind": "general", "split": "train", "terms": ["x"]}\n'
    path.write_text(good + "\n{broken\n", encoding="utf-8")
    with pytest.raises(TermadaptError, match=r"utterances.jsonl:3: not valid JSON .*--from sentences --force"):
        read_jsonl(path, Utterance)
    path.write_text(good, encoding="utf-8")
    assert read_jsonl(path, Utterance)[0].terms == ("x",)  # lists become the tuples the record declares
    path.write_text(good.replace('"a"', "7", 1), encoding="utf-8")
    with pytest.raises(TermadaptError, match=r"utterances.jsonl:1: text: expected a string, found int 7"):
        read_jsonl(path, Utterance)
    synth = tmp_path / "synth.jsonl"
    synth.write_text('{"utterance_id": "u1"}\n', encoding="utf-8")
    with pytest.raises(TermadaptError, match=r"synth.jsonl:1: text: missing .*--from synth"):
        read_jsonl(synth, Clip)
