"""Labelled images for the anomaly classifier: valid medical images and the ways a PACS receives
invalid ones. Everything is generated or comes from packages (pydicom's test files, scikit-image's
bundled pictures, opencv-doc's example photographs, DejaVu fonts); nothing else is downloaded.

Every generator draws one sample from (rng, source). A *source* is what a sample is made from (a
phantom series, a pydicom file, a scikit-image picture, or the seed of a procedural drawing): the
train/validation/test split goes by source, never by augmentation of one source. Generators and
sources listed in HELD_OUT are never trained on: they measure how the classifier does on what it has
not seen.

Classes: valid, and the reasons an image is invalid:
    overlay      a dialog, message box, banner or viewer UI drawn over a valid image
    non-medical  natural photographs, documents, application screenshots, charts, graphics
    blank        constant, saturated, noise-only or featureless frames
"""

import glob
import math
import os
import zlib

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from scipy import ndimage

HERE = os.path.dirname(os.path.abspath(__file__))
import sys  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "data"))
import phantoms  # noqa: E402  scripts/data/phantoms.py

GENERATOR_VERSION = 3
CLASSES = ["valid", "overlay", "non-medical", "blank"]

# Real DICOM images among pydicom's test files (one per picture: the others are the same pixels in
# other encodings, test patterns, masks or dose grids).
PYDICOM_FILES = ["CT_small.dcm", "MR_small.dcm", "693_J2KI.dcm", "J2K_pixelrep_mismatch.dcm", "JPEG2000.dcm",
                 "examples_overlay.dcm", "examples_palette.dcm", "examples_rgb_color.dcm", "examples_ybr_color.dcm",
                 "examples_jpeg2k.dcm"]
# Medical pictures scikit-image ships: a fundus photograph, histology, microscopy, the Shepp-Logan phantom.
SKIMAGE_MEDICAL = ["retina", "immunohistochemistry", "microaneurysms", "cell", "shepp_logan_phantom"]
SKIMAGE_PICTURES = ["astronaut", "camera", "cat", "chelsea", "coffee", "coins", "hubble_deep_field", "moon", "rocket",
                    "stereo_motorcycle", "clock", "horse", "brick", "grass", "gravel", "colorwheel", "logo", "page", "text"]
PHANTOM_LABELS = phantoms.ANATOMIES
# Photographs Debian's opencv-doc ships with its examples (scenes, objects, faces, animals, art).
OPENCV_DATA = "/usr/share/doc/opencv-doc/examples/data"
OPENCV_PHOTOS = ["HappyFish.jpg", "aero1.jpg", "aloeL.jpg", "apple.jpg", "baboon.jpg", "basketball1.png", "board.jpg",
                 "box_in_scene.png", "building.jpg", "butterfly.jpg", "ela_original.jpg", "fruits.jpg", "graf1.png", "home.jpg",
                 "left.jpg", "leuvenA.jpg", "licenseplate_motion.jpg", "messi5.jpg", "orange.jpg", "pca_test1.jpg",
                 "rubberwhale1.png", "smarties.png", "squirrel_cls.jpg", "starry_night.jpg", "stuff.jpg", "Blender_Suzanne1.jpg"]

# Never trained on: whole generators and whole source files.
HELD_OUT = {
    "generators": {"chart", "spreadsheet", "dark-dialog", "salt-pepper"},
    "sources": {"phantom:MR KNEE", "pydicom:examples_jpeg2k.dcm", "pydicom:J2K_pixelrep_mismatch.dcm",
                "skimage:coffee", "skimage:rocket", "skimage:clock", "skimage:gravel"},
}

FONT_FILES = sorted(glob.glob("/usr/share/fonts/truetype/dejavu/*.ttf"))
WORDS = ("the of patient study series image error warning cannot connect server failed network retry cancel ok "
         "report results normal findings impression technique contrast volume file open save export print help "
         "window view tools settings user login password update version license network database query exam "
         "scheduled order accession physician department radiology cardiology total amount invoice date time "
         "loading please wait connection timeout unexpected exception access denied memory disk full").split()


# ---- helpers ----------------------------------------------------------------------------------

def font(rng, size, mono=False):
    files = [f for f in FONT_FILES if ("Mono" in f) == mono] or FONT_FILES
    if not files:
        return ImageFont.load_default()
    return ImageFont.truetype(files[int(rng.integers(len(files)))], max(6, int(size)))


def sentence(rng, lo=2, hi=9):
    words = [WORDS[int(i)] for i in rng.integers(len(WORDS), size=int(rng.integers(lo, hi + 1)))]
    return " ".join(words).capitalize()


def colour(rng, lo=0, hi=255):
    return tuple(int(v) for v in rng.integers(lo, hi + 1, size=3))


def grey(rng, lo=0, hi=255):
    v = int(rng.integers(lo, hi + 1))
    return (v, v, v)


def screen_size(rng):
    w = int(rng.choice([320, 400, 480, 512, 560, 640]))
    return w, int(w * rng.choice([0.5625, 0.625, 0.75, 0.8, 1.0]))


def to_rgb(a):
    return np.repeat(a[:, :, None], 3, axis=2) if a.ndim == 2 else a


def window8(stored, center, width):
    lo = center - width / 2
    return np.clip((stored.astype(np.float64) - lo) / max(width, 1e-6) * 255, 0, 255).astype(np.uint8)


