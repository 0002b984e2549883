"""CLI commands ``termadapt transcribe`` and ``termadapt export``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._app import app, command  # noqa: F401

__all__ = ["transcribe", "export"]

_FORMATS = ("txt", "srt", "json")


@command("transcribe")
def transcribe(
    audio: list[Path] = typer.Argument(..., help="Audio files (WAV, FLAC, OGG; any length, any sample rate)."),
    model: str = typer.Option(
        "whisper-base",
        "--model",
        "-m",
        help="Model spec: whisper-base, a hub id, a transformers/CTranslate2 directory or an openai-whisper .pt.",
    ),
    language: str = typer.Option("ja", "--language", "-l", help="Whisper language code ('' to detect)."),
    timestamps: bool = typer.Option(
        False, "--timestamps", help="Print 'start<TAB>end<TAB>text' segment lines (seconds)."
    ),
    fmt: str = typer.Option("txt", "--format", "-f", help="Output format: txt, srt or json."),
    num_beams: int = typer.Option(1, "--beams", min=1, help="Beam size (1 = greedy)."),
    max_tokens: int = typer.Option(
        0, "--max-tokens", min=0, help="Cap on tokens per 30 s window (0 = model limit, 448)."
    ),
    cache_dir: Optional[Path] = typer.Option(
        None,
        "--cache-dir",
        help="Cache root (default $TERMADAPT_CACHE, else $XDG_CACHE_HOME/termadapt, else ~/.cache/termadapt).",
    ),
) -> None:
    """Transcribe audio files and print the text (or timed segments) to stdout."""
    from ..errors import TermadaptError

    if fmt not in _FORMATS:
        raise TermadaptError(f"--format {fmt!r}: choose one of {', '.join(_FORMATS)}")
    from ..decoding.transcribe import format_json, format_srt, format_txt, load_audio
    from ..decoding.transcribe import transcribe as run
    from ..models import resolve_model

    clips = [(path, load_audio(path)) for path in audio]  # fail on a bad file before loading the model
    whisper, processor = resolve_model(model, cache_dir=cache_dir)
    results = []
    for path, samples in clips:
        result = run(
            whisper,
            processor,
            samples,
            language=language or None,
            timestamps=timestamps or fmt != "txt",
            num_beams=num_beams,
            max_new_tokens=max_tokens or None,
        )
        results.append(result)
        if fmt == "json":
            continue
        if len(clips) > 1:
            typer.echo(f"==> {path} <==")
        typer.echo(format_srt(result) if fmt == "srt" else format_txt(result, timestamps), nl=False)
    if fmt == "json":
        from dataclasses import replace

        typer.echo(format_json([replace(r, source=str(p)) for r, (p, _) in zip(results, clips)]), nl=False)


@command("export")
def export(
    model: str = typer.Argument(
        ...,
        help="Model spec to export (whisper-base, a run's model/ or merged/ dir, a hub id, .pt or CTranslate2 dir).",
    ),
    to: str = typer.Option(
        ..., "--to", help="Target format: openai (openai-whisper .pt) or ct2 (faster-whisper directory)."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output .pt file (openai) or directory (ct2)."),
    quantization: Optional[str] = typer.Option(
        None,
        "--quantization",
        "-q",
        help="openai: float32 (default) or float16; ct2: float16 (default), float32, bfloat16, int8, int8_float16, ...",
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace an existing output (the .pt and its tokenizer file, or the ct2 directory)."
    ),
    cache_dir: Optional[Path] = typer.Option(
        None,
        "--cache-dir",
        help="Cache root (default $TERMADAPT_CACHE, else $XDG_CACHE_HOME/termadapt, else ~/.cache/termadapt).",
    ),
) -> None:
    """Export a model to openai-whisper or faster-whisper (CTranslate2) format."""
    from ..models.export import export_model

    path = export_model(model, to=to, out=out, quantization=quantization, force=force, cache_dir=cache_dir)
    typer.echo(f"wrote {path}")
