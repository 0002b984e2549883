"""The ESPnet engine on tiny, randomly initialised ESPnet2 models built here from configs.

Each model folder is what ESPnet's training writes (``config.yaml`` + ``model.pth``, a
kan-bayashi style ``vocoder/`` with ``config.yml`` + ``checkpoint-*.pkl``), so the engine
reads them exactly as it reads a downloaded JSUT Tacotron2. Random weights say nothing
about voice quality; they show that the text front end, the model, the vocoder, the knobs,
the cache key and the errors work.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from termadapt.errors import TermadaptError
from termadapt.tts import engine_class, get_engine
from termadapt.tts.base import parse_voice

pytestmark = pytest.mark.skipif(
    not engine_class("espnet").available(),
    reason="ESPnet is not installed — pip install 'termadapt[espnet]' && pip install --no-deps espnet==202511",
)

# Every kana once, so the phoneme inventory covers any Japanese text the tests speak.
KANA = (
    "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヲン"
    "ガギグゲゴザジズゼゾダヂヅデドバビブベボパピプペポキャキュキョシャシュショチャチュチョ"
    "ニャニュニョヒャヒュヒョミャミュミョリャリュリョギャギュギョジャジュジョビャビュビョピャピュピョ"
    "ッティディファフィフェフォヴァ"
)
SR = 22050
HOP = 256
FEATS = {"fs": SR, "n_fft": 1024, "hop_length": HOP, "win_length": None, "n_mels": 80, "fmin": 80, "fmax": 7600}
TACOTRON2 = {
    "embed_dim": 32,
    "elayers": 1,
    "eunits": 32,
    "econv_layers": 1,
    "econv_chans": 32,
    "atype": "location",
    "adim": 32,
    "aconv_chans": 8,
    "aconv_filts": 5,
    "dlayers": 1,
    "dunits": 32,
    "prenet_layers": 1,
    "prenet_units": 16,
    "postnet_layers": 1,
    "postnet_chans": 16,
    "reduction_factor": 1,
}
HIFIGAN = {
    "in_channels": 80,
    "out_channels": 1,
    "channels": 32,
    "kernel_size": 7,
    "upsample_scales": [8, 8, 2, 2],  # product = the hop length: one mel frame → 256 samples
    "upsample_kernel_sizes": [16, 16, 4, 4],
    "resblock_kernel_sizes": [3],
    "resblock_dilations": [[1, 3, 5]],
}


def _tokens() -> list[str]:
    import pyopenjtalk

    phones = set(pyopenjtalk.g2p(KANA).split()) | {"pau"}
    return ["<blank>", "<unk>", *sorted(phones), "<sos/eos>"]


def make_tacotron2(folder: Path, *, vocoder: bool = False, spks: int = 0, seed: int = 0) -> Path:
    """Write a tiny random Tacotron2 model folder (optionally with a HiFi-GAN ``vocoder/``)."""
    import torch
    import yaml
    from espnet2.tts.espnet_model import ESPnetTTSModel
    from espnet2.tts.feats_extract.log_mel_fbank import LogMelFbank
    from espnet2.tts.tacotron2 import Tacotron2

    torch.manual_seed(seed)
    tokens = _tokens()
    conf = dict(TACOTRON2, **({"spks": spks} if spks else {}))
    feats = LogMelFbank(**FEATS)
    tts = Tacotron2(idim=len(tokens), odim=feats.output_size(), **conf)
    with torch.no_grad():  # never predict "stop": decode to ESPnet's maxlenratio (10 frames a token)
        tts.dec.prob_out.weight.zero_()
        tts.dec.prob_out.bias.fill_(-20.0)
    model = ESPnetTTSModel(
        feats_extract=feats,
        pitch_extract=None,
        energy_extract=None,
        normalize=None,
        pitch_normalize=None,
        energy_normalize=None,
        tts=tts,
    )
    folder.mkdir(parents=True)
    torch.save(model.state_dict(), folder / "model.pth")
    config = {
        "token_list": tokens,
        "token_type": "phn",
        "g2p": "pyopenjtalk",
        "cleaner": "jaconv",
        "feats_extract": "fbank",
        "feats_extract_conf": FEATS,
        "normalize": None,
        "tts": "tacotron2",
        "tts_conf": conf,
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    if vocoder:
        from espnet2.gan_tts.hifigan import HiFiGANGenerator

        (folder / "vocoder").mkdir()
        generator = HiFiGANGenerator(**HIFIGAN)
        with torch.no_grad():  # random weights speak at about -60 dBFS; make it loud enough to pass the silence check
            generator.output_conv[1].weight_g.mul_(1000.0)
        torch.save(
            {"model": {"generator": generator.state_dict()}, "steps": 1000}, folder / "vocoder/checkpoint-1000steps.pkl"
        )
        vconf = {
            "sampling_rate": SR,
            "hop_size": HOP,
            "generator_type": "HiFiGANGenerator",
            "generator_params": HIFIGAN,
        }
        (folder / "vocoder/config.yml").write_text(yaml.safe_dump(vconf), encoding="utf-8")
    return folder


FASTSPEECH2 = {
    "adim": 16,
    "aheads": 2,
    "elayers": 1,
    "eunits": 16,
    "dlayers": 1,
    "dunits": 16,
    "postnet_layers": 1,
    "postnet_chans": 8,
    "postnet_filts": 3,
    "duration_predictor_layers": 1,
    "duration_predictor_chans": 8,
    "energy_predictor_layers": 1,
    "energy_predictor_chans": 8,
    "pitch_predictor_layers": 1,
    "pitch_predictor_chans": 8,
    "reduction_factor": 1,
}
FRAMES_PER_TOKEN = 5  # the tiny FastSpeech2's fixed duration


def make_fastspeech2(folder: Path) -> Path:
    """A tiny FastSpeech2 laid out as ESPnet's JSUT recipe writes it: global-MVN features from
    ``feats_stats.npz``, Dio pitch and energy extractors with their normalizers (whose stats
    are in the weights, used only under teacher forcing). Every token lasts 5 frames."""
    import math

    import torch
    import yaml
    from espnet2.layers.global_mvn import GlobalMVN
    from espnet2.tts.espnet_model import ESPnetTTSModel
    from espnet2.tts.fastspeech2 import FastSpeech2
    from espnet2.tts.feats_extract.log_mel_fbank import LogMelFbank

    torch.manual_seed(0)
    tokens = _tokens()
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    frames = rng.normal(-4.0, 2.0, size=(500, 80))
    np.savez(folder / "feats_stats.npz", count=np.array(500), sum=frames.sum(0), sum_square=(frames**2).sum(0))
    feats = LogMelFbank(**FEATS)
    tts = FastSpeech2(idim=len(tokens), odim=feats.output_size(), **FASTSPEECH2)
    with torch.no_grad():  # exp(log(6)) - 1 = 5 frames for every token
        tts.duration_predictor.linear.weight.zero_()
        tts.duration_predictor.linear.bias.fill_(math.log(FRAMES_PER_TOKEN + 1))
    model = ESPnetTTSModel(
        feats_extract=feats,
        pitch_extract=None,
        energy_extract=None,
        normalize=GlobalMVN(str(folder / "feats_stats.npz")),
        pitch_normalize=None,
        energy_normalize=None,
        tts=tts,
    )
    state = model.state_dict()
    for name in ("pitch_normalize", "energy_normalize"):  # what a trained JSUT FastSpeech2 carries
        state[f"{name}.mean"], state[f"{name}.std"] = torch.zeros(1), torch.ones(1)
    torch.save(state, folder / "train.loss.ave.pth")
    config = {
        "token_list": tokens,
        "token_type": "phn",
        "g2p": "pyopenjtalk",
        "cleaner": "jaconv",
        "feats_extract": "fbank",
        "feats_extract_conf": FEATS,
        "normalize": "global_mvn",
        "normalize_conf": {"stats_file": "exp/tts_stats/train/feats_stats.npz"},  # as in a zoo config
        "tts": "fastspeech2",
        "tts_conf": FASTSPEECH2,
        "pitch_extract": "dio",
        "pitch_normalize": "global_mvn",
        "energy_extract": "energy",
        "energy_normalize": "global_mvn",
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """``tiny_taco`` (Griffin-Lim), ``tiny_hifi`` (HiFi-GAN vocoder), ``tiny_multi`` (3 speakers)."""
    root = tmp_path_factory.mktemp("espnet_models")
    make_tacotron2(root / "tiny_taco")
    make_tacotron2(root / "tiny_hifi", vocoder=True)
    make_tacotron2(root / "tiny_multi", spks=3)
    make_fastspeech2(root / "tiny_fs2")
    return root


def _engine(models: Path, *names: str, **options):
    return get_engine("espnet", models=tuple(str(models / n) for n in names), **options)


TEXT = "今日は心電図を確認します。"


@pytest.mark.parametrize("name", ["tiny_taco", "tiny_hifi"])
def test_synthesizes_at_the_model_rate_and_frames_make_its_length(models, name):
    engine = _engine(models, name)
    wav, sr = engine.synthesize(TEXT, parse_voice(f"espnet:{name}"))
    assert sr == SR
    assert wav.dtype == np.float32 and wav.ndim == 1
    assert np.isfinite(wav).all() and float(np.abs(wav).max()) > 0
    # A spectrogram model's waveform is a whole number of hops (Griffin-Lim and HiFi-GAN alike).
    assert len(wav) % HOP == 0 and len(wav) >= HOP
    again, _ = engine.synthesize(TEXT, parse_voice(f"espnet:{name}"))
    np.testing.assert_array_equal(wav, again)  # the prenet's dropout is seeded per request


def test_speed_scales_the_length(models):
    engine = _engine(models, "tiny_hifi")
    normal, _ = engine.synthesize(TEXT, parse_voice("espnet:tiny_hifi"))
    fast, _ = engine.synthesize(TEXT, parse_voice("espnet:tiny_hifi?speed=2"))
    slow, _ = engine.synthesize(TEXT, parse_voice("espnet:tiny_hifi?speed=0.5"))
    frames = len(normal) // HOP
    assert len(fast) // HOP == max(1, round(frames / 2))
    assert len(slow) // HOP == frames * 2


def test_fastspeech2_speed_scales_the_durations(models):
    engine = _engine(models, "tiny_fs2")
    model = engine.load("tiny_fs2")
    n_tokens = len(model.tokens(TEXT)) + 1  # + <sos/eos>
    normal, sr = engine.synthesize(TEXT, parse_voice("espnet:tiny_fs2"))
    slow, _ = engine.synthesize(TEXT, parse_voice("espnet:tiny_fs2?speed=0.5"))
    assert sr == SR and np.isfinite(normal).all() and float(np.abs(normal).max()) > 0
    # Griffin-Lim (centred frames) gives (frames - 1) hops of audio.
    assert len(normal) // HOP + 1 == n_tokens * FRAMES_PER_TOKEN  # durations, not a stop token, set the length
    assert len(slow) // HOP + 1 == n_tokens * FRAMES_PER_TOKEN * 2  # alpha = 1/speed stretches every duration


def test_speaker_knob_changes_the_voice_of_a_multi_speaker_model(models):
    engine = _engine(models, "tiny_multi")
    (info,) = engine.voices()
    assert [k.name for k in info.knobs] == ["speed", "speaker"]
    a, _ = engine.synthesize(TEXT, parse_voice("espnet:tiny_multi?speaker=0"))
    b, _ = engine.synthesize(TEXT, parse_voice("espnet:tiny_multi?speaker=2"))
    assert len(a) != len(b) or not np.array_equal(a, b)


def test_cache_key_follows_model_content_not_path(models, tmp_path):
    voice = parse_voice("espnet:tiny_taco")
    key = _engine(models, "tiny_taco").cache_version(voice)
    copy = tmp_path / "elsewhere" / "tiny_taco"
    shutil.copytree(models / "tiny_taco", copy)
    assert get_engine("espnet", models=(str(copy),)).cache_version(voice) == key  # same content, same clips
    make_other = tmp_path / "other"
    make_tacotron2(make_other / "tiny_taco", seed=1)  # same name and config, other weights
    assert get_engine("espnet", models=(str(make_other / "tiny_taco"),)).cache_version(voice) != key
    shutil.copytree(models / "tiny_hifi" / "vocoder", copy / "vocoder")
    fresh = engine_class("espnet")(models=(str(copy),))  # get_engine keeps one instance per options
    assert fresh.cache_version(voice) != key  # the vocoder is part of the model


@pytest.fixture
def clean_openjtalk():
    """No user dictionary before and after the test (pyopenjtalk's state is global)."""
    from termadapt.text.readings import reset_user_dictionary

    reset_user_dictionary()
    yield
    reset_user_dictionary()


def test_user_dictionary_gives_a_term_its_reading_mid_sentence(models, tmp_path, clean_openjtalk):
    from termadapt.records import TermEntry
    from termadapt.text.readings import build_user_dictionary

    sentence = "高齢の患者は嚥下の機能が落ちています。"
    plain = " ".join(_engine(models, "tiny_taco").load("tiny_taco").tokens(sentence))
    assert "e N k a" in plain and "e N g e" not in plain  # OpenJTalk's own reading of 嚥下 is エンカ
    udic = build_user_dictionary([TermEntry("嚥下", "エンゲ")], tmp_path / "udic")
    engine = _engine(models, "tiny_taco", user_dict=str(udic))
    fixed = " ".join(engine.load("tiny_taco").tokens(sentence))
    assert "e N g e" in fixed and "e N k a" not in fixed
    assert fixed.startswith(plain[: plain.index("e N k a")])  # the rest of the sentence reads as before
    assert engine.cache_version(parse_voice("espnet:tiny_taco")) != _engine(models, "tiny_taco").cache_version(
        parse_voice("espnet:tiny_taco")
    )


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: shutil.rmtree(f), "ESPnet model folder not found"),
        (lambda f: (f / "model.pth").unlink(), "expected one ESPnet TTS model"),
        (lambda f: (f / "model.pth").write_bytes(b"not a checkpoint"), "cannot load weights safely"),
        (lambda f: (f / "config.yaml").write_text("tts: [unclosed\n"), "not a readable YAML config"),
        (lambda f: (f / "config.yaml").write_text("tts: tacotron2\n"), "no token_list"),
        (
            lambda f: (f / "config.yaml").write_text(
                (f / "config.yaml").read_text().replace("eunits: 32", "eunits: 48")
            ),
            "weights do not fit",
        ),
        (
            lambda f: (f / "config.yaml").write_text(
                (f / "config.yaml").read_text().replace("tts: tacotron2", "tts: wavenet")
            ),
            "'wavenet' is not supported",
        ),
        (lambda f: (f / "vocoder/config.yml").unlink(), "a vocoder folder needs config.yml"),
    ],
    ids=["no-folder", "no-weights", "bad-weights", "bad-yaml", "not-tts", "mismatch", "unknown-class", "vocoder"],
)
def test_broken_model_folder_fails_in_one_line_naming_it(models, tmp_path, damage, message):
    folder = tmp_path / "broken"
    shutil.copytree(models / "tiny_hifi", folder)
    damage(folder)
    engine = get_engine("espnet", models=(str(folder),))
    with pytest.raises(TermadaptError) as err:
        engine.synthesize(TEXT, parse_voice("espnet:broken"))
    text = str(err.value)
    assert message in text and "\n" not in text
    assert str(folder) in text


