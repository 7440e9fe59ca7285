#!/usr/bin/env python3
"""The README's screenshots: the browser tests' screenshots (conformance/.work/screens, written by
conformance/test_web.py) scaled to 800 pixels wide and reduced to 128 colours, into docs/screens/.

    LOUPE_BIN=$(swift build --show-bin-path)/loupe python3 -m pytest -q conformance/test_web.py
    python3 scripts/readme-screens.py
"""

import sys
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "conformance" / ".work" / "screens"
TARGET = REPO / "docs" / "screens"
SCREENS = ["studies", "study", "similar", "review", "ward", "episode", "lesion", "patient", "admin"]


def main():
    TARGET.mkdir(parents=True, exist_ok=True)
    missing = [name for name in SCREENS if not (SOURCE / f"{name}.png").exists()]
    if missing:
        sys.exit(f"no screenshot of {', '.join(missing)} in {SOURCE}: run conformance/test_web.py first")
    for name in SCREENS:
        image = Image.open(SOURCE / f"{name}.png").convert("RGB")
        image = image.resize((800, round(image.height * 800 / image.width)), Image.LANCZOS)
        image.quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(TARGET / f"{name}.png", optimize=True)
        print(f"{TARGET / name}.png: {(TARGET / f'{name}.png').stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
