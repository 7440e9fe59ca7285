"""Labelled DICOM phantoms, generated deterministically: the retrieval benchmark's corpus
(bench/similarity/retrieval.py) and the valid images of the anomaly classifier (scripts/classifier).

    python3 scripts/data/phantoms.py OUT.png [--series 3 --slices 4 --size 256]   # a contact sheet

Seven labels (Modality + BodyPartExamined, the benchmark's LABELS), each drawn from simple anatomy — 3-D ellipsoids cut at the
slice position, with textures, noise and the modality's own look:

    CT HEAD      skull (outer table, diploe, inner table), grey/white matter, ventricles; skull base, orbits,
                 sinuses and petrous bones in the lower slices; brain window
    CT CHEST     body wall, ribs, two lungs with vessels, heart and aorta (with or without contrast), spine,
                 sternum, liver dome in the lowest slices; mediastinal or lung window
    CT ABDOMEN   liver, spleen, stomach (with air), kidneys, aorta/IVC, spine, psoas, bowel loops (gas, fluid,
                 oral contrast); soft-tissue window
    MR BRAIN     the head's geometry with MR contrast (T1 or T2 weighting): bright scalp fat, dark skull,
                 folded cortex, CSF; bias field, Rician noise
    MR KNEE      sagittal knee: femur and tibia (fatty marrow, dark cortex), cartilage, menisci, patella and
                 tendons, cruciate ligaments in the central slices, Hoffa's fat pad, muscles
    US ABDOMEN   sector scan: liver texture, vessels, gallbladder (posterior enhancement) or kidney, bright
                 diaphragm, Rayleigh speckle, log compression, depth marks
    CR CHEST     PA projection: line integrals through torso, lungs, mediastinum, heart, spine, ribs,
                 clavicles, shoulders; collimation, lead marker

Four more (ANATOMIES), for the anomaly classifier's valid images only:

    CT PELVIS    iliac wings and sacrum above, femoral heads, acetabula and symphysis below; bladder,
                 rectum, bowel loops, femoral vessels, gluteal muscles
    MR LSPINE    sagittal lumbar spine: vertebral bodies (marrow, endplates), discs, the canal with cord
                 and roots (foramina and facets off the midline), spinous processes, paraspinal muscles
    CR HAND      PA hand: soft tissue, radius and ulna, carpals, metacarpals and phalanges (tubes of
                 cortex around marrow), fingers spread
    CR KNEE      AP knee: femur and condyles, patella through the femur, tibial plateau and shaft, fibula

Every series has its own patient and study, and its own pose (scale, rotation, shift), contrast, window, noise
level and sometimes storage (signed or unsigned pixels); slices step through the anatomy (for CR and US:
repeated images with small changes). Pixels are 16-bit (CT, MR, CR) or 8-bit (US) MONOCHROME2, Explicit VR
Little Endian, with Window Center/Width (and Rescale for CT).
"""

import math
import os

import numpy as np
from scipy import ndimage

GENERATOR_VERSION = 3
LABELS = ["CT HEAD", "CT CHEST", "CT ABDOMEN", "MR BRAIN", "MR KNEE", "US ABDOMEN", "CR CHEST"]
# Every anatomy drawn: the retrieval benchmark's LABELS and more for the anomaly classifier's valid images.
ANATOMIES = LABELS + ["CT PELVIS", "MR LSPINE", "CR HAND", "CR KNEE"]

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
US_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.6.1"
CR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1"


# ---- geometry ---------------------------------------------------------------------------------

class Frame:
    """Object coordinates of every pixel: canonical units ([-1, 1] across the field of view at pose scale 1),
    x to the image right, y down; the pose (scale, rotation, shift) maps the object into the image."""

    def __init__(self, n, scale=1.0, angle_deg=0.0, shift=(0.0, 0.0)):
        c = (np.arange(n) + 0.5) / n * 2 - 1
        u, v = np.meshgrid(c, c)
        u = u - shift[0]
        v = v - shift[1]
        a = math.radians(angle_deg)
        self.x = (math.cos(a) * u + math.sin(a) * v) / scale
        self.y = (-math.sin(a) * u + math.cos(a) * v) / scale
        self.n = n
        self.pixel = 2.0 / n / scale  # object units per pixel

    def rho(self, x0, y0, a, b, phi_deg=0.0):
        """Normalised elliptic radius: < 1 inside the ellipse."""
        p = math.radians(phi_deg)
        dx, dy = self.x - x0, self.y - y0
        xr = math.cos(p) * dx + math.sin(p) * dy
        yr = -math.sin(p) * dx + math.cos(p) * dy
        return np.sqrt((xr / a) ** 2 + (yr / b) ** 2)

    def ellipse(self, x0, y0, a, b, phi_deg=0.0):
        return self.rho(x0, y0, a, b, phi_deg) < 1

    def ellipsoid(self, z, x0, y0, z0, a, b, c, phi_deg=0.0):
        """The cross-section at height z of an ellipsoid (half-axes a, b, c); None when the slice misses it."""
        f = 1 - ((z - z0) / c) ** 2
        if f <= 0:
            return None
        s = math.sqrt(f)
        return self.ellipse(x0, y0, a * s, b * s, phi_deg)

    def band(self, curve_y, half_width, x_range):
        """Pixels within half_width (object units, vertically) of y = curve_y(x), for x in x_range."""
        inside = (self.x >= x_range[0]) & (self.x <= x_range[1])
        d = np.abs(self.y - curve_y(self.x))
        return np.where(inside, np.clip(1 - d / half_width, 0, 1), 0.0)

    def chord(self, x0, y0, a, b, t, phi_deg=0.0):
        """Projection (along the viewing axis) of an ellipsoid of half-depth t: the chord length."""
        r = self.rho(x0, y0, a, b, phi_deg)
        return 2 * t * np.sqrt(np.clip(1 - r ** 2, 0, None))

    def box(self, x0, y0, a, b, phi_deg=0.0, power=4):
        """A rounded rectangle (superellipse) of half-sides a, b."""
        p = math.radians(phi_deg)
        dx, dy = self.x - x0, self.y - y0
        xr = math.cos(p) * dx + math.sin(p) * dy
        yr = -math.sin(p) * dx + math.cos(p) * dy
        return np.abs(xr / a) ** power + np.abs(yr / b) ** power < 1

    def bone(self, x0, y0, a, b, phi_deg=0.0, cortex=.3):
        """Projection of a long bone: dense cortex around a marrow cavity `cortex` of its width thinner."""
        outer = self.chord(x0, y0, a, b, a, phi_deg)
        inner = self.chord(x0, y0, a * (1 - cortex), b * (1 - cortex / 3), a * (1 - cortex), phi_deg)
        return 6 * outer - 4 * inner

    def segment(self, start, angle_deg, length, half_width, gap=0.0):
        """The ellipse (x0, y0, a, b, phi) of a bone `length` long from `start` along angle (0 = up, clockwise
        positive), and the end point after it and a joint gap."""
        t = math.radians(angle_deg)
        dx, dy = math.sin(t), -math.cos(t)
        centre = (start[0] + dx * length / 2, start[1] + dy * length / 2)
        end = (start[0] + dx * (length + gap), start[1] + dy * (length + gap))
        return (centre[0], centre[1], half_width, length / 2, angle_deg), end


def paint(image, mask, value):
    if mask is not None:
        image[mask] = value


def smooth_field(rng, n, sigma, amplitude=1.0):
    """Zero-mean, unit-ish low-frequency random field."""
    f = ndimage.gaussian_filter(rng.standard_normal((n, n)), sigma)
    f /= f.std() + 1e-9
    return f * amplitude


def blur(image, sigma):
    return ndimage.gaussian_filter(image, sigma) if sigma > 0 else image


def u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


# ---- CT ---------------------------------------------------------------------------------------