# ---- valid images -----------------------------------------------------------------------------

def augment_geometry(a, rng, background):
    """Flips, right-angle and small rotations, zoom in (crop) or out (pad), resize: as a PACS sees them."""
    if rng.random() < 0.5:
        a = a[:, ::-1]
    if rng.random() < 0.2:
        a = a[::-1]
    if rng.random() < 0.25:
        a = np.rot90(a, int(rng.integers(1, 4)))
    if rng.random() < 0.3:
        a = ndimage.rotate(a.astype(np.float32), rng.uniform(-15, 15), reshape=False, order=1, mode="constant", cval=background)
    h, w = a.shape[:2]
    zoom = rng.uniform(0.7, 1.3)
    if zoom < 1:  # crop
        ch, cw = max(8, int(h * zoom)), max(8, int(w * zoom))
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        a = a[y:y + ch, x:x + cw]
    else:  # pad
        ph, pw = int(h * (zoom - 1) / 2), int(w * (zoom - 1) / 2)
        pads = ((ph, ph), (pw, pw)) + (((0, 0),) if a.ndim == 3 else ())
        a = np.pad(a, pads, constant_values=background)
    size = int(rng.choice([128, 192, 256, 320, 384, 448, 512]))
    scale = size / max(a.shape[:2])
    if abs(scale - 1) > 0.05:
        a = ndimage.zoom(a.astype(np.float32), (scale, scale) + ((1,) if a.ndim == 3 else ()), order=1)
    return np.ascontiguousarray(a)


def augment_intensity(a, rng, scale):
    """Light blur and noise (scale: the intensity range)."""
    a = a.astype(np.float32)
    if rng.random() < 0.15:  # shown inverted (MONOCHROME1), or through a gamma curve
        lo, hi = float(a.min()), float(a.max())
        a = hi + lo - a if rng.random() < 0.5 else lo + (hi - lo) * ((a - lo) / max(hi - lo, 1e-6)) ** rng.uniform(0.6, 1.6)
    if rng.random() < 0.3:
        sigma = rng.uniform(0.3, 1.5)
        a = ndimage.gaussian_filter(a, (sigma, sigma) + ((0,) if a.ndim == 3 else ()))
    if rng.random() < 0.4:
        a = a + rng.normal(0, rng.uniform(0.005, 0.03) * scale, a.shape)
    return a


def corner_text(rgb, rng):
    """Burned-in annotations as modalities print them (valid images have them too)."""
    image = Image.fromarray(rgb)
    draw = ImageDraw.Draw(image)
    h = image.height
    f = font(rng, h * rng.uniform(0.03, 0.05))
    shade = grey(rng, 180, 255)
    for corner in rng.choice(4, size=int(rng.integers(1, 4)), replace=False):
        lines = [sentence(rng, 1, 3).upper() for _ in range(int(rng.integers(1, 4)))]
        x = 4 if corner in (0, 2) else int(image.width * 0.6)
        y = 4 if corner in (0, 1) else int(h * 0.8)
        for i, line in enumerate(lines):
            draw.text((x, y + i * f.size * 1.2), line, fill=shade, font=f)
    return np.asarray(image)


def phantom_sample(rng, label, series):
    p = phantoms.series_params(label, np.random.default_rng([GENERATOR_VERSION, PHANTOM_LABELS.index(label), series]))
    size = int(rng.choice([192, 256, 320]))
    stored, info = phantoms.render(label, p, int(rng.integers(0, 8)), 8, size, rng)
    center, width = info["window"]
    background = float(stored.min())
    a = augment_geometry(stored.astype(np.float32), rng, background)
    a = augment_intensity(a, rng, width)
    top = 255 if stored.dtype == np.uint8 else 4095 if not info["signed"] else 32767
    low = 0 if not info["signed"] else -32768
    a = np.clip(np.rint(a), low, top)
    center *= rng.uniform(0.85, 1.15) if center else 1
    center += rng.uniform(-0.1, 0.1) * width
    width *= rng.uniform(0.6, 1.6)
    modality = label.split()[0]
    if rng.random() < 0.25 or modality == "US":
        # Burned-in text: a window-rendered 8-bit copy, as secondary captures of such images are.
        rgb = corner_text(to_rgb(window8(a, center, width)), rng)
        return {"pixels": rgb[:, :, 0], "modality": modality, "window": None}
    dtype = np.int16 if info["signed"] else np.uint8 if stored.dtype == np.uint8 else np.uint16
    return {"pixels": a.astype(dtype), "modality": modality, "window": (center, width), "rescale": info["rescale"]}


def pydicom_pixels(name):
    """Frame 1 of a pydicom test file: (array, is colour, window)."""
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.pixels import apply_color_lut, convert_color_space
    ds = pydicom.dcmread(get_testdata_file(name))
    a = ds.pixel_array
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        a = a[0]
    pi = ds.PhotometricInterpretation
    if pi == "PALETTE COLOR":
        a = (apply_color_lut(a, ds) >> 8).astype(np.uint8)
    elif pi.startswith("YBR") and pi not in ("YBR_RCT", "YBR_ICT") and "JPEG" not in ds.file_meta.TransferSyntaxUID.name:
        a = convert_color_space(a, pi, "RGB")
    colour = a.ndim == 3
    if colour:
        return a.astype(np.uint8), True, None, ds.get("Modality", "OT")
    lo, hi = np.percentile(a, [0.5, 99.5])
    return a.astype(np.float32), False, ((lo + hi) / 2, max(hi - lo, 1)), ds.get("Modality", "OT")


