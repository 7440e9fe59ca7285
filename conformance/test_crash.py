"""Nothing acknowledged is lost when the node is killed in the middle of ingest (SIGKILL at a random
moment while four associations store): after a restart every acknowledged instance is served bit for bit,
its derivations complete, and the index and the files agree exactly. bench/crash runs 20 such rounds.
Nor when the power fails: conformance/powercut_support.py replays a recorded ingest to every flush."""

import random

from crash_support import check_files, check_round, crash_round
from dicomweb_support import wait_for_derivations
from powercut_support import run_power_cuts


def test_acknowledged_instances_survive_sigkill_during_ingest(loupe_factory):
    node = loupe_factory("loupe-crash", extra_args=["--derivation-workers", "1"])
    rng = random.Random(20261207)
    acknowledged = 0
    for _ in range(3):
        result = crash_round(node, rng)
        assert result["refused"] == [], result["refused"][:5]
        check_round(node, result)
        acknowledged += len(result["acknowledged"])
    assert acknowledged > 0, "no store was acknowledged before the kills: the rounds tested nothing"
    counts = wait_for_derivations(node.http_url, timeout=300)
    assert counts["failed"] == 0 and counts["pending"] == 0, counts
    node.stop()
    check_files(node)



def test_acknowledged_instances_survive_a_power_cut_at_every_flush(loupe_bin, tmp_path):
    """An ingest recorded under strace, replayed to every flush and every C-STORE success: at each, the
    disk as a power cut would leave it (only what was flushed; or every name but only flushed bytes)
    indexes every acknowledged instance with the bytes sent; real nodes started on two such disks serve
    them all and keep rows and files in agreement. Without the file flushes, or the directory flushes,
    the same record shows losses."""
    result = run_power_cuts(loupe_bin, tmp_path, random.Random(20261208), associations=2, per_association=12,
                            real_starts=2, log=lambda line: None)
    assert result["acknowledged"] == result["sent"] == 24
    assert result["failures"] == [], "\n".join(result["failures"][:10])
    assert result["starts"] == 2
    assert result["controls"]["fdatasync"] > 0 and result["controls"]["fsync"] > 0, result["controls"]