def ct_head(fr, z, p, rng):
    img = np.full((fr.n, fr.n), -1000.0)
    paint(img, fr.ellipsoid(z, 0, 0, 0, .74, .90, 1.0), 25)                  # scalp
    paint(img, fr.ellipsoid(z, 0, 0, 0, .70, .86, .96), 1150)                # outer table
    paint(img, fr.ellipsoid(z, 0, 0, 0, .685, .845, .945), 550)              # diploe
    paint(img, fr.ellipsoid(z, 0, 0, 0, .67, .83, .93), 1100)                # inner table
    brain = fr.ellipsoid(z, 0, .01, .02, .655, .815, .90)
    paint(img, brain, 38 + p["grey"])
    wm = fr.ellipsoid(z, 0, .02, .12, .50, .64, .62)
    if wm is not None:
        wobble = 1 + .05 * np.sin(9 * np.arctan2(fr.y, fr.x) + p["phase"] + 3 * z)
        img[(fr.rho(0, .02, .50, .64) < wobble) & wm & brain] = 28 + p["grey"]
    for side in (-1, 1):                                                     # lateral ventricles
        paint(img, fr.ellipsoid(z, side * p["vent_x"], -.04, .18, .06 * p["vent"], .27, .22, side * 12), 6)
        paint(img, fr.ellipsoid(z, side * .12, .32, .12, .05 * p["vent"], .08, .12, -side * 30), 6)   # occipital horns
    paint(img, fr.ellipsoid(z, 0, .05, -.05, .015, .10, .15), 6)             # third ventricle
    if p["calcified"]:
        for side in (-1, 1):
            paint(img, fr.ellipsoid(z, side * .1, .28, .13, .025, .025, .04), 180)
    # skull base
    for side in (-1, 1):
        paint(img, fr.ellipsoid(z, side * .30, -.66, -.55, .16, .13, .16), -80)       # orbit fat
        paint(img, fr.ellipsoid(z, side * .30, -.68, -.55, .10, .10, .11), 15)        # globe
        paint(img, fr.ellipsoid(z, side * .36, .12, -.62, .20, .06, .12, side * 40), 1300)   # petrous ridge
        paint(img, fr.ellipsoid(z, side * .55, .35, -.62, .08, .08, .10), -700)       # mastoid air
    paint(img, fr.ellipsoid(z, 0, -.25, -.62, .13, .10, .12), -1000)         # sphenoid sinus
    paint(img, fr.ellipsoid(z, 0, -.62, -.72, .22, .12, .12), -1000)         # frontal/ethmoid sinus
    texture = smooth_field(rng, fr.n, 1.2, 3.0)
    img = np.where(img > -500, img + texture, img)
    return img


def ct_chest(fr, z, p, rng):
    img = np.full((fr.n, fr.n), -1000.0)
    paint(img, fr.ellipse(0, 0, .88, .62), -100)                             # subcutaneous fat
    paint(img, fr.ellipse(0, 0, .82, .56), 40)                               # chest wall muscle
    for k in range(15):                                                      # ribs around the chest wall
        ang = 12 + 24 * k + 9 * z
        if min(abs((ang - 90) % 360), abs((ang - 270) % 360), 360 - abs((ang - 90) % 360),
               360 - abs((ang - 270) % 360)) < 18:
            continue                                                         # not over the spine or sternum
        a = math.radians(ang)
        paint(img, fr.ellipse(.76 * math.cos(a), .52 * math.sin(a), .035, .022, ang + 90), 750)
    lung_value = -860 + p["lung_shift"]
    for side in (-1, 1):
        lung = fr.ellipsoid(z, side * .40, .02, .15, .32 * p["lung"], .45, .95, side * -8)
        if lung is not None:
            lung &= fr.ellipse(0, 0, .78, .52)
            img[lung] = lung_value
            # vessels: small dots, denser towards the hilum
            for _ in range(int(28 * p["vessels"])):
                r = abs(rng.normal(0, .18))
                a = rng.uniform(0, 2 * math.pi)
                cx, cy = side * (.22 + r * abs(math.cos(a)) * 1.0), .05 + r * math.sin(a) * 1.6
                radius = max(.006, .03 - .05 * r) * rng.uniform(.6, 1.2)
                m = fr.ellipse(cx, cy, radius, radius) & lung
                img[m] = -50
    paint(img, fr.ellipse(0, .05, .12, .35), 30)                             # mediastinum
    heart = fr.ellipsoid(z, .12, -.12, -.30, .27 * p["heart"], .22 * p["heart"], .40, 30)
    paint(img, heart, 40 + p["contrast"] * .6)
    paint(img, fr.ellipsoid(z, .12, -.12, -.30, .14 * p["heart"], .10 * p["heart"], .30, 30), 40 + p["contrast"])
    paint(img, fr.ellipsoid(z, .03, -.17, .30, .07, .07, .30), 45 + p["contrast"])   # ascending aorta / arch
    paint(img, fr.ellipse(.13, .30, .065, .065), 45 + p["contrast"])         # descending aorta
    paint(img, fr.ellipsoid(z, -.10, -.10, .25, .05, .06, .35), 40 + p["contrast"] * .8)   # SVC
    paint(img, fr.ellipse(0, .40, .12, .11), 750)                            # vertebral body cortex
    paint(img, fr.ellipse(0, .40, .10, .09), 280)                            # cancellous bone
    paint(img, fr.ellipse(0, .55, .045, .04), 20)                            # spinal canal
    paint(img, fr.ellipse(0, .66, .025, .07), 650)                           # spinous process
    for side in (-1, 1):
        paint(img, fr.ellipse(side * .13, .52, .09, .025, side * -25), 650)  # transverse processes
    paint(img, fr.ellipse(0, -.53, .07, .025), 450)                          # sternum
    paint(img, fr.ellipsoid(z, -.30, .02, -1.05, .45, .40, .55), 58)         # liver dome
    paint(img, fr.ellipsoid(z, .40, .12, -1.15, .25, .25, .5), 50)           # spleen tip
    paint(img, fr.ellipsoid(z, .28, -.22, -1.15, .20, .14, .45), -1000)      # gastric fundus air
    if p["table"]:
        paint(img, fr.band(lambda x: .72 + .05 * x ** 2, .015, (-.9, .9)) > .3, 150)
    return img


def ct_abdomen(fr, z, p, rng):
    img = np.full((fr.n, fr.n), -1000.0)
    paint(img, fr.ellipse(0, 0, .92, .66), -100)
    paint(img, fr.ellipse(0, 0, .87, .61), 40)
    paint(img, fr.ellipse(0, 0, .84, .58), -90 + p["visceral"])             # visceral fat
    c = p["contrast"]
    paint(img, fr.ellipsoid(z, -.36, -.05, .35, .42, .42, .70, 20), 60 + c * .4)      # liver
    paint(img, fr.ellipsoid(z, -.30, .05, .45, .05, .04, .30), 30 + c * .8)           # portal vein
    paint(img, fr.ellipsoid(z, .52, .15, .40, .14, .24, .40, -30), 50 + c * .45)      # spleen
    paint(img, fr.ellipsoid(z, .30, -.22, .45, .22, .15, .35), 20)                    # stomach
    paint(img, fr.ellipsoid(z, .30, -.30, .45, .16, .05, .30), -1000)                 # gastric air
    for side in (-1, 1):
        paint(img, fr.ellipsoid(z, side * .33, .33, -.05, .11, .15, .32, side * 25), 40 + c * .9)   # kidney
        paint(img, fr.ellipsoid(z, side * .31, .31, -.05, .04, .06, .20, side * 25), -60)          # sinus fat
        psoas = fr.ellipsoid(z, side * .17, .38, -.9, .09, .10, .85)
        paint(img, psoas, 45)
    paint(img, fr.ellipse(.08, .26, .055, .055), 45 + c)                     # aorta
    paint(img, fr.ellipse(-.11, .23, .065, .045), 40 + c * .6)               # IVC
    if z < .25:                                                              # bowel loops
        for _ in range(int(14 * p["bowel"])):
            cx, cy = rng.uniform(-.45, .55), rng.uniform(-.45, .12)
            r = rng.uniform(.03, .075)
            kind = rng.random()
            value = -950 if kind < .35 else (p["oral"] if kind < .7 else 25)
            m = fr.ellipse(cx, cy, r, r * rng.uniform(.7, 1.3)) & fr.ellipse(0, 0, .82, .56)
            img[m & (img < 0)] = value
    for side in (-1, 1):                                                     # lung bases, posterior (top slices)
        base = fr.ellipsoid(z, side * .42, .22, 1.35, .30, .30, .65)
        if base is not None:
            img[base & fr.ellipse(0, 0, .82, .56)] = -860
    paint(img, fr.ellipse(0, .42, .13, .12), 750)                            # vertebra
    paint(img, fr.ellipse(0, .42, .11, .10), 260)
    paint(img, fr.ellipse(0, .58, .045, .04), 20)
    paint(img, fr.ellipse(0, .68, .025, .07), 650)
    for side in (-1, 1):
        paint(img, fr.ellipse(side * .15, .55, .10, .025, side * -20), 650)
    if p["table"]:
        paint(img, fr.band(lambda x: .76 + .05 * x ** 2, .015, (-.95, .95)) > .3, 150)
    texture = smooth_field(rng, fr.n, 1.5, 4.0)
    img = np.where(img > -500, img + texture, img)
    return img


