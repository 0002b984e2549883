"""The plain-words summary of a report: the three questions, the prompt note, the budget verdict.

Shared by report.md, report.html and the console (``termadapt evaluate``, ``build-and-train``).
Reads a :class:`~termadapt.report.schema.Report`. Writes nothing.
"""

from __future__ import annotations

from pathlib import Path

from ..records import MERGED_DIR, MODEL_DIR, REPORT_DIR
from ..scoring.budget import BROKEN, MET, NOT_VERIFIED, BudgetCheck, BudgetResult, delivered_condition
from ..scoring.evaluation import GENERALIZATION_SET
from ..scoring.table import count, pct, pts
from .schema import ConditionMetrics, Report
from .tables import evaluated

__all__ = ["summary", "delivered", "console_lines", "voice_warning", "budget_counts", "verdict_word", "check_word"]


def verdict_word(budget: BudgetResult) -> str:
    """``kept``, ``not verified`` (kept on point estimates, an interval reaches past a limit) or ``BROKEN``."""
    return {MET: "kept", NOT_VERIFIED: "not verified", BROKEN: "BROKEN"}[budget.status]


def check_word(check: BudgetCheck) -> str:
    """``ok``, ``not verified`` or ``BROKEN`` for one check."""
    if not check.ok:
        return "BROKEN"
    return "not verified" if check.verified is False else "ok"


def budget_counts(m: ConditionMetrics) -> tuple[int, int]:
    """Term hits and total the budget's recall counts: neutral homophone sentences left out."""
    return m.term_hits - m.neutral_hits, m.term_total - m.neutral_total


def delivered(report: Report) -> str:
    """The condition the budget judged (merged, else adapted), or ''."""
    return report.budget.condition or delivered_condition(evaluated(report))


def voice_warning(report: Report) -> str:
    """A line saying the held-out voices were not the recipe's (a fallback), or ""."""
    plan = report.voice_plan
    if not plan.get("unavailable"):
        return ""
    if plan.get("fallback_used"):
        return (
            f"Held-out voices: the recipe's {', '.join(plan['unavailable'])} are not installed here, so the held-out "
            f"speech comes from the fallback {', '.join(plan.get('heldout', []))} — the training engine at other "
            "settings, a weaker test of unseen voices."
        )
    return f"Held-out voices: {', '.join(plan['unavailable'])} are not installed here and were left out."


def summary(report: Report) -> list[str]:
    """Plain-words answers to the three questions, the prompt note and the budget verdict."""
    lines: list[str] = [f"**{voice_warning(report)}**"] if voice_warning(report) else []
    target = delivered(report)
    names = report.condition_names()
    terms_set = next((s for s in report.sets if s.role == "terms" and s.name != GENERALIZATION_SET), None)
    if terms_set is not None:
        parts = []
        for cond in names:
            m = terms_set.get(cond)
            if m is not None and m.term_total:
                hits, total = budget_counts(m)
                parts.append(f"{cond} {count(hits, total)} ({pct(m.budget_recall)})")
        lines.append(
            "**Are my terms recognized now?** Term recall on held-out voices (the budget's figure): "
            + ", ".join(parts)
            + "."
        )
        m = terms_set.get(target) if target else None
        if m is not None and m.neutral_total:
            lines.append(
                f"Counting also the {m.neutral_total} neutral homophone sentences, where either spelling fits "
                f"(so they are not held against the budget): {target} {count(m.term_hits, m.term_total)} "
                f"({pct(m.term_recall)}); where the context decides the spelling: "
                f"{count(m.decides_hits, m.decides_total)}."
            )
        elif m is not None and m.decides_total:
            lines.append(
                f"For terms with homophones, {target}: {count(m.decides_hits, m.decides_total)} where the "
                "context decides the spelling."
            )
    context = next((s for s in report.sets if s.name == GENERALIZATION_SET), None)
    if context is not None and target:
        b, m = context.get("base"), context.get(target)
        if b is not None and m is not None:
            lines.append(
                f"**Does it generalize?** On the dictionary's own context sentences (wording no template "
                f"shares, never trained on; not in the budget): base {count(b.term_hits, b.term_total)} "
                f"({pct(b.term_recall)}) → {target} {count(m.term_hits, m.term_total)} ({pct(m.term_recall)})."
            )
    general = [s for s in report.sets if s.role != "terms"]
    for s in general:
        b, m = s.get("base"), s.get(target) if target else None
        if b is None or m is None:
            continue
        ci = f" (95% CI {pts(m.cer_delta_ci[0])} to {pts(m.cer_delta_ci[1])})" if m.cer_delta_ci else ""
        lines.append(
            f"**What did the model forget?** On `{s.name}` ({s.clips} clips) CER {pct(b.cer)} → {pct(m.cer)}: "
            f"{pts(m.cer_delta)} points{ci}; it still gets {count(m.retained, m.base_correct)} of the clips "
            f"the base got right ({pct(m.retention)}); {m.regressions} clips got worse, {m.fixes} better."
        )
        lines.append(
            f"**Does it hear terms where people said something else?** `{s.name}`: {m.invented_terms} clips "
            f"with an invented term, {m.homophone_swaps} of {m.homophone_clips} homophone sentences written "
            "with the term."
        )
    least = int(report.settings.get("min_homophone_sentences") or 0)
    thin = [
        f"{t.term} ({t.homophone_sentences})"
        for t in report.terms
        if (t.homophones or t.sound_alikes) and t.homophone_sentences < least
    ]
    if general and thin:
        lines.append(
            f"Swaps are tested on fewer than {least} homophone sentences for {', '.join(thin)}: the guard "
            "frames, with the grammar and dictionary compounds that rule these terms out, gave no more — add "
            "sentences that say their homophones or sound-alikes in the everyday sense "
            "(sentences.extra_general_sentences)."
        )
    prompt = next((c for c in report.conditions if c.name == "prompt" and c.fingerprint), None)
    if prompt is not None:
        lines.append(
            f"The prompt baseline fits {prompt.prompt_terms} of {prompt.prompt_terms_total} terms "
            f"({prompt.prompt_tokens} prompt tokens; Whisper's limit is about 224)."
        )
    suspects = sum(s.suspect_clips for s in general)
    if suspects:
        lines.append(
            f"{suspects} general clips are flagged as TTS-suspect (the base model's reading is far off, so "
            "the synthesized audio is probably wrong); `cer_clean` leaves them out."
        )
    if report.decisions:
        lines.append("**How was the delivered model chosen?** " + " ".join(report.decisions))
    if report.budget.condition:
        lines.append(f"**Forgetting budget ({report.budget.condition}): {verdict_word(report.budget)}.**")
        if report.budget.status == NOT_VERIFIED:
            lines.append(
                "Every limit is kept on the point estimates, but a test set is too small to show it: the 95% "
                "interval of its CER change reaches past the limit."
            )
        lines += [f"- {check_word(c)}: {c.message}" for c in report.budget.checks]
        if report.budget.advice:
            lines.append("What to try next:")
            lines += [f"- {a}" for a in report.budget.advice]
    else:
        lines.append("No adapted or merged model was evaluated, so no budget was checked.")
    return lines


