"""Which clips are homophone sentences of a term, and how an over-trigger is counted there."""

from __future__ import annotations

from termadapt.scoring.evaluation import TermInfo, score
from termadapt.scoring.terms import INVENTED, SWAP, homophone_sentence_of, over_triggers

HOMOPHONES = {"動悸": ["動機", "同期"], "紙面": ["誌面", "紙"]}


def test_a_general_sentence_saying_a_homophone_is_a_homophone_sentence_of_its_term():
    assert homophone_sentence_of("志望動機を書きます。", "general", homophones=HOMOPHONES) == {"動悸"}
    assert homophone_sentence_of("データを同期しました。", "general", homophones=HOMOPHONES) == {"動悸"}
    assert homophone_sentence_of("今日は晴れです。", "general", homophones=HOMOPHONES) == set()
    assert homophone_sentence_of("志望動機を書きます。", "general") == set()  # without the term list: made ones only
    # a made guard sentence is one whatever it says
    assert homophone_sentence_of("彼の話", "homophone", "動悸", HOMOPHONES) == {"動悸"}
    # one-character homophones (紙) are inside too many words to say what a sentence is about
    assert homophone_sentence_of("手紙を書く。", "general", homophones=HOMOPHONES) == set()
    # a sentence that says the term itself is no homophone sentence of it
    assert homophone_sentence_of("動悸と動機の話。", "general", homophones=HOMOPHONES) == set()


def test_writing_the_term_over_a_homophone_in_any_sentence_is_a_swap():
    ref, hyp = "データを同期しました。", "データを動悸しました"
    assert over_triggers(hyp, ref, ["動悸"], "general", homophones=HOMOPHONES) == [("動悸", SWAP)]
    assert over_triggers(hyp, ref, ["動悸"], "general") == [("動悸", INVENTED)]  # the old view
    assert over_triggers("駅前で動悸", "駅前で会う", ["動悸"], "general", homophones=HOMOPHONES) == [("動悸", INVENTED)]


def _clip(set_name, i, text, kind="general"):
    from report.helpers import clip

    return clip(set_name, i, text, kind)


def test_evaluation_counts_homophone_sentences_of_general_and_imported_sets():
    """The report's "k of N homophone sentences" counts every clip saying a known homophone."""
    sets = {
        "general": [
            _clip("general", 0, "データを同期しました。"),
            _clip("general", 1, "志望動機を書きます。"),
            _clip("general", 2, "今日は晴れです。"),
        ],
        "import_calls": [_clip("import_calls", 0, "動機がはっきりしない。")],
    }
    said = {c.clip_id: c.text.rstrip("。") for cl in sets.values() for c in cl}
    adapted = dict(said)
    adapted[sets["general"][0].clip_id] = "データを動悸しました"
    adapted[sets["import_calls"][0].clip_id] = "動悸がはっきりしない"
    terms = [TermInfo("動悸", ("動機", "同期"))]
    scores = score(sets, {"base": said, "adapted": adapted}, ["base", "adapted"], terms, [], 50, 0)
    by_name = {s.name: s.get("adapted") for s in scores.sets}
    assert (by_name["general"].homophone_swaps, by_name["general"].homophone_clips) == (1, 2)
    assert (by_name["general"].invented_terms, by_name["import_calls"].homophone_clips) == (0, 1)
    assert by_name["import_calls"].homophone_swaps == 1
    assert sorted(o.kind for o in scores.over_triggers) == [SWAP, SWAP]
    # Per term: every set's homophone sentences of 動悸, and the swaps per condition.
    (row,) = scores.terms
    assert (row.term, row.homophone_clips, row.swaps) == ("動悸", 3, {"base": 0, "adapted": 2})
    assert row.homophone_sentences == 3 and row.homophones == ["動機", "同期"]