def ct_pelvis(fr, z, p, rng):
    """z from the iliac crests (-1) to the femoral heads and the symphysis (1); y anterior (top) to posterior."""
    img = np.full((fr.n, fr.n), -1000.0)
    paint(img, fr.ellipse(0, .02, .95, .62), -100)                          # subcutaneous fat
    paint(img, fr.ellipse(0, .02, .89, .56), 45)                             # muscle
    paint(img, fr.ellipse(0, -.08, .62 - .15 * max(z, 0), .38), -90 + p["visceral"])   # pelvic fat
    c = p["contrast"]

    def bone(mask_outer, mask_inner):
        paint(img, mask_outer, 700)
        paint(img, mask_inner, 260)

    for s in (-1, 1):
        if z < .35:                                                          # iliac wings, narrowing downwards
            reach = .72 - .3 * max(z + .2, 0)
            profile = fr.band(lambda x, s=s: .30 - .55 * (s * x - .15) + .25 * (s * x - .15) ** 2, .045,
                              (.15, reach) if s > 0 else (-reach, -.15))
            bone(profile > .05, profile > .55)
            paint(img, fr.ellipse(s * (reach - .05), .05, .18, .28, s * 25) & (img < 100) & (img > -200), 50)   # gluteus
        if z > 0:                                                            # acetabulum and femoral head
            r = .15 * math.sqrt(max(0.0, 1 - ((z - .55) / .55) ** 2))
            if r > .02:
                bone(fr.ellipse(s * .50, .06, r + .05, r + .05), None)
                paint(img, fr.ellipse(s * .50, .06, r + .012, r + .012), 20)      # joint space
                bone(fr.ellipse(s * .50, .06, r, r), fr.ellipse(s * .50, .06, r - .02, r - .02))
            if z > .5:
                bone(fr.ellipse(s * .70, .08, .10, .09), fr.ellipse(s * .70, .08, .08, .07))   # greater trochanter
            paint(img, fr.ellipse(s * .32, -.30, .035, .035), 45 + c)        # femoral artery
            paint(img, fr.ellipse(s * .40, -.28, .045, .04), 40 + c * .6)    # femoral vein
    if z < .3:                                                               # sacrum with its foramina
        bone(fr.ellipse(0, .40, .20 + .1 * min(z + 1, 1), .11), fr.ellipse(0, .40, .17, .08))
        for s in (-1, 1):
            paint(img, fr.ellipse(s * .08, .38, .02, .02), -80)
    if z > -.3:                                                              # bladder, contrast in some series
        size = .8 + .4 * p["bowel"] - .3 * abs(z - .4)
        paint(img, fr.ellipse(0, -.12, .24 * size + .02, .17 * size + .02), 45)
        paint(img, fr.ellipse(0, -.12, .24 * size, .17 * size), 10 if p["oral"] < 100 else p["oral"])
    rectum = fr.ellipse(0, .28 - .1 * min(z, 0), .07, .06)                   # rectum or sigmoid: gas or stool
    paint(img, rectum, 35)
    paint(img, rectum & (smooth_field(rng, fr.n, 1.2) > .4), -800)
    if z > .75:
        for s in (-1, 1):
            bone(fr.ellipse(s * .07, -.38, .06, .06), fr.ellipse(s * .07, -.38, .04, .04))   # symphysis
    if z < .1:                                                               # bowel loops above the bladder
        for _ in range(int(10 * p["bowel"])):
            cx, cy = rng.uniform(-.45, .45), rng.uniform(-.42, .05)
            r = rng.uniform(.03, .07)
            kind = rng.random()
            value = -950 if kind < .35 else (p["oral"] if kind < .7 else 25)
            m = fr.ellipse(cx, cy, r, r * rng.uniform(.7, 1.3)) & fr.ellipse(0, -.08, .55, .34)
            img[m & (img < 0)] = value
    if p["table"]:
        paint(img, fr.band(lambda x: .72 + .05 * x ** 2, .015, (-.95, .95)) > .3, 150)
    texture = smooth_field(rng, fr.n, 1.5, 4.0)
    return np.where(img > -500, img + texture, img)


def ct_series_params(label, rng):
    p = {"grey": u(rng, -4, 4), "phase": u(rng, 0, 6.3), "vent": u(rng, .7, 1.5), "vent_x": u(rng, .08, .12),
         "calcified": rng.random() < .5, "lung": u(rng, .9, 1.08), "lung_shift": u(rng, -40, 40),
         "vessels": u(rng, .6, 1.4), "heart": u(rng, .85, 1.25), "contrast": float(rng.choice([0, u(rng, 120, 260)])),
         "table": rng.random() < .6, "visceral": u(rng, -20, 20), "bowel": u(rng, .6, 1.4),
         "oral": float(rng.choice([20, u(rng, 150, 350)])),
         "noise": u(rng, 2, 6) if label == "CT HEAD" else u(rng, 5, 16)}
    if label == "CT HEAD":
        # brain window; a quarter of the series are bone-window reconstructions
        p["window"] = (u(rng, 450, 700), u(rng, 2000, 3000)) if rng.random() < .25 else (u(rng, 35, 45), u(rng, 75, 110))
        p["pose"] = (u(rng, .72, 1.08), u(rng, -20, 20), (u(rng, -.12, .12), u(rng, -.10, .10)))
        p["z"] = (u(rng, -.70, -.40), u(rng, .40, .70))
        p["fov_mm"] = u(rng, 220, 250)
    else:
        # soft-tissue window; lung window for a third of the chest series, liver or wide window for some abdomens
        choice = rng.random()
        if label == "CT CHEST" and choice < .33:
            p["window"] = (u(rng, -650, -550), u(rng, 1400, 1600))
        elif label == "CT ABDOMEN" and choice < .2:
            p["window"] = (u(rng, 70, 90), u(rng, 140, 180))
        elif label == "CT ABDOMEN" and choice < .35:
            p["window"] = (u(rng, 40, 60), u(rng, 550, 700))
        elif label == "CT PELVIS" and choice < .25:
            p["window"] = (u(rng, 300, 500), u(rng, 1500, 2200))
        else:
            p["window"] = (u(rng, 30, 60), u(rng, 350, 450))
        p["pose"] = (u(rng, .72, 1.08), u(rng, -10, 10), (u(rng, -.12, .12), u(rng, -.12, .08)))
        # coverage overlaps at the diaphragm: chest series reach the upper abdomen, abdomen series the lung bases
        lowest, highest = {"CT CHEST": ((-.8, -.4), (.35, .65)), "CT ABDOMEN": ((-.65, -.35), (.35, .8)),
                           "CT PELVIS": ((-.9, -.5), (.6, .95))}[label]
        p["z"] = (u(rng, *lowest), u(rng, *highest))
        p["fov_mm"] = u(rng, 340, 420)
    p["signed"] = rng.random() < .4
    return p


