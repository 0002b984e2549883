"""Coqui engine (extra ``coqui``): a user's Tacotron2-style checkpoint through coqui-tts.

This is the seed's architecture (Tacotron2 trained on a Japanese corpus). The recipe lists
checkpoint folders in ``synth.coqui_models``; the voice ``coqui:FOLDERNAME`` uses the folder
whose name is FOLDERNAME. A folder holds ``config.json`` and one model file
(``model.pth``, ``best_model.pth`` or ``checkpoint*.pth``), and optionally a ``vocoder/``
subfolder with its own ``config.json`` + ``.pth`` (without one coqui-tts uses Griffin-Lim).

coqui-tts needs torchaudio/torchcodec builds matching torch (docs/design.md, "Speech"); when it does
not import, the engine reports itself unavailable with the install hint.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import MissingDependencyError, TermadaptError
from .base import TTSEngine, VoiceInfo, VoiceSpec, to_float32

if TYPE_CHECKING:
    from ..config import Recipe

__all__ = ["CoquiEngine", "find_checkpoint"]

_MODEL_NAMES = ("model.pth", "best_model.pth", "model_file.pth")


def find_checkpoint(folder: str | os.PathLike[str]) -> tuple[Path, Path]:
    """(config.json, model .pth) of a checkpoint folder.

    Raises:
        TermadaptError: the folder lacks one of them.
    """
    root = Path(folder)
    config = root / "config.json"
    models = [root / n for n in _MODEL_NAMES if (root / n).is_file()] or sorted(root.glob("checkpoint*.pth"))
    if not config.is_file() or not models:
        raise TermadaptError(
            f"{root}: not a coqui checkpoint folder — it needs config.json and model.pth (or best_model.pth)"
        )
    return config, models[0]


class CoquiEngine(TTSEngine):
    """Tacotron2 (or other coqui-tts) checkpoints; see the module docstring.

    Options:
        models: Checkpoint folders (``synth.coqui_models``), resolved paths.
    """

    name = "coqui"
    install_hint = (
        "pip install coqui-tts (needs torchaudio matching your torch), then list folders in synth.coqui_models"
    )

    def __init__(self, models: list[str] | tuple[str, ...] = (), **options: Any) -> None:
        super().__init__(**options)
        self.models = {Path(m).name: Path(m) for m in models}
        self._synths: dict[str, Any] = {}

    @classmethod
    def options_for(cls, recipe: Recipe, run_dir: Path) -> dict[str, Any]:
        return {"models": tuple(str(recipe.path(m)) for m in recipe.synth.coqui_models)}

    @classmethod
    def available(cls) -> bool:
        try:
            from TTS.utils.synthesizer import Synthesizer  # noqa: F401
        except Exception:  # ImportError, or torchaudio/torchcodec ABI errors raised on import
            return False
        return True

    @property
    def version(self) -> str:
        from importlib.metadata import version

        return f"coqui-tts-{version('coqui-tts')}"

    def cache_version(self, voice: VoiceSpec) -> str:
        folder = self.models.get(voice.voice)
        if folder is None:
            return self.version
        h = hashlib.sha256()
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                st = path.stat()
                h.update(f"{path.relative_to(folder)}:{st.st_size}:{st.st_mtime_ns}".encode())
        return f"{self.version}+ckpt-{h.hexdigest()[:12]}"

    def voices(self) -> list[VoiceInfo]:
        return [VoiceInfo(self.name, name, f"checkpoint {path}") for name, path in self.models.items()]

    def _synthesizer(self, name: str) -> Any:
        if name in self._synths:
            return self._synths[name]
        try:
            from TTS.utils.synthesizer import Synthesizer
        except Exception as exc:
            raise MissingDependencyError(f"coqui voices need coqui-tts ({exc}) — {self.install_hint}") from None
        folder = self.models.get(name)
        if folder is None:
            raise TermadaptError(f"coqui voice '{name}' is not in synth.coqui_models — add its checkpoint folder")
        config, model = find_checkpoint(folder)
        voc_cfg = voc_model = None
        if (folder / "vocoder").is_dir():
            voc_cfg, voc_model = find_checkpoint(folder / "vocoder")
        synth = Synthesizer(
            tts_checkpoint=str(model),
            tts_config_path=str(config),
            vocoder_checkpoint=str(voc_model) if voc_model else None,
            vocoder_config=str(voc_cfg) if voc_cfg else None,
        )
        self._synths[name] = synth
        return synth

    def synthesize(self, text: str, voice: VoiceSpec) -> tuple[np.ndarray, int]:
        synth = self._synthesizer(voice.voice)
        wav = synth.tts(text, split_sentences=False)
        return to_float32(np.asarray(wav, dtype=np.float32)), int(synth.output_sample_rate)
