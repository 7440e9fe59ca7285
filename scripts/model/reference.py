#!/usr/bin/env python3
"""Writes a test image and the numpy reference's outputs for it, for the Swift Featurizer's tests:

    python3 scripts/model/reference.py WEIGHTS IMAGE OUT_DIR

IMAGE names a scikit-image sample (chelsea, coffee, astronaut, camera, ...). OUT_DIR receives
input.rgb (224x224x3 bytes, the image fitted as the Featurizer fits it), features.f32 (1280 float32)
and logits.f32 (1000 float32), little endian."""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import efficientnet  # noqa: E402


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    weights, name, out = sys.argv[1:]
    from skimage import data
    image = efficientnet.fit(getattr(data, name)())
    features, logits = efficientnet.features(image, efficientnet.read(weights))
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "input.rgb"), "wb") as f:
        f.write(np.ascontiguousarray(image, dtype=np.uint8).tobytes())
    with open(os.path.join(out, "features.f32"), "wb") as f:
        f.write(features.astype("<f4").tobytes())
    with open(os.path.join(out, "logits.f32"), "wb") as f:
        f.write(logits.astype("<f4").tobytes())


if __name__ == "__main__":
    main()
