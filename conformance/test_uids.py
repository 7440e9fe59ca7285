"""UIDs as devices send them: what Loupe accepts it serves by every path, what it refuses it refuses
the same way over DIMSE and DICOMweb.

Accepted although the standard forbids them: components with leading zeros, 64 digits without a
dot, trailing spaces as padding (UI pads with NUL). Refused (C-STORE 0xC000 with a comment, STOW
0xC000 in FailedSOPSequence): letters (a hash in hex), more than 64 characters, empty components
(`1.2..3`, `1.2.`, `..`: the archive's paths are made of UIDs, and `..` would name a parent
directory). Every accepted instance is then found by C-FIND and QIDO, and retrieved bit for bit by
WADO-RS, WADO-URI, C-GET and C-MOVE, also after a restart."""

import random

import pydicom
import pytest
from pydicom.uid import generate_uid

from crash_support import data_set_bytes
from instance_support import c_store, instance, stow
from loupe_support import dataset_bytes, files_by_sop_instance_uid, final_status, http_session

# pydicom warns about every one of these UIDs, rightly.
pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR UI", "ignore:The value length")

ACCEPTED = {
    "leading zeros": "1.2.826.0.1.3680043.8.498.0012.{n}",
    "64 digits without a dot": "9{n:0>63}",
    "trailing space padding": "1.2.826.0.1.3680043.8.498.77.{n} ",
}
REFUSED = {
    "a hash in hex": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a{n:02d}",
    "longer than 64": "1.2.826.0.1.3680043.8.498." + "7" * 40 + ".{n}",
    "an empty component": "1.2..3.{n}",
    "a trailing dot": "1.2.3.{n}.",
    "the parent directory": "..",
}


@pytest.fixture(scope="module")
def node(loupe_factory, storescp):
    return loupe_factory("loupe-uids", peers={"STORESCP": storescp.address}, extra_args=["--derivation-workers", "0"])


def test_refused_uids_are_refused_alike_by_c_store_and_stow(node):
    rng = random.Random(1)
    for n, (case, pattern) in enumerate(REFUSED.items()):
        uid = pattern.format(n=n)
        ds, data = instance(uid, rng)
        assert c_store(node, ds, data) == 0xC000, f"{case} ({uid!r}): C-STORE not refused with 0xC000"
        ds.SOPInstanceUID = generate_uid()
        response = stow(node, ds)
        assert response.status_code == 409, f"{case}: STOW {response.status_code} {response.text[:300]}"
        failed = response.json()["00081198"]["Value"]
        assert [item["00081197"]["Value"] for item in failed] == [[0xC000]], f"{case}: {failed}"
        qido = http_session().get(f"{node.base_url}/studies", params={"PatientID": "UIDS-1", "includefield": "StudyInstanceUID"})
        assert qido.status_code in (200, 204), qido.text[:200]
        stored = {s["0020000D"]["Value"][0] for s in (qido.json() if qido.status_code == 200 else [])}
        assert uid not in stored and uid.strip(".") not in stored, f"{case}: stored after all"
        wado = http_session().get(f"{node.base_url}/studies/{uid}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}")
        assert 400 <= wado.status_code < 500, f"{case}: WADO-RS {wado.status_code}"


def test_accepted_uids_are_served_by_every_path(node, storescp, tmp_path):
    rng = random.Random(2)
    sent: dict[str, tuple[pydicom.Dataset, bytes, str]] = {}
    for n, (case, pattern) in enumerate(ACCEPTED.items()):
        uid = pattern.format(n=n)
        ds, data = instance(uid, rng)
        assert c_store(node, ds, data) == 0x0000, f"{case} ({uid!r}): C-STORE refused"
        stowed, _ = instance(uid, rng)
        response = stow(node, stowed)
        assert response.status_code == 200, f"{case}: STOW {response.status_code} {response.text[:300]}"
        sent[case] = (ds, data, uid.strip())
    for restarted in (False, True):
        if restarted:
            node.restart()
        for case, (ds, data, uid) in sent.items():
            where = f"{case} ({uid!r}){' after a restart' if restarted else ''}"
            found = node.find("STUDY", {"StudyInstanceUID": uid, "NumberOfStudyRelatedInstances": ""})
            assert found.ok and found.values("NumberOfStudyRelatedInstances") == ["2"], f"{where}: C-FIND {found}"
            qido = http_session().get(f"{node.base_url}/studies", params={"StudyInstanceUID": uid})
            assert qido.status_code == 200 and len(qido.json()) == 1, f"{where}: QIDO {qido.status_code} {qido.text[:200]}"
            url = f"{node.base_url}/studies/{uid}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
            wado = http_session().get(url, headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'})
            assert wado.status_code == 200, f"{where}: WADO-RS {wado.status_code} {wado.text[:200]}"
            body = wado.content
            assert data_set_bytes(body[body.index(b"\r\n\r\n") + 4:body.rindex(b"\r\n--")]) == data, f"{where}: WADO-RS bytes"
            metadata = http_session().get(url + "/metadata")
            assert metadata.status_code == 200, f"{where}: metadata {metadata.status_code}"
            uri = http_session().get(f"{node.http_url}/wado", params={
                "requestType": "WADO", "studyUID": uid, "seriesUID": ds.SeriesInstanceUID, "objectUID": ds.SOPInstanceUID,
                "contentType": "application/dicom"})
            assert uri.status_code == 200 and data_set_bytes(uri.content) == data, f"{where}: WADO-URI {uri.status_code}"
            out = tmp_path / f"get-{restarted}-{len(case)}"
            out.mkdir()
            got = node.get("IMAGE", {"StudyInstanceUID": uid, "SeriesInstanceUID": ds.SeriesInstanceUID,
                                     "SOPInstanceUID": ds.SOPInstanceUID}, out)
            received = files_by_sop_instance_uid(out)
            assert final_status(got.output) == 0 and set(received) == {ds.SOPInstanceUID}, f"{where}: C-GET\n{got}"
            assert dataset_bytes(received[ds.SOPInstanceUID]) == data, f"{where}: C-GET bytes"
            storescp.clear()
            moved = node.move("STORESCP", "IMAGE", {"StudyInstanceUID": uid, "SeriesInstanceUID": ds.SeriesInstanceUID,
                                                    "SOPInstanceUID": ds.SOPInstanceUID})
            arrived = storescp.received()
            assert final_status(moved.output) == 0 and set(arrived) == {ds.SOPInstanceUID}, f"{where}: C-MOVE\n{moved}"
            assert dataset_bytes(arrived[ds.SOPInstanceUID]) == data, f"{where}: C-MOVE bytes"