def ct_slice(label, p, z, n, rng):
    fr = Frame(n, *p["pose"])
    draw = {"CT HEAD": ct_head, "CT CHEST": ct_chest, "CT ABDOMEN": ct_abdomen, "CT PELVIS": ct_pelvis}[label]
    hu = blur(draw(fr, z, p, rng), .7)
    hu += ndimage.gaussian_filter(rng.standard_normal((n, n)), .6) * p["noise"] * 2.2   # ~p["noise"] HU per pixel
    if p["signed"]:   # stored = HU, intercept 0
        stored = np.clip(np.rint(hu), -1024, 3071).astype(np.int16)
        rescale = (0.0, 1.0)
    else:             # stored = HU + 1024, 12 bits
        stored = np.clip(np.rint(hu + 1024), 0, 4095).astype(np.uint16)
        rescale = (-1024.0, 1.0)
    return stored, {"window": p["window"], "rescale": rescale, "signed": p["signed"]}


# ---- MR ---------------------------------------------------------------------------------------

def mr_brain(fr, z, p, rng):
    t = p["tissue"]
    img = np.zeros((fr.n, fr.n))
    paint(img, fr.ellipsoid(z, 0, 0, 0, .74, .90, 1.0), t["fat"])            # scalp fat
    paint(img, fr.ellipsoid(z, 0, 0, 0, .71, .87, .97), t["muscle"])
    paint(img, fr.ellipsoid(z, 0, 0, 0, .70, .86, .96), t["bone"])           # outer table
    paint(img, fr.ellipsoid(z, 0, 0, 0, .685, .845, .945), t["marrow"])      # diploe
    paint(img, fr.ellipsoid(z, 0, 0, 0, .67, .83, .93), t["bone"])
    brain = fr.ellipsoid(z, 0, .01, .02, .655, .815, .90)
    if brain is not None:
        img[brain] = t["csf"]
        theta = np.arctan2(fr.y, fr.x)
        rb = fr.rho(0, .01, .655, .815)
        scale = math.sqrt(max(1e-6, 1 - ((z - .02) / .90) ** 2))
        rb = rb / scale
        gyri = sum(amp * np.sin(k * theta + ph + 3 * z * (k % 3)) for k, amp, ph in p["gyri"])
        img[brain & (rb < .965 + gyri * .5)] = t["grey"]
        wm = fr.ellipsoid(z, 0, .02, .12, .50, .64, .62)
        if wm is not None:
            rw = fr.rho(0, .02, .50, .64) / math.sqrt(max(1e-6, 1 - ((z - .12) / .62) ** 2))
            img[brain & (rw < 1 + 2.2 * gyri)] = t["white"]
    for side in (-1, 1):
        paint(img, fr.ellipsoid(z, side * p["vent_x"], -.04, .18, .06 * p["vent"], .27, .22, side * 12), t["csf"])
        paint(img, fr.ellipsoid(z, side * .12, .32, .12, .05 * p["vent"], .08, .12, -side * 30), t["csf"])
        paint(img, fr.ellipsoid(z, side * .30, -.66, -.55, .16, .13, .16), t["fat"])     # orbit fat
        paint(img, fr.ellipsoid(z, side * .30, -.68, -.55, .10, .10, .11), t["csf"])     # globe (vitreous)
        paint(img, fr.ellipsoid(z, side * .36, .12, -.62, .20, .06, .12, side * 40), t["bone"])
        paint(img, fr.ellipsoid(z, side * .55, .35, -.62, .08, .08, .10), 0)
        paint(img, fr.ellipsoid(z, side * .42, .05, -.55, .14, .22, .14), t["grey"] * .95)   # temporal lobe
    paint(img, fr.ellipsoid(z, 0, .05, -.05, .015, .10, .15), t["csf"])
    paint(img, fr.ellipsoid(z, 0, -.25, -.62, .13, .10, .12), 0)             # sphenoid sinus (air)
    paint(img, fr.ellipsoid(z, 0, .45, -.6, .35, .22, .18), t["grey"] * 1.02)   # cerebellum
    img = blur(img, .8)
    img *= 1 + .15 * smooth_field(rng, fr.n, fr.n / 6)   # varies slice to slice a little
    return img


def mr_knee(fr, z, p, rng):
    """Sagittal: x anterior (left) to posterior (right), y superior (top) to inferior; z mediolateral."""
    t = p["tissue"]
    img = np.zeros((fr.n, fr.n))
    x, y = fr.x, fr.y
    width = math.sqrt(max(0.0, 1 - .55 * z * z))                            # the leg narrows off-centre
    # leg outline: thigh above, calf below, a little narrower at the joint; skin/fat, then muscle
    half = width * (.62 + .06 * np.cos(np.clip(y, -1.2, 1.2) * 2.6)) * p["girth"]
    centre = .03 + .03 * y
    img[np.abs(x - centre) < half] = t["fat"]
    inner = np.abs(x - centre - .02) < half - .06
    img[inner] = t["muscle"] * (1 + .06 * np.sin(30 * y + 8 * x))[inner]   # striated muscle
    for k in range(4):                                                       # fat planes between muscles
        plane = np.abs(x - (centre + .22 + .08 * k + .05 * y)) < .012
        img[plane & inner & ((y < -.35) | (y > .4))] = t["fat"]
    paint(img, fr.ellipsoid(z, -.23, .08, 0, .15, .13, .55), t["fat"])      # Hoffa's fat pad
    paint(img, fr.ellipsoid(z, .30, .04, 0, .15, .16, .80), t["fat"])       # popliteal fat
    paint(img, fr.ellipsoid(z, .31, .06, .1, .028, .022, .25), t["vessel"])  # popliteal vessels
    # femur: cartilage around the condyle, cortex, then marrow
    cw = math.sqrt(max(0.0, 1 - (z / .95) ** 2))                             # condyles span most slices
    sw = math.sqrt(max(0.0, 1 - (z / .55) ** 2))                             # shafts only the central ones
    if cw > 0:
        paint(img, fr.ellipse(.04, -.05, .285 * cw ** .3, .225 * cw ** .3), t["cartilage"])
        paint(img, fr.ellipse(.04, -.05, .26 * cw ** .3, .20 * cw ** .3), t["bone"])
        paint(img, fr.ellipse(.04, -.05, .235 * cw ** .3, .175 * cw ** .3), t["marrow"])
        paint(img, fr.ellipse(.06, .27, .27 * cw ** .3, .12), t["cartilage"])    # tibial plateau
        paint(img, fr.ellipse(.06, .29, .26 * cw ** .3, .11), t["bone"])
        paint(img, fr.ellipse(.06, .30, .235 * cw ** .3, .09), t["marrow"])
    if sw > 0:
        shaft = (np.abs(x - .0) < .14 * sw) & (y < -.05)
        img[shaft] = t["bone"]
        img[(np.abs(x - .0) < .11 * sw) & (y < -.05)] = t["marrow"]
        tibia = (np.abs(x - .09) < .15 * sw) & (y > .3)
        img[tibia] = t["bone"]
        img[(np.abs(x - .09) < .12 * sw) & (y > .3)] = t["marrow"]
    if cw > 0:
        paint(img, fr.ellipse(.04, .16, .33 * cw ** .3, .012), t["fluid"])  # joint space
        for x0 in (-.19, .28):                                               # menisci (dark triangles)
            paint(img, fr.ellipse(x0, .16, .07, .032), t["ligament"])
    if abs(z) < .25:                                                         # cruciate ligaments in the notch
        paint(img, fr.ellipse(.03, .05, .022, .17, -35), t["ligament"])
        paint(img, fr.ellipse(.16, .07, .022, .16, 30), t["ligament"])
    # patella and tendons (central slices)
    pw = math.sqrt(max(0.0, 1 - (z / .6) ** 2))
    if pw > 0:
        paint(img, fr.ellipse(-.41, -.42, .035, .30, -6), t["ligament"])      # quadriceps tendon
        paint(img, fr.ellipse(-.37, .18, .03, .22, 14), t["ligament"])       # patellar tendon
        paint(img, fr.ellipse(-.33, -.10, .10 * pw ** .4, .16 * pw ** .4, 10), t["cartilage"])
        paint(img, fr.ellipse(-.36, -.10, .085 * pw ** .4, .15 * pw ** .4, 10), t["bone"])
        paint(img, fr.ellipse(-.365, -.10, .065 * pw ** .4, .13 * pw ** .4, 10), t["marrow"])
    img = blur(img, .8)
    img *= 1 + .12 * smooth_field(rng, fr.n, fr.n / 5)
    return img