_PYDICOM_CACHE = {}


def pydicom_sample(rng, name):
    if name not in _PYDICOM_CACHE:
        _PYDICOM_CACHE[name] = pydicom_pixels(name)
    a, colour, window, modality = _PYDICOM_CACHE[name]
    if colour:
        a = np.clip(augment_intensity(augment_geometry(a, rng, 0), rng, 255), 0, 255).astype(np.uint8)
        return {"pixels": a, "modality": modality, "window": None}
    center, width = window
    a = augment_intensity(augment_geometry(a, rng, float(a.min())), rng, width)
    shift = -min(0.0, float(a.min()))
    a = np.clip(np.rint(a + shift), 0, 65535).astype(np.uint16)
    center = center + shift + rng.uniform(-0.1, 0.1) * width
    width *= rng.uniform(0.6, 1.5)
    return {"pixels": a, "modality": modality, "window": (center, width)}


# ---- invalid: non-medical ---------------------------------------------------------------------

_PICTURE_CACHE = {}


def picture(source):
    """The pixels of a packaged picture: `skimage:NAME` or `skimage-medical:NAME` (scikit-image's
    data), `opencv:FILE` (opencv-doc's examples)."""
    if source in _PICTURE_CACHE:
        return _PICTURE_CACHE[source]
    kind, _, name = source.partition(":")
    if kind == "opencv":
        _PICTURE_CACHE[source] = np.asarray(Image.open(os.path.join(OPENCV_DATA, name)).convert("RGB"))
    else:
        import skimage.data
        a = getattr(skimage.data, name)()
        a = a[0] if isinstance(a, tuple) else a
        if a.dtype == bool:
            a = a.astype(np.uint8) * 255
        if a.dtype.kind == "f":  # the Shepp-Logan phantom: [0, 1]
            a = a / max(float(a.max()), 1e-6) * 255
        if a.ndim == 3 and a.shape[2] == 4:
            a = a[:, :, :3]
        _PICTURE_CACHE[source] = np.ascontiguousarray(a.astype(np.uint8))
    return _PICTURE_CACHE[source]


def training_only(source):
    """opencv-doc is installed for training only (`scripts/install-deps.sh train`): tests draw from
    the other sources, on every machine alike."""
    return source.startswith("opencv:")


def photo_sample(rng, source):
    a = picture(source)
    a = augment_geometry(a.astype(np.float32), rng, 0)
    a = np.clip(a * rng.uniform(0.7, 1.3) + rng.uniform(-30, 30), 0, 255)
    if a.ndim == 3 and rng.random() < 0.5:
        a = a @ np.array([0.299, 0.587, 0.114])
    return {"pixels": a.astype(np.uint8), "modality": "OT", "window": None}


def medical_picture_sample(rng, source):
    name = source.split(":", 1)[1]
    a = picture(source).astype(np.float32)
    a = augment_intensity(augment_geometry(a, rng, 0), rng, 255)
    modality = {"retina": "OP", "shepp_logan_phantom": "CT"}.get(name, "SM")
    return {"pixels": np.clip(a, 0, 255).astype(np.uint8), "modality": modality, "window": None}


def new_canvas(rng, dark=None):
    w, h = screen_size(rng)
    dark = rng.random() < 0.25 if dark is None else dark
    background = grey(rng, 20, 60) if dark else grey(rng, 225, 255)
    image = Image.new("RGB", (w, h), background)
    return image, ImageDraw.Draw(image), dark


def text_lines(draw, rng, box, f, fill, spacing=1.3, mono=False):
    x0, y0, x1, y1 = box
    y = y0
    while y + f.size < y1:
        line = sentence(rng, 2, 12)
        draw.text((x0, y), line, fill=fill, font=f)
        y += f.size * spacing * (2 if rng.random() < 0.1 else 1)


def document_sample(rng, source):
    image, draw, _ = new_canvas(rng, dark=False)
    w, h = image.size
    margin = int(w * rng.uniform(0.04, 0.12))
    size = h * rng.uniform(0.025, 0.05)
    ink = grey(rng, 0, 80) if rng.random() < 0.8 else colour(rng, 0, 120)
    y = margin
    if rng.random() < 0.7:
        head = font(rng, size * 1.8)
        draw.text((margin, y), sentence(rng, 2, 5), fill=ink, font=head)
        y += int(head.size * 2)
    if rng.random() < 0.3:  # a table
        rows, cols = int(rng.integers(3, 8)), int(rng.integers(2, 5))
        cw, rh = (w - 2 * margin) // cols, int(size * 1.8)
        for r in range(rows + 1):
            draw.line((margin, y + r * rh, margin + cols * cw, y + r * rh), fill=ink)
        for c in range(cols + 1):
            draw.line((margin + c * cw, y, margin + c * cw, y + rows * rh), fill=ink)
        f = font(rng, size)
        for r in range(rows):
            for c in range(cols):
                draw.text((margin + c * cw + 3, y + r * rh + 3), sentence(rng, 1, 2)[:12], fill=ink, font=f)
        y += rows * rh + rh
    text_lines(draw, rng, (margin, y, w - margin, h - margin), font(rng, size), ink)
    return {"pixels": np.asarray(image), "modality": "OT", "window": None}


