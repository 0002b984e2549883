"""A hand-written evaluation (clips + hypotheses) whose metrics are known exactly."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from termadapt.report.schema import SCHEMA_VERSION, MergePoint, Report
from termadapt.scoring.evaluation import TermInfo, outcome, score
from termadapt.scoring.records import EvalClip

TERMS = [TermInfo("痙攣"), TermInfo("心電図"), TermInfo("動悸", ("動機",))]
TEMPLATES = ["医師は{term}について説明しました。"]


def clip(set_name: str, i: int, text: str, kind: str = "general", terms=(), homophone_of: str = "", decides: int = -1):
    audio = (0.1 * np.sin(np.arange(16000) * 2 * np.pi * (220 + 40 * i) / 16000)).astype(np.float32)
    return EvalClip(
        set=set_name,
        index=i,
        audio_key=f"{set_name}{i:04d}" * 4,
        audio=audio,
        text=text,
        kind=kind,
        voice="kokoro:jf_alpha",
        terms=tuple(terms),
        utterance_id=f"u{i}",
        homophone_of=homophone_of,
        decides=decides,
    )


def sample_sets():
    """Clips and base/adapted hypotheses with known outcomes (see the test for the counts)."""
    terms = [
        clip("test_terms", 0, "昨日から痙攣が続いています。", "term", ["痙攣"]),
        clip("test_terms", 1, "心電図を確認してください。", "term", ["心電図"]),
        clip("test_terms", 2, "夜になると動悸がします。", "term", ["動悸"], decides=1),
        clip("test_terms", 3, "動悸について話しました。", "term", ["動悸"], decides=0),
    ]
    general = [
        clip("general", 0, "今日は三日ぶりに晴れました。"),
        clip("general", 1, "駅前の店は六時に閉まります。"),
        clip("general", 2, "彼の動機はよく分かりません。", "homophone", homophone_of="動悸", decides=1),
        clip("general", 3, "週末は家族と公園へ行きました。"),
    ]
    hyps = {
        "base": {
            terms[0].clip_id: "昨日から系連が続いています",
            terms[1].clip_id: "新電図を確認してください",
            terms[2].clip_id: "夜になると動きがします",
            terms[3].clip_id: "動機について話しました",
            general[0].clip_id: "今日は3日ぶりに晴れました",
            general[1].clip_id: "駅前の店は6時に閉まります。",
            general[2].clip_id: "彼の動機はよく分かりません",
            general[3].clip_id: "週末は家族と公園へ行きました",
        },
        "adapted": {
            terms[0].clip_id: "昨日から痙攣が続いています",
            terms[1].clip_id: "心電図を確認してください",
            terms[2].clip_id: "夜になると動悸がします",
            terms[3].clip_id: "動機について話しました",
            general[0].clip_id: "今日は3日ぶりに晴れました",
            general[1].clip_id: "痙攣の店は6時に閉まります",
            general[2].clip_id: "彼の動悸はよく分かりません",
            general[3].clip_id: "週末は家族と説明しました",
        },
    }
    return {"test_terms": terms, "general": general}, hyps


def sample_report(run_dir: Path | None = None) -> Report:
    """A full Report from :func:`sample_sets`, with a merge curve and one saved regression wav."""
    sets, hyps = sample_sets()
    sc = score(sets, hyps, ["base", "adapted"], TERMS, TEMPLATES, bootstrap_samples=300, seed=0)
    from termadapt.config import EvaluateConfig
    from termadapt.report.schema import ConditionInfo
    from termadapt.scoring.budget import Budget

    rep = Report(
        schema_version=SCHEMA_VERSION,
        created="2024-01-01T00:00:00+00:00",
        run_dir=str(run_dir or ""),
        recipe="sample",
        machine={"python": "3.11"},
        conditions=[
            ConditionInfo("base", "whisper-base", "aaaa", "eeee"),
            ConditionInfo("adapted", "model", "bbbb", "eeee", "base"),
        ],
        sets=sc.sets,
        terms=sc.terms,
        utterances=sc.utterances,
        changes=sc.changes,
        over_triggers=sc.over_triggers,
        leaks=sc.leaks,
        merge_curve=[
            MergePoint(0.0, {"general_cer": 8.0, "general_cer_increase": 0.0, "term_recall": 0.1, "term_hits": 1.0}),
            MergePoint(0.3, {"general_cer": 8.2, "general_cer_increase": 0.2, "term_recall": 0.4, "term_hits": 4.0}),
            MergePoint(
                0.5,
                {"general_cer": 8.4, "general_cer_increase": 0.4, "term_recall": 0.8, "term_hits": 8.0},
                chosen=True,
            ),
            MergePoint(
                1.0,
                {
                    "general_cer": 9.5,
                    "general_cer_increase": 1.5,
                    "general_cer_low": 0.3,
                    "general_cer_high": 2.9,
                    "term_recall": 1.0,
                    "term_hits": 10.0,
                },
            ),
        ],
        settings=Budget.from_config(EvaluateConfig()).as_dict(),
        budget=Budget.from_config(EvaluateConfig()).verdict(outcome(sc.sets, "adapted"), "adapted"),
        timing={"decoded": 8.0},
    )
    if run_dir is not None:
        import soundfile as sf

        reg = next(c for c in rep.changes if c.change == "regression")
        buf = io.BytesIO()
        sf.write(buf, sets["general"][1].audio, 16000, format="WAV", subtype="PCM_16")
        (run_dir / "eval" / "audio").mkdir(parents=True, exist_ok=True)
        (run_dir / "eval" / "audio" / "r.wav").write_bytes(buf.getvalue())
        reg.audio = "eval/audio/r.wav"
    return rep