def mr_spine(fr, z, p, rng):
    """Sagittal lumbar spine: x anterior (left) to posterior (right), y superior (top) to inferior; z mediolateral."""
    t = p["tissue"]
    img = np.zeros((fr.n, fr.n))
    x, y = fr.x, fr.y
    lateral = abs(z)
    body = (x > -.95) & (x < .78 - .05 * y)
    img[body] = t["fat"]
    belly = body & (x < .05 - .10 * np.cos(y * 1.2) - .22)                  # abdominal contents
    img[belly] = t["muscle"] * (1.15 + .25 * smooth_field(rng, fr.n, fr.n / 24))[belly]
    for _ in range(int(6 * p["girth"])):                                    # bowel: fluid and gas
        cx, cy, r = rng.uniform(-.85, -.4), rng.uniform(-.9, .9), rng.uniform(.04, .09)
        m = fr.ellipse(cx, cy, r, r * rng.uniform(.6, 1.4)) & belly
        img[m] = t["fluid"] if rng.random() < .5 else 0
    def xc(yy):                                                              # lordosis: the column's centre line
        return .05 - .10 * np.cos(yy * 1.2)
    muscle = body & (x > xc(y) + .28) & (x < .70 - .05 * y)                  # paraspinal muscles
    img[muscle] = t["muscle"] * (1 + .05 * np.sin(40 * x + 6 * y))[muscle]
    if lateral < .75:
        w = math.sqrt(1 - (lateral / .75) ** 2)
        paint(img, fr.box(float(xc(0)) - .24, 0, .035, .95), t["vessel"] if lateral < .3 else t["muscle"])   # aorta/psoas
        for k in range(6):                                                   # L1..L5 and the sacrum
            y0 = -.92 + .36 * k
            x0 = float(xc(y0))
            tilt = 8 * y0 + (25 if k == 5 else 0)
            a, b = .15 * (.6 + .4 * w), .14
            paint(img, fr.box(x0, y0, a, b, tilt), t["bone"])
            paint(img, fr.box(x0, y0, a - .018, b - .018, tilt), t["marrow"] * (1 + .1 * math.sin(k + p["phase"])))
            if k < 5:                                                        # the disc below
                yd = y0 + .18
                paint(img, fr.ellipse(float(xc(yd)), yd, a * .95, .035, tilt), t["ligament"])
                paint(img, fr.ellipse(float(xc(yd)) + .01, yd, a * .6, .022, tilt), t["cartilage"] * p["disc"][k])
        canal = (np.abs(x - xc(y) - .22) < .055) & (y < .95)
        if lateral < .28:                                                    # canal: CSF, cord above, roots below
            img[canal] = t["csf"]
            cord = canal & (np.abs(x - xc(y) - .22) < .022) & (y < -.55)
            img[cord] = t["white"]
            for k in range(3):
                img[canal & (np.abs(x - xc(y) - .19 - .025 * k) < .005) & (y >= -.55)] = t["white"]
            for k in range(5):                                               # spinous processes
                y0 = -.80 + .36 * k
                paint(img, fr.ellipse(float(xc(y0)) + .40, y0, .11, .07, -15), t["bone"])
                paint(img, fr.ellipse(float(xc(y0)) + .40, y0, .09, .05, -15), t["marrow"])
        else:                                                                # foramina: fat, a root, facets
            img[canal] = t["fat"]
            for k in range(5):
                y0 = -.74 + .36 * k
                paint(img, fr.ellipse(float(xc(y0)) + .21, y0, .025, .025), t["muscle"])
                paint(img, fr.ellipse(float(xc(y0)) + .33, y0 - .12, .06, .09, 20), t["bone"])
                paint(img, fr.ellipse(float(xc(y0)) + .33, y0 - .12, .045, .07, 20), t["marrow"])
    img = blur(img, .8)
    img *= 1 + .12 * smooth_field(rng, fr.n, fr.n / 5)
    return img


MR_TISSUE = {
    # T1-weighted / T2-weighted / proton density signal levels (arbitrary units, ~12-bit)
    "T1": {"fat": 900, "muscle": 300, "bone": 40, "marrow": 760, "csf": 160, "grey": 430, "white": 620,
           "cartilage": 420, "ligament": 60, "fluid": 180, "vessel": 120},
    "T2": {"fat": 620, "muscle": 200, "bone": 40, "marrow": 480, "csf": 1250, "grey": 720, "white": 480,
           "cartilage": 520, "ligament": 50, "fluid": 1150, "vessel": 60},
    "PD": {"fat": 950, "muscle": 420, "bone": 50, "marrow": 820, "csf": 700, "grey": 640, "white": 560,
           "cartilage": 700, "ligament": 70, "fluid": 900, "vessel": 80},
    "FLAIR": {"fat": 700, "muscle": 250, "bone": 40, "marrow": 550, "csf": 60, "grey": 720, "white": 560,
              "cartilage": 500, "ligament": 50, "fluid": 60, "vessel": 50},
    "PD-FS": {"fat": 110, "muscle": 330, "bone": 40, "marrow": 140, "csf": 1100, "grey": 600, "white": 500,
              "cartilage": 650, "ligament": 60, "fluid": 1150, "vessel": 90},
}


def mr_series_params(label, rng):
    weighting = str(rng.choice({"MR BRAIN": ["T1", "T2", "FLAIR", "PD"], "MR KNEE": ["T1", "PD", "PD-FS", "PD-FS"],
                                "MR LSPINE": ["T1", "T2", "T2", "PD-FS"]}[label]))
    gain = u(rng, .6, 1.6)
    tissue = {k: v * gain * u(rng, .9, 1.1) for k, v in MR_TISSUE[weighting].items()}
    gyri = [(k, u(rng, .004, .014), u(rng, 0, 6.3)) for k in range(8, 40, 3)]
    p = {"weighting": weighting, "tissue": tissue, "phase": u(rng, 0, 6.3), "vent": u(rng, .7, 1.5), "gyri": gyri,
         "girth": u(rng, .85, 1.1),
         "vent_x": u(rng, .08, .12), "noise": u(rng, .01, .035) * gain * 900}
    if label == "MR BRAIN":
        p["pose"] = (u(rng, .72, 1.08), u(rng, -20, 20), (u(rng, -.12, .12), u(rng, -.10, .10)))
        p["z"] = (u(rng, -.6, -.3), u(rng, .45, .75))
        p["fov_mm"] = u(rng, 220, 250)
    elif label == "MR KNEE":
        p["pose"] = (u(rng, .75, 1.15), u(rng, -18, 18), (u(rng, -.12, .12), u(rng, -.12, .12)))
        p["z"] = (u(rng, -.75, -.55), u(rng, .55, .75))
        p["fov_mm"] = u(rng, 140, 170)
    else:
        p["pose"] = (u(rng, .8, 1.1), u(rng, -8, 8), (u(rng, -.08, .12), u(rng, -.08, .08)))
        p["z"] = (u(rng, -.6, -.4), u(rng, .4, .6))
        p["fov_mm"] = u(rng, 280, 330)
        p["disc"] = [u(rng, .3, 1.1) for _ in range(5)]                      # degenerate discs lose signal
    p["tr_te"] = {"T1": (u(rng, 450, 650), u(rng, 9, 15)), "T2": (u(rng, 3000, 5000), u(rng, 80, 110)),
                  "PD": (u(rng, 2000, 3500), u(rng, 20, 35)),
                  "FLAIR": (u(rng, 8000, 10000), u(rng, 90, 130)), "PD-FS": (u(rng, 2500, 4000), u(rng, 30, 45))}[weighting]
    return p


