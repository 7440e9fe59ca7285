"""STOW-RS (PS3.18 10.5) with dicomweb-client: pydicom's test corpus stored over HTTP, the store
response, and every instance retrieved again byte for byte; then the error statuses of STOW-RS
over the wire (200/202/409/415/400)."""

import io

import pydicom
import pytest
from pydicom.uid import generate_uid

from dicomweb_support import (RETRIEVE_URL, bulk_paths, client, compare_datasets, describe, encode_multipart, first,
                              from_json, media_type, multipart_response, read_dicom, session, values)

REFERENCED_SOP_SEQUENCE = 0x00081199
FAILED_SOP_SEQUENCE = 0x00081198
FAILURE_REASON = 0x00081197
ANY_DICOM = 'multipart/related; type="application/dicom"; transfer-syntax=*'


def referenced(response_ds, tag=REFERENCED_SOP_SEQUENCE) -> dict:
    """ReferencedSOPInstanceUID -> item of a STOW-RS response sequence."""
    if tag not in response_ds:
        return {}
    return {str(item.ReferencedSOPInstanceUID): item for item in response_ds[tag].value}


@pytest.mark.parametrize("batch", ["primary", "variants"])
def test_store_instances_response_references_every_instance(stow, batch):
    index = 0 if batch == "primary" else 1
    status, response = stow.responses[index]
    uids = stow.primary if batch == "primary" else stow.variants
    assert status == 200, f"store_instances answered HTTP {status}: {response}"
    assert FAILED_SOP_SEQUENCE not in response, f"failed: {response[FAILED_SOP_SEQUENCE].value}"
    refs = referenced(response)
    assert set(refs) == set(uids), (f"missing {sorted(set(uids) - set(refs))}, "
                                    f"unexpected {sorted(set(refs) - set(uids))}")
    for uid, item in refs.items():
        sent = stow.dataset(uid)
        assert str(item.ReferencedSOPClassUID) == str(sent.SOPClassUID), stow.names[uid]
        url = str(item[RETRIEVE_URL].value)
        assert url == (f"{stow.node.base_url}/studies/{sent.StudyInstanceUID}/series/{sent.SeriesInstanceUID}"
                       f"/instances/{uid}"), f"{stow.names[uid]}: RetrieveURL {url}"


def test_stowed_instances_come_back_byte_identical(stow):
    """WADO-RS with transfer-syntax=* returns exactly the Part-10 bytes that went over the wire,
    each part labelled with the transfer syntax of the file."""
    http = session()
    differing = []
    for uid, data in stow.sent.items():
        ds = read_dicom(data)
        url = f"{stow.node.base_url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{uid}"
        r = http.get(url, headers={"Accept": ANY_DICOM}, timeout=60)
        assert r.status_code == 200, describe(r)
        parts = multipart_response(r)
        assert len(parts) == 1, f"{stow.names[uid]}: {len(parts)} parts"
        kind, params = media_type(parts[0].content_type)
        assert kind == "application/dicom", f"{stow.names[uid]}: part {parts[0].content_type}"
        assert params.get("transfer-syntax") == str(ds.file_meta.TransferSyntaxUID), \
            f"{stow.names[uid]}: part {parts[0].content_type}, file in {ds.file_meta.TransferSyntaxUID}"
        if parts[0].body != data:
            differing.append(f"{stow.names[uid]}: {len(parts[0].body)} bytes back, {len(data)} sent")
    assert not differing, "\n".join(differing)


def test_metadata_of_stowed_instances_equals_what_was_sent(stow):
    """Metadata of every instance stored over STOW-RS (implicit VR, big endian, deflated, RLE, JPEG
    flavours among them) against pydicom's reading of the bytes sent: same elements, VRs and values."""
    web = client(stow.node.base_url)
    problems = []
    for uid, data in sorted(stow.sent.items(), key=lambda item: stow.names[item[0]]):
        ds = read_dicom(data)
        item = web.retrieve_instance_metadata(str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), uid)
        differences = compare_datasets(from_json(item), ds, big_endian=not ds.is_little_endian,
                                       bulk=set(bulk_paths(item)))
        problems += [f"{stow.names[uid]} ({ds.file_meta.TransferSyntaxUID}): {d}" for d in differences]
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:60])


