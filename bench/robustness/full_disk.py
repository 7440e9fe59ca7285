#!/usr/bin/env python3
"""A disk that really fills up: DATA on a small tmpfs, `archive.min_free_mb: 0`, C-STOREs until the
disk is full. Every store must be answered 0x0000 or 0xA700 (never 0xC000 for a data set the full
disk cut short), STOW 507, and searches, /healthz, /readyz and /metrics keep answering.

    sudo python3 bench/robustness/full_disk.py [--size-mb 12] [--loupe-bin .build/release/loupe]

Needs root (mount -t tmpfs). conformance/test_full_disk.py checks the configured margin in
`make test` without mounting anything.
"""

import argparse
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO / "conformance"))

from instance_support import c_store, instance, stow  # noqa: E402
from loupe_support import LoupeNode, http_session  # noqa: E402

STUDY = "1.2.826.0.1.3680043.8.498.5151.1"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=12)
    parser.add_argument("--loupe-bin", default=os.environ.get("LOUPE_BIN", str(REPO / ".build" / "release" / "loupe")))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="loupe-full-disk-") as work:
        mount = Path(work) / "disk"
        mount.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={args.size_mb}m", "tmpfs", str(mount)], check=True)
        try:
            config = Path(work) / "loupe.yaml"
            config.write_text("archive:\n  min_free_mb: 0\n")
            node = LoupeNode(args.loupe_bin, Path(work) / "node", config=config, data_dir=mount / "data",
                             extra_args=["--derivation-workers", "0"]).start()
            rng = random.Random(1)
            statuses: dict[int, int] = {}
            while statuses.get(0xA700, 0) < 20:
                ds, data = instance(STUDY, rng)
                status = c_store(node, ds, data)
                statuses[status] = statuses.get(status, 0) + 1
                assert status in (0x0000, 0xA700), f"C-STORE on a filling disk answered 0x{status:04X}"
            stowed = stow(node, instance(STUDY, rng)[0])
            http = http_session()
            answers = {"STOW": stowed.status_code,
                       "QIDO": http.get(f"{node.base_url}/instances", params={"StudyInstanceUID": STUDY, "limit": "1"}).status_code,
                       **{path: http.get(f"{node.http_url}/{path}").status_code for path in ("healthz", "readyz", "metrics")}}
            node.stop()
        finally:
            subprocess.run(["umount", str(mount)], check=False)
    print(f"{statuses.get(0, 0)} stored, then {statuses.get(0xA700, 0)} refused with 0xA700; {answers}")
    assert answers == {"STOW": 507, "QIDO": 200, "healthz": 200, "readyz": 200, "metrics": 200}, answers


if __name__ == "__main__":
    main()