def mr_slice(label, p, z, n, rng):
    fr = Frame(n, *p["pose"])
    signal = {"MR BRAIN": mr_brain, "MR KNEE": mr_knee, "MR LSPINE": mr_spine}[label](fr, z, p, rng)
    sigma = p["noise"]
    magnitude = np.sqrt((signal + rng.normal(0, sigma, signal.shape)) ** 2 + rng.normal(0, sigma, signal.shape) ** 2)
    stored = np.clip(np.rint(magnitude), 0, 4095).astype(np.uint16)
    lo, hi = np.percentile(stored, [1, 99.5])
    return stored, {"window": ((lo + hi) / 2, max(hi - lo, 1)), "rescale": None, "signed": False}


# ---- US ---------------------------------------------------------------------------------------

def us_series_params(rng):
    return {"depth_cm": u(rng, 13, 18), "half_angle": u(rng, 28, 38), "gain": u(rng, .75, 1.3),
            "dynamic_db": u(rng, 45, 60), "view": str(rng.choice(["gallbladder", "kidney", "vessels"])),
            "diaphragm": u(rng, .72, .9), "tilt": u(rng, -8, 8), "phase": u(rng, 0, 6.3),
            "lateral_blur": u(rng, 1.5, 3.0), "shift": (u(rng, -1.5, 1.5), u(rng, -1.0, 1.0))}


def us_slice(p, z, n, rng):
    """A sector image n×n: apex above the top centre; echogenicity in (lateral, depth) centimetres."""
    rows, cols = np.mgrid[0:n, 0:n].astype(float)
    depth_cm = p["depth_cm"]
    apex_row = -0.08 * n
    cm_per_px = depth_cm / (n - apex_row)
    dx = (cols - n / 2) * cm_per_px
    dy = (rows - apex_row) * cm_per_px
    r = np.sqrt(dx ** 2 + dy ** 2)
    theta = np.degrees(np.arctan2(dx, dy))
    sector = (np.abs(theta - p["tilt"]) < p["half_angle"]) & (r > 0.08 * n * cm_per_px * 1.2) & (r < depth_cm)
    # anatomy in cm; z (sweep position in [-1, 1]) moves and resizes the structures
    lx, ly = dx - p["shift"][0] - 1.5 * z, dy - p["shift"][1]
    echo = np.full((n, n), .55)
    echo[ly < 1.2] = .9                                                      # skin and subcutaneous fat
    muscle = (ly >= 1.2) & (ly < 2.4)
    echo[muscle] = .45 + .25 * (np.sin(ly[muscle] * 14) > .6)                # striated muscle
    liver = ly >= 2.4
    echo[liver] = .6 * (1 + .15 * smooth_field(rng, n, 6)[liver])
    diaphragm_depth = p["diaphragm"] * depth_cm + 1.2 * np.sin(lx / 4 + p["phase"])
    dist = np.abs(ly - diaphragm_depth)
    echo = np.where(dist < .35, 2.6, echo)                                   # bright diaphragm
    echo = np.where(ly > diaphragm_depth + .35, .12, echo)                   # beyond: lung/air, dark
    enhancement = np.ones((n, n))

    def ellipse(cx, cy, a, b):
        return ((lx - cx) / a) ** 2 + ((ly - cy) / b) ** 2 < 1

    if p["view"] == "gallbladder":
        size = 1 + .25 * math.cos(z * 2)
        gb = ellipse(-1.0, .42 * depth_cm, 2.4 * size, 1.1 * size)
        echo[ellipse(-1.0, .42 * depth_cm, 2.6 * size, 1.3 * size)] = 1.3   # wall
        echo[gb] = .02
        below = (np.abs(lx + 1.0) < 2.0 * size) & (ly > .42 * depth_cm)
        enhancement[below] = 1.5
    elif p["view"] == "kidney":
        cy = .6 * depth_cm
        echo[ellipse(1.0, cy, 3.6, 1.8)] = .9                                # capsule
        echo[ellipse(1.0, cy, 3.4, 1.6)] = .28                               # cortex
        echo[ellipse(1.0, cy, 2.0, .7)] = 1.5                                # sinus fat
    for k in range(4 if p["view"] == "vessels" else 2):                       # hepatic/portal vessels
        cx = -4 + 2.7 * k + 1.5 * math.sin(z * 2 + k)
        cy = (.3 + .12 * k) * depth_cm
        a = .5 + .25 * math.cos(k + z)
        echo[ellipse(cx, cy, a * 1.25, a * 1.25)] = 1.4 if k % 2 == 0 else echo[ellipse(cx, cy, a * 1.25, a * 1.25)]
        echo[ellipse(cx, cy, a, a)] = .02
    echo *= enhancement
    # speckle: complex gaussian, blurred more laterally than axially, magnitude → Rayleigh
    speckle = ndimage.gaussian_filter(rng.standard_normal((n, n)), (.7, p["lateral_blur"])) + \
        1j * ndimage.gaussian_filter(rng.standard_normal((n, n)), (.7, p["lateral_blur"]))
    amplitude = echo * np.abs(speckle) / np.abs(speckle).mean()
    amplitude *= np.exp(-.035 * r) * (1 + .03 * r)                           # attenuation, partly compensated (TGC)
    db = 20 * np.log10(np.maximum(amplitude * p["gain"], 1e-6))
    out = np.clip((db + p["dynamic_db"] - 6) / p["dynamic_db"], 0, 1) * 255
    out[~sector] = 0
    for cm in range(1, int(depth_cm) + 1):                                   # depth marks on the right
        row = int(round(apex_row + cm / cm_per_px))
        if 0 <= row < n - 1:
            out[row:row + 2, n - 10:n - 6] = 200
    return np.rint(out).astype(np.uint8), {"window": (128.0, 256.0), "rescale": None, "signed": False}


# ---- CR ---------------------------------------------------------------------------------------

def cr_series_params(label, rng):
    p = {"pose": (u(rng, .75, 1.08), u(rng, -8, 8), (u(rng, -.1, .1), u(rng, -.08, .1))),
         "portable": rng.random() < .4, "leads": [(u(rng, -.5, .5), u(rng, -.5, .6)) for _ in range(int(rng.integers(3, 6)))],
         "inspiration": u(rng, .85, 1.1), "heart": u(rng, .85, 1.3), "exposure": u(rng, 700, 1100),
         "base": u(rng, 150, 350), "noise": u(rng, 8, 30), "collimate": rng.random() < .5,
         "collimation": (u(rng, .02, .1), u(rng, .02, .1), u(rng, .02, .08), u(rng, .0, .06)),
         "marker_right": rng.random() < .5, "fov_mm": u(rng, 380, 430)}
    if label != "CR CHEST":   # extremities: which side, the hand's spread or the knee's rotation
        p["side"] = float(rng.choice([-1, 1]))
        p["spread"] = u(rng, 4, 14)
        p["thumb"] = u(rng, 30, 55)
        p["rotation"] = u(rng, -.04, .04)
        p["fov_mm"] = u(rng, 220, 260) if label == "CR HAND" else u(rng, 300, 380)
        p["pose"] = (u(rng, .8, 1.05), u(rng, -12, 12), (u(rng, -.08, .08), u(rng, -.05, .05)))
    return p