def test_retrieve_study_with_dicomweb_client_returns_what_was_stored(stow):
    """dicomweb-client's retrieve_study (any transfer syntax) on the variants' study: every
    instance, each data set equal to the one sent."""
    got = client(stow.node.base_url).retrieve_study(stow.variant_study, media_types=(("application/dicom", "*"),))
    by_uid = {str(ds.SOPInstanceUID): ds for ds in got}
    assert set(by_uid) == set(stow.variants)
    for uid, ds in by_uid.items():
        sent = stow.dataset(uid)
        assert str(ds.file_meta.TransferSyntaxUID) == str(sent.file_meta.TransferSyntaxUID), stow.names[uid]
        assert ds.PixelData == sent.PixelData, stow.names[uid]


def test_search_finds_every_stowed_instance_and_stats_agree(stow):
    found = client(stow.node.base_url).search_for_instances()
    uids = [first(item, "SOPInstanceUID") for item in found]
    assert sorted(uids) == sorted(stow.sent), "QIDO-RS does not list what STOW-RS stored"
    datasets = [stow.dataset(u) for u in stow.sent]
    stats = session().get(stow.node.http_url + "/api/stats", timeout=30).json()
    assert stats["instances"] == len(datasets)
    assert stats["series"] == len({str(d.SeriesInstanceUID) for d in datasets})
    assert stats["studies"] == len({str(d.StudyInstanceUID) for d in datasets})


# ---- error statuses ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stow_errors(loupe_factory, generated):
    """An empty node, and a fresh instance (new UIDs) made from a generated CT image."""
    node = loupe_factory("loupe-stow-errors")

    def fresh(study_uid=None) -> tuple:
        ds = pydicom.dcmread(generated.instances[0]["path"])
        ds.StudyInstanceUID = study_uid or generate_uid()
        ds.SeriesInstanceUID = generate_uid()
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True)
        return ds, out.getvalue()

    return node, fresh


def post(node, body: bytes, content_type: str, path: str = "/studies"):
    return session().post(node.base_url + path, data=body, headers={"Content-Type": content_type,
                                                                     "Accept": "application/dicom+json"}, timeout=60)


def multipart_type(boundary="loupe-conformance-boundary"):
    return f'multipart/related; type="application/dicom"; boundary={boundary}'


def response_dataset(r):
    kind, _ = media_type(r.headers.get("Content-Type"))
    assert kind == "application/dicom+json", describe(r)
    return pydicom.Dataset.from_json(r.json())


def assert_error_message(r, status):
    assert r.status_code == status, describe(r)
    body = r.json()
    message = body.get("error", {}).get("message")
    assert isinstance(message, str) and message.strip(), f"no error message: {body}"


def test_stow_all_stored_is_200(stow_errors):
    node, fresh = stow_errors
    ds, data = fresh()
    r = post(node, encode_multipart([data], "b1"), multipart_type("b1"))
    assert r.status_code == 200, describe(r)
    result = response_dataset(r)
    assert set(referenced(result)) == {str(ds.SOPInstanceUID)}
    assert FAILED_SOP_SEQUENCE not in result
    assert str(result[RETRIEVE_URL].value) == f"{node.base_url}/studies/{ds.StudyInstanceUID}", \
        "one study stored: the response names it"


def test_stow_some_failed_is_202_with_failure_reasons(stow_errors):
    node, fresh = stow_errors
    ds, data = fresh()
    r = post(node, encode_multipart([data, b"this is not DICOM at all" * 20], "b2"), multipart_type("b2"))
    assert r.status_code == 202, describe(r)
    result = response_dataset(r)
    assert set(referenced(result)) == {str(ds.SOPInstanceUID)}
    failed = result[FAILED_SOP_SEQUENCE].value
    assert len(failed) == 1, failed
    assert FAILURE_REASON in failed[0] and failed[0][FAILURE_REASON].value != 0, failed
    # The good one is there, retrievable.
    got = session().get(f"{node.base_url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
                        f"/instances/{ds.SOPInstanceUID}", headers={"Accept": ANY_DICOM}, timeout=30)
    assert got.status_code == 200 and multipart_response(got)[0].body == data, describe(got)


