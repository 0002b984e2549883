"""ESPnet engine (extra ``espnet``): Tacotron2, FastSpeech2, VITS … text-to-speech models trained with ESPnet2.

The recipe lists model folders in ``synth.espnet_models``; the voice ``espnet:NAME`` uses
the folder named NAME. A folder is either

- flat: ``config.yaml`` + one ``.pth`` (``model.pth``, ``*best*.pth``…), the files its config
  names (``feats_stats.npz``…) beside it; or
- an ESPnet model-zoo / Hugging Face download (``espnet/kan-bayashi_jsut_tacotron2_accent_with_pause``):
  ``exp/<tts_dir>/config.yaml`` + its ``.pth``, paths in the config relative to the folder.

An optional ``vocoder/`` subfolder holds a vocoder trained with kan-bayashi's ParallelWaveGAN
recipes (``config.yml`` + ``checkpoint-*.pkl``, optional ``stats.npy``/``stats.h5``); its
HiFiGAN / ParallelWaveGAN / MelGAN generator is rebuilt with ESPnet's own classes. Without
one, spectrogram models speak through Griffin-Lim (as ESPnet does); VITS and JETS make the
waveform themselves.

Why not ``espnet2.bin.tts_inference.Text2Speech``: it imports ``espnet2.tasks``, which imports
torchaudio (through ESPnet's speech-enhancement front ends), and PyPI has no torchaudio build
for the pinned torch 2.13. The model is built here from its config exactly as
``TTSTask.build_model`` does, from ESPnet's classes; weights load with
``torch.load(weights_only=True)`` (no pickled code), YAML with ``safe_load``. The text front end
is ESPnet's (``cleaner``, ``g2p``, ``token_list`` from the config); for Japanese that is
pyopenjtalk, so the run's OpenJTalk user dictionary gives the terms their readings.

Knobs: ``speed`` (duration models: ``alpha = 1/speed``; Tacotron2 and Transformer: the mel
frames are resampled in time before the vocoder) and, for multi-speaker models, ``speaker``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import MissingDependencyError, TermadaptError
from ..records import sha256_file
from ..text.readings import apply_user_dictionary, run_user_dictionary
from .base import Knob, TTSEngine, VoiceInfo, VoiceSpec, to_float32

if TYPE_CHECKING:
    from ..config import Recipe

__all__ = ["EspnetEngine", "ModelFolder", "find_model", "INSTALL_HINT"]

INSTALL_HINT = (
    "pip install 'termadapt[espnet]' && pip install --no-deps espnet==202511 (espnet's metadata pins "
    "setuptools<74 while torch 2.13 needs >=77; its TTS code runs with either), then list model folders "
    "in synth.espnet_models"
)
# Model files tried first, in order; else the only .pth in the folder.
MODEL_NAMES = ("model.pth", "train.loss.ave.pth", "train.total_count.ave.pth", "train.loss.best.pth")
# TTSTask's class names → ESPnet classes (espnet2/tasks/tts.py), imported when a model loads.
TTS_CLASSES = {
    "tacotron2": ("espnet2.tts.tacotron2", "Tacotron2"),
    "transformer": ("espnet2.tts.transformer", "Transformer"),
    "fastspeech": ("espnet2.tts.fastspeech", "FastSpeech"),
    "fastspeech2": ("espnet2.tts.fastspeech2", "FastSpeech2"),
    "prodiff": ("espnet2.tts.prodiff", "ProDiff"),
    "vits": ("espnet2.gan_tts.vits", "VITS"),
    "joint_text2wav": ("espnet2.gan_tts.joint", "JointText2Wav"),
    "jets": ("espnet2.gan_tts.jets", "JETS"),
}
# Models that make the waveform themselves (no vocoder).
TTS_WAVEFORM = ("vits", "jets", "joint_text2wav")
FEATS_CLASSES = {
    "fbank": ("espnet2.tts.feats_extract.log_mel_fbank", "LogMelFbank"),
    "spectrogram": ("espnet2.tts.feats_extract.log_spectrogram", "LogSpectrogram"),
    "linear_spectrogram": ("espnet2.tts.feats_extract.linear_spectrogram", "LinearSpectrogram"),
}
VOCODER_CLASSES = {
    "HiFiGANGenerator": ("espnet2.gan_tts.hifigan", "HiFiGANGenerator"),
    "ParallelWaveGANGenerator": ("espnet2.gan_tts.parallel_wavegan", "ParallelWaveGANGenerator"),
    "MelGANGenerator": ("espnet2.gan_tts.melgan", "MelGANGenerator"),
    "StyleMelGANGenerator": ("espnet2.gan_tts.style_melgan", "StyleMelGANGenerator"),
}
# Pitch and energy extractors (and their normalizers) only run under teacher forcing:
# inference predicts them, so they are not built (Dio needs pyworld, which needs pkg_resources).
TEACHER_FORCING_ONLY = ("pitch_extract.", "energy_extract.", "pitch_normalize.", "energy_normalize.")
# Griffin-Lim iterations without a vocoder (librosa's default; ESPnet's Text2Speech uses 8).
GRIFFIN_LIM_ITERS = 32
SPEED = Knob("speed", 1.0, 0.5, 2.0, "speaking rate (1 = the model's)")


@contextlib.contextmanager
def _quiet() -> Any:
    """Silence what ESPnet prints on import and build (nltk download attempts, flash-attn, weight_norm)."""
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        yield


def _load_class(where: str, table: dict[str, tuple[str, str]], name: str) -> Any:
    import importlib

    if name not in table:
        raise TermadaptError(f"{where}: '{name}' is not supported — use one of {', '.join(table)}")
    module, cls = table[name]
    with _quiet():
        return getattr(importlib.import_module(module), cls)


def _yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise TermadaptError(f"{path}: not a readable YAML config ({' '.join(str(exc).split())[:200]})") from None
    if not isinstance(data, dict):
        raise TermadaptError(f"{path}: expected a mapping of settings, found {type(data).__name__}")
    return data


@dataclass(frozen=True)
class ModelFolder:
    """An ESPnet TTS model on disk (see the module docstring).

    Attributes:
        root: The folder named in ``synth.espnet_models``.
        config: ``config.yaml`` of the TTS model.
        model: Its weights (``.pth``).
        vocoder_config: ``vocoder/config.yml`` (None: Griffin-Lim or an end-to-end model).
        vocoder: ``vocoder/checkpoint-*.pkl``.
    """

    root: Path
    config: Path
    model: Path
    vocoder_config: Path | None = None
    vocoder: Path | None = None

    def resolve(self, value: str) -> Path:
        """A path from the config: absolute, or relative to the folder or to the config's own folder."""
        p = Path(value)
        for candidate in (p, self.root / p, self.config.parent / p, self.config.parent / p.name):
            if candidate.is_file():
                return candidate
        raise TermadaptError(f"{self.config}: names {value}, which is not in {self.root} — copy the whole model folder")

    def files(self) -> list[Path]:
        """Every file the model reads (for the content hash of the audio cache key)."""
        cfg = _yaml(self.config)
        stats = [
            self.resolve(conf["stats_file"])
            for key in ("normalize_conf",)
            if isinstance(conf := cfg.get(key), dict) and conf.get("stats_file")
        ]
        vocoder = [p for p in (self.vocoder_config, self.vocoder) if p is not None]
        extra = sorted(self.vocoder.parent.glob("stats.*")) if self.vocoder is not None else []
        return [self.config, self.model, *stats, *vocoder, *extra]