def button(draw, rng, x, y, w, h, fill, text_fill, label, f):
    draw.rectangle((x, y, x + w, y + h), fill=fill, outline=tuple(max(0, c - 60) for c in fill))
    draw.text((x + w // 4, y + (h - f.size) // 2), label, fill=text_fill, font=f)


def ui_sample(rng, source):
    """An application window: title bar, menu, toolbar, side list, content, status bar."""
    image, draw, dark = new_canvas(rng)
    w, h = image.size
    fg = grey(rng, 200, 240) if dark else grey(rng, 10, 60)
    panel = grey(rng, 40, 80) if dark else grey(rng, 200, 240)
    accent = colour(rng, 30, 220)
    f = font(rng, h * rng.uniform(0.025, 0.04))
    title = int(h * rng.uniform(0.05, 0.08))
    draw.rectangle((0, 0, w, title), fill=accent if rng.random() < 0.5 else panel)
    draw.text((8, (title - f.size) // 2), sentence(rng, 1, 4), fill=fg, font=f)
    y = title
    if rng.random() < 0.8:  # menu
        x = 6
        for _ in range(int(rng.integers(3, 8))):
            word = WORDS[int(rng.integers(len(WORDS)))].capitalize()
            draw.text((x, y + 3), word, fill=fg, font=f)
            x += int(f.getlength(word)) + 14
        y += f.size + 8
    if rng.random() < 0.7:  # toolbar
        size = int(h * 0.06)
        for i in range(int(rng.integers(4, 12))):
            draw.rounded_rectangle((6 + i * (size + 4), y + 2, 6 + i * (size + 4) + size, y + 2 + size), radius=3,
                                   fill=colour(rng, 60, 230), outline=fg)
        y += size + 6
    side = int(w * rng.uniform(0.15, 0.3)) if rng.random() < 0.7 else 0
    if side:
        draw.rectangle((0, y, side, h), fill=panel)
        text_lines(draw, rng, (6, y + 6, side - 4, h - 20), f, fg, spacing=1.6)
    status = int(h * 0.05)
    draw.rectangle((0, h - status, w, h), fill=panel)
    draw.text((6, h - status + 2), sentence(rng, 2, 5), fill=fg, font=f)
    content = (side + 10, y + 10, w - 10, h - status - 10)
    kind = rng.integers(3)
    if kind == 0:
        text_lines(draw, rng, content, f, fg)
    elif kind == 1:  # form fields
        yy = content[1]
        while yy + f.size * 2 < content[3]:
            draw.text((content[0], yy), sentence(rng, 1, 3) + ":", fill=fg, font=f)
            draw.rectangle((content[0] + (content[2] - content[0]) // 3, yy - 2, content[2], yy + f.size + 4),
                           fill=(255, 255, 255) if not dark else (30, 30, 30), outline=fg)
            yy += int(f.size * 2.2)
    else:  # list with selection
        yy = content[1]
        while yy + f.size < content[3]:
            if rng.random() < 0.1:
                draw.rectangle((content[0], yy - 2, content[2], yy + f.size + 2), fill=accent)
            draw.text((content[0] + 4, yy), sentence(rng, 3, 8), fill=fg, font=f)
            yy += int(f.size * 1.5)
    return {"pixels": np.asarray(image), "modality": "OT", "window": None}


def terminal_sample(rng, source):
    w, h = screen_size(rng)
    image = Image.new("RGB", (w, h), grey(rng, 0, 40))
    draw = ImageDraw.Draw(image)
    f = font(rng, h * rng.uniform(0.025, 0.045), mono=True)
    ink = rng.choice([(200, 200, 200), (0, 230, 0), (230, 230, 230), (255, 180, 0)])
    ink = tuple(int(v) for v in ink)
    y = 4
    while y + f.size < h:
        prefix = "$ " if rng.random() < 0.3 else ""
        draw.text((4, y), prefix + sentence(rng, 1, 10).lower(), fill=ink, font=f)
        y += int(f.size * 1.25)
    return {"pixels": np.asarray(image), "modality": "OT", "window": None}


def chart_sample(rng, source):
    image, draw, dark = new_canvas(rng)
    w, h = image.size
    fg = (220, 220, 220) if dark else (30, 30, 30)
    f = font(rng, h * 0.035)
    left, top, right, bottom = int(w * 0.12), int(h * 0.12), int(w * 0.95), int(h * 0.85)
    draw.text((left, 4), sentence(rng, 2, 5), fill=fg, font=f)
    kind = rng.integers(3)
    if kind == 2:  # pie
        cx, cy, r = (left + right) // 2, (top + bottom) // 2, min(right - left, bottom - top) // 2
        start = 0.0
        for share in rng.dirichlet(np.ones(int(rng.integers(3, 7)))):
            draw.pieslice((cx - r, cy - r, cx + r, cy + r), start, start + share * 360, fill=colour(rng, 40, 240))
            start += share * 360
    else:
        draw.line((left, top, left, bottom), fill=fg, width=2)
        draw.line((left, bottom, right, bottom), fill=fg, width=2)
        for i in range(5):
            y = bottom - i * (bottom - top) // 5
            draw.line((left - 4, y, left, y), fill=fg)
            draw.text((4, y - f.size // 2), str(i * 20), fill=fg, font=f)
        n = int(rng.integers(4, 12))
        values = rng.uniform(0.1, 1, n)
        step = (right - left) / n
        if kind == 0:
            c = colour(rng, 40, 220)
            for i, v in enumerate(values):
                draw.rectangle((left + i * step + 3, bottom - v * (bottom - top), left + (i + 1) * step - 3, bottom), fill=c)
        else:
            for _ in range(int(rng.integers(1, 4))):
                pts = [(left + (i + 0.5) * step, bottom - v * (bottom - top)) for i, v in enumerate(rng.uniform(0.1, 1, n))]
                draw.line(pts, fill=colour(rng, 40, 220), width=int(rng.integers(1, 4)))
    return {"pixels": np.asarray(image), "modality": "OT", "window": None}


def spreadsheet_sample(rng, source):
    image, draw, _ = new_canvas(rng, dark=False)
    w, h = image.size
    f = font(rng, h * rng.uniform(0.022, 0.035))
    rh = int(f.size * 1.6)
    cw = int(w / rng.integers(4, 9))
    header = grey(rng, 200, 235)
    draw.rectangle((0, 0, w, rh), fill=header)
    draw.rectangle((0, 0, cw // 2, h), fill=header)
    line = grey(rng, 150, 210)
    for y in range(0, h, rh):
        draw.line((0, y, w, y), fill=line)
    for x in range(cw // 2, w, cw):
        draw.line((x, 0, x, h), fill=line)
    for r, y in enumerate(range(rh, h - rh, rh)):
        draw.text((3, y + 2), str(r + 1), fill=(0, 0, 0), font=f)
        for x in range(cw // 2, w - cw, cw):
            if rng.random() < 0.7:
                text = f"{rng.uniform(0, 10000):.2f}" if rng.random() < 0.6 else WORDS[int(rng.integers(len(WORDS)))]
                draw.text((x + 3, y + 2), text, fill=(0, 0, 0), font=f)
    return {"pixels": np.asarray(image), "modality": "OT", "window": None}


def scene_sample(rng, source):
    """A crude outdoor picture: sky, sun, ground, hills, trees, a house."""
    w, h = screen_size(rng)
    y = np.linspace(0, 1, h)[:, None, None]
    sky_top, sky_bottom = np.array(colour(rng, 30, 140)), np.array(colour(rng, 150, 255))
    sky = sky_top * (1 - y) + sky_bottom * y
    a = np.broadcast_to(sky, (h, w, 3)).copy()
    image = Image.fromarray(a.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    horizon = int(h * rng.uniform(0.45, 0.75))
    r = int(h * rng.uniform(0.04, 0.1))
    sx, sy = int(rng.integers(r, w - r)), int(rng.integers(r, horizon - r))
    draw.ellipse((sx - r, sy - r, sx + r, sy + r), fill=(255, int(rng.integers(200, 256)), int(rng.integers(0, 120))))
    for _ in range(int(rng.integers(1, 4))):
        cx = int(rng.integers(0, w))
        hw, hh = int(w * rng.uniform(0.2, 0.6)), int(h * rng.uniform(0.05, 0.25))
        draw.ellipse((cx - hw, horizon - hh, cx + hw, horizon + hh), fill=colour(rng, 20, 140))
    draw.rectangle((0, horizon, w, h), fill=colour(rng, 20, 160))
    for _ in range(int(rng.integers(0, 8))):
        tx, ty = int(rng.integers(0, w)), int(rng.integers(horizon - 10, h))
        th = int(h * rng.uniform(0.08, 0.3))
        draw.rectangle((tx - 3, ty - th // 3, tx + 3, ty), fill=(90, 60, 30))
        draw.ellipse((tx - th // 4, ty - th, tx + th // 4, ty - th // 3), fill=(20, int(rng.integers(80, 180)), 30))
    a = np.asarray(image).astype(np.float32)
    a = ndimage.gaussian_filter(a, (1, 1, 0)) + rng.normal(0, 6, a.shape)
    return {"pixels": np.clip(a, 0, 255).astype(np.uint8), "modality": "OT", "window": None}


# ---- invalid: overlays on valid images --------------------------------------------------------

def valid_base(rng, source):
    """A valid image rendered to 8-bit RGB (what a screenshot of it shows), from `source`."""
    kind, _, rest = source.partition(":")
    if kind == "phantom":
        label, _, series = rest.rpartition(":s")
        sample = phantom_sample(rng, label, int(series))
    else:
        sample = pydicom_sample(rng, rest)
    a = sample["pixels"]
    if sample.get("window"):
        a = window8(a, *sample["window"])
    a = to_rgb(a.astype(np.uint8))
    h, w = a.shape[:2]
    if max(h, w) < 320:  # dialogs are drawn on screens, not on 128-pixel images
        scale = 384 / max(h, w)
        a = np.asarray(Image.fromarray(a).resize((max(1, int(w * scale)), max(1, int(h * scale))), Image.BILINEAR))
    return a


def dialog(image, rng, theme):
    """A message box: title bar, icon, one to three lines, buttons."""
    draw = ImageDraw.Draw(image)
    w, h = image.size
    bw = int(w * rng.uniform(0.3, 0.75))
    bh = int(bw * rng.uniform(0.35, 0.65))
    bh = min(bh, int(h * 0.8))
    x = int(rng.integers(0, max(1, w - bw)))
    y = int(rng.integers(0, max(1, h - bh)))
    if rng.random() < 0.5:  # most dialogs are centred
        x, y = (w - bw) // 2, (h - bh) // 2
    if theme == "dark":
        body, fg, title_fill = grey(rng, 30, 60), grey(rng, 200, 240), grey(rng, 45, 80)
    elif theme == "error":
        body, fg, title_fill = grey(rng, 230, 255), grey(rng, 0, 40), (int(rng.integers(170, 230)), int(rng.integers(0, 60)), int(rng.integers(0, 60)))
    else:
        body, fg, title_fill = grey(rng, 225, 255), grey(rng, 0, 50), colour(rng, 0, 220)
    radius = int(rng.integers(0, 12)) if theme == "dark" else int(rng.integers(0, 4))
    if rng.random() < 0.5:  # shadow
        draw.rectangle((x + 4, y + 4, x + bw + 4, y + bh + 4), fill=(0, 0, 0))
    draw.rounded_rectangle((x, y, x + bw, y + bh), radius=radius, fill=body, outline=grey(rng, 60, 160))
    f = font(rng, bh * rng.uniform(0.08, 0.13))
    title = int(f.size * 1.8)
    if rng.random() < 0.85:
        draw.rectangle((x + 1, y + 1, x + bw - 1, y + title), fill=title_fill)
        draw.text((x + 8, y + (title - f.size) // 2), sentence(rng, 1, 3), fill=(255, 255, 255) if theme != "light" or sum(title_fill) < 400 else (0, 0, 0), font=f)
    icon = int(bh * 0.25)
    ix, iy = x + 10, y + title + 10
    if rng.random() < 0.8:
        icon_colour = (200, 30, 30) if theme == "error" else colour(rng, 0, 230)
        draw.ellipse((ix, iy, ix + icon, iy + icon), fill=icon_colour)
        draw.text((ix + icon // 3, iy + icon // 8), "!" if rng.random() < 0.5 else "x", fill=(255, 255, 255), font=font(rng, icon * 0.7))
    tx = ix + icon + 10
    for i in range(int(rng.integers(1, 4))):
        draw.text((tx, iy + i * f.size * 1.3), sentence(rng, 2, 7), fill=fg, font=f)
    bwid, bht = int(bw * 0.2), int(f.size * 1.7)
    for i in range(int(rng.integers(1, 3))):
        bx = x + bw - (i + 1) * (bwid + 10)
        button(draw, rng, bx, y + bh - bht - 10, bwid, bht, grey(rng, 180, 240) if theme != "dark" else grey(rng, 60, 100),
               fg, ["OK", "Cancel", "Retry", "Close"][int(rng.integers(4))], f)


def overlay_sample(kind):
    def make(rng, source):
        image = Image.fromarray(valid_base(rng, source))
        if kind == "message-box":
            dialog(image, rng, "light")
        elif kind == "error-dialog":
            dialog(image, rng, "error")
        elif kind == "dark-dialog":
            dialog(image, rng, "dark")
        elif kind == "banner":
            draw = ImageDraw.Draw(image)
            w, h = image.size
            bh = int(h * rng.uniform(0.08, 0.18))
            y = 0 if rng.random() < 0.5 else h - bh
            fill = colour(rng, 0, 255)
            draw.rectangle((0, y, w, y + bh), fill=fill)
            f = font(rng, bh * 0.4)
            ink = (0, 0, 0) if sum(fill) > 380 else (255, 255, 255)
            draw.text((10, y + (bh - f.size) // 2), sentence(rng, 3, 8), fill=ink, font=f)
            draw.text((w - bh, y + (bh - f.size) // 2), "x", fill=ink, font=f)
        return {"pixels": np.asarray(image), "modality": "OT", "window": None}
    return make


def viewer_chrome_sample(rng, source):
    """The image inside a viewer's window: toolbar, thumbnails, an information panel."""
    base = Image.fromarray(valid_base(rng, source))
    w, h = screen_size(rng)
    dark = rng.random() < 0.7
    canvas = Image.new("RGB", (w, h), grey(rng, 20, 50) if dark else grey(rng, 210, 240))
    draw = ImageDraw.Draw(canvas)
    fg = (220, 220, 220) if dark else (20, 20, 20)
    bar = int(h * rng.uniform(0.07, 0.12))
    draw.rectangle((0, 0, w, bar), fill=grey(rng, 40, 80) if dark else grey(rng, 180, 220))
    for i in range(int(rng.integers(5, 14))):
        s = bar - 8
        draw.rounded_rectangle((6 + i * (s + 6), 4, 6 + i * (s + 6) + s, 4 + s), radius=3, outline=fg, fill=colour(rng, 40, 200))
    left = int(w * rng.uniform(0.12, 0.22)) if rng.random() < 0.8 else 0
    right = int(w * rng.uniform(0.15, 0.25)) if rng.random() < 0.6 else 0
    f = font(rng, h * 0.028)
    if left:
        thumb = Image.fromarray(np.asarray(base)).resize((left - 12, left - 12))
        for y in range(bar + 6, h - left, left):
            canvas.paste(thumb, (6, y))
            draw.rectangle((5, y - 1, left - 5, y + left - 11), outline=colour(rng, 100, 255))
    if right:
        text_lines(draw, rng, (w - right + 6, bar + 6, w - 4, h - 6), f, fg)
    area = (left + 4, bar + 4, w - right - 4, h - 4)
    aw, ah = area[2] - area[0], area[3] - area[1]
    scale = min(aw / base.width, ah / base.height)
    shown = base.resize((max(1, int(base.width * scale)), max(1, int(base.height * scale))))
    canvas.paste(shown, (area[0] + (aw - shown.width) // 2, area[1] + (ah - shown.height) // 2))
    return {"pixels": np.asarray(canvas), "modality": "OT", "window": None}


# ---- invalid: blank ---------------------------------------------------------------------------

def blank_size(rng):
    n = int(rng.choice([128, 256, 384, 512]))
    return n, int(n * rng.choice([0.75, 1.0, 1.0, 1.25]))


def constant_sample(rng, source):
    h, w = blank_size(rng)
    level = float(rng.choice([0, 0, 255, rng.uniform(0, 255)]))
    a = np.full((h, w), level, np.float32) + rng.normal(0, rng.uniform(0, 1.5), (h, w))
    return {"pixels": np.clip(a, 0, 255).astype(np.uint8), "modality": str(rng.choice(["CT", "MR", "OT", "CR"])),
            "window": (128, 256) if rng.random() < 0.5 else None}


def saturated_sample(rng, source):
    """A valid acquisition shown through an absurd window: nearly all white or all black."""
    label = PHANTOM_LABELS[int(rng.integers(len(PHANTOM_LABELS)))]
    if f"phantom:{label}" in HELD_OUT["sources"]:
        label = "CT HEAD"
    sample = phantom_sample(rng, label, int(rng.integers(1000, 2000)))
    a = sample["pixels"].astype(np.float32)
    lo, hi = float(np.percentile(a, 1)), float(np.percentile(a, 99))
    if rng.random() < 0.5:
        window = (lo - (hi - lo) * rng.uniform(1, 3), 1 + (hi - lo) * 0.01)    # all white
    else:
        window = (hi + (hi - lo) * rng.uniform(1, 3), 1 + (hi - lo) * 0.01)    # all black
    if sample.get("window") is None:
        sample["pixels"] = window8(a, *window)
        return sample
    sample["window"] = window
    return sample


def noise_sample(rng, source):
    h, w = blank_size(rng)
    kind = rng.integers(3)
    if kind == 0:
        a = rng.normal(rng.uniform(60, 190), rng.uniform(10, 60), (h, w))
    elif kind == 1:
        a = rng.uniform(0, 255, (h, w))
    else:
        a = ndimage.gaussian_filter(rng.normal(0, 1, (h, w)), rng.uniform(0.7, 3))
        a = (a - a.mean()) / (a.std() + 1e-6) * rng.uniform(20, 60) + 128
    return {"pixels": np.clip(a, 0, 255).astype(np.uint8), "modality": str(rng.choice(["CT", "MR", "OT", "US"])), "window": None}


def gradient_sample(rng, source):
    h, w = blank_size(rng)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    ramp = (x * math.cos(angle) + y * math.sin(angle))
    ramp = (ramp - ramp.min()) / (np.ptp(ramp) + 1e-6)
    if rng.random() < 0.5:  # a vignette
        ramp = 1 - np.hypot((x - w / 2) / w, (y - h / 2) / h) * 1.4
    a = rng.uniform(0, 80) + ramp * rng.uniform(20, 200) + rng.normal(0, 1, (h, w))
    return {"pixels": np.clip(a, 0, 255).astype(np.uint8), "modality": str(rng.choice(["CT", "MR", "OT", "CR"])), "window": None}


def salt_pepper_sample(rng, source):
    h, w = blank_size(rng)
    a = np.full((h, w), rng.uniform(0, 255), np.float32)
    mask = rng.random((h, w))
    density = rng.uniform(0.02, 0.3)
    a[mask < density / 2] = 0
    a[mask > 1 - density / 2] = 255
    return {"pixels": a.astype(np.uint8), "modality": str(rng.choice(["CT", "MR", "OT"])), "window": None}


# ---- the generators ---------------------------------------------------------------------------

def phantom_sources(series):
    return [f"phantom:{label}:s{s}" for label in PHANTOM_LABELS for s in range(series)]


def valid_sources(series):
    return phantom_sources(series) + [f"pydicom:{name}" for name in PYDICOM_FILES]


def procedural_sources(name, count):
    return [f"{name}:{i}" for i in range(count)]


def make_valid(rng, source):
    kind, _, rest = source.partition(":")
    if kind == "phantom":
        label, _, series = rest.rpartition(":s")
        return phantom_sample(rng, label, int(series))
    return pydicom_sample(rng, rest)


# name: (class, samples per source in a full set, sources, draw(rng, source))
def generators(scale=1.0):
    n = lambda count: max(2, int(count * scale))  # noqa: E731
    valid = valid_sources(n(40))
    return {
        "phantom": ("valid", 3, phantom_sources(n(40)), make_valid),
        "pydicom": ("valid", max(2, int(40 * scale)), [f"pydicom:{name}" for name in PYDICOM_FILES], make_valid),
        "medical-picture": ("valid", max(2, int(30 * scale)), [f"skimage-medical:{name}" for name in SKIMAGE_MEDICAL],
                            medical_picture_sample),
        "photo": ("non-medical", max(2, int(40 * scale)),
                  [f"skimage:{name}" for name in SKIMAGE_PICTURES] + [f"opencv:{name}" for name in OPENCV_PHOTOS], photo_sample),
        "document": ("non-medical", 1, procedural_sources("document", n(160)), document_sample),
        "ui": ("non-medical", 1, procedural_sources("ui", n(200)), ui_sample),
        "terminal": ("non-medical", 1, procedural_sources("terminal", n(80)), terminal_sample),
        "scene": ("non-medical", 1, procedural_sources("scene", n(120)), scene_sample),
        "chart": ("non-medical", 1, procedural_sources("chart", n(80)), chart_sample),
        "spreadsheet": ("non-medical", 1, procedural_sources("spreadsheet", n(60)), spreadsheet_sample),
        "message-box": ("overlay", 1, valid, overlay_sample("message-box")),
        "error-dialog": ("overlay", 1, valid, overlay_sample("error-dialog")),
        "banner": ("overlay", 1, valid, overlay_sample("banner")),
        "viewer-chrome": ("overlay", 1, valid, viewer_chrome_sample),
        "dark-dialog": ("overlay", 1, valid, overlay_sample("dark-dialog")),
        "constant": ("blank", 1, procedural_sources("constant", n(80)), constant_sample),
        "saturated": ("blank", 1, procedural_sources("saturated", n(80)), saturated_sample),
        "noise": ("blank", 1, procedural_sources("noise", n(100)), noise_sample),
        "gradient": ("blank", 1, procedural_sources("gradient", n(80)), gradient_sample),
        "salt-pepper": ("blank", 1, procedural_sources("salt-pepper", n(60)), salt_pepper_sample),
    }


def split_of(source, generator, validation=0.15, test=0.15):
    """train, validation, test or unseen (held out), stable across runs: by a hash of the source (an
    overlay's source is the valid image under it, so both land in the same split)."""
    if generator in HELD_OUT["generators"] or any(source == s or source.startswith(s + ":") for s in HELD_OUT["sources"]):
        return "unseen"
    if source.startswith(("pydicom:", "skimage:", "skimage-medical:", "opencv:")):  # too few files to split three ways: held out or trained on
        return "train"
    bucket = zlib.crc32(source.encode()) % 1000 / 1000
    return "test" if bucket < test else "validation" if bucket < test + validation else "train"


# ---- files ------------------------------------------------------------------------------------

SOP_CLASSES = {"CT": "1.2.840.10008.5.1.4.1.1.2", "MR": "1.2.840.10008.5.1.4.1.1.4", "CR": "1.2.840.10008.5.1.4.1.1.1",
               "US": "1.2.840.10008.5.1.4.1.1.6.1", "NM": "1.2.840.10008.5.1.4.1.1.20"}
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


def write(sample, path, uid_seed):
    """A Part-10 file of the sample's pixels (mono 8/16-bit with its window, or RGB)."""
    from pydicom.uid import PYDICOM_ROOT_UID, generate_uid
    a = np.ascontiguousarray(sample["pixels"])
    modality = sample.get("modality") or "OT"
    sop_class = SOP_CLASSES.get(modality, SECONDARY_CAPTURE) if a.ndim == 2 else SECONDARY_CAPTURE
    if modality in ("US",) and a.ndim == 3:
        sop_class = SOP_CLASSES["US"]
    sop = generate_uid(prefix=PYDICOM_ROOT_UID, entropy_srcs=["loupe-classifier", str(GENERATOR_VERSION), uid_seed])
    ds = phantoms.part10(sop_class, sop)
    ds.Modality = modality
    ds.PatientID, ds.PatientName = "CLASSIFIER", "TRAINING^SAMPLE"
    ds.StudyInstanceUID = generate_uid(prefix=PYDICOM_ROOT_UID, entropy_srcs=[sop, "study"])
    ds.SeriesInstanceUID = generate_uid(prefix=PYDICOM_ROOT_UID, entropy_srcs=[sop, "series"])
    if sop_class == SECONDARY_CAPTURE:
        ds.ConversionType = "WSD"
    ds.Rows, ds.Columns = a.shape[:2]
    if a.ndim == 3:
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
        a = a.astype(np.uint8)
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    else:
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        if a.dtype == np.uint8:
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        elif a.dtype == np.int16:
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        else:
            a = a.astype(np.uint16)
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        if sample.get("window"):
            ds.WindowCenter, ds.WindowWidth = round(float(sample["window"][0]), 2), round(max(1.0, float(sample["window"][1])), 2)
        if sample.get("rescale"):
            ds.RescaleIntercept, ds.RescaleSlope = sample["rescale"]
    ds.PixelData = a.astype(a.dtype.newbyteorder("<")).tobytes()
    ds.save_as(path, enforce_file_format=True)


def draw(name, source, index, seed):
    """Sample `index` of `source` from generator `name`, reproducibly: (class, sample)."""
    cls, _, _, make = GENERATORS_BY_NAME[name]
    rng = np.random.default_rng([seed, GENERATOR_VERSION, zlib.crc32(name.encode()), zlib.crc32(source.encode()), index])
    return cls, make(rng, source)


GENERATORS_BY_NAME = generators()
