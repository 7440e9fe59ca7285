"""Generated clinical photos (a face-like skin region on a background, with a chosen redness and
brightness) and the helpers that post them to /api/photos."""

import io
import json

import numpy as np
import requests
from PIL import Image


def skin_photo(redness: float = 0.0, brightness: float = 1.0, seed: int = 0, size=(360, 480)) -> np.ndarray:
    """An RGB photo: a skin-coloured oval (a face) with texture on a blue-grey wall. `redness` (0–1)
    raises the red and lowers the green of the skin, most on the cheeks, as a flush does;
    `brightness` scales the whole photo, as a change of light does."""
    rng = np.random.default_rng(seed)
    h, w = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    photo = np.empty((h, w, 3))
    photo[...] = (120, 135, 150)  # wall
    photo += rng.normal(0, 3, photo.shape)
    face = ((x - w / 2) / (w * 0.28)) ** 2 + ((y - h / 2) / (h * 0.4)) ** 2 <= 1
    cheeks = sum(np.exp(-(((x - cx) ** 2 + (y - h * 0.55) ** 2) / (2 * (w * 0.09) ** 2))) for cx in (w * 0.38, w * 0.62))
    skin = np.array([205.0, 150.0, 125.0])
    texture = rng.normal(0, 4, (h, w, 1))
    flush = redness * (0.5 + 0.5 * np.clip(cheeks, 0, 1))
    tone = skin[None, None, :] + texture
    tone[..., 0] += 35 * flush
    tone[..., 1] -= 45 * flush
    tone[..., 2] -= 20 * flush
    photo[face] = tone[face]
    # Eyes and mouth: not skin.
    for cx, cy, rx, ry, colour in ((w * 0.4, h * 0.42, w * 0.04, h * 0.02, (60, 50, 45)),
                                   (w * 0.6, h * 0.42, w * 0.04, h * 0.02, (60, 50, 45)),
                                   (w * 0.5, h * 0.68, w * 0.08, h * 0.02, (150, 70, 70))):
        photo[((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1] = colour
    return np.clip(photo * brightness, 0, 255).astype(np.uint8)


def encode(pixels: np.ndarray, fmt: str = "JPEG", **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def post_photo(base: str, image: bytes, metadata, content_type: str = "image/jpeg", timeout: float = 60) -> requests.Response:
    """POST /api/photos: multipart/form-data with parts `image` and `metadata` (a dict, or raw text)."""
    files = {}
    if image is not None:
        files["image"] = ("photo", image, content_type)
    if metadata is not None:
        text = metadata if isinstance(metadata, (str, bytes)) else json.dumps(metadata)
        files["metadata"] = ("metadata.json", text, "application/json")
    return requests.post(f"{base}/api/photos", files=files, timeout=timeout)
