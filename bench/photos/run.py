#!/usr/bin/env python3
"""Loupe photo benchmark: a bedside camera's flush photos in, alerts out.

    python3 bench/photos/run.py                  # 40 photos of 1280x960, one a second (~1 min)
    python3 bench/photos/run.py --count 10       # quick check
    python3 bench/photos/run.py --interval 0     # back to back: what a burst queues up
    LOUPE_BIN=/path/to/loupe python3 bench/photos/run.py

One `loupe serve` (release build) gets generated face photos (JPEG, quality 90) one after the other
over `POST /api/photos`, as a camera would (one every `--interval` seconds; a bedside camera sends
one every few minutes, so the pipeline is idle when a photo arrives); the first is the baseline, the others have random
redness, and a listener on `/api/events?topic=flush` notes when each alert arrives. Reported:
- ingest: the POST's round trip (JPEG checked and decoded, Secondary Capture built, file fsynced,
  index committed, answered), against DCMTK's `img2dcm` making a Secondary Capture file of the same
  JPEG (one process per photo, as a script would, and without archiving it): the named peer;
- alert latency: from the start of the POST to the flush event on the SSE stream (pipeline: PNG,
  embedding, anomaly finding, flush measurement against the baseline).
See bench/README.md ("Photos").
"""

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import requests
from PIL import Image

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "bench", "ingest"))
sys.path.insert(0, os.path.join(REPO, "conformance"))

import servers  # noqa: E402  bench/ingest/servers.py
from dicomweb_support import wait_for_derivations  # noqa: E402  conformance/dicomweb_support.py
from photo_support import skin_photo  # noqa: E402  conformance/photo_support.py

IMG2DCM = "/usr/bin/img2dcm"


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def photos(count, size, quality, seed):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        redness = 0.0 if i == 0 else float(rng.uniform(0, 0.8))
        buffer = io.BytesIO()
        Image.fromarray(skin_photo(redness=redness, brightness=float(rng.uniform(0.85, 1.1)), seed=seed + i, size=size)).save(
            buffer, format="JPEG", quality=quality)
        out.append(buffer.getvalue())
    return out