def cr_chest(fr, z, p):
    """PA chest: the line integral of attenuation through ellipsoids."""
    ins = p["inspiration"] * (1 + .03 * z)
    P = np.zeros((fr.n, fr.n))
    P += 1.0 * fr.chord(0, .25, .64, 1.15, .42)                              # torso
    P += 1.0 * fr.chord(0, -.85, .15, .35, .18)                              # neck
    for s in (-1, 1):
        P += 1.0 * fr.chord(s * .58, -.62, .22, .17, .25)                    # shoulders
        P += 2.5 * fr.chord(s * .66, -.58, .085, .095, .085)                 # humeral heads
        P += 2.0 * fr.chord(s * .72, -.2, .05, .35, .05)                     # humeral shafts
        P -= 1.0 * fr.chord(s * .30, -.50 + .52 * ins + (.03 if s < 0 else 0), .25, .52 * ins, .38)   # lungs
    P += .95 * fr.chord(.04, .05, .12, .55, .28)                             # mediastinum
    P += .95 * fr.chord(.10, .30, .25 * p["heart"], .19 * p["heart"], .32, -15)   # heart
    P += .9 * fr.chord(-.03, -.2, .06, .12, .06)                             # aortic knob
    P += 2.2 * fr.chord(0, .0, .045, 1.3, .05)                               # spine
    rib = np.zeros((fr.n, fr.n))
    for s in (-1, 1):
        for k in range(10):
            y0 = -.62 + .12 * k
            rib += fr.band(lambda x, y0=y0, s=s: y0 - .18 * (1 - ((s * x - .35) / .32) ** 2), .018,
                           (.06, .66) if s > 0 else (-.66, -.06))
            rib += .6 * fr.band(lambda x, y0=y0, s=s: y0 + .10 + .25 * (s * x - .06), .016,
                                (.1, .55) if s > 0 else (-.55, -.1))
        rib += 1.5 * fr.band(lambda x, s=s: -.66 - .08 * (s * x) + .12 * (s * x) ** 2, .03,
                             (.04, .5) if s > 0 else (-.5, -.04))            # clavicles
    P += .22 * rib * (P > .05)
    if p["portable"]:   # AP portable: scapulae over the lungs, a central line, ECG electrodes
        for s in (-1, 1):
            P += .5 * fr.chord(s * .50, -.35, .14, .28, .04, s * 20)
        P += 3.0 * fr.band(lambda x: -.75 + 1.5 * (x + .45) ** 2, .006, (-.6, -.02))
        for lx, ly in p["leads"]:
            ring = fr.rho(lx, ly, .035, .035)
            P += 2.0 * ((ring > .6) & (ring < 1))
    return P


def cr_hand(fr, z, p):
    """PA hand, fingers up: soft tissue, radius and ulna, carpals, metacarpals and phalanges."""
    side = p["side"]                                                         # mirrors a left hand into a right one
    P = np.zeros((fr.n, fr.n))
    P += 2.2 * fr.chord(0, .95, .30, .50, .14)                                # forearm
    P += 2.2 * fr.chord(0, .25, .36, .34, .12)                                # palm
    P += fr.bone(side * .10, .98, .085, .48) + fr.bone(-side * .15, 1.02, .055, .48)   # radius, ulna
    for k, (cx, cy) in enumerate([(-.15, .43), (-.05, .45), (.05, .45), (.14, .42), (-.17, .30), (-.06, .31),
                                  (.04, .31), (.13, .30)]):                  # carpals
        P += 2.5 * fr.chord(side * cx, cy, .045 + .01 * (k % 3), .05, .045)
    lengths = [(.28, .16, .11, .08), (.27, .17, .12, .08), (.26, .16, .11, .08), (.24, .13, .09, .07)]
    for k in range(4):                                                       # index to little finger
        angle = side * (p["spread"] * (k - 1.5) + 2 * z)
        base = (side * (-.13 + .09 * k), .24)
        t = math.radians(angle)
        tip = (base[0] + math.sin(t) * .95, base[1] - math.cos(t) * .95)
        P += 2.2 * fr.chord((base[0] + tip[0]) / 2, (base[1] + tip[1]) / 2, .055, .50, .05, angle)   # finger
        start = base
        for j, length in enumerate(lengths[k]):
            ellipse, start = fr.segment(start, angle, length, .032 - .004 * j, gap=.02)
            P += fr.bone(*ellipse)
    angle = -side * p["thumb"]                                               # thumb
    start = (side * -.20, .36)
    t = math.radians(angle)
    P += 2.2 * fr.chord(start[0] + math.sin(t) * .25, start[1] - math.cos(t) * .25, .06, .28, .05, angle)
    for j, length in enumerate((.22, .14, .09)):
        ellipse, start = fr.segment(start, angle, length, .034 - .004 * j, gap=.02)
        P += fr.bone(*ellipse)
    return P * .8


def cr_knee(fr, z, p):
    """AP knee: thigh and calf, femur with its condyles, patella, tibial plateau and shaft, fibula."""
    side, r = p["side"], p["rotation"] + .01 * z
    P = np.zeros((fr.n, fr.n))
    P += .9 * fr.chord(0, -.75, .46, .90, .40) + .9 * fr.chord(0, .85, .38, .95, .34) + .9 * fr.chord(0, 0, .42, .35, .38)
    P += fr.bone(r, -.78, .11, .75, cortex=.45)                               # femoral shaft
    for s in (-1, 1):
        P += 1.6 * fr.chord(s * .13 + r, -.03, .15, .12, .14)                # condyles
        P += 1.6 * fr.chord(s * .13 + r, .19, .16, .06, .15)                 # tibial plateau
    P -= 1.2 * fr.chord(r, .02, .04, .07, .08)                               # intercondylar notch
    P += 1.2 * fr.chord(r + .02 * side, -.10, .10, .12, .06)                 # patella, seen through the femur
    P += fr.bone(.02 + r, .90, .12, .68, cortex=.45)                          # tibial shaft
    P += 1.5 * fr.chord(side * .27 + r, .30, .05, .05, .05)                  # fibular head
    P += fr.bone(side * .29 + r, .95, .035, .62)                             # fibular shaft
    return P * .5