def find_model(folder: str | os.PathLike[str]) -> ModelFolder:
    """The config, weights and vocoder of a model folder (flat or model-zoo layout).

    Raises:
        TermadaptError: one line naming the folder and what it lacks.
    """
    root = Path(folder)
    if not root.is_dir():
        raise TermadaptError(f"{root}: ESPnet model folder not found — check synth.espnet_models")
    configs = [root / "config.yaml"] if (root / "config.yaml").is_file() else sorted(root.glob("exp/*/config.yaml"))
    configs = [c for c in configs if any(c.parent.glob("*.pth"))]
    if len(configs) != 1:
        found = "none" if not configs else ", ".join(str(c.relative_to(root)) for c in configs)
        raise TermadaptError(
            f"{root}: expected one ESPnet TTS model (config.yaml next to its .pth, or exp/<dir>/config.yaml) — found {found}"
        )
    config = configs[0]
    named = [config.parent / n for n in MODEL_NAMES if (config.parent / n).is_file()]
    pths = named or sorted(config.parent.glob("*.pth"))
    if len(pths) > 1 and not named:
        raise TermadaptError(
            f"{config.parent}: several .pth files ({', '.join(p.name for p in pths)}) — keep one or name it model.pth"
        )
    voc_cfg = voc = None
    vdir = root / "vocoder"
    if vdir.is_dir():
        ckpts = sorted(vdir.glob("checkpoint-*.pkl"), key=lambda p: (len(p.name), p.name)) + sorted(vdir.glob("*.pth"))
        if not (vdir / "config.yml").is_file() or not ckpts:
            raise TermadaptError(f"{vdir}: a vocoder folder needs config.yml and a checkpoint-*.pkl")
        voc_cfg, voc = vdir / "config.yml", ckpts[-1]  # the last training step
    return ModelFolder(root, config, pths[0], voc_cfg, voc)