def test_stow_none_stored_is_409(stow_errors):
    node, _ = stow_errors
    r = post(node, encode_multipart([b"garbage" * 50, b"\0" * 300], "b3"), multipart_type("b3"))
    assert r.status_code == 409, describe(r)
    result = response_dataset(r)
    assert REFERENCED_SOP_SEQUENCE not in result or not result[REFERENCED_SOP_SEQUENCE].value
    failed = result[FAILED_SOP_SEQUENCE].value
    assert len(failed) == 2 and all(item[FAILURE_REASON].value != 0 for item in failed), failed


def test_stow_to_a_study_refuses_instances_of_another_study(stow_errors):
    """POST /studies/{study}: an instance of another study is not stored (PS3.18 10.5.1)."""
    node, fresh = stow_errors
    target = generate_uid()
    ds, data = fresh()                        # its own, different study
    r = post(node, encode_multipart([data], "b4"), multipart_type("b4"), path=f"/studies/{target}")
    assert r.status_code == 409, describe(r)
    failed = referenced(response_dataset(r), FAILED_SOP_SEQUENCE)
    assert set(failed) == {str(ds.SOPInstanceUID)} and failed[str(ds.SOPInstanceUID)][FAILURE_REASON].value != 0
    search = session().get(f"{node.base_url}/instances", params={"SOPInstanceUID": str(ds.SOPInstanceUID)},
                           headers={"Accept": "application/dicom+json"}, timeout=30)
    assert search.status_code == 200 and search.json() == [], "the refused instance was stored"
    # The same POST to its own study is fine.
    ok = post(node, encode_multipart([data], "b5"), multipart_type("b5"), path=f"/studies/{ds.StudyInstanceUID}")
    assert ok.status_code == 200, describe(ok)


@pytest.mark.parametrize("content_type", [
    "application/dicom",
    "application/json",
    'multipart/related; type="application/dicom+json"; boundary=xyz',
], ids=["bare-dicom", "json", "dicom+json-parts"])
def test_stow_wrong_content_type_is_415(stow_errors, content_type):
    node, fresh = stow_errors
    _, data = fresh()
    body = data if "boundary" not in content_type else encode_multipart([b"{}"], "xyz", "application/dicom+json")
    r = post(node, body, content_type)
    assert r.status_code == 415, describe(r)


@pytest.mark.parametrize("case", ["no-boundary", "no-delimiters", "empty"])
def test_stow_malformed_request_is_400_with_message(stow_errors, case):
    node, fresh = stow_errors
    _, data = fresh()
    if case == "no-boundary":
        r = post(node, encode_multipart([data], "b6"), 'multipart/related; type="application/dicom"')
    elif case == "no-delimiters":
        r = post(node, data, multipart_type("b7"))
    else:
        r = post(node, b"", multipart_type("b8"))
    assert_error_message(r, 400)


def test_stow_response_is_parseable_by_the_client_helper(stow_errors):
    """The response of a mixed request reads as a PS3.18 F.2 DICOM JSON object (not an array),
    with the sequences' items as objects."""
    node, fresh = stow_errors
    _, data = fresh()
    r = post(node, encode_multipart([data, b"nope" * 40], "b9"), multipart_type("b9"))
    assert r.status_code == 202, describe(r)
    body = r.json()
    assert isinstance(body, dict), f"the response is a {type(body).__name__}, not one data set"
    assert values(body, "ReferencedSOPSequence") and values(body, "FailedSOPSequence"), body
    assert body["00081198"]["vr"] == "SQ" and body["00081199"]["vr"] == "SQ"
    reason = body["00081198"]["Value"][0]["00081197"]
    assert reason["vr"] == "US" and isinstance(reason["Value"][0], int), reason