def test_a_sentence_spoken_by_two_voices_is_one_homophone_sentence():
    import dataclasses

    first = _clip("general", 0, "データを同期しました。")
    second = dataclasses.replace(_clip("general", 1, "データを同期しました。"), utterance_id=first.utterance_id)
    sets = {"general": [first, second, _clip("general", 2, "今日は晴れです。")]}
    said = {c.clip_id: c.text.rstrip("。") for c in sets["general"]}
    terms = [TermInfo("動悸", ("動機",), ("同期",))]
    scores = score(sets, {"base": said}, ["base"], terms, [], 50, 0)
    (row,) = scores.terms
    assert (row.homophone_clips, row.homophone_sentences) == (2, 1)
    assert row.sound_alikes == ["同期"]  # a term guarded only through sound-alikes is still listed


def test_validation_counts_the_same_swaps():
    from termadapt.scoring.validation import score_validation

    rows = [{"text": "データを同期しました。", "kind": "general", "terms": [], "homophone_of": "", "decides": -1}]
    hyps = ["データを動悸しました"]
    assert score_validation(rows, hyps, ["動悸"], HOMOPHONES).swaps == 1
    assert score_validation(rows, hyps, ["動悸"]).invented == 1


def test_the_validator_reads_the_homophones_of_terms_jsonl(tmp_path):
    from termadapt.records import TermEntry, write_jsonl
    from termadapt.training.validation import dictionary_homophones

    write_jsonl(tmp_path / "terms.jsonl", [TermEntry("動悸", "ドウキ", homophones=["動機", "同期"])])
    assert dictionary_homophones(tmp_path) == {"動悸": ["動機", "同期"]}
    assert dictionary_homophones(tmp_path / "elsewhere") == {}


def test_sound_alikes_are_scored_like_homophones():
    sets = {"general": [_clip("general", 0, "箱に千個の部品があります。"), _clip("general", 1, "今日は晴れです。")]}
    said = {c.clip_id: c.text for c in sets["general"]}
    wrote = {**said, sets["general"][0].clip_id: "箱に仙骨の部品があります。"}
    for info, swaps, invented in ((TermInfo("仙骨", (), ("千個",)), 1, 0), (TermInfo("仙骨"), 0, 1)):
        scores = score(sets, {"base": said, "adapted": wrote}, ["base", "adapted"], [info], [], 20, 0)
        m = scores.sets[0].get("adapted")
        assert (m.homophone_swaps, m.invented_terms, m.homophone_clips) == (swaps, invented, swaps)


def test_the_context_set_is_reported_apart_from_the_budget():
    """test_context (the dictionary's own held-out sentences) is scored, but neither in the
    budget's recall nor in the term table."""
    from report.helpers import clip

    from termadapt.report.schema import Report
    from termadapt.report.summary import summary
    from termadapt.scoring.evaluation import GENERALIZATION_SET, outcome

    sets = {
        "test_terms": [clip("test_terms", 0, "動悸がします。", "term", ["動悸"])],
        GENERALIZATION_SET: [clip(GENERALIZATION_SET, 0, "階段で動悸がします。", "term_context", ["動悸"])],
        "general": [clip("general", 0, "今日は晴れです。")],
    }
    base = {c.clip_id: c.text for cl in sets.values() for c in cl}
    adapted = {**base, sets[GENERALIZATION_SET][0].clip_id: "階段で動機がします。"}  # missed on the new wording
    sc = score(sets, {"base": base, "adapted": adapted}, ["base", "adapted"], [TermInfo("動悸")], [], 20, 0)
    assert [s.name for s in outcome(sc.sets, "adapted").sets if s.recall is not None] == ["test_terms"]
    (row,) = sc.terms
    assert row.total == 1  # the term table counts the test set only
    from termadapt.scoring.budget import BudgetResult

    rep = Report(
        schema_version=1, created="", run_dir="", recipe="r", sets=sc.sets, budget=BudgetResult(True, "adapted")
    )
    (line,) = [ln for ln in summary(rep) if "generalize" in ln]
    assert "base 1/1" in line and "adapted 0/1" in line
