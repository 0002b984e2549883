"""The validation split decoded and ranked for early stopping and the merge α, by the recipe's budget."""

from __future__ import annotations

import shutil

import pytest
from train_fixtures import SENTENCES, build_run_dir, tiny_recipe

from termadapt.errors import TermadaptError
from termadapt.scoring.budget import Budget
from termadapt.training.validation import Validator, dictionary_terms


@pytest.fixture(scope="module")
def run(tmp_path_factory, ja_speech):
    return build_run_dir(tmp_path_factory.mktemp("val"), ja_speech)


def test_validator_scores_and_ranks_by_the_budget(run, tiny_model, tiny_model_dir):
    model, processor = tiny_model
    recipe = tiny_recipe(tiny_model_dir)
    v = Validator(recipe, run, processor)
    assert len(v.rows) == sum(s[0] == "validation" for s in SENTENCES) and v.budget == Budget.from_config(
        recipe.evaluate
    )
    assert set(dictionary_terms(run, v.rows)) == {"痙攣", "心電図"} == set(v.terms)
    v.base = v.measure(model)
    again = v.measure(model)
    assert again == v.base  # cached: same transcripts, same score
    outcome = v.outcome(again)
    assert outcome.sets[0].cer_increase == 0.0  # the base model against itself
    values = v.log_values(again)
    assert values["score"] == v.budget.score(outcome) == v.rank(again)
    assert {"term_recall", "general_cer", "general_cer_increase", "invented", "swaps", "score"} <= set(values)
    # a candidate over the CER limit ranks below any within it
    worse = type(again)(**{**again.__dict__, "general_cer": again.general_cer + 1.0})
    better_recall = type(again)(**{**again.__dict__, "term_recall": 1.0})
    assert v.rank(worse) < 1.0 <= v.rank(again) <= v.rank(better_recall)


def test_validator_needs_a_validation_split(run, tmp_path, tiny_model, tiny_model_dir):
    import datasets

    bare = tmp_path / "bare"
    dd = datasets.load_from_disk(str(run / "dataset"))
    datasets.DatasetDict(train=dd["train"]).save_to_disk(str(bare / "dataset"))
    with pytest.raises(TermadaptError, match="no 'validation' split with rows for early stopping"):
        Validator(tiny_recipe(tiny_model_dir), bare, tiny_model[1], needed_by="early stopping")
    shutil.rmtree(bare / "dataset")
    with pytest.raises(TermadaptError, match="no dataset for early stopping"):
        Validator(tiny_recipe(tiny_model_dir), bare, tiny_model[1], needed_by="early stopping")
