"""Tests of termadapt.sentences: template/sentence files, seeded splits, utterances, CLI preview."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from termadapt.config import SHIPPED_DIR, SentencesConfig, load_recipe
from termadapt.errors import DictionaryError, TermadaptError
from termadapt.records import TermEntry, read_jsonl, sha256_text, write_jsonl
from termadapt.text.sentences import build_utterances, make_utterances, plan_utterances, split_items
from termadapt.text.templates import Template, load_general_sentences, load_template_set, load_templates, template_paths

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "recipes" / "quickstart-ja.toml"
SHIPPED_DOMAINS = ("general", "medical", "tech")

TERMS = [
    TermEntry(
        "動悸",
        "ドウキ",
        category="症状",
        homophones=("動機", "同期"),
        context=("階段を上ると動悸がします。",),
        source="t.csv:2",
    ),
    TermEntry("ailia SDK", "アイリアエスディーケー", source="t.csv:3"),
    TermEntry("誤嚥", "ゴエン", homophones=("ご縁",), source="t.csv:4"),
    TermEntry("心電図", "シンデンズ", weight=2.0, source="t.csv:5"),
]

CFG = SentencesConfig(
    templates_per_term=6,
    test_templates_per_term=3,
    validation_templates_per_term=1,
    max_general_replay=120,
    max_general_validation=20,
    max_general_test=60,
)


@pytest.fixture(scope="module")
def templates() -> list[Template]:
    return load_template_set([SHIPPED_DIR / "templates" / f"{d}.txt" for d in ("general", "medical")])


@pytest.fixture(scope="module")
def general() -> list[str]:
    return load_general_sentences(SHIPPED_DIR / "general-ja.txt")


@pytest.fixture(scope="module")
def plan(templates, general):
    return plan_utterances(TERMS, templates, general, CFG, seed=0)


# ----------------------------------------------------------------------------- shipped data


@pytest.mark.parametrize("domain", SHIPPED_DOMAINS)
def test_shipped_templates_have_one_slot_each(domain):
    path = SHIPPED_DIR / "templates" / f"{domain}.txt"
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    assert len(lines) >= 20
    assert all(ln.count("{term}") == 1 for ln in lines)
    assert len(load_templates([path])) >= 20


def test_shipped_general_sentences(general):
    assert len(general) >= 600
    assert len(set(general)) == len(general)
    assert not any("{term}" in s for s in general)


def test_shipped_general_sentences_avoid_demo_terms(general):
    recipe = load_recipe(QUICKSTART)
    from termadapt.text.dictionary import load_dictionaries

    targets = [e.target for e in load_dictionaries([recipe.path(p) for p in recipe.dictionary.paths]).entries]
    assert targets
    assert not [s for s in general if any(t in s for t in targets)]


# ----------------------------------------------------------------------------- template files


def test_template_errors_name_file_and_line(tmp_path):
    good = tmp_path / "ok.txt"
    good.write_text("# comment\n{term}です。\n\n{term}を使う。\n{term}です。\n", encoding="utf-8")
    assert load_templates([good]) == ["{term}です。", "{term}を使う。"]  # comments, blanks, duplicates skipped
    for body, line, what in (
        ("{term}です。\n用語なし。\n", 2, "no {term}"),
        ("# c\n{term}と{term}。\n", 2, "2 {term}"),
        ("{term}\u0007。\n", 1, "control"),
    ):
        bad = tmp_path / "bad.txt"
        bad.write_text(body, encoding="utf-8")
        with pytest.raises(DictionaryError) as err:
            load_templates([bad])
        assert err.value.line == line
        assert str(err.value).startswith(f"{bad}:{line}: ")
        assert what in str(err.value)
        assert "\n" not in str(err.value)


def test_template_file_not_utf8_or_empty(tmp_path):
    sjis = tmp_path / "sjis.txt"
    sjis.write_bytes("{term}です。\n{term}について。\n".encode("cp932"))
    with pytest.raises(DictionaryError, match="UTF-8"):
        load_templates([sjis])
    empty = tmp_path / "empty.txt"
    empty.write_text("# only a comment\n", encoding="utf-8")
    with pytest.raises(DictionaryError, match="no templates"):
        load_templates([empty])


def test_unknown_domain_is_a_config_error(tmp_path):
    recipe = load_recipe(QUICKSTART)
    recipe.sentences.domains = ["general", "legal"]
    with pytest.raises(TermadaptError, match="unknown template domain 'legal'.*medical"):
        template_paths(recipe)


# ----------------------------------------------------------------------------- splits


def test_split_is_deterministic_and_seeded():
    items = [f"文{i}です。" for i in range(200)]
    fractions = {"train": 0.6, "validation": 0.1, "test": 0.3}
    a = split_items(items, fractions, seed=0)
    assert a == split_items(items, fractions, seed=0)
    assert a != split_items(items, fractions, seed=1)
    assert sorted(sum(a.values(), [])) == sorted(items)  # a partition: every item exactly once
    assert 90 < len(a["train"]) < 150 and 35 < len(a["test"]) < 85


def test_split_is_stable_when_items_are_added_or_removed():
    items = [f"文{i}です。" for i in range(100)]
    fractions = {"train": 0.7, "test": 0.3}
    before = split_items(items, fractions, seed=3)
    after = split_items(items[10:] + [f"新しい文{i}。" for i in range(50)], fractions, seed=3)
    where_before = {s: name for name, ss in before.items() for s in ss}
    where_after = {s: name for name, ss in after.items() for s in ss}
    assert all(where_after[s] == where_before[s] for s in items[10:])


@pytest.mark.parametrize("seed", range(20))
def test_every_split_gets_an_item_when_possible(seed):
    fractions = {"train": 0.55, "validation": 0.15, "test": 0.3}
    three = split_items(["あ{term}", "い{term}", "う{term}"], fractions, seed)
    assert all(len(v) == 1 for v in three.values())
    few = split_items([f"{i}{{term}}" for i in range(5)], fractions, seed)
    assert all(few.values()) and sum(map(len, few.values())) == 5


def test_template_splits_and_general_pools_are_disjoint(plan, templates, general):
    t = {k: {x.text for x in v} for k, v in plan.template_splits.items()}
    assert not (t["train"] & t["test"]) and not (t["train"] & t["validation"]) and not (t["validation"] & t["test"])
    assert t["train"] | t["validation"] | t["test"] == {x.text for x in templates}
    for domain in ("general", "medical"):  # split per domain: every domain reaches every split
        assert all(any(x.domain == domain for x in v) for v in plan.template_splits.values())
    g = {k: set(v) for k, v in plan.general_pools.items()}
    assert not (g["train"] & g["test"]) and not (g["train"] & g["validation"]) and not (g["validation"] & g["test"])
    made = {k: {x.text for x in v} for k, v in plan.made_guards.items()}
    assert made and all(made[k] <= g[k] for k in made)  # made guard sentences come on top of the caps
    assert tuple(len(g[k] - made.get(k, set())) for k in ("train", "validation", "test")) == (120, 20, 60)  # caps
    by_split = {}
    for u in plan.utterances:
        if u.kind in ("general", "homophone"):
            by_split.setdefault(u.split, set()).add(u.text)
    assert by_split == g
    # Template split: no test sentence uses a training template.
    train_templates = {u.template for u in plan.utterances if u.kind == "term" and u.split == "train"}
    assert not train_templates & {u.template for u in plan.utterances if u.split == "test"}


# ----------------------------------------------------------------------------- utterances


def test_every_utterance_has_label_and_tts_forms(plan):
    reading = {t.target: t.reading for t in TERMS}
    term_kinds = {"term", "term_alone", "term_context"}
    assert {u.kind for u in plan.utterances} == term_kinds | {"general", "homophone"}
    for u in plan.utterances:
        if u.kind in term_kinds:
            main = u.terms[0]
            assert main in u.text and reading[main] in u.tts_text and main not in u.tts_text
            assert u.text.replace(main, reading[main]) == u.tts_text
        else:
            assert u.text == u.tts_text and u.terms == ()
        if u.kind == "term":
            assert u.text == u.template.replace("{term}", u.terms[0])
    context = [u for u in plan.utterances if u.kind == "term_context"]
    assert [(u.text, u.tts_text, u.split) for u in context] == [
        ("階段を上ると動悸がします。", "階段を上るとドウキがします。", "train")
    ]
    alone = {u.text: (u.tts_text, u.split) for u in plan.utterances if u.kind == "term_alone"}
    assert alone == {t.target: (t.reading, "train") for t in TERMS if not t.homophones}


def test_templates_per_term_vary_between_terms(plan):
    per_term: dict[tuple[str, str], list[str]] = {}
    for u in plan.utterances:
        if u.kind == "term":
            per_term.setdefault((u.terms[0], u.split), []).append(u.template)
    for t in TERMS:
        want = round(CFG.templates_per_term * t.weight)  # weight 2 → twice the training wordings
        assert len(per_term[(t.target, "train")]) == want
        assert len(per_term[(t.target, "test")]) == CFG.test_templates_per_term
        assert len(per_term[(t.target, "validation")]) == CFG.validation_templates_per_term
    subsets = {frozenset(per_term[(t.target, "train")][:6]) for t in TERMS}
    assert len(subsets) == len(TERMS)  # each term its own mix of wordings
    # Both domains appear among each term's training templates (alternated); a term with
    # homophones trains on the deciding (medical) ones only.
    domains = {x.text: x.domain for x in plan.template_splits["train"]}
    for t in TERMS:
        expected = {"medical"} if t.homophones else {"general", "medical"}
        assert {domains[x] for x in per_term[(t.target, "train")]} == expected


def test_homophone_sentences_are_marked(plan, general):
    hom = [u for u in plan.utterances if u.kind == "homophone"]
    assert {u.split for u in hom} >= {"train", "test"}
    for u in hom:
        term = next(t for t in TERMS if t.target == u.homophone_of)
        assert any(h in u.text for h in term.homophones) and term.target not in u.text
        assert u.decides is True
    # Every general sentence that uses 動機 and landed in a pool is marked as its homophone.
    used = [u for u in plan.utterances if u.kind in ("general", "homophone") and "動機" in u.text]
    assert used and all(u.kind == "homophone" and u.homophone_of == "動悸" for u in used)
    assert not [u for u in plan.utterances if u.kind == "general" and "ご縁" in u.text]


def test_every_split_gets_homophone_sentences_of_every_term(plan, general):
    for term in ("動悸", "誤嚥"):
        available = [s for s in general if any(h in s for h in next(t for t in TERMS if t.target == term).homophones)]
        assert len(available) >= 3
        per_split = {u.split for u in plan.utterances if u.kind == "homophone" and u.homophone_of == term}
        assert per_split == {"train", "validation", "test"}, term  # validation can watch for swaps too


def test_homophones_get_room_under_small_caps(templates, general):
    cfg = dataclasses.replace(CFG, max_general_replay=10, max_general_test=10)
    plan = plan_utterances(TERMS, templates, general, cfg, seed=0)
    for split in ("train", "test"):
        of = {u.homophone_of for u in plan.utterances if u.split == split and u.kind == "homophone"}
        assert of == {"動悸", "誤嚥"}
    off = plan_utterances(TERMS, templates, general, dataclasses.replace(cfg, include_homophones=False), seed=0)
    n_on = sum(u.kind == "homophone" for u in plan.utterances)
    n_off = sum(u.kind == "homophone" for u in off.utterances)
    assert n_off < n_on


def test_decides_flags(plan):
    domain = {x.text: x.domain for v in plan.template_splits.values() for x in v}
    for u in plan.utterances:
        homophone_term = u.terms and u.terms[0] in ("動悸", "誤嚥")
        if u.kind == "term":
            # a medical template decides, unless it opens with the term (Whisper writes left to right)
            opens = u.template.startswith("{term}")
            expected = (domain[u.template] == "medical" and not opens) if homophone_term else None
            assert u.decides is expected
        elif u.kind == "term_alone":
            assert u.decides is None and not homophone_term  # homophone terms are not spoken alone
        elif u.kind == "term_context":
            assert u.decides is True
        elif u.kind == "general":
            assert u.decides is None


def test_homophone_terms_train_and_validate_only_where_context_decides(plan, templates, general):
    homophone_terms = {"動悸", "誤嚥"}
    own = [u for u in plan.utterances if u.terms and u.terms[0] in homophone_terms and u.kind.startswith("term")]
    assert not [u for u in own if u.kind == "term_alone"]  # the bare word would teach the spelling context-free
    for u in own:
        if u.split != "test":
            assert u.decides is True, u.text
    assert any(u.decides is False for u in own if u.split == "test")  # neutral test sentences stay, reported apart
    assert [u for u in plan.utterances if u.terms == ("心電図",) and u.kind == "term_alone"]  # others unchanged

    mixed = plan_utterances(TERMS, templates, general, dataclasses.replace(CFG, homophone_terms_deciding_only=False), 0)
    assert any(u.decides is False and u.split == "train" for u in mixed.utterances if u.terms[:1] == ("動悸",))


def test_homophone_term_without_deciding_templates_is_warned(general):
    only_general = load_template_set([SHIPPED_DIR / "templates" / "general.txt"])
    plan = plan_utterances(TERMS[:1], only_general, general, CFG, seed=0)
    assert any("動悸: sounds like 動機" in w and "no train template decides" in w for w in plan.warnings)
    assert [u for u in plan.utterances if u.terms[:1] == ("動悸",) and u.split == "train" and u.kind == "term"]


def test_missing_homophone_guard_is_warned(templates, general):
    terms = [TermEntry("架空語", "カクウゴ", homophones=("存在しない言葉ですよ",))]
    plan = plan_utterances(terms, templates, general, CFG, seed=0)
    assert plan.unguarded == {"train": ["架空語"], "test": ["架空語"]}
    assert any(
        "1 of 1 terms with homophones have no replay (guard) sentence" in w and "架空語" in w for w in plan.warnings
    )
    assert any("no regression sentence" in w and "架空語" in w for w in plan.warnings)
    guarded = plan_utterances(TERMS, templates, general, CFG, seed=0)
    assert guarded.unguarded == {"train": [], "test": []}


def test_general_sentence_with_a_term_leaves_the_pools(templates):
    general = [f"今日は{i}回目の会議です。" for i in range(30)] + ["昨日は動悸がひどかった。"]
    plan = plan_utterances(TERMS, templates, general, dataclasses.replace(CFG, min_homophone_sentences=0), seed=0)
    assert not [u for u in plan.utterances if u.kind in ("general", "homophone") and "動悸" in u.text]
    assert any("contains the term '動悸'" in w and "昨日は動悸がひどかった。" in w for w in plan.warnings)
    assert sum(len(v) for v in plan.general_pools.values()) == 30


def test_held_out_sentence_never_equals_a_training_sentence(templates, general):
    # A context sentence identical to a test-template sentence must not be scored.
    test_tpl = next(t for t in plan_utterances([], templates, [], CFG, 0).template_splits["test"])
    term = TermEntry("褥瘡", "ジョクソウ", context=(test_tpl.text.replace("{term}", "褥瘡"),))
    cfg = dataclasses.replace(CFG, test_templates_per_term=0)
    plan = plan_utterances([term], templates, general, cfg, seed=0)
    train = {u.text for u in plan.utterances if u.split == "train"}
    assert not [u for u in plan.utterances if u.split != "train" and u.text in train]
    assert any("also a training sentence" in w for w in plan.warnings)


def test_ids_are_stable_hashes_and_unique(plan, templates, general):
    ids = [u.id for u in plan.utterances]
    assert len(ids) == len(set(ids))
    assert all(u.id == sha256_text(u.kind, u.text, u.tts_text)[:16] for u in plan.utterances)
    again = make_utterances(TERMS, templates, general, CFG, seed=0)
    assert [u.id for u in again] == ids
    # Adding a term leaves every other utterance's id and split alone.
    more = make_utterances([*TERMS, TermEntry("頻脈", "ヒンミャク")], templates, general, CFG, seed=0)
    kept = {(u.id, u.split) for u in more}
    assert all((u.id, u.split) in kept for u in plan.utterances)


def test_plain_string_templates_work_without_domain():
    utts = make_utterances(
        [TERMS[0]],
        ["{term}です。", "{term}を確認。", "{term}について。", "朝から{term}がする。"],
        [],
        SentencesConfig(homophone_terms_deciding_only=False),
        seed=0,
    )
    assert {u.split for u in utts if u.kind == "term"} == {"train", "validation", "test"}
    for u in utts:
        if u.kind == "term":  # unknown domain: undecided, unless the term opens the sentence (decides nothing)
            assert u.decides is (False if u.text.startswith("動悸") else None), u.text


# ----------------------------------------------------------------------------- stage + CLI


def _quickstart_terms() -> list[TermEntry]:
    return [
        TermEntry("ailia SDK", "アイリアエスディーケー"),
        TermEntry("蒸留", "ジョウリュウ", homophones=("上流",)),
        TermEntry("汎化", "ハンカ"),
    ]


def test_build_utterances_writes_manifest(tmp_path):
    recipe = load_recipe(QUICKSTART)
    # A cap below what the regression pool holds (~250), so it binds.
    recipe = dataclasses.replace(recipe, sentences=dataclasses.replace(recipe.sentences, max_general_test=120))
    with pytest.raises(TermadaptError, match="terms.jsonl: not found"):
        build_utterances(recipe, tmp_path)
    write_jsonl(tmp_path / "terms.jsonl", _quickstart_terms())
    out = build_utterances(recipe, tmp_path)
    assert out == tmp_path / "utterances.jsonl"
    rows = read_jsonl(out)
    assert {r["split"] for r in rows} == {"train", "validation", "test"}
    cfg = recipe.sentences
    assert sum(r["kind"] == "term" and r["split"] == "test" for r in rows) == 3 * cfg.test_templates_per_term
    pool = [r for r in rows if r["kind"] in ("general", "homophone") and r["split"] == "test"]
    shipped = set(load_general_sentences(SHIPPED_DIR / "general-ja.txt"))
    from_shipped = [r for r in pool if r["text"] in shipped]
    assert len(from_shipped) == cfg.max_general_test  # made guard sentences come on top of the cap
    assert all(r["kind"] == "homophone" for r in pool if r["text"] not in shipped)
    assert (tmp_path / "config.resolved.toml").is_file()
    assert load_recipe(tmp_path / "config.resolved.toml").sentences == recipe.sentences
    assert out.read_bytes() == (build_utterances(recipe, tmp_path)).read_bytes()  # deterministic
    assert recipe.general_sentences_path() == SHIPPED_DIR / "general-ja.txt"


def _cli(*args: str):
    from termadapt.cli import app

    return CliRunner().invoke(app, ["sentences", *args], env={"COLUMNS": "250"})


def _terms_stage_done(recipe, run_dir) -> None:
    """Mark run_dir's terms stage finished for the recipe as it is now (as build-and-train does)."""
    from termadapt import pipeline

    key = pipeline.stage_key(recipe, pipeline.STAGES[0], "")
    (run_dir / ".stages").mkdir(parents=True, exist_ok=True)
    (run_dir / ".stages" / "terms.json").write_text(json.dumps({"key": key}), encoding="utf-8")


