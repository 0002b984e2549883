"""Ablation of the guards against forgetting: what each one contributes, on one dataset.

The guards and the settings that turn each off come from one table,
:data:`termadapt.training.guards.GUARDS`. The script trains the recipe's model several
times on the recipe's own dataset, adding one guard at a time in the table's order, and
evaluates every variant on the same held-out voices and unseen general sentences:

1. the first guard alone (``frozen encoder``: decoder-only fine-tuning, fixed epochs);
2. ``+`` each further training guard the recipe turns on (``replay``, ``homophone guard``,
   ``distillation``), one at a time;
3. ``+ early stopping`` and ``+ merge``: the recipe's own run (``--run-dir``; run it first
   with ``termadapt build-and-train``).

The script reuses the recipe run's dataset, encoder outputs and hypothesis cache (the base
model is decoded once), so each extra variant costs one training and one evaluation.
Results go to ``<run-dir>/ablation/ablation.json`` and a Markdown table on stdout (README:
results).

Usage:
    python benchmarks/ablate_guards.py recipes/quickstart-ja.toml --run-dir runs/quickstart-ja
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

from termadapt.config import Recipe, load_recipe
from termadapt.pipeline import run_pipeline
from termadapt.records import atomic_write_text
from termadapt.training.guards import GUARDS, guard_named

# Files of the reference run a variant reads unchanged (linked, not copied: the dataset is
# large; the hypothesis cache is keyed by content, so sharing it only saves decoding).
SHARED = ("terms.jsonl", "utterances.jsonl", "synth.jsonl", "voices.json", "dataset", "encoder_cache", "hypotheses")
# The guards the recipe's own run adds on top of the last variant.
RECIPE_GUARDS = ("early stopping", "merge")


def variants(recipe: Recipe) -> list[tuple[str, dict[str, Any]]]:
    """Cumulative variants ``(name, train overrides)`` from the guard table (see the module docstring)."""
    first, *rest = [g for g in GUARDS if g.stage == "train"]
    added = [g for g in rest if g.name not in RECIPE_GUARDS and g.enabled(recipe)]
    out = []
    for k in range(len(added) + 1):
        off = [g for g in rest if g not in added[:k]]
        overrides = {key: value for g in off for key, value in g.off.get("train", {}).items()}
        out.append((first.name if k == 0 else f"+ {added[k - 1].name}", overrides))
    return out


def _row(name: str, report: dict[str, Any], condition: str) -> dict[str, Any]:
    """The table row of one condition of one report.json."""
    row: dict[str, Any] = {"variant": name, "condition": condition}
    for s in report["sets"]:
        c = next((c for c in s["conditions"] if c["condition"] == condition), None)
        if c is None:
            continue
        if s.get("role") == "terms":
            # the budget's recall: neutral homophone sentences (either spelling fits) left out
            row.update(
                term_recall=c["budget_recall"],
                term_hits=c["term_hits"] - c.get("neutral_hits", 0),
                term_total=c["term_total"] - c.get("neutral_total", 0),
                recall_neutral=c.get("recall_neutral"),
            )
        else:
            row.update(
                general_cer=c["cer"],
                cer_delta_points=None if c["cer_delta"] is None else 100 * c["cer_delta"],
                invented=c["invented_terms"],
                swaps=c["homophone_swaps"],
                homophone_clips=c["homophone_clips"],
            )
    if condition == "merged":
        chosen = [p for p in report.get("merge_curve", []) if p.get("chosen")]
        row["alpha"] = chosen[0]["alpha"] if chosen else None
    return row


def _variant_recipe(recipe: Recipe, overrides: dict[str, Any]) -> Recipe:
    train = dataclasses.replace(recipe.train, **overrides)
    evaluate = dataclasses.replace(recipe.evaluate, conditions=["base", "adapted"])
    merge = dataclasses.replace(recipe.merge, enabled=False)
    return dataclasses.replace(recipe, train=train, evaluate=evaluate, merge=merge)


def _prepare(ref: Path, vdir: Path) -> None:
    """Link the reference run's inputs and hypothesis cache into a variant's directory."""
    vdir.mkdir(parents=True, exist_ok=True)
    for name in SHARED:
        src, dst = ref / name, vdir / name
        if src.exists() and not dst.exists():
            os.symlink(src.resolve(), dst)


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "—"
    return f"{100 * v:.1f}%" if pct else (f"{v:+.2f}" if isinstance(v, float) else str(v))


def markdown(rows: list[dict[str, Any]]) -> str:
    """The ablation table as Markdown."""
    lines = [
        "| variant | condition | term recall (held-out voices) | general CER | Δ CER pts | invented terms | homophone swaps |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['condition']}{' α ' + str(r['alpha']) if r.get('alpha') else ''} | "
            f"{_fmt(r.get('term_recall'), True)} ({r.get('term_hits')}/{r.get('term_total')}) | "
            f"{_fmt(r.get('general_cer'), True)} | {_fmt(r.get('cer_delta_points'))} | {r.get('invented')} | "
            f"{r.get('swaps')}/{r.get('homophone_clips')} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument("--run-dir", type=Path, default=None, help="the recipe's finished run (default: its run_dir)")
    parser.add_argument("--only", nargs="*", default=None, help="variant names to (re)run")
    args = parser.parse_args()
    recipe = load_recipe(args.recipe)
    ref = recipe.resolved_run_dir(args.run_dir)
    if not (ref / "report" / "report.json").is_file():
        raise SystemExit(f"{ref}: no report.json — run `termadapt build-and-train {args.recipe}` first")
    out = ref / "ablation"
    rows: list[dict[str, Any]] = []
    timing: dict[str, float] = {}
    planned = variants(recipe)
    for i, (name, overrides) in enumerate(planned):
        vdir = out / f"v{i + 1}"
        if args.only is None or name in args.only:
            _prepare(ref, vdir)
            started = time.perf_counter()
            run_pipeline(_variant_recipe(recipe, overrides), vdir, start="train", stop="evaluate")
            timing[name] = round(time.perf_counter() - started, 1)
        report = vdir / "report" / "report.json"
        if report.is_file():
            data = json.loads(report.read_text(encoding="utf-8"))
            if i == 0:
                rows.append(_row("base model", data, "base"))
            rows.append(_row(name, data, "adapted"))
    reference = json.loads((ref / "report" / "report.json").read_text(encoding="utf-8"))
    early, merge = (guard_named(n) for n in RECIPE_GUARDS)
    rows.append(_row(f"+ {early.name} (recipe)", reference, "adapted"))
    if merge.enabled(recipe) and any(c["name"] == "merged" for c in reference.get("conditions", [])):
        rows.append(_row(f"+ {merge.name} (recipe)", reference, "merged"))
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "recipe": str(args.recipe),
        "run_dir": str(ref),
        "variants": dict(planned),
        "rows": rows,
        "seconds": timing,
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "ablation.json", json.dumps(result, ensure_ascii=False, indent=2))
    print(markdown(rows))


if __name__ == "__main__":
    main()