def _load_weights(path: Path) -> dict[str, Any]:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad file
        first = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise TermadaptError(f"{path}: cannot load weights safely (torch.load weights_only=True: {first})") from None


def _griffin_lim(params: dict[str, Any]) -> Any:
    """ESPnet's Griffin-Lim (log-mel → linear → phase), seeded: librosa starts from random phases.

    ``espnet2.utils.griffin_lim.Spectrogram2Waveform`` does the same with an unseeded start and
    8 iterations; this one takes librosa's 32 (the step is cheap next to the acoustic model).
    """
    import librosa
    from espnet2.utils.griffin_lim import logmel2linear

    def vocode(feat: Any, seed: int) -> np.ndarray:
        spc = feat.cpu().numpy()
        if params.get("n_mels") is not None:
            spc = logmel2linear(
                spc, params["fs"], params["n_fft"], params["n_mels"], params.get("fmin"), params.get("fmax")
            )
        return librosa.griffinlim(
            np.abs(spc.T),
            n_iter=GRIFFIN_LIM_ITERS,
            hop_length=params["n_shift"],
            win_length=params.get("win_length"),
            window=params.get("window") or "hann",
            center=spc.shape[0] > 1,
            random_state=seed,
        )

    return vocode


class _Model:
    """One loaded voice: text front end, acoustic model, vocoder."""

    def __init__(self, folder: ModelFolder) -> None:
        import torch

        self.folder = folder
        cfg = _yaml(folder.config)
        try:
            with _quiet():
                from espnet2.text.build_tokenizer import build_tokenizer
                from espnet2.text.cleaner import TextCleaner
                from espnet2.text.token_id_converter import TokenIDConverter
                from espnet2.tts.espnet_model import ESPnetTTSModel
        except ImportError as exc:
            raise MissingDependencyError(f"espnet voices need ESPnet ({exc}) — {INSTALL_HINT}") from None
        tokens = cfg.get("token_list")
        if isinstance(tokens, str):
            tokens = folder.resolve(tokens).read_text(encoding="utf-8").splitlines()
        if not isinstance(tokens, list) or not tokens:
            raise TermadaptError(f"{folder.config}: no token_list — not an ESPnet TTS config")
        self.cleaner = TextCleaner(cfg.get("cleaner"))
        with _quiet():
            self.tokenizer = build_tokenizer(
                token_type=cfg.get("token_type", "phn"),
                bpemodel=str(folder.resolve(cfg["bpemodel"])) if cfg.get("bpemodel") else None,
                g2p_type=cfg.get("g2p"),
            )
        self.converter = TokenIDConverter(tokens, unk_symbol="<unk>")
        feats = None
        fconf = dict(cfg.get("feats_extract_conf") or {})
        if cfg.get("feats_extract"):
            feats = _load_class(f"{folder.config}: feats_extract", FEATS_CLASSES, cfg["feats_extract"])(**fconf)
        odim = feats.output_size() if feats is not None else int(cfg.get("odim") or 0)
        normalize = None
        if cfg.get("normalize"):
            from espnet2.layers.global_mvn import GlobalMVN

            nconf = dict(cfg.get("normalize_conf") or {})
            nconf["stats_file"] = str(folder.resolve(nconf.get("stats_file", "feats_stats.npz")))
            normalize = GlobalMVN(**nconf)
        tts_class = _load_class(f"{folder.config}: tts", TTS_CLASSES, cfg.get("tts", "tacotron2"))
        self.tts_conf = dict(cfg.get("tts_conf") or {})
        tts = tts_class(idim=len(tokens), odim=odim, **self.tts_conf)
        model = ESPnetTTSModel(
            feats_extract=feats,
            pitch_extract=None,
            energy_extract=None,
            normalize=normalize,
            pitch_normalize=None,
            energy_normalize=None,
            tts=tts,
            **(cfg.get("model_conf") or {}),
        )
        state = {k: v for k, v in _load_weights(folder.model).items() if not k.startswith(TEACHER_FORCING_ONLY)}
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = " ".join(str(exc).split())[:240]
            raise TermadaptError(f"{folder.model}: weights do not fit {folder.config} ({first})") from None
        self.model = model.eval()
        self.kind = cfg.get("tts", "tacotron2")
        self.speakers = int(self.tts_conf.get("spks") or 0)
        self.fs = int(fconf.get("fs") or self.tts_conf.get("sampling_rate") or 22050)
        self.vocoder, vocoder_fs = self._vocoder(feats)
        self.fs = vocoder_fs or self.fs
        self._torch = torch

    def _vocoder(self, feats: Any) -> tuple[Any, int | None]:
        """(feats → waveform callable, its sample rate) — None for models that make the waveform."""
        if self.kind in TTS_WAVEFORM:
            return None, None
        folder = self.folder
        if folder.vocoder is None:
            if feats is None:
                raise TermadaptError(f"{folder.root}: no feats_extract to invert and no vocoder/ folder")
            return _griffin_lim(feats.get_parameters()), None
        import torch

        vcfg = _yaml(folder.vocoder_config)
        gen_class = _load_class(
            f"{folder.vocoder_config}: generator_type", VOCODER_CLASSES, vcfg.get("generator_type", "")
        )
        with _quiet():  # torch's weight_norm deprecation warning, once per generator
            generator = gen_class(**(vcfg.get("generator_params") or {}))
        ckpt = _load_weights(folder.vocoder)
        state = ckpt.get("model", {}).get("generator") if isinstance(ckpt.get("model"), dict) else ckpt
        try:
            generator.load_state_dict(state, strict=True)
        except (RuntimeError, TypeError, AttributeError) as exc:
            first = " ".join(str(exc).split())[:240]
            raise TermadaptError(
                f"{folder.vocoder}: generator weights do not fit {folder.vocoder_config} ({first})"
            ) from None
        if hasattr(generator, "remove_weight_norm"):
            generator.remove_weight_norm()
        generator.eval()
        mean = scale = None
        stats = folder.vocoder.parent
        if (stats / "stats.npy").is_file():
            mean, scale = np.load(stats / "stats.npy", allow_pickle=False)
        elif (stats / "stats.h5").is_file():
            import h5py

            with h5py.File(stats / "stats.h5", "r") as h5:
                mean, scale = h5["mean"][()], h5["scale"][()]

        def vocode(feat: Any, seed: int) -> Any:  # noqa: ARG001 - a GAN generator is deterministic
            if mean is not None:  # the vocoder was trained on features normalized with its own stats
                feat = (feat - torch.as_tensor(mean, dtype=feat.dtype)) / torch.as_tensor(scale, dtype=feat.dtype)
            return generator.inference(feat).view(-1)

        return vocode, int(vcfg.get("sampling_rate") or 0) or None

    def tokens(self, text: str) -> list[str]:
        """The model's input tokens for ``text`` (phonemes, with its cleaner and g2p)."""
        return self.tokenizer.text2tokens(self.cleaner(text))

    def speak(self, text: str, speed: float, speaker: int) -> tuple[np.ndarray, int]:
        torch = self._torch
        ids = self.converter.tokens2ids(self.tokens(text))
        conf: dict[str, Any] = {"use_teacher_forcing": False}
        if self.kind in ("tacotron2", "transformer"):
            conf.update(threshold=0.5, minlenratio=0.0, maxlenratio=10.0)
        if self.kind == "tacotron2":
            conf.update(use_att_constraint=False, forward_window=1, backward_window=3)
        duration_model = self.kind in ("fastspeech", "fastspeech2", "vits", "jets")
        if duration_model:
            conf.update(alpha=1.0 / speed)
        batch: dict[str, Any] = {"text": torch.tensor(ids, dtype=torch.long)}
        if self.speakers:
            batch["sids"] = torch.tensor([speaker], dtype=torch.long)
        # Tacotron2's prenet keeps dropout on at inference (as in the paper) and Griffin-Lim starts
        # from random phases: both are seeded from the request, so a clip is the same every time.
        seed = int.from_bytes(hashlib.sha256(f"{text}|{speed}|{speaker}".encode()).digest()[:4], "little")
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            out = self.model.inference(**batch, **conf)
            if out.get("wav") is not None:
                return to_float32(out["wav"].cpu().numpy()), self.fs
            feat = out.get("feat_gen_denorm", out.get("feat_gen"))
            if not duration_model and speed != 1.0:  # stretch the mel frames in time: same pitch, new rate
                frames = max(1, round(feat.shape[0] / speed))
                feat = torch.nn.functional.interpolate(feat.T[None], size=frames, mode="linear")[0].T
            wav = self.vocoder(feat, seed)
        wav = wav.cpu().numpy() if hasattr(wav, "cpu") else np.asarray(wav)
        return to_float32(wav), self.fs


