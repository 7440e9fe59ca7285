"""Nothing acknowledged is lost when the node is killed in the middle of ingest (SIGKILL at a random
moment while four associations store): after a restart every acknowledged instance is served bit for bit,
its derivations complete, and the index and the files agree exactly. bench/crash runs 20 such rounds."""

import random

from crash_support import check_files, check_round, crash_round
from dicomweb_support import wait_for_derivations


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

