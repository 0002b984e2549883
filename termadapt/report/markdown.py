"""Markdown rendering of a :class:`~termadapt.report.schema.Report`, plus the plain-words summary
shared with the HTML renderer."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .schema import ConditionMetrics, Report, SetMetrics

__all__ = ["render_markdown", "summary", "delivered", "pct", "pts", "table"]


def pct(value: float | None, digits: int = 1) -> str:
    """``0.123 → '12.3%'``; None → '—'."""
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def pts(value: float | None, digits: int = 2) -> str:
    """A CER difference (fraction) in signed percentage points."""
    return "—" if value is None else f"{value * 100:+.{digits}f}"


def _esc(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_esc(c) for c in row) + " |" for row in rows]
    return lines


def delivered(report: Report) -> str:
    """The condition the budget judged (merged, else adapted), or ''."""
    return report.budget.condition or next((c for c in ("merged", "adapted") if c in report.condition_names()), "")


def _count(hits: int, total: int) -> str:
    return f"{hits}/{total}" if total else "—"


def summary(report: Report) -> list[str]:
    """Plain-words answers to the three questions, the prompt note and the budget verdict."""
    lines: list[str] = []
    target = delivered(report)
    names = report.condition_names()
    terms_set = next((s for s in report.sets if s.role == "terms"), None)
    if terms_set is not None:
        parts = []
        for cond in names:
            m = terms_set.get(cond)
            if m is not None and m.term_total:
                parts.append(f"{cond} {_count(m.term_hits, m.term_total)} ({pct(m.term_recall)})")
        lines.append("**Are my terms recognized now?** Term recall on held-out voices: " + ", ".join(parts) + ".")
        m = terms_set.get(target) if target else None
        if m is not None and (m.decides_total or m.neutral_total):
            lines.append(f"For terms with homophones, {target}: {_count(m.decides_hits, m.decides_total)} where the "
                         f"context decides, {_count(m.neutral_hits, m.neutral_total)} in neutral sentences "
                         "(either spelling fits; reported apart, not in the budget).")
    general = [s for s in report.sets if s.role != "terms"]
    for s in general:
        b, m = s.get("base"), s.get(target) if target else None
        if b is None or m is None:
            continue
        ci = f" (95% CI {pts(m.cer_delta_ci[0])} to {pts(m.cer_delta_ci[1])})" if m.cer_delta_ci else ""
        lines.append(f"**What did the model forget?** On `{s.name}` ({s.clips} clips) CER {pct(b.cer)} → {pct(m.cer)}: "
                     f"{pts(m.cer_delta)} points{ci}; it still gets {_count(m.retained, m.base_correct)} of the clips "
                     f"the base got right ({pct(m.retention)}); {m.regressions} clips got worse, {m.fixes} better.")
        lines.append(f"**Does it hear terms where people said something else?** `{s.name}`: {m.invented_terms} clips "
                     f"with an invented term, {m.homophone_swaps} of {m.homophone_clips} homophone sentences written "
                     "with the term.")
    prompt = next((c for c in report.conditions if c.name == "prompt" and c.fingerprint), None)
    if prompt is not None:
        lines.append(f"The prompt baseline fits {prompt.prompt_terms} of {prompt.prompt_terms_total} terms "
                     f"({prompt.prompt_tokens} prompt tokens; Whisper's limit is about 224).")
    suspects = sum(s.suspect_clips for s in general)
    if suspects:
        lines.append(f"{suspects} general clips are flagged as TTS-suspect (the base model's reading is far off, so "
                     "the synthesized audio is probably wrong); `cer_clean` leaves them out.")
    if report.budget.condition:
        verdict = "kept" if report.budget.ok else "BROKEN"
        lines.append(f"**Forgetting budget ({report.budget.condition}): {verdict}.**")
        lines += [f"- {'ok' if c.ok else 'BROKEN'}: {c.message}" for c in report.budget.checks]
        if report.budget.advice:
            lines.append("What to try next:")
            lines += [f"- {a}" for a in report.budget.advice]
    else:
        lines.append("No adapted or merged model was evaluated, so no budget was checked.")
    return lines


def _metric_row(s: SetMetrics, m: ConditionMetrics) -> list[object]:
    ci = f"[{pts(m.cer_delta_ci[0])}, {pts(m.cer_delta_ci[1])}]" if m.cer_delta_ci else "—"
    role_terms = s.role == "terms"
    return [s.name, m.condition, m.clips, pct(m.cer), pts(m.cer_delta), ci, pct(m.reading_cer), pct(m.wer),
            pct(m.cer_clean), pct(m.term_recall) if m.term_total else "—",
            _count(m.decides_hits, m.decides_total), _count(m.neutral_hits, m.neutral_total),
            "—" if role_terms else m.invented_terms, "—" if role_terms else f"{m.homophone_swaps}/{m.homophone_clips}",
            pct(m.retention), m.regressions, m.fixes, m.leaks]


METRIC_HEADER = ["set", "condition", "clips", "CER", "ΔCER pts", "95% CI", "reading CER", "WER", "CER w/o suspects",
                 "term recall", "decides", "neutral", "invented", "swaps", "retention", "regressions", "fixes", "leaks"]


def render_markdown(report: Report, max_listed: int = 50) -> str:
    """The whole report as Markdown."""
    names = report.condition_names()
    evaluated = [c.name for c in report.conditions if c.fingerprint]
    out = [f"# termadapt report — {report.recipe}", "",
           f"Created {report.created} · schema v{report.schema_version} · run `{report.run_dir}`", ""]
    out += summary(report) + [""]
    out += ["## Conditions", ""]
    out += table(["condition", "model", "weights", "encoder shared with", "note"],
                 [[c.name, c.model, c.fingerprint or "—", c.shares_encoder_with or "—",
                   c.note or (f"{c.prompt_terms}/{c.prompt_terms_total} terms in the prompt" if c.name == "prompt" else "")]
                  for c in report.conditions])
    out += ["", "## Metrics per set and condition", ""]
    out += table(METRIC_HEADER, [_metric_row(s, m) for s in report.sets for m in s.conditions])
    if report.terms:
        out += ["", "## Term recall per term (test_terms)", ""]
        out += table(["term", "homophones", "clips", *[f"{c}" for c in evaluated], "neutral clips"],
                     [[t.term, "、".join(t.homophones) or "—", t.total,
                       *[f"{t.hits.get(c, 0)}/{t.total}" for c in evaluated], t.neutral_total] for t in report.terms])
    if report.merge_curve:
        keys = sorted({k for p in report.merge_curve for k in p.values})
        out += ["", "## Merge curve", ""]
        out += table(["α", *keys, "chosen"], [[f"{p.alpha:g}", *[f"{p.values.get(k, float('nan')):.4g}" for k in keys],
                                               "✓" if p.chosen else ""] for p in report.merge_curve])
    for cond in [c for c in names if c != "base"]:
        regs = sorted((c for c in report.changes if c.condition == cond and c.change == "regression"),
                      key=lambda c: c.base_cer - c.cer)
        if not regs:
            continue
        out += ["", f"## Regressions: {cond} ({len(regs)} clips worse than base)", ""]
        out += table(["set", "clip", "reference", "base", cond, "CER base → now", "suspect"],
                     [[r.set, r.clip_id, r.ref, r.base_hyp, r.hyp, f"{pct(r.base_cer, 0)} → {pct(r.cer, 0)}",
                       "yes" if r.suspect else ""] for r in regs[:max_listed]])
    if report.over_triggers:
        out += ["", "## Over-triggering (term written where the reference lacks it)", ""]
        out += table(["set", "condition", "kind", "term", "reference", "hypothesis"],
                     [[o.set, o.condition, o.kind, o.term, o.ref, o.hyp] for o in report.over_triggers[:max_listed]])
    if report.leaks:
        out += ["", "## Template leakage", ""]
        out += table(["set", "condition", "leaked wording", "template", "reference", "hypothesis"],
                     [[lk.set, lk.condition, lk.ngram, lk.template, lk.ref, lk.hyp] for lk in report.leaks[:max_listed]])
    out += ["", "## Machine and timing", ""]
    out += [f"- {k}: {v}" for k, v in {**report.machine, **{f"timing.{k}": f"{v:.3g}" for k, v in report.timing.items()}}.items()]
    if report.notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in report.notes]
    out += ["", "Per-utterance hypotheses of every condition: `hypotheses.csv`; everything above: `report.json`.", ""]
    return "\n".join(out)