def console_lines(report: Report, run_dir: str | Path) -> list[str]:
    """The end-of-run lines printed by ``termadapt evaluate`` and ``build-and-train``.

    Term recall and general CER before → after (delivered model), over-triggering, every
    budget check, what to try when it broke, and where the report and the model are.
    """
    run_dir = Path(run_dir)
    target = delivered(report)
    lines = [f"warning: {voice_warning(report)}"] if voice_warning(report) else []
    for s in report.sets:
        base, final = s.get("base"), s.get(target) if target else None
        if base is None or final is None:
            continue
        if s.name == GENERALIZATION_SET:
            lines.append(
                f"{s.name}: term recall {pct(base.term_recall)} (base) → {pct(final.term_recall)} ({target}) on the "
                f"dictionary's own held-out sentences, {s.clips} clips — the generalization check, not in the budget"
            )
        elif s.role == "terms":
            hits, total = budget_counts(final)
            lines.append(
                f"{s.name}: term recall {pct(base.budget_recall)} (base) → {pct(final.budget_recall)} ({target}), "
                f"{hits}/{total} terms in {s.clips} clips of held-out voices"
            )
            if final.neutral_total:
                lines.append(
                    f"  with the {final.neutral_total} neutral homophone sentences too (either spelling fits, "
                    f"not in the budget): {pct(base.term_recall)} → {pct(final.term_recall)}"
                )
        else:
            change = "n/a" if final.cer_delta is None else f"{100 * final.cer_delta:+.1f} points"
            lines.append(
                f"{s.name}: CER {pct(base.cer)} → {pct(final.cer)} ({change}), "
                f"invented terms {final.invented_terms}, homophone swaps {final.homophone_swaps}"
            )
    budget = report.budget
    if not budget.condition:
        lines.append("forgetting budget: nothing to check (no adapted or merged model evaluated)")
    else:
        lines += [f"  {check_word(c):<6} {c.message}" for c in budget.checks]
        lines.append(f"forgetting budget: {verdict_word(budget)} by {budget.condition}")
        lines += [f"  try: {advice}" for advice in budget.advice]
    lines.append(f"report: {run_dir / REPORT_DIR / 'report.html'}")
    if target:  # the model the budget judged, which is the one delivered
        lines.append(f"model: {run_dir / (MERGED_DIR if target == 'merged' else MODEL_DIR)}")
    return lines
