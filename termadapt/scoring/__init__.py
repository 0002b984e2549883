"""Scoring: what a transcript says about a model, and the budget decisions are made with.

- :mod:`.text` — normalization (NFKC, numerals, punctuation), CER, WER, reading CER;
- :mod:`.terms` — term recall and over-triggering (invented terms, homophone swaps);
- :mod:`.table` — every metric declared once, looped over by the report renderers;
- :mod:`.records` — the scored records stored in ``report.json``;
- :mod:`.evaluation` — scoring of the evaluation sets (regressions, leaks, intervals);
- :mod:`.validation` — scoring of the validation split (early stopping, the merge α);
- :mod:`.budget` — the one forgetting :class:`~.budget.Budget` all three decisions use.

Nothing here loads a model: everything is testable on hand-written transcripts.
"""