def test_cli_sentences_runs_the_stage_and_shows_both_texts(tmp_path):
    write_jsonl(tmp_path / "terms.jsonl", _quickstart_terms())
    _terms_stage_done(load_recipe(QUICKSTART), tmp_path)
    result = _cli(str(QUICKSTART), "--run-dir", str(tmp_path), "--split", "test", "--kind", "term", "--limit", "0")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "utterances.jsonl").is_file() and (tmp_path / ".stages" / "sentences.json").is_file()
    assert "label text" in result.output and "TTS text" in result.output
    assert "ailia SDK" in result.output and "アイリアエスディーケー" in result.output
    n = 3 * load_recipe(QUICKSTART).sentences.test_templates_per_term
    assert f"{n} of {n} sentences" in result.output
    assert "validation" in result.output  # the counts table lists every split


def test_cli_sentences_ignores_a_stale_terms_file(tmp_path):
    # terms.jsonl of an earlier dictionary (3 of the 7 terms, no finished terms stage for the
    # dictionary as it is now): the stage refuses it, the preview shows the dictionary instead.
    write_jsonl(tmp_path / "terms.jsonl", _quickstart_terms())
    result = _cli(str(QUICKSTART), "--run-dir", str(tmp_path))
    assert result.exit_code == 1 and "`termadapt terms RECIPE` first" in result.output, result.output
    assert not (tmp_path / "utterances.jsonl").exists()
    result = _cli(
        str(QUICKSTART), "--run-dir", str(tmp_path), "--dry-run", "--split", "test", "--kind", "term", "--limit", "0"
    )
    assert result.exit_code == 0, result.output
    demo_terms = 7  # the shipped demo-product.csv
    n = demo_terms * load_recipe(QUICKSTART).sentences.test_templates_per_term
    assert f"{n} of {n} sentences" in result.output
    assert not (tmp_path / "utterances.jsonl").exists()


