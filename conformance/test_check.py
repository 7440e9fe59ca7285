"""A file lost from under DATA/files: its retrieve fails with a clear error on every path (HTTP 410 with
a message; the C-GET sub-operation fails), the rest of its series is still served, and `loupe check`
reports it; `loupe check --repair` needs the archive alone, then indexes orphans and drops the rows
of lost files."""

import os
import shutil
import sqlite3

from loupe_support import final_status, http_session


def rows(node) -> list:
    with sqlite3.connect(f"file:{node.data_dir / 'index.sqlite'}?mode=ro", uri=True) as db:
        return db.execute("""SELECT i.SOPInstanceUID, se.SeriesInstanceUID, st.StudyInstanceUID, i.file_path FROM instance i
                             JOIN series se ON se.id = i.series_pk JOIN study st ON st.id = se.study_pk ORDER BY i.id""").fetchall()


def test_a_lost_file_is_refused_clearly_reported_and_repaired(loupe_factory, generated, tmp_path):
    node = loupe_factory("loupe-check", extra_args=["--derivation-workers", "0"])
    series = generated.instances[0]["SeriesInstanceUID"]
    files = [i["path"] for i in generated.instances if i["SeriesInstanceUID"] == series]
    assert len(files) >= 2
    assert node.send(files).returncode == 0
    stored = rows(node)
    (lost, _, study, path), (kept, *_) = stored[0], stored[1]
    files_root = node.data_dir / "files"
    os.unlink(files_root / path)

    http = http_session()
    base = f"{node.base_url}/studies/{study}/series/{series}"
    for suffix, accept in (("", 'multipart/related; type="application/dicom"'),
                           ("/frames/1", 'multipart/related; type="application/octet-stream"'), ("/rendered", "image/png")):
        r = http.get(f"{base}/instances/{lost}{suffix}", headers={"Accept": accept})
        assert r.status_code == 410 and "lost from the archive" in r.json()["error"]["message"], f"{suffix}: {r.status_code} {r.text[:200]}"
    uri = http.get(f"{node.http_url}/wado", params={"requestType": "WADO", "studyUID": study, "seriesUID": series,
                                                     "objectUID": lost, "contentType": "application/dicom"})
    assert uri.status_code == 410, uri.text[:200]
    # The rest of the series is served without it.
    whole = http.get(base, headers={"Accept": 'multipart/related; type="application/dicom"'})
    assert whole.status_code == 200 and kept.encode() in whole.content and lost.encode() not in whole.content
    out = tmp_path / "get"
    out.mkdir()
    got = node.get("IMAGE", {"StudyInstanceUID": study, "SeriesInstanceUID": series, "SOPInstanceUID": lost}, out)
    assert list(out.iterdir()) == [] and final_status(got.output) == 0xA702, str(got)   # unable to perform sub-operations

    # While the node runs: reported, but not repaired.
    checked = node.cli("check")
    assert checked.returncode == 1 and f"lost: {path} ({lost}): missing" in checked.stdout, checked.stdout + checked.stderr
    refused = node.cli("check", "--repair", "--yes")
    assert refused.returncode != 0 and "stop it before --repair" in refused.stderr, refused.stdout + refused.stderr

    node.stop()
    # And an orphan: a copy of an archived instance under another name (indexed as a duplicate: removed).
    orphan = files_root / os.path.dirname(stored[1][3]) / "copy.dcm"
    shutil.copyfile(files_root / stored[1][3], orphan)
    repaired = node.cli("check", "--repair", "--yes")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "1 orphans indexed, 1 rows of lost files dropped" in repaired.stdout, repaired.stdout
    assert not orphan.exists()
    again = node.cli("check")
    assert again.returncode == 0 and f"{len(stored) - 1} instances checked: 0 lost files, 0 files no row names" in again.stdout, again.stdout
    node.start()
    assert http.get(f"{base}/instances/{lost}", headers={"Accept": 'multipart/related; type="application/dicom"'}).status_code == 404