class EspnetEngine(TTSEngine):
    """ESPnet2 TTS models from local folders; see the module docstring.

    Options:
        models: Model folders (``synth.espnet_models``), resolved paths.
        user_dict: The run's OpenJTalk user dictionary (pyopenjtalk front ends read it).
    """

    name = "espnet"
    install_hint = INSTALL_HINT

    def __init__(self, models: list[str] | tuple[str, ...] = (), user_dict: str | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.models = {Path(m).name: Path(m) for m in models}
        self.user_dict = str(user_dict) if user_dict else ""
        if self.user_dict:
            apply_user_dictionary(self.user_dict)
        self._loaded: dict[str, _Model] = {}
        self._hashes: dict[str, str] = {}

    @classmethod
    def options_for(cls, recipe: Recipe, run_dir: Path) -> dict[str, Any]:
        return {
            "models": tuple(str(recipe.path(m)) for m in recipe.synth.espnet_models),
            "user_dict": run_user_dictionary(run_dir),
        }

    @classmethod
    def available(cls) -> bool:
        import importlib.util

        return all(importlib.util.find_spec(m) is not None for m in ("espnet2", "typeguard", "torch_complex"))

    @property
    def version(self) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"espnet-{version('espnet')}"
        except PackageNotFoundError:
            return "espnet-missing"

    def model_hash(self, name: str) -> str:
        """SHA-256 (12 hex digits) over every file the model reads: its content, not its path."""
        if name not in self._hashes:
            h = hashlib.sha256()
            for path in find_model(self.models[name]).files():
                h.update(f"{path.name}:{sha256_file(path)}".encode())
            self._hashes[name] = h.hexdigest()[:12]
        return self._hashes[name]

    def cache_version(self, voice: VoiceSpec) -> str:
        text = self.version
        if voice.voice in self.models:
            text += f"+model-{self.model_hash(voice.voice)}"
        if self.user_dict:
            text += f"+userdict-{sha256_file(self.user_dict)[:12]}"
        return text

    def voices(self) -> list[VoiceInfo]:
        out = []
        for name, path in self.models.items():
            try:
                folder = find_model(path)
                cfg = _yaml(folder.config)
            except TermadaptError as exc:
                out.append(VoiceInfo(self.name, name, f"unusable: {exc}"))
                continue
            spks = int((cfg.get("tts_conf") or {}).get("spks") or 0)
            knobs = (SPEED,) + ((Knob("speaker", 0, 0, spks - 1, f"speaker id of {spks}"),) if spks > 1 else ())
            vocoder = "vocoder/" if folder.vocoder else "Griffin-Lim" if cfg.get("tts") not in TTS_WAVEFORM else "—"
            out.append(VoiceInfo(self.name, name, f"{cfg.get('tts', 'tacotron2')} ({vocoder}) in {path}", knobs))
        return out

    def load(self, name: str) -> _Model:
        """The loaded model of voice ``name`` (loaded once per process)."""
        if name not in self._loaded:
            if name not in self.models:
                raise TermadaptError(f"espnet voice '{name}' is not in synth.espnet_models — add its model folder")
            self._loaded[name] = _Model(find_model(self.models[name]))
        return self._loaded[name]

    def synthesize(self, text: str, voice: VoiceSpec) -> tuple[np.ndarray, int]:
        if self.user_dict:  # again if the terms stage rewrote it since (a no-op otherwise)
            apply_user_dictionary(self.user_dict)
        model = self.load(voice.voice)
        return model.speak(text, voice.numeric("speed", 1.0), int(voice.numeric("speaker", 0)))
