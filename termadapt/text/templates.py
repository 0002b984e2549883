"""Carrier templates and general sentences: the text the sentences stage builds utterances from.

A template is one line with exactly one ``{term}`` slot (``{term}の検査を予約しました。``); a
general sentence is an everyday sentence with no term. Shipped domains live in
``termadapt/data/templates/<domain>.txt``; recipes add their own files
(``sentences.template_files``) and general sentences (``sentences.general_sentences``).

Reads: UTF-8 text files, one item a line, ``#`` comments. Writes: nothing. Every problem is
a :class:`~termadapt.errors.DictionaryError` naming the file and line.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import SHIPPED_DIR, Recipe
from ..errors import ConfigError, DictionaryError

__all__ = [
    "SLOT",
    "GENERAL_DOMAIN",
    "Template",
    "shipped_domains",
    "template_paths",
    "load_template_set",
    "load_templates",
    "load_general_corpus",
    "load_general_sentences",
]

SLOT = "{term}"
# Templates of this domain fit any noun, so their context never decides between a term and
# its homophone (動悸 / 動機); medical and tech templates do.
GENERAL_DOMAIN = "general"
# A template longer than this is almost surely a paste error (a whole paragraph on one line);
# long audio also wastes Whisper's 30 s window.
MAX_TEMPLATE_CHARS = 200
# Shipped template files, one per domain.
TEMPLATES_DIR = SHIPPED_DIR / "templates"


@dataclass(frozen=True)
class Template:
    """One carrier template.

    Attributes:
        text: Template text with exactly one ``{term}`` slot.
        domain: ``general``, ``medical``, ``tech`` for shipped files; a user file's stem.
        source: ``file:line`` it came from.
    """

    text: str
    domain: str = ""
    source: str = ""


def shipped_domains() -> list[str]:
    """Names of the template domains shipped in ``termadapt/data/templates/``."""
    return sorted(p.stem for p in TEMPLATES_DIR.glob("*.txt"))


def template_paths(recipe: Recipe) -> list[Path]:
    """Template files of a recipe: shipped domains first, then ``template_files``.

    Raises:
        ConfigError: a domain is not shipped, or a template file does not exist.
    """
    origin = recipe.source or "<recipe>"
    paths: list[Path] = []
    for domain in recipe.sentences.domains:
        p = TEMPLATES_DIR / f"{domain}.txt"
        if not p.is_file():
            raise ConfigError(
                f"{origin}: unknown template domain '{domain}' in sentences.domains — "
                f"shipped domains: {', '.join(shipped_domains()) or 'none'}"
            )
        paths.append(p)
    for value in recipe.sentences.template_files:
        p = recipe.path(value)
        if not p.is_file():
            raise ConfigError(f"{origin}: template file not found: {p} — fix sentences.template_files")
        paths.append(p)
    return paths


def _read_lines(path: Path) -> list[tuple[int, str]]:
    """Non-empty, non-comment lines of a UTF-8 text file, with 1-based line numbers."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise DictionaryError(str(path), 0, f"cannot read file ({exc.strerror})", "check the path") from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise DictionaryError(str(path), line, "not UTF-8 text", "save the file as UTF-8") from None
    rows = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            rows.append((number, line))
    return rows


def load_template_set(paths: Iterable[str | Path]) -> list[Template]:
    """Read template files into :class:`Template` records (domain = file stem).

    Blank lines and lines starting with ``#`` are skipped; duplicates are dropped.

    Raises:
        DictionaryError: a template without exactly one ``{term}`` slot, an over-long
            template, control characters, or a file with no template, with file:line.
    """
    templates: list[Template] = []
    seen: set[str] = set()
    for path in map(Path, paths):
        rows = _read_lines(path)
        if not rows:
            raise DictionaryError(str(path), 0, "no templates in file", "write one template a line with a {term} slot")
        for number, line in rows:
            slots = line.count(SLOT)
            if slots != 1:
                what = "no {term} slot" if slots == 0 else f"{slots} {{term}} slots"
                raise DictionaryError(
                    str(path),
                    number,
                    f"template has {what}: {line[:40]!r}",
                    "write exactly one {term} where the term goes",
                )
            if len(line) > MAX_TEMPLATE_CHARS:
                raise DictionaryError(
                    str(path),
                    number,
                    f"template is {len(line)} characters long",
                    f"keep templates under {MAX_TEMPLATE_CHARS} characters",
                )
            if any(ord(c) < 32 for c in line):
                raise DictionaryError(
                    str(path), number, "template contains a control character", "remove tabs and control characters"
                )
            if line not in seen:
                seen.add(line)
                templates.append(Template(line, path.stem, f"{path}:{number}"))
    return templates


def load_templates(paths: Iterable[str | Path]) -> list[str]:
    """Read template files (one ``{term}`` template a line, ``#`` comments) as strings.

    Raises:
        DictionaryError: see :func:`load_template_set`.
    """
    return [t.text for t in load_template_set(paths)]


def load_general_corpus(paths: Sequence[str | Path]) -> list[str]:
    """The general sentences of several files (:func:`load_general_sentences` each), deduplicated in order."""
    return list(dict.fromkeys(s for path in paths for s in load_general_sentences(path)))


def load_general_sentences(path: str | Path) -> list[str]:
    """Read general sentences (one a line, ``#`` comments), deduplicated in file order.

    Raises:
        DictionaryError: unreadable or non-UTF-8 file, or a line with a ``{term}`` slot.
    """
    path = Path(path)
    if not path.is_file():
        raise DictionaryError(
            str(path), 0, "general sentence file not found", "fix sentences.general_sentences / extra_general_sentences"
        )
    out: list[str] = []
    seen: set[str] = set()
    for number, line in _read_lines(path):
        if SLOT in line:
            raise DictionaryError(
                str(path),
                number,
                "general sentence contains a {term} slot",
                "move templates to a template file (sentences.template_files)",
            )
        if line not in seen:
            seen.add(line)
            out.append(line)
    return out
