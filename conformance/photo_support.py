"""Generated clinical photos (a face-like skin region on a background, with a chosen redness and
brightness) and the helpers that post them to /api/photos."""

import io
import json

import numpy as np
from loupe_support import http_session as session
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


def post_photo(base: str, image: bytes, metadata, content_type: str = "image/jpeg", timeout: float = 60):
    """POST /api/photos: multipart/form-data with parts `image` and `metadata` (a dict, or raw text)."""
    files = {}
    if image is not None:
        files["image"] = ("photo", image, content_type)
    if metadata is not None:
        text = metadata if isinstance(metadata, (str, bytes)) else json.dumps(metadata)
        files["metadata"] = ("metadata.json", text, "application/json")
    return session().post(f"{base}/api/photos", files=files, timeout=timeout)


def lesion_photo(radius, colour=lambda theta: (102, 51, 0), softness=lambda theta: 1.0, size=320, seed=0) -> np.ndarray:
    """An RGB photo of skin with a lesion around the centre whose radius at angle θ is radius(θ),
    colour colour(θ) and edge width softness(θ) pixels (vectorised over θ arrays)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) - size / 2
    theta = np.arctan2(y, x)
    distance = np.hypot(x, y)
    alpha = np.clip((radius(theta) - distance) / softness(theta) + 0.5, 0, 1)[..., None]
    skin = np.array([205.0, 150.0, 125.0]) + rng.normal(0, 3, (size, size, 1))
    lesion = np.stack(np.broadcast_arrays(*[np.asarray(c, np.float64) for c in colour(theta)]), axis=-1)
    return np.clip(skin + alpha * (lesion - skin), 0, 255).astype(np.uint8)


def irregular_lesion(seed: int = 0) -> np.ndarray:
    """Asymmetric, four colours (black, blue-grey, dark brown, red), a border that fades on one side."""
    def colour(t):
        return (np.select([t < -1.5, t < 0, t < 1.6], [0, 51, 102], 204),
                np.select([t < -1.5, t < 0, t < 1.6], [0, 102, 51], 51),
                np.select([t < -1.5, t < 0, t < 1.6], [0, 153, 0], 51))
    return lesion_photo(lambda t: 55 * (1 + 0.35 * np.maximum(0, np.cos(t - 0.4)) + 0.12 * np.sin(3 * t)), colour,
                        lambda t: np.where(t > 0, 14.0, 1.0), seed=seed)
