"""Seed corpora for Loupe's fuzz targets: what the fuzz driver makes itself (instances, STOW
bodies, QIDO queries, tokens; LOUPE_FUZZ_SEEDS), plus pydicom's test files for the DICOM readers
and pictures from Pillow for the photo decoders. Nothing is downloaded."""

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pydicom
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "conformance"))
from loupe_support import meta_end  # noqa: E402

# Inputs longer than this are cut by the fuzzer anyway (run.py passes it as -max_len).
MAX_LEN = 64 * 1024


def pydicom_files():
    directory = Path(pydicom.__file__).parent / "data" / "test_files"
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.suffix in ("", ".dcm") and path.stat().st_size <= MAX_LEN:
            data = path.read_bytes()
            if data[128:132] == b"DICM":
                yield path.name, data


def pictures():
    """PNG and JPEG in the shapes phones and tools make them: colour, grey, alpha, 16-bit, palette,
    interlaced; baseline, progressive, 4:4:4, 4:2:0, CMYK, and an EXIF orientation."""
    gradient = Image.linear_gradient("L").resize((48, 32))
    rgb = Image.merge("RGB", (gradient, gradient.rotate(90, expand=False), gradient.transpose(Image.FLIP_LEFT_RIGHT)))
    shapes = {
        "rgb.png": (rgb, "PNG", {}),
        "grey.png": (gradient, "PNG", {}),
        "rgba.png": (rgb.convert("RGBA"), "PNG", {}),
        "grey16.png": (gradient.convert("I;16"), "PNG", {}),
        "palette.png": (rgb.convert("P"), "PNG", {}),
        "interlaced.png": (rgb, "PNG", {"interlace": 1}),
        "baseline.jpg": (rgb, "JPEG", {"quality": 80}),
        "444.jpg": (rgb, "JPEG", {"subsampling": 0}),
        "progressive.jpg": (rgb, "JPEG", {"progressive": True}),
        "grey.jpg": (gradient, "JPEG", {}),
        "cmyk.jpg": (rgb.convert("CMYK"), "JPEG", {}),
    }
    for name, (image, kind, options) in shapes.items():
        out = io.BytesIO()
        image.save(out, kind, **options)
        yield name, out.getvalue()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90° clockwise
    out = io.BytesIO()
    rgb.save(out, "JPEG", exif=exif.tobytes())
    yield "exif-orientation-6.jpg", out.getvalue()


def make(driver: str, root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)
    # Writing seeds ends the process from LLVMFuzzerInitialize: what is still referenced then is no leak.
    subprocess.run([driver], env={**os.environ, "LOUPE_FUZZ_SEEDS": str(root), "ASAN_OPTIONS": "detect_leaks=0"}, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for name, data in pydicom_files():
        (root / "part10" / name).write_bytes(data)
        # The data set alone, for the JSON encoder (explicit VR little endian files only).
        meta = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, force=True).file_meta
        if meta.get("TransferSyntaxUID") == "1.2.840.10008.1.2.1":
            (root / "dicom-json" / name).write_bytes(data[meta_end(data):])
    for name, data in pictures():
        (root / "photo" / name).write_bytes(data)
        if name.endswith(".jpg"):
            (root / "jpeg" / name).write_bytes(data)


if __name__ == "__main__":
    make(sys.argv[1], Path(sys.argv[2]))
