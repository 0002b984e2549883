"""CTranslate2 (faster-whisper) ``model.bin`` reader, writer and Whisper name mapping.

File format (ctranslate2 4.x ``specs/model_spec.py``, binary version 6, little endian):
``u32 version``, spec name (``u16`` length incl. NUL, bytes), ``u32 revision``,
``u32 n_vars``; per variable: name, ``u8 rank``, ``u32 dims[rank]``, ``u8 dtype``,
``u32 nbytes``, raw data; then ``u32 n_aliases`` and ``(alias, target)`` name pairs.
Reading needs only numpy (and torch for bfloat16); writing HF models *to* CT2 goes
through ctranslate2's own converter in :mod:`termadapt.models.export`.
"""

from __future__ import annotations

import io
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TermadaptError

__all__ = [
    "CT2Model",
    "read_model_bin",
    "write_model_bin",
    "dequantize",
    "ct2_to_hf_state_dict",
    "whisper_dims",
    "is_ct2_dir",
]

# Binary layout version written by ctranslate2 >= 3; older files are not supported.
BINARY_VERSION = 6
# CT2 dtype codes → numpy dtypes (bfloat16, code 5, is decoded through torch).
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
_BF16 = 5
_CODES = {np.dtype(v): k for k, v in _DTYPES.items()}


@dataclass
class CT2Model:
    """The contents of a ``model.bin``.

    Attributes:
        spec: Spec name (``WhisperSpec``).
        revision: Spec revision.
        variables: Name → array, in file order (bfloat16 arrays are float32 here and listed
            in ``bf16``).
        aliases: Alias name → target name (``decoder/projection/weight`` →
            ``decoder/embeddings/weight``).
        bf16: Names stored as bfloat16 in the file.
    """

    spec: str
    revision: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str] = field(default_factory=dict)
    bf16: set[str] = field(default_factory=set)

    def get(self, name: str) -> np.ndarray:
        """Return a variable, following aliases."""
        return self.variables[self.aliases.get(name, name)]


def is_ct2_dir(path: Path) -> bool:
    """True if ``path`` is a directory holding a CTranslate2 ``model.bin``."""
    return path.is_dir() and (path / "model.bin").is_file()


