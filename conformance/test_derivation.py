"""Issue 4 (pipeline): derivation jobs are durable. Instances archived while no worker runs
(`loupe import`) or while the node is killed get their PNG and embedding once a node runs; `loupe reprocess`
re-runs derivations for all instances, one instance or the failed ones, itself or through a
running node (`--no-wait`)."""

import signal
import time


from dicomweb_support import analysis, session, wait_for_derivations
from loupe_support import run


def base(node) -> str:
    return f"http://127.0.0.1:{node.http_port}"


# Jobs per instance: the PNG, the embedding, the anomaly finding and the photo analysis; the last
# skips images that are not clinical photos (all of these).
PROCESSORS = 4
DONE = 3


def png_state(node, uid) -> tuple:
    info = analysis(base(node), uid)
    [job] = [j for j in info["derivations"] if j["processor"] == "png"]
    return job["state"], [d["created"] for d in info["derived"] if d["kind"] == "png"]


def test_jobs_survive_import_and_a_killed_node(loupe_factory, loupe_bin, generated):
    node = loupe_factory("loupe-resume", start=False, extra_args=["--derivation-workers", "1"])
    files = generated.files()
    imported = run([loupe_bin, "import", "--data", node.data_dir, *files[:6]], timeout=300)
    assert imported.returncode == 0, str(imported)

    node.start()
    counts = wait_for_derivations(base(node), timeout=120)
    assert counts["done"] == 6 * DONE and counts["failed"] == 0, counts

    # Store the rest and kill the node at once: acknowledged instances whose PNG was not made yet
    # must get it after the restart.
    sent = node.send(files[6:])
    assert sent.returncode == 0, str(sent)
    node.stop(sig=signal.SIGKILL)
    node.start()
    counts = wait_for_derivations(base(node), timeout=120)
    assert counts["done"] == len(files) * DONE and counts["pending"] == 0, counts
    for instance in generated.instances:
        state, created = png_state(node, instance["SOPInstanceUID"])
        assert state == "done" and len(created) == 1, instance["path"]


def test_reprocess(loupe_factory, loupe_bin, generated):
    node = loupe_factory("loupe-reprocess", start=False)
    files = generated.files()[:4]
    assert run([loupe_bin, "import", "--data", node.data_dir, *files], timeout=300).returncode == 0
    uids = [i["SOPInstanceUID"] for i in generated.instances if str(i["path"]) in map(str, files)]
    assert len(uids) == 4

    # Without a node: reprocess runs the jobs itself (here the first derivation of each).
    done = run([loupe_bin, "reprocess", "--data", node.data_dir, "--all"], timeout=300)
    assert done.returncode == 0, str(done)
    assert f"requeued {4 * PROCESSORS} derivation jobs" in done.output and f"done {4 * DONE}, skipped 4," in done.output, done.output

    one = run([loupe_bin, "reprocess", "--data", node.data_dir, "--instance", uids[0]], timeout=300)
    assert one.returncode == 0 and f"requeued {PROCESSORS} derivation jobs\n" in one.output, str(one)
    only = run([loupe_bin, "reprocess", "--data", node.data_dir, "--instance", uids[0], "--processor", "embedding"], timeout=300)
    assert only.returncode == 0 and "requeued 1 derivation job\n" in only.output, str(only)
    failed = run([loupe_bin, "reprocess", "--data", node.data_dir, "--failed"], timeout=300)
    assert failed.returncode == 0 and "requeued 0 derivation jobs" in failed.output, str(failed)

    unknown = run([loupe_bin, "reprocess", "--data", node.data_dir, "--instance", "1.2.3.4"], timeout=60)
    assert unknown.returncode != 0 and "no instance with SOP Instance UID 1.2.3.4" in unknown.output, str(unknown)
    neither = run([loupe_bin, "reprocess", "--data", node.data_dir], timeout=60)
    assert neither.returncode != 0 and "exactly one of --all, --instance UID, --failed" in neither.output, str(neither)
    wrong = run([loupe_bin, "reprocess", "--data", node.data_dir, "--all", "--processor", "thumbnail"], timeout=60)
    assert wrong.returncode != 0 and "unknown processor thumbnail" in wrong.output, str(wrong)

    # With a node running: --no-wait only requeues; the node's workers derive again.
    node.start()
    before = png_state(node, uids[1])[1]
    queued = run([loupe_bin, "reprocess", "--data", node.data_dir, "--instance", uids[1], "--no-wait"], timeout=60)
    assert queued.returncode == 0 and f"requeued {PROCESSORS}" in queued.output and "done" not in queued.output, str(queued)
    deadline = time.monotonic() + 30
    while png_state(node, uids[1]) == ("done", before):
        assert time.monotonic() < deadline, "the running node did not pick up the requeued job"
        time.sleep(0.3)
    wait_for_derivations(base(node), timeout=60)
    state, after = png_state(node, uids[1])
    assert state == "done" and after != before
    png = session().get(f"{base(node)}/api/derived/{uids[1]}.png", timeout=10)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


def test_paused_derivations_queue_until_workers_run(loupe_factory, generated):
    """--derivation-workers 0: instances are acknowledged and their jobs wait in the queue; the next
    start with workers derives them."""
    node = loupe_factory("loupe-paused", extra_args=["--derivation-workers", "0"])
    files = generated.files()[:3]
    sent = node.send(files)
    assert sent.returncode == 0, str(sent)
    time.sleep(1)
    counts = session().get(f"{base(node)}/api/stats", timeout=10).json()["derivations"]
    assert counts["pending"] == 3 * PROCESSORS and counts["done"] == 0, counts
    node.stop()
    node.extra_args = []
    node.start()
    counts = wait_for_derivations(base(node), timeout=60)
    assert counts["done"] == 3 * DONE and counts["skipped"] == 3, counts
