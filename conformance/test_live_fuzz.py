"""The live fuzzer of bench/robustness for 20 seconds: hostile DIMSE, STOW-RS, multipart, QIDO-RS,
path and upload input against a running node, which must answer no 5xx but 503, stay up, keep
what it stored bit for bit, and leave an archive `loupe check` finds clean."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench" / "robustness"))
import live_fuzz  # noqa: E402


def test_live_fuzzing_finds_no_failure(loupe_factory):
    node = loupe_factory("loupe-live-fuzz")
    report = live_fuzz.run(node, seconds=20, seed=7)
    assert report["steps"] > 100, report
    # Every kind of hostile input was sent.
    kinds = {answer.split()[0] for answer in report["answers"]}
    assert {"STOW", "C-STORE", "PDU", "multipart", "QIDO", "traversal"} <= kinds, report["answers"]