def test_unknown_voice_names_the_recipe_key(models):
    with pytest.raises(TermadaptError, match="synth.espnet_models"):
        _engine(models, "tiny_taco").synthesize(TEXT, parse_voice("espnet:nobody"))


def test_zoo_layout_is_found(models, tmp_path):
    """A model-zoo download keeps its config under exp/<dir>/ — found, and it speaks."""
    root = tmp_path / "jsut_tacotron2"
    shutil.copytree(models / "tiny_taco", root / "exp" / "tts_train_tacotron2_raw_phn")
    wav, sr = get_engine("espnet", models=(str(root),)).synthesize(TEXT, parse_voice("espnet:jsut_tacotron2"))
    assert sr == SR and len(wav) >= HOP


SYNTH_RECIPE = """
name = "espnet-voice"
seed = 0
run_dir = "{run}"
[dictionary]
paths = ["{terms}"]
[sentences]
domains = ["general"]
templates_per_term = 1
validation_templates_per_term = 1
test_templates_per_term = 1
max_general_replay = 2
max_general_validation = 1
max_general_test = 1
[synth]
train_voices = ["espnet:tiny_hifi", "openjtalk:mei_normal"]
heldout_voices = ["openjtalk:mei_normal?speed=1.3&half_tone=3"]
fallback_heldout_voices = []
espnet_models = ["{models}/tiny_hifi"]
cache_dir = "{cache}"
workers = 2
"""


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "termadapt.cli", *args], capture_output=True, text=True, timeout=600)