def radiograph(P, p, n, rng):
    """Exposure of a projection P: bright = dense (MONOCHROME2), noise, collimation, a lead marker."""
    P = blur(P, 1.0)
    value = p["base"] + p["exposure"] * P * 2.0
    value += rng.normal(0, p["noise"], value.shape) + p["noise"] * smooth_field(rng, n, 8)
    if p["collimate"]:
        left, right, top, bottom = p["collimation"]
        cols = np.arange(n) / n
        mask = np.zeros((n, n), bool)
        mask[:, cols < left] = True
        mask[:, cols > 1 - right] = True
        mask[(cols < top), :] = True
        mask[(cols > 1 - bottom), :] = True
        value[mask] = 3600 + rng.normal(0, 20, mask.sum())
    # lead marker ("L" on the patient's left = image right, or "R" on the other side)
    c0 = int(n * (.82 if p["marker_right"] else .1))
    r0 = int(n * .12)
    w = max(2, n // 64)
    value[r0:r0 + 6 * w, c0:c0 + w] = 3900
    value[r0 + 5 * w:r0 + 6 * w, c0:c0 + 4 * w] = 3900
    stored = np.clip(np.rint(value), 0, 4095).astype(np.uint16)
    body = stored[(P > .1) & (stored < 3500)]
    lo, hi = np.percentile(body if body.size > 100 else stored, [1, 99.5])
    return stored, {"window": ((lo + hi) / 2, max(hi - lo, 1)), "rescale": None, "signed": False}


def cr_slice(label, p, z, n, rng):
    """Images of one series differ a little in position (z in [-1, 1])."""
    jitter = (p["pose"][0], p["pose"][1] + 1.5 * z, (p["pose"][2][0] + .01 * z, p["pose"][2][1] - .01 * z))
    project = {"CR CHEST": cr_chest, "CR HAND": cr_hand, "CR KNEE": cr_knee}[label]
    return radiograph(project(Frame(n, *jitter), z, p), p, n, rng)


# ---- series and files -------------------------------------------------------------------------

def series_params(label, rng):
    if label.startswith("CT"):
        return ct_series_params(label, rng)
    if label.startswith("MR"):
        return mr_series_params(label, rng)
    if label.startswith("US"):
        return us_series_params(rng)
    return cr_series_params(label, rng)


def render(label, p, index, count, n, rng):
    """Slice `index` of `count`: (stored pixels, {window, rescale, signed}, z in [-1, 1] or position)."""
    if label.startswith("CT") or label.startswith("MR"):
        z0, z1 = p["z"]
        z = z0 + (z1 - z0) * (index / max(1, count - 1))
        stored, info = ct_slice(label, p, z, n, rng) if label.startswith("CT") else mr_slice(label, p, z, n, rng)
    else:
        z = -1 + 2 * index / max(1, count - 1)
        stored, info = us_slice(p, z, n, rng) if label.startswith("US") else cr_slice(label, p, z, n, rng)
    info["z"] = z
    return stored, info


def make_uid(*parts):
    """Deterministic: a hash of the parts under pydicom's root (generate_uid ignores entropy_srcs without a prefix)."""
    from pydicom.uid import PYDICOM_ROOT_UID, generate_uid
    return generate_uid(prefix=PYDICOM_ROOT_UID, entropy_srcs=["loupe-bench-retrieval", str(GENERATOR_VERSION), *map(str, parts)])


def part10(sop_class, sop):
    """An empty Part-10 data set (Explicit VR Little Endian) with its SOP Class and Instance UIDs."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop
    return ds


def dataset(label, label_index, series, index, stored, info, p, seed, n):
    """A complete Part-10 data set for one phantom image."""
    modality, body_part = label.split(" ", 1)
    sop_class = {"CT": CT_IMAGE_STORAGE, "MR": MR_IMAGE_STORAGE, "US": US_IMAGE_STORAGE, "CR": CR_IMAGE_STORAGE}[modality]
    sop = make_uid(seed, label, series, index, "sop")
    ds = part10(sop_class, sop)
    date = f"2024{1 + (label_index + series) % 12:02d}{1 + (series * 7 + label_index) % 28:02d}"
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"] if modality == "CT" else ["ORIGINAL", "PRIMARY"]
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = date
    ds.StudyTime = ds.SeriesTime = f"{8 + series % 10:02d}{(label_index * 7) % 60:02d}00"
    ds.ContentTime = f"{8 + series % 10:02d}{(label_index * 7) % 60:02d}{index % 60:02d}"
    ds.AccessionNumber = f"PH{label_index}{series:04d}"
    ds.Modality = modality
    ds.Manufacturer = "Loupe bench phantom"
    ds.StudyDescription = f"{body_part.title()} phantom"
    ds.SeriesDescription = f"{label} phantom {p.get('weighting', '')}".strip()
    ds.PatientName = f"PHANTOM^{label.replace(' ', '')}{series:03d}"
    ds.PatientID = f"PH-{label_index}-{seed}-{series:04d}"
    ds.PatientBirthDate = f"19{40 + (series * 13 + label_index) % 60:02d}0101"
    ds.PatientSex = "MF"[(series + label_index) % 2]
    ds.BodyPartExamined = body_part
    ds.StudyInstanceUID = make_uid(seed, label, series, "study")
    ds.SeriesInstanceUID = make_uid(seed, label, series, "series")
    ds.StudyID = f"{label_index}{series:04d}"
    ds.SeriesNumber = 1 + series
    ds.InstanceNumber = 1 + index
    fov = p.get("fov_mm", 160.0 if modality == "US" else 250.0)
    spacing = fov / n
    if modality in ("CT", "MR"):
        ds.FrameOfReferenceUID = make_uid(seed, label, series, "for")
        thickness = 5.0 if modality == "CT" else 4.0
        position = info["z"] * 100.0
        ds.SliceThickness = thickness
        ds.PixelSpacing = [round(spacing, 6), round(spacing, 6)]
        if label in ("MR KNEE", "MR LSPINE"):   # sagittal
            ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
            ds.ImagePositionPatient = [round(position, 3), -fov / 2, fov / 2]
        else:
            ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
            ds.ImagePositionPatient = [-fov / 2, -fov / 2, round(position, 3)]
        ds.SliceLocation = round(position, 3)
        ds.PatientPosition = "HFS" if label != "MR KNEE" else "FFS"
    if modality == "CT":
        ds.KVP = 120
        ds.ConvolutionKernel = "STANDARD" if label != "CT HEAD" else "H30s"
        ds.RescaleIntercept, ds.RescaleSlope = info["rescale"]
        ds.RescaleType = "HU"
    if modality == "MR":
        ds.ScanningSequence = "SE"
        ds.SequenceVariant = "NONE"
        ds.MRAcquisitionType = "2D"
        ds.RepetitionTime, ds.EchoTime = [round(v, 1) for v in p["tr_te"]]
        ds.MagneticFieldStrength = 1.5
    if modality == "CR":
        ds.ViewPosition = "AP" if label == "CR KNEE" else "PA"
        ds.ImagerPixelSpacing = [round(spacing, 6), round(spacing, 6)]
        ds.PixelSpacing = [round(spacing, 6), round(spacing, 6)]
    if modality == "US":
        ds.ImageType = ["ORIGINAL", "PRIMARY", "ABDOMINAL"]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = stored.shape
    if stored.dtype == np.uint8:
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    elif info["signed"]:
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    else:
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    center, width = info["window"]
    ds.WindowCenter = round(float(center), 1)
    ds.WindowWidth = round(float(width), 1)
    ds.PixelData = np.ascontiguousarray(stored).astype(stored.dtype.newbyteorder("<")).tobytes()
    return ds


def draw_series(label, s, slices, size, seed):
    """Series `s` of a label: its parameters and its images' (stored, info), each from its own seed."""
    label_index = ANATOMIES.index(label)
    p = series_params(label, np.random.default_rng([seed, GENERATOR_VERSION, label_index, s]))
    return p, [render(label, p, i, slices, size, np.random.default_rng([seed, GENERATOR_VERSION, label_index, s, i]))
               for i in range(slices)]


def generate(directory, series, slices, size, seed, labels=LABELS, progress=print):
    """Writes the phantoms under directory/dicom/LABEL/SERIES/NNN.dcm; returns one record per file."""
    records = []
    for label in labels:
        for s in range(series):
            p, images = draw_series(label, s, slices, size, seed)
            folder = os.path.join(directory, "dicom", label.replace(" ", "_"), f"s{s:03d}")
            os.makedirs(folder, exist_ok=True)
            for i, (stored, info) in enumerate(images):
                ds = dataset(label, ANATOMIES.index(label), s, i, stored, info, p, seed, size)
                path = os.path.join(folder, f"{i:03d}.dcm")
                ds.save_as(path, enforce_file_format=True)
                records.append({"file": os.path.relpath(path, directory), "sop": str(ds.SOPInstanceUID),
                                "series": str(ds.SeriesInstanceUID), "study": str(ds.StudyInstanceUID),
                                "label": label, "source": "phantom", "name": f"{label} s{s} #{i}"})
        progress(f"    {label:<11} {series} series x {slices} images")
    return records


def contact_sheet(out, series, slices, size, seed, labels=ANATOMIES):
    """Every label's first `series` series, `slices` images each, windowed, in one PNG (for looking at)."""
    from PIL import Image
    tiles = []
    for label in labels:
        for s in range(series):
            row = []
            for stored, info in draw_series(label, s, slices, size, seed)[1]:
                values = stored.astype(float)
                if info["rescale"]:
                    values = values * info["rescale"][1] + info["rescale"][0]
                c, w = info["window"]
                row.append(np.clip((values - (c - w / 2)) / w * 255, 0, 255).astype(np.uint8))
            tiles.append(np.concatenate(row, axis=1))
    Image.fromarray(np.concatenate(tiles, axis=0)).save(out)


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--series", type=int, default=2)
    ap.add_argument("--slices", type=int, default=4)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--labels", nargs="+", default=ANATOMIES, choices=ANATOMIES, metavar="LABEL")
    a = ap.parse_args()
    contact_sheet(a.out, a.series, a.slices, a.size, a.seed, a.labels)
