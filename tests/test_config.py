"""Tests of termadapt.config: typed recipes, unknown keys, wrong types, resolved round-trips."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from termadapt.config import SHIPPED_DIR, Recipe, field_docs, load_recipe, recipe_from_dict, save_resolved, to_toml
from termadapt.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
RECIPES = sorted((ROOT / "recipes").glob("*.toml"))


def test_recipes_are_shipped():
    assert {p.name for p in RECIPES} >= {"quickstart-ja.toml", "medical-ja.toml"}


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_shipped_recipe_loads_and_its_files_exist(path):
    recipe = load_recipe(path)
    assert recipe.source == str(path.resolve())
    assert recipe.dictionary.paths
    for p in recipe.dictionary.paths:
        resolved = recipe.path(p)
        assert p.startswith("shipped:") and resolved.is_file() and resolved.parent == SHIPPED_DIR
    # Every key written in the file is a real field (the loader rejects unknown ones), and the
    # file sets the sentence sizes explicitly rather than relying on defaults.
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert {"templates_per_term", "test_templates_per_term"} <= set(data["sentences"])


def test_shipped_paths_and_moved_keys(tmp_path):
    recipe = recipe_from_dict(
        {"dictionary": {"paths": ["shipped:demo-product.csv", "own.csv"]}}, str(tmp_path / "r.toml")
    )
    assert recipe.path("shipped:demo-product.csv") == SHIPPED_DIR / "demo-product.csv"
    assert recipe.path("own.csv") == (tmp_path / "own.csv").resolve()
    assert recipe.general_sentences_path() == SHIPPED_DIR / "general-ja.txt"
    # the resolved recipe keeps shipped names portable and makes the user's paths absolute
    text = to_toml(recipe)
    assert f'paths = ["shipped:demo-product.csv", "{(tmp_path / "own.csv").resolve()}"]' in text
    for key, where in (
        ({"train": {"cer_weight": 10.0}}, "forgetting budget"),
        ({"merge": {"max_new_tokens": 64}}, "evaluate.max_new_tokens"),
    ):
        with pytest.raises(ConfigError, match=f"is no longer a recipe key — .*{where}"):
            recipe_from_dict(key)


def test_quickstart_is_sized_for_a_cpu():
    r = load_recipe(ROOT / "recipes" / "quickstart-ja.toml")
    assert r.model.base == "whisper-base"
    assert r.sentences.domains == ["general", "tech"]
    assert 0 < r.sentences.templates_per_term <= 16 and 0 < r.sentences.max_general_replay <= 300
    assert r.train.freeze == "encoder" and r.train.epochs <= 3 and r.train.replay_ratio == 0.5
    assert len(r.synth.train_voices) == 3 and r.synth.fallback_heldout_voices


@pytest.mark.parametrize(
    ("data", "suggestion"),
    [
        ({"sed": 1}, "'seed'"),
        ({"sentences": {"template_per_term": 3}}, "'templates_per_term'"),
        ({"train": {"learnin_rate": 1e-5}}, "'learning_rate'"),
        ({"sentence": {}}, "'sentences'"),
    ],
)
def test_unknown_key_suggests_the_closest(data, suggestion):
    with pytest.raises(ConfigError) as err:
        recipe_from_dict(data, "r.toml")
    msg = str(err.value)
    assert msg.startswith("r.toml: unknown key") and f"did you mean {suggestion}?" in msg
    assert "\n" not in msg


def test_unknown_key_without_a_close_match_lists_valid_keys():
    with pytest.raises(ConfigError, match="valid keys: .*freeze"):
        recipe_from_dict({"train": {"zzzz": 1}})


def test_internal_field_is_not_a_key():
    with pytest.raises(ConfigError, match="unknown key 'source'"):
        recipe_from_dict({"source": "x"})


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"seed": "0"}, "'seed' must be integer"),
        ({"seed": True}, "'seed' must be integer"),
        ({"train": {"epochs": "2"}}, "'train.epochs' must be number"),
        ({"train": {"early_stopping": 1}}, "'train.early_stopping' must be true/false"),
        ({"dictionary": {"paths": "a.csv"}}, "'dictionary.paths' must be list of string"),
        ({"dictionary": {"paths": ["a.csv", 3]}}, "'dictionary.paths' must be list of string"),
        ({"sentences": 3}, "'sentences' must be a table [sentences]"),
        ({"merge": {"alpha": [0.5]}}, "'merge.alpha' must be string or number"),
    ],
)
def test_wrong_types_are_named(data, needle):
    with pytest.raises(ConfigError) as err:
        recipe_from_dict(data, "r.toml")
    assert needle in str(err.value)


def test_ints_become_floats_and_values_are_checked():
    r = recipe_from_dict({"train": {"epochs": 3}, "merge": {"alpha": 1}})
    assert isinstance(r.train.epochs, float) and r.train.epochs == 3.0
    for data, needle in [
        ({"train": {"freeze": "decoder"}}, "train.freeze"),
        ({"merge": {"alpha": 1.5}}, "merge.alpha"),
        ({"merge": {"alpha": "half"}}, "merge.alpha"),
        ({"sentences": {"test_template_fraction": 0.0}}, "test_template_fraction"),
        ({"sentences": {"general_replay_fraction": 0.95}}, "general_replay_fraction"),
        ({"report": {"formats": ["pdf"]}}, "report.formats"),
    ]:
        with pytest.raises(ConfigError, match=needle):
            recipe_from_dict(data)


def test_load_recipe_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="recipe not found"):
        load_recipe(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nepochs = 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_recipe(bad)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00name")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_recipe(binary)


def test_relative_paths_resolve_against_the_recipe(tmp_path):
    sub = tmp_path / "recipes"
    sub.mkdir()
    (sub / "r.toml").write_text('run_dir = "out"\n[dictionary]\npaths = ["../d.csv"]\n', encoding="utf-8")
    r = load_recipe(sub / "r.toml")
    assert r.path(r.dictionary.paths[0]) == (tmp_path / "d.csv").resolve()
    assert r.resolved_run_dir() == (sub / "out").resolve()
    assert r.resolved_run_dir(tmp_path / "x") == tmp_path / "x"
    assert recipe_from_dict({"name": "demo"}).resolved_run_dir() == Path("runs") / "demo"


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_resolved_toml_round_trips(path, tmp_path):
    recipe = load_recipe(path)
    out = save_resolved(recipe, tmp_path / "run")
    assert out == tmp_path / "run" / "config.resolved.toml"
    again = load_recipe(out)
    # Same values everywhere; paths became absolute and still point at the same files.
    for section in ("sentences", "synth", "dataset", "model", "train", "merge", "evaluate", "report"):
        a, b = getattr(recipe, section), getattr(again, section)
        if section == "sentences":
            a = dataclasses.replace(
                a,
                template_files=[str(recipe.path(p)) for p in a.template_files],
                general_sentences=str(recipe.path(a.general_sentences)) if a.general_sentences else "",
            )
        if section == "dataset":
            a = dataclasses.replace(
                a,
                eval_imports=[str(recipe.path(p)) for p in a.eval_imports],
                replay_imports=[str(recipe.path(p)) for p in a.replay_imports],
            )
        assert a == b, section
    assert [again.path(p) for p in again.dictionary.paths] == [recipe.path(p) for p in recipe.dictionary.paths]
    assert (again.name, again.seed) == (recipe.name, recipe.seed)
    # Writing the resolved recipe again gives the same body (a fixed point).
    assert to_toml(again).splitlines()[1:] == to_toml(recipe).splitlines()[1:]


def test_round_trip_of_awkward_values(tmp_path):
    r = recipe_from_dict(
        {
            "name": 'a "quoted"\\name 日本語',
            "merge": {"alpha": 0.25, "alpha_grid": [0.0, 1e-05]},
            "train": {"learning_rate": 1.5e-05},
        }
    )
    again = load_recipe(save_resolved(r, tmp_path))
    assert again.name == r.name and again.merge.alpha == 0.25 and again.merge.alpha_grid == [0.0, 1e-05]
    assert again.train.learning_rate == 1.5e-05


def test_every_field_is_documented():
    rows = field_docs()
    assert len(rows) > 50
    assert all(doc.strip() for _, _, doc in rows)
    assert (
        "sentences.validation_templates_per_term",
        "0",
        "Validation templates per term (0 = all validation templates).",
    ) in rows
    assert isinstance(Recipe().sentences.domains, list)


@pytest.mark.parametrize(
    ("data", "key", "valid"),
    [
        ({"train": {"epochs": -1}}, "train.epochs", "(0, 1000]"),
        ({"train": {"epochs": float("nan")}}, "train.epochs", "(0, 1000]"),
        ({"train": {"learning_rate": -1e-5}}, "train.learning_rate", "[0, 1)"),
        ({"train": {"gradient_accumulation_steps": 0}}, "train.gradient_accumulation_steps", "[1, 4096]"),
        ({"train": {"warmup_ratio": 5}}, "train.warmup_ratio", "[0, 1)"),
        ({"synth": {"max_failure_share": 1.5}}, "synth.max_failure_share", "[0, 1]"),
        ({"sentences": {"templates_per_term": -2}}, "sentences.templates_per_term", "[0, inf)"),
        ({"dataset": {"max_duration": -1}}, "dataset.max_duration", "(0, 30]"),
        ({"evaluate": {"max_new_tokens": 0}}, "evaluate.max_new_tokens", "[1, 444]"),
        ({"seed": -1}, "seed", "[0, 4294967295]"),
    ],
)
def test_numbers_outside_their_range_are_one_line_errors(data, key, valid):
    with pytest.raises(ConfigError) as err:
        recipe_from_dict(data, "r.toml")
    msg = str(err.value)
    assert msg.startswith(f"r.toml: '{key}' = ") and f"is outside {valid} — " in msg and "\n" not in msg


def test_every_number_declares_its_range_and_its_default_lies_in_it():
    from termadapt.config import Range

    recipe = Recipe()
    for section in dataclasses.fields(recipe):
        value = getattr(recipe, section.name)
        fields = dataclasses.fields(value) if dataclasses.is_dataclass(value) else [section]
        owner = value if dataclasses.is_dataclass(value) else recipe
        for f in fields:
            v = getattr(owner, f.name)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                valid = f.metadata.get("range")
                assert isinstance(valid, Range) and valid.contains(v), f"{section.name}.{f.name}"


@pytest.mark.parametrize("key", ["train", "evaluate"])
def test_unknown_precision_is_one_line_error_naming_the_key(key):
    from termadapt.config import recipe_from_dict

    with pytest.raises(ConfigError, match=rf"{key}.precision must be one of auto, fp32, bf16, fp16"):
        recipe_from_dict({key: {"precision": "half"}})
