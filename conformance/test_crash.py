"""Nothing acknowledged is lost when the node is killed in the middle of ingest (SIGKILL at a random
moment while four associations store): after a restart every acknowledged instance is served bit for bit,
its derivations complete, and the index and the files agree exactly. bench/crash runs 20 such rounds."""

import random

from conftest import write_yaml
from crash_support import check_files, check_round, crash_round
from dicomweb_support import wait_for_derivations
from loupe_support import run


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


def test_without_journaled_files_every_file_is_flushed_before_its_acknowledgement(loupe_factory, loupe_bin, work):
    """`archive.journaled_file_limit: 0` turns journaling off: every file flushed before its
    acknowledgement (as large files always are) survives the same kill; a negative limit is refused."""
    refused = run([loupe_bin, "serve", "--data", work / "negative", "--dimse-port", "0", "--http-port", "0",
                   "--config", write_yaml(work / "negative.yaml", "archive:\n  journaled_file_limit: -1\n")], timeout=60)
    assert refused.returncode != 0 and "journaled_file_limit must not be negative" in refused.output, str(refused)
    node = loupe_factory("loupe-crash-flushed", config=write_yaml(work / "flushed.yaml", "archive:\n  journaled_file_limit: 0\n"),
                         extra_args=["--derivation-workers", "0"])
    result = crash_round(node, random.Random(7), associations=2, per_association=40, kill_within=(1.0, 1.5))
    assert result["refused"] == [] and result["acknowledged"], result["refused"][:5]
    check_round(node, result)
    node.stop()
    check_files(node)
