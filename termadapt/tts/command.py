"""Command engine: any external TTS program through a command template.

The recipe's ``synth.command_template`` names the program, e.g.
``mytts --voice {voice} --speed {speed} --in {text_file} --out {wav_file}``. For a voice
``command:NAME?speed=1.1`` the placeholders are ``{text_file}`` (a UTF-8 file holding the
text), ``{wav_file}`` (where the program must write a wav), ``{voice}`` (NAME), ``{text}``
(the text itself) and one per voice setting. The template is split like a shell command
line but run without a shell. A non-zero exit or a missing wav fails that clip only.
"""

from __future__ import annotations

import hashlib
import shlex
import shutil
import string
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..audio import read_native
from ..errors import ConfigError
from .base import TTSEngine, VoiceInfo, VoiceSpec, to_float32

if TYPE_CHECKING:
    from ..config import Recipe

__all__ = ["CommandEngine"]

# Generous per-clip limit: external neural TTS on CPU can take tens of seconds per sentence.
COMMAND_TIMEOUT_S = 300
_BUILTIN_FIELDS = {"text_file", "wav_file", "voice", "text"}


class CommandEngine(TTSEngine):
    """External program engine; see the module docstring.

    Options:
        template: The command template (``synth.command_template``).
    """

    name = "command"
    install_hint = "set synth.command_template, e.g. 'mytts --in {text_file} --out {wav_file}'"

    def __init__(self, template: str = "", **options: Any) -> None:
        super().__init__(**options)
        self.template = template

    @classmethod
    def options_for(cls, recipe: Recipe, run_dir: Path) -> dict[str, Any]:
        return {"template": recipe.synth.command_template}

    @classmethod
    def available(cls) -> bool:
        return True  # usable whenever a template is configured (checked per voice)

    @property
    def version(self) -> str:
        program = shlex.split(self.template)[0] if self.template.strip() else ""
        exe = shutil.which(program) or program
        try:
            stamp = str(Path(exe).stat().st_mtime_ns)
        except OSError:
            stamp = ""
        return "command-" + hashlib.sha256(f"{self.template}\0{stamp}".encode()).hexdigest()[:12]

    def voices(self) -> list[VoiceInfo]:
        if not self.template:
            return []
        return [VoiceInfo(self.name, "*", f"any name, passed as {{voice}} to: {self.template}")]

    def check_voice(self, voice: VoiceSpec) -> None:
        if not self.template.strip():
            raise ConfigError(f"voice '{voice}' needs synth.command_template — {self.install_hint}")
        fields = {f for _, f, _, _ in string.Formatter().parse(self.template) if f}
        unknown = fields - _BUILTIN_FIELDS - set(voice.settings)
        if unknown:
            raise ConfigError(
                f"synth.command_template uses {{{sorted(unknown)[0]}}} but voice '{voice}' does not set it — "
                f"add ?{sorted(unknown)[0]}=VALUE to the voice or remove the placeholder"
            )
        if "wav_file" not in fields:
            raise ConfigError("synth.command_template has no {wav_file} placeholder — the program must write there")

    def synthesize(self, text: str, voice: VoiceSpec) -> tuple[np.ndarray, int]:
        with tempfile.TemporaryDirectory(prefix="termadapt-cmd-") as tmp:
            txt, wav = Path(tmp) / "text.txt", Path(tmp) / "out.wav"
            txt.write_text(text + "\n", encoding="utf-8")
            values = {**voice.settings, "text_file": str(txt), "wav_file": str(wav), "voice": voice.voice}
            # Split first, then fill in: a text with spaces or quotes stays one argument.
            argv = [part.format(**values, text=text) for part in shlex.split(self.template)]
            proc = subprocess.run(argv, capture_output=True, timeout=COMMAND_TIMEOUT_S)
            if proc.returncode != 0:
                err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
                raise RuntimeError(f"{argv[0]} exited with {proc.returncode}: {err[-1] if err else 'no message'}")
            if not wav.is_file() or wav.stat().st_size == 0:
                raise RuntimeError(f"{argv[0]} wrote no audio to {{wav_file}}")
            data, sr = read_native(wav)
        return to_float32(data), int(sr)