def test_cli_terms_then_sentences(tmp_path):
    from termadapt.cli import app

    result = CliRunner().invoke(app, ["terms", str(QUICKSTART), "--run-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert len(read_jsonl(tmp_path / "terms.jsonl")) == 7
    result = _cli(str(QUICKSTART), "--run-dir", str(tmp_path), "--kind", "term_alone", "--limit", "3")
    assert result.exit_code == 0, result.output
    assert "ailia SDK" in result.output and "アイリアエスディーケー" in result.output


def test_cli_sentences_bad_input_is_one_line(tmp_path):
    result = _cli(str(QUICKSTART), "--split", "dev")
    assert result.exit_code == 1 and "--split 'dev'" in result.output and "Traceback" not in result.output
    result = _cli(str(tmp_path / "missing.toml"))
    assert result.exit_code == 1 and "recipe not found" in result.output


def test_single_template_per_term_mixes_domains(templates):
    terms = [TermEntry(f"用語{i}", f"ヨウゴ{i}") for i in range(40)]
    plan = plan_utterances(terms, templates, [], CFG, seed=0)
    domain = {x.text: x.domain for x in plan.template_splits["validation"]}
    picked = [domain[u.template] for u in plan.utterances if u.split == "validation"]
    assert len(picked) == 40 and 8 < picked.count("general") < 32


def test_term_without_reading_is_spoken_as_written_with_a_warning():
    plan = plan_utterances([TermEntry("頻脈", "", source="d.csv:9")], ["{term}です。"], [], SentencesConfig(), 0)
    assert [(u.text, u.tts_text) for u in plan.utterances if u.kind == "term_alone"] == [("頻脈", "頻脈")]
    assert any(w.startswith("d.csv:9: no reading") for w in plan.warnings)


def test_finder_matches_a_plain_substring_scan():
    import random

    from termadapt.text.sentences import _Finder

    rng = random.Random(0)
    alphabet = "蒸留上流動悸機同期ab"
    needles = list(dict.fromkeys("".join(rng.choices(alphabet, k=rng.randint(1, 3))) for _ in range(60)))
    finder = _Finder(["", *needles, needles[0]])  # empty and repeated needles are ignored
    for _ in range(300):
        text = "".join(rng.choices(alphabet, k=rng.randint(0, 12)))
        assert finder.find(text) == [n for n in needles if n in text]


def test_extra_general_sentences_become_homophone_guards_in_every_split(tmp_path):
    """A user's own sentences using a term's homophone are guards like the shipped ones."""
    import json

    from termadapt.config import recipe_from_dict
    from termadapt.errors import TermadaptError
    from termadapt.text.terms import build_terms

    (tmp_path / "d.csv").write_text("動悸\n", encoding="utf-8")
    mine = [f"{who}と同期の会議で話しました。" for who in ("部長", "課長", "先輩", "後輩", "新人", "社長")]
    (tmp_path / "mine.txt").write_text("\n".join(mine) + "\n", encoding="utf-8")

    def run(extra, name):
        recipe = recipe_from_dict(
            {"name": "t", "dictionary": {"paths": ["d.csv"]}, "sentences": {"extra_general_sentences": extra}},
            source=str(tmp_path / "recipe.toml"),
        )
        build_terms(recipe, tmp_path / name)
        out = build_utterances(recipe, tmp_path / name)
        return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]

    with_mine = [u for u in run(["mine.txt"], "a") if u["text"] in mine]
    assert {u["kind"] for u in with_mine} == {"homophone"} and {u["homophone_of"] for u in with_mine} == {"動悸"}
    assert {u["split"] for u in with_mine} >= {"train", "test"}
    assert not [u for u in run([], "b") if u["text"] in mine]
    with pytest.raises(TermadaptError, match="missing.txt.*extra_general_sentences"):
        run(["missing.txt"], "c")


def test_general_sentences_saying_a_sound_alike_are_guards_of_its_term():
    from termadapt.records import TermEntry

    general = [f"箱に千個の{thing}が入っています。" for thing in ("部品", "ねじ", "玉", "豆", "石", "札")]
    general += [f"今日は{x}が良い日です。" for x in ("天気", "気分", "調子", "運", "風", "景色")]
    term = TermEntry("仙骨", "センコツ", sound_alikes=("千個",))
    from termadapt.text.templates import Template

    templates = [Template(f"{{term}}の{x}を調べます。", "t", f"t.txt:{i + 1}") for i, x in enumerate("上下左右前後")]
    plan = plan_utterances([term], templates, general, CFG, seed=0)
    guards = [u for u in plan.utterances if u.kind == "homophone"]
    assert guards and {u.homophone_of for u in guards} == {"仙骨"} and all("千個" in u.text for u in guards)
    assert {u.split for u in guards} >= {"train", "test"}


def test_a_context_sentence_per_term_is_held_out_as_the_generalization_test():
    from termadapt.records import TermEntry
    from termadapt.text.templates import Template

    three = ("夜中に痙攣で目が覚めた。", "手足の痙攣が続いている。", "痙攣が起きたら横にしてください。")
    terms = [
        TermEntry("痙攣", "ケイレン", context=three),
        TermEntry("心電図", "シンデンズ", context=("心電図を取ります。",)),
    ]
    templates = [Template(f"{{term}}の{x}を調べます。", "t", f"t.txt:{i + 1}") for i, x in enumerate("上下左右前後")]
    general = [f"今日は{x}が良い日です。" for x in ("天気", "気分", "調子", "運", "風", "景色")]

    def context(cfg):
        plan = plan_utterances(terms, templates, general, cfg, seed=0)
        return {(u.text, u.split) for u in plan.utterances if u.kind == "term_context"}

    held = context(CFG)
    assert (
        sum(s == "test" for t, s in held if t in three) == 1 and sum(s == "train" for t, s in held if t in three) == 2
    )
    assert ("心電図を取ります。", "train") in held  # a term's only sentence stays in training
    assert context(CFG) == held  # seeded
    none = context(dataclasses.replace(CFG, context_test_per_term=0))
    assert {s for _, s in none} == {"train"}
