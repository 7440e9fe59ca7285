#!/usr/bin/env python3
"""Power cuts at every flush and every acknowledgement of an ingest: nothing acknowledged may be lost.

    make build && python3 bench/crash/powercut.py          # 4 associations x 50 instances (~3 min)
    python3 bench/crash/powercut.py --associations 16 --per-association 20 --real-starts 8

`loupe serve` runs under strace while several associations store new 64x64 and 512x512 CT instances;
the record (every write with its bytes, every flush, every byte sent) is replayed in a model of the
data directory, and at every flush and every C-STORE success the disk a power cut would leave is
checked: only what was flushed survives ("strict"), or every name but only flushed bytes
("renames-first"). A few of those disks are written out and a real node is started on each. Then
the same record is replayed without the file flushes, and without the directory flushes, to show
the check finds what they prevent. See conformance/powercut_support.py and bench/README.md
("Power cuts"); conformance/test_crash.py runs a short version in `make test`.
"""

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "conformance"))

from powercut_support import CUTS, run_power_cuts  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--associations", type=int, default=4)
    parser.add_argument("--per-association", type=int, default=50)
    parser.add_argument("--real-starts", type=int, default=6)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--loupe-bin", default=os.environ.get("LOUPE_BIN", str(REPO / ".build" / "release" / "loupe")))
    args = parser.parse_args()
    print(f"== power cuts: {args.associations} associations x {args.per_association} instances, seed {args.seed}", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="loupe-powercut-") as work:
        result = run_power_cuts(args.loupe_bin, Path(work), random.Random(args.seed), associations=args.associations,
                                per_association=args.per_association, real_starts=args.real_starts,
                                log=lambda line: print(line, flush=True))
    for failure in result["failures"][:20]:
        print("LOST:", failure)
    print(f"{result['points']} crash points x {len(CUTS)} cuts, {result['acknowledged']} of {result['sent']} instances "
          f"acknowledged, {result['starts']} real restarts: {len(result['failures'])} failures; controls without "
          f"fdatasync / fsync found {result['controls']['fdatasync']} / {result['controls']['fsync']} losses "
          f"({time.monotonic() - started:.0f} s)", flush=True)
    sys.exit(1 if result["failures"] or not all(result["controls"].values()) else 0)


if __name__ == "__main__":
    main()
