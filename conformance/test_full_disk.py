"""A full disk: with less than `archive.min_free_mb` left on the data directory's file system, stores are
refused (C-STORE 0xA700 with a comment, STOW 507) and nothing is half-written; searches, retrieves and
the screens keep working; when space returns, ingest resumes by itself, without a restart.

The disk is filled for real: the node keeps a margin a little below what is free when the test starts,
and a file as large as twice that margin takes the space."""

import os
import random

from instance_support import c_store, instance, stow
from loupe_support import http_session

MARGIN = 48 << 20


def free_bytes(path) -> int:
    info = os.statvfs(path)
    return info.f_bavail * info.f_frsize


def test_a_full_disk_refuses_stores_keeps_serving_and_recovers(loupe_factory, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    keep_free_mb = (free_bytes(data) - MARGIN) >> 20
    config = tmp_path / "loupe.yaml"
    config.write_text(f"archive:\n  min_free_mb: {keep_free_mb}\n")
    node = loupe_factory("loupe-full", config=config, data_dir=data, extra_args=["--derivation-workers", "0"])
    rng = random.Random(3)
    http = http_session()

    stored, data_set = instance("1.2.826.0.1.3680043.8.498.4242.1", rng)
    assert c_store(node, stored, data_set) == 0x0000

    filler = tmp_path / "filler"
    with open(filler, "wb") as f:
        os.posix_fallocate(f.fileno(), 0, 2 * MARGIN)
    try:
        assert free_bytes(data) < keep_free_mb << 20
        refused, refused_bytes = instance("1.2.826.0.1.3680043.8.498.4242.1", rng)
        assert c_store(node, refused, refused_bytes) == 0xA700, "C-STORE on a full disk not refused with 0xA700"
        stowed = stow(node, refused)
        assert stowed.status_code == 507, f"STOW on a full disk: {stowed.status_code} {stowed.text[:300]}"
        assert [i["00081197"]["Value"] for i in stowed.json()["00081198"]["Value"]] == [[0xA700]]
        # Nothing of it is anywhere; what was there is served, searched and shown.
        assert list((data / "tmp").iterdir()) == []
        files = [p for p in (data / "files").rglob("*") if p.is_file()]
        assert len(files) == 1
        qido = http.get(f"{node.base_url}/instances", params={"StudyInstanceUID": stored.StudyInstanceUID})
        assert qido.status_code == 200 and len(qido.json()) == 1
        wado = http.get(f"{node.base_url}/studies/{stored.StudyInstanceUID}/series/{stored.SeriesInstanceUID}"
                        f"/instances/{stored.SOPInstanceUID}", headers={"Accept": 'multipart/related; type="application/dicom"'})
        assert wado.status_code == 200 and data_set in wado.content
        assert http.get(f"{node.http_url}/").status_code == 200
        assert http.get(f"{node.http_url}/readyz").status_code == 200
    finally:
        filler.unlink()

    # Space is back: the same instance is stored now, by both paths.
    assert c_store(node, refused, refused_bytes) == 0x0000
    again, _ = instance("1.2.826.0.1.3680043.8.498.4242.1", rng)
    stowed = stow(node, again)
    assert stowed.status_code == 200, stowed.text[:300]
    qido = http.get(f"{node.base_url}/instances", params={"StudyInstanceUID": stored.StudyInstanceUID})
    assert len(qido.json()) == 3