def read_model_bin(path: str | Path) -> CT2Model:
    """Parse a CTranslate2 ``model.bin``.

    Raises:
        TermadaptError: The file is truncated or not a version-6 model.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TermadaptError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return _parse(memoryview(data), path)
    except (struct.error, ValueError, IndexError) as exc:
        raise TermadaptError(
            f"{path}: not a complete CTranslate2 model.bin ({exc}); re-download or re-convert it"
        ) from None


def _parse(buf: memoryview, path: Path) -> CT2Model:
    pos = 0

    def take(fmt: str) -> Any:
        nonlocal pos
        (value,) = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize("<" + fmt)
        return value

    def name() -> str:
        nonlocal pos
        n = take("H")
        text = bytes(buf[pos : pos + n - 1]).decode("utf-8")
        pos += n
        return text

    version = take("I")
    if version != BINARY_VERSION:
        raise ValueError(f"binary version {version}, expected {BINARY_VERSION}")
    spec, revision = name(), take("I")
    variables: dict[str, np.ndarray] = {}
    bf16: set[str] = set()
    for _ in range(take("I")):
        key = name()
        dims = [take("I") for _ in range(take("B"))]
        code, nbytes = take("B"), take("I")
        if pos + nbytes > len(buf):
            raise ValueError(f"variable {key} runs past the end of the file")
        raw = buf[pos : pos + nbytes]
        pos += nbytes
        if code == _BF16:
            import torch

            arr = torch.frombuffer(bytearray(raw), dtype=torch.bfloat16).float().numpy()
            bf16.add(key)
        elif code in _DTYPES:
            arr = np.frombuffer(raw, dtype=_DTYPES[code]).copy()
        else:
            raise ValueError(f"variable {key} has unknown dtype code {code}")
        variables[key] = arr.reshape(dims)
    aliases = {}
    for _ in range(take("I")):
        alias = name()
        aliases[alias] = name()
    return CT2Model(spec=spec, revision=revision, variables=variables, aliases=aliases, bf16=bf16)


def write_model_bin(model: CT2Model, path: str | Path) -> None:
    """Write ``model`` in the version-6 format (byte-identical to what it was read from)."""
    from ..records import atomic_write_bytes

    out = io.BytesIO()

    def put_name(text: str) -> None:
        raw = text.encode("utf-8") + b"\0"
        out.write(struct.pack("<H", len(raw)) + raw)

    out.write(struct.pack("<I", BINARY_VERSION))
    put_name(model.spec)
    out.write(struct.pack("<II", model.revision, len(model.variables)))
    for key, arr in model.variables.items():
        put_name(key)
        out.write(struct.pack("<B", arr.ndim) + struct.pack(f"<{arr.ndim}I", *arr.shape))
        if key in model.bf16:
            import torch

            raw = (
                torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
                .to(torch.bfloat16)
                .view(torch.int16)
                .numpy()
                .tobytes()
            )
            code = _BF16
        else:
            arr = np.ascontiguousarray(arr)
            if arr.dtype not in _CODES:
                raise TermadaptError(f"cannot store {key} of dtype {arr.dtype} in a CTranslate2 model")
            code, raw = _CODES[arr.dtype], arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        out.write(struct.pack("<BI", code, len(raw)) + raw)
    out.write(struct.pack("<I", len(model.aliases)))
    for alias, target in model.aliases.items():
        put_name(alias)
        put_name(target)
    atomic_write_bytes(path, out.getvalue())


def dequantize(model: CT2Model, name: str) -> np.ndarray:
    """Return variable ``name`` as float32, applying its int8/int16 ``*_scale`` (w = q / scale)."""
    target = model.aliases.get(name, name)
    arr = model.variables[target]
    if np.issubdtype(arr.dtype, np.integer) and arr.ndim >= 1:
        scale = model.variables.get(target + "_scale")
        if scale is None:
            raise TermadaptError(f"quantized variable {target} has no {target}_scale")
        scale = np.asarray(scale, dtype=np.float32)
        return arr.astype(np.float32) / (scale.reshape(-1, *([1] * (arr.ndim - 1))) if scale.ndim else scale)
    return arr.astype(np.float32)


def _count_layers(model: CT2Model, prefix: str) -> int:
    pattern = re.compile(rf"^{prefix}/layer_(\d+)/")
    found = {int(m.group(1)) for k in model.variables if (m := pattern.match(k))}
    return max(found) + 1 if found else 0


def _scalar(model: CT2Model, name: str, default: int) -> int:
    arr = model.variables.get(name)
    return int(arr.reshape(-1)[0]) if arr is not None and arr.size else default


def whisper_dims(model: CT2Model) -> dict[str, int]:
    """Derive ``WhisperConfig`` dimensions from tensor shapes and head-count scalars."""
    if model.spec != "WhisperSpec":
        raise TermadaptError(f"CTranslate2 model is a {model.spec}, not a Whisper model")
    conv1 = model.get("encoder/conv1/weight")
    d_model = int(conv1.shape[0])
    # 64-wide heads are what every Whisper size uses; only a model.bin without the head
    # scalars (never seen in practice) falls back to it.
    heads_default = max(1, d_model // 64)
    return {
        "d_model": d_model,
        "num_mel_bins": int(conv1.shape[1]),
        "encoder_layers": _count_layers(model, "encoder"),
        "decoder_layers": _count_layers(model, "decoder"),
        "encoder_attention_heads": _scalar(model, "encoder/num_heads", heads_default),
        "decoder_attention_heads": _scalar(model, "decoder/num_heads", heads_default),
        "encoder_ffn_dim": int(model.get("encoder/layer_0/ffn/linear_0/weight").shape[0]),
        "decoder_ffn_dim": int(model.get("decoder/layer_0/ffn/linear_0/weight").shape[0]),
        "vocab_size": int(model.get("decoder/embeddings/weight").shape[0]),
        "max_source_positions": int(model.get("encoder/position_encodings/encodings").shape[0]),
        "max_target_positions": int(model.get("decoder/position_encodings/encodings").shape[0]),
    }


def _norm(model: CT2Model, src: str, dst: str, out: dict[str, np.ndarray]) -> None:
    out[f"{dst}.weight"] = dequantize(model, f"{src}/gamma")
    out[f"{dst}.bias"] = dequantize(model, f"{src}/beta")


def _linear(model: CT2Model, src: str, dst: str, out: dict[str, np.ndarray]) -> None:
    out[f"{dst}.weight"] = dequantize(model, f"{src}/weight")
    out[f"{dst}.bias"] = dequantize(model, f"{src}/bias")


def _split_linear(model: CT2Model, src: str, dsts: list[str], out: dict[str, np.ndarray]) -> None:
    """Split a fused projection row-wise; HF ``k_proj`` has no bias (CT2 stores zeros)."""
    weights = np.split(dequantize(model, f"{src}/weight"), len(dsts), axis=0)
    biases = np.split(dequantize(model, f"{src}/bias"), len(dsts), axis=0)
    for dst, w, b in zip(dsts, weights, biases):
        out[f"{dst}.weight"] = w
        if not dst.endswith("k_proj"):
            out[f"{dst}.bias"] = b


def ct2_to_hf_state_dict(model: CT2Model) -> dict[str, np.ndarray]:
    """Map a CT2 ``WhisperSpec`` to ``WhisperForConditionalGeneration`` float32 tensors.

    ``proj_out.weight`` is tied to ``model.decoder.embed_tokens.weight`` and left out.
    """
    dims = whisper_dims(model)
    out: dict[str, np.ndarray] = {}
    enc, dec = "model.encoder", "model.decoder"
    for conv in ("conv1", "conv2"):
        _linear(model, f"encoder/{conv}", f"{enc}.{conv}", out)
    out[f"{enc}.embed_positions.weight"] = dequantize(model, "encoder/position_encodings/encodings")
    for i in range(dims["encoder_layers"]):
        src, dst = f"encoder/layer_{i}", f"{enc}.layers.{i}"
        _split_linear(model, f"{src}/self_attention/linear_0", [f"{dst}.self_attn.{p}_proj" for p in "qkv"], out)
        _linear(model, f"{src}/self_attention/linear_1", f"{dst}.self_attn.out_proj", out)
        _norm(model, f"{src}/self_attention/layer_norm", f"{dst}.self_attn_layer_norm", out)
        _linear(model, f"{src}/ffn/linear_0", f"{dst}.fc1", out)
        _linear(model, f"{src}/ffn/linear_1", f"{dst}.fc2", out)
        _norm(model, f"{src}/ffn/layer_norm", f"{dst}.final_layer_norm", out)
    _norm(model, "encoder/layer_norm", f"{enc}.layer_norm", out)
    out[f"{dec}.embed_tokens.weight"] = dequantize(model, "decoder/embeddings/weight")
    out[f"{dec}.embed_positions.weight"] = dequantize(model, "decoder/position_encodings/encodings")
    for i in range(dims["decoder_layers"]):
        src, dst = f"decoder/layer_{i}", f"{dec}.layers.{i}"
        _split_linear(model, f"{src}/self_attention/linear_0", [f"{dst}.self_attn.{p}_proj" for p in "qkv"], out)
        _linear(model, f"{src}/self_attention/linear_1", f"{dst}.self_attn.out_proj", out)
        _norm(model, f"{src}/self_attention/layer_norm", f"{dst}.self_attn_layer_norm", out)
        _linear(model, f"{src}/attention/linear_0", f"{dst}.encoder_attn.q_proj", out)
        _split_linear(model, f"{src}/attention/linear_1", [f"{dst}.encoder_attn.{p}_proj" for p in "kv"], out)
        _linear(model, f"{src}/attention/linear_2", f"{dst}.encoder_attn.out_proj", out)
        _norm(model, f"{src}/attention/layer_norm", f"{dst}.encoder_attn_layer_norm", out)
        _linear(model, f"{src}/ffn/linear_0", f"{dst}.fc1", out)
        _linear(model, f"{src}/ffn/linear_1", f"{dst}.fc2", out)
        _norm(model, f"{src}/ffn/layer_norm", f"{dst}.final_layer_norm", out)
    _norm(model, "decoder/layer_norm", f"{dec}.layer_norm", out)
    return out