def test_termadapt_synth_trains_with_an_espnet_voice(models, tmp_path):
    """terms → sentences → synth through the CLI: the ESPnet voice speaks training sentences only."""
    import json

    terms = tmp_path / "terms.csv"
    terms.write_text("エンゲ,嚥下\nシンデンズ,心電図\n", encoding="utf-8")
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(
        SYNTH_RECIPE.format(run=tmp_path / "run", terms=terms, models=models, cache=tmp_path / "cache"),
        encoding="utf-8",
    )
    for stage in ("terms", "sentences", "synth"):
        done = _cli(stage, str(recipe))
        assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stderr and "WARNING" not in done.stderr and "nltk" not in done.stderr, done.stderr
    rows = [json.loads(line) for line in (tmp_path / "run/synth.jsonl").read_text(encoding="utf-8").splitlines()]
    espnet = [r for r in rows if r["voice"].startswith("espnet:")]
    assert espnet and all(r["split"] == "train" for r in espnet)
    assert {r["split"] for r in rows} >= {"train", "validation", "test"}
    import soundfile as sf

    audio, sr = sf.read(espnet[0]["audio_path"])
    assert sr == 16000 and len(audio) > 0  # resampled from the model's 22.05 kHz like every clip


def test_voices_lists_espnet(models, tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'name = "v"\n[synth]\nespnet_models = ["{models}/tiny_multi"]\n', encoding="utf-8")
    done = _cli("voices", str(recipe))
    assert done.returncode == 0, done.stderr
    assert "espnet" in done.stdout and "tiny_multi" in done.stdout and "speaker" in done.stdout