class Alerts:
    """Arrival times of flush events, by SOP Instance UID."""

    def __init__(self, url, headers):
        self.arrived = {}
        self.response = requests.get(url, params={"topic": "flush"}, headers=headers, stream=True, timeout=(10, 600))
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        try:
            for line in self.response.iter_lines(decode_unicode=True):
                if line.startswith("data:"):
                    self.arrived[json.loads(line[5:])["SOPInstanceUID"]] = time.monotonic()
        except Exception:
            pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--interval", type=float, default=1.0, help="seconds from one photo to the next")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=960)
    ap.add_argument("--quality", type=int, default=90)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args()
    binary = os.path.abspath(os.environ.get("LOUPE_BIN") or os.path.join(REPO, ".build", "release", "loupe"))
    for tool in (binary, IMG2DCM):
        if not os.path.exists(tool):
            raise SystemExit(f"{tool} not found (make build, or set LOUPE_BIN; img2dcm comes with dcmtk)")

    print(f"drawing {args.count} photos of {args.width}x{args.height} ...", flush=True)
    jpegs = photos(args.count, (args.height, args.width), args.quality, args.seed)
    work = tempfile.mkdtemp(prefix="loupe-bench-photos-")

    # The peer: img2dcm, one process per photo.
    peer = []
    for i, jpeg in enumerate(jpegs):
        source, target = os.path.join(work, f"p{i}.jpg"), os.path.join(work, f"p{i}.dcm")
        with open(source, "wb") as f:
            f.write(jpeg)
        start = time.monotonic()
        subprocess.run([IMG2DCM, "-k", "PatientID=BENCH-1", "-k", "PatientName=Bench^Photo", "-k", "Modality=XC",
                        source, target], check=True, capture_output=True)
        peer.append(time.monotonic() - start)

    node = servers.Loupe(os.path.join(work, "loupe"), binary)
    node.start()
    servers.wait_port(node.http_port, node.process)
    base = f"http://127.0.0.1:{node.http_port}"
    # As a bedside camera authenticates: a bearer token (checked on every request, and so timed too).
    auth = node.authorization()
    try:
        alerts = Alerts(f"{base}/api/events", auth)
        time.sleep(0.5)
        posted, round_trips = {}, []
        for i, jpeg in enumerate(jpegs):
            metadata = {"PatientID": "BENCH-1", "PatientName": "Bench^Photo", "kind": "flush",
                        "AcquisitionDateTime": f"2026-11-23T10:{i // 60:02d}:{i % 60:02d}Z"}
            start = time.monotonic()
            r = requests.post(f"{base}/api/photos", files={"image": ("photo.jpg", jpeg, "image/jpeg"),
                                                           "metadata": ("m.json", json.dumps(metadata), "application/json")},
                              headers=auth, timeout=60)
            round_trips.append(time.monotonic() - start)
            r.raise_for_status()
            posted[r.json()["SOPInstanceUID"]] = start
            time.sleep(max(0.0, start + args.interval - time.monotonic()))
        wait_for_derivations(base, headers=auth)
        time.sleep(0.5)  # the last events reach the stream
        levels = {}
        for uid in posted:
            findings = requests.get(f"{base}/api/instances/{uid}/analysis", headers=auth, timeout=10).json()["findings"]
            levels[uid] = next(f["label"] for f in findings if f["kind"] == "flush")
        alerted = [uid for uid, level in levels.items() if level in ("mild", "marked")]
        missing = [uid for uid in alerted if uid not in alerts.arrived]
        if missing:
            raise SystemExit(f"{len(missing)} alerts never arrived on the event stream")
        latencies = [alerts.arrived[uid] - posted[uid] for uid in alerted]
    finally:
        servers.stop(node.process)

    ms = lambda s: round(s * 1000, 1)  # noqa: E731
    result = {
        "photos": args.count, "size": f"{args.width}x{args.height}", "jpeg_kb": round(sum(map(len, jpegs)) / len(jpegs) / 1024, 1),
        "loupe_post_p50_ms": ms(percentile(round_trips, 0.5)), "loupe_post_p95_ms": ms(percentile(round_trips, 0.95)),
        "img2dcm_p50_ms": ms(percentile(peer, 0.5)), "img2dcm_p95_ms": ms(percentile(peer, 0.95)),
        "alerts": len(alerted), "alert_p50_ms": ms(percentile(latencies, 0.5)) if latencies else None,
        "alert_p95_ms": ms(percentile(latencies, 0.95)) if latencies else None,
        "levels": {level: list(levels.values()).count(level) for level in sorted(set(levels.values()))},
    }
    result["post_vs_img2dcm"] = round(result["loupe_post_p50_ms"] / result["img2dcm_p50_ms"], 2)
    result["interval_s"] = args.interval
    print(f"\n{args.count} JPEG photos of {result['size']} ({result['jpeg_kb']} KB each), one every {args.interval:g} s")
    print(f"{'':28s} {'p50 ms':>8s} {'p95 ms':>8s}")
    print(f"{'Loupe POST /api/photos':28s} {result['loupe_post_p50_ms']:8.1f} {result['loupe_post_p95_ms']:8.1f}   (archived and acknowledged)")
    print(f"{'img2dcm (DCMTK), per file':28s} {result['img2dcm_p50_ms']:8.1f} {result['img2dcm_p95_ms']:8.1f}   (a file, not archived)")
    print(f"{'photo to flush alert (SSE)':28s} {result['alert_p50_ms'] or 0:8.1f} {result['alert_p95_ms'] or 0:8.1f}   ({len(alerted)} alerts)")
    print(f"Loupe POST / img2dcm p50: {result['post_vs_img2dcm']}x; levels {result['levels']}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
