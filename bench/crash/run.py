#!/usr/bin/env python3
"""Kill -9 during ingest, 20 times: nothing acknowledged may be lost, nothing unindexed may stay.

    make build && python3 bench/crash/run.py            # 20 rounds, a release build (~3 min)
    python3 bench/crash/run.py --rounds 5 --associations 16

Each round, four associations (by default) store new 64x64 and 512x512 CT instances through a DIMSE
client that notes every C-STORE success; `loupe serve` is SIGKILLed at a random moment and restarted on
the same data; every acknowledged instance is then fetched over WADO-RS and compared, data set bytes,
with what was sent. At the end, once derivations are done: no derivation failed or is pending, and with
the node stopped every index row has its file and every file its row. conformance/test_crash.py runs
three rounds of the same in `make test`. See bench/README.md ("Crashes").
"""

import argparse
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "conformance"))

from crash_support import check_files, check_round, crash_round  # noqa: E402
from dicomweb_support import wait_for_derivations  # noqa: E402
from loupe_support import LoupeNode  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--associations", type=int, default=4)
    parser.add_argument("--per-association", type=int, default=150)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--loupe-bin", default=os.environ.get("LOUPE_BIN", str(REPO / ".build" / "release" / "loupe")))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(f"== crash: {args.rounds} rounds of {args.associations} associations, seed {args.seed}", flush=True)
    with tempfile.TemporaryDirectory(prefix="loupe-crash-") as work:
        node = LoupeNode(args.loupe_bin, Path(work), name="crash").start()
        sent = acknowledged = 0
        try:
            for number in range(1, args.rounds + 1):
                result = crash_round(node, rng, associations=args.associations, per_association=args.per_association)
                assert result["refused"] == [], result["refused"][:5]
                check_round(node, result)
                sent += len(result["sent"])
                acknowledged += len(result["acknowledged"])
                print(f"  round {number}: {len(result['acknowledged'])} of {len(result['sent'])} acknowledged before the kill; "
                      f"all served as sent", flush=True)
            counts = wait_for_derivations(node.http_url, timeout=1800)
            assert counts["failed"] == 0 and counts["pending"] == 0, counts
        finally:
            node.stop()
        check_files(node)
        # What the restarts recovered (logged at each start after a kill).
        log = Path(node.log_path).read_text(errors="replace")
        recovered = {key: sum(int(n) for n in re.findall(rf"{key}=(\d+)", log))
                     for key in ("staged_files_removed", "unindexed_files_removed", "obsolete_files_removed")}
    print(f"recovery at the restarts: {recovered['staged_files_removed']} staged files removed, "
          f"{recovered['unindexed_files_removed']} placed files without a committed row removed, "
          f"{recovered['obsolete_files_removed']} obsolete files of replaced instances removed", flush=True)
    print(f"{args.rounds} kills: {acknowledged} instances acknowledged (of {sent} sent), every one served bit for bit; "
          f"derivations done ({counts['done']}), none failed; index rows and files agree", flush=True)


if __name__ == "__main__":
    main()
