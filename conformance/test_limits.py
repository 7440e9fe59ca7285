"""Limits that hold against hostile requests: a deflated data set that inflates beyond
archive.max_inflated_mb (a deflate bomb, over STOW-RS and C-STORE), more multipart parts than
http.max_parts, a body over http.max_upload_mb, a request head over 80 kB, and pixel dimensions that
promise gigabytes. Each gets a clear refusal; the node keeps serving what it stored."""

import random
import socket
import sys
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import DeflatedExplicitVRLittleEndian

from conftest import write_yaml
from dicomweb_support import analysis, encode_multipart, wait_for_derivations
from instance_support import instance, part10, stow
from loupe_corpus import CT_IMAGE_STORAGE
from loupe_support import HOST, http_session, meta_end, run

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench" / "ingest"))
import dimse  # noqa: E402

STOW_TYPE = 'multipart/related; type="application/dicom"; boundary=limits'


@pytest.fixture(scope="module")
def node(loupe_factory, tmp_path_factory):
    work = tmp_path_factory.mktemp("limits")
    config = write_yaml(work / "limits.yaml",
                        "archive:\n  max_inflated_mb: 8\nhttp:\n  max_parts: 5\n  max_upload_mb: 2\n"
                        "derivation:\n  max_attempts: 1\n")  # an unreadable image fails at once
    node = loupe_factory("loupe-limits", config=config)
    ds, _ = instance("1.2.826.0.1.3680043.10.2.1", random.Random(1))
    assert stow(node, ds).status_code == 200
    node.kept = ds
    return node


def still_serves(node):
    ds = node.kept
    url = f"{node.base_url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
    response = http_session().get(url, headers={"Accept": 'multipart/related; type="application/dicom"'}, timeout=30)
    assert response.status_code == 200 and ds.SOPInstanceUID.encode() in response.content


def deflate_bomb(inflated_mb: int) -> tuple[pydicom.Dataset, bytes, bytes]:
    """A CT whose private OB value is `inflated_mb` of zeros, deflated: (data set, its Part-10 file,
    its deflated data set as a C-STORE carries it)."""
    ds, _ = instance("1.2.826.0.1.3680043.10.2.2", random.Random(2))
    ds.add_new(0x00091010, "LO", "LOUPE LIMITS")
    ds.add_new(0x00091100, "OB", bytes(inflated_mb << 20))
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    file = out.getvalue()
    return ds, file, file[meta_end(file):]


def test_deflate_bomb_is_refused_over_stow_and_c_store(node):
    ds, file, data_set = deflate_bomb(64)
    assert len(file) < 1 << 20, "the bomb is not small"
    refusal = "inflates to more than 8 MB"
    response = http_session().post(f"{node.base_url}/studies", data=encode_multipart([file], "limits"), timeout=60,
                                   headers={"Content-Type": STOW_TYPE, "Accept": "application/dicom+json"})
    assert response.status_code == 409, response.text[:300]
    assert [i["00081197"]["Value"] for i in response.json()["00081198"]["Value"]] == [[0xC000]]
    assert node.log_text().count(refusal) == 1
    with dimse.Association(HOST, int(node.port), node.ae, "BOMBSCU", abstract_syntaxes=(CT_IMAGE_STORAGE,),
                           transfer_syntaxes=(DeflatedExplicitVRLittleEndian,)) as association:
        assert association.store(CT_IMAGE_STORAGE, ds.SOPInstanceUID, data_set) == 0xC000
    assert node.log_text().count(refusal) == 2
    assert http_session().get(f"{node.base_url}/studies?StudyInstanceUID={ds.StudyInstanceUID}", timeout=30).json() == []
    still_serves(node)


def test_more_parts_than_max_parts_is_413(node):
    files = [part10(instance("1.2.826.0.1.3680043.10.2.3", random.Random(10 + n))[0]) for n in range(6)]
    response = http_session().post(f"{node.base_url}/studies", data=encode_multipart(files, "limits"), timeout=60,
                                   headers={"Content-Type": STOW_TYPE, "Accept": "application/dicom+json"})
    assert response.status_code == 413, response.text[:300]
    assert "more than the 5 parts" in response.text
    response = http_session().post(f"{node.base_url}/studies", data=encode_multipart(files[:5], "limits"), timeout=60,
                                   headers={"Content-Type": STOW_TYPE, "Accept": "application/dicom+json"})
    assert response.status_code == 200, response.text[:300]


def test_body_over_max_upload_is_413(node):
    response = http_session().post(f"{node.base_url}/studies", data=encode_multipart([bytes(3 << 20)], "limits"),
                                   timeout=60, headers={"Content-Type": STOW_TYPE, "Accept": "application/dicom+json"})
    assert response.status_code == 413, response.text[:300]
    still_serves(node)


def test_request_head_over_80_kb_is_refused_without_5xx(node):
    with socket.create_connection((HOST, node.http_port), timeout=10) as sock:
        sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\nX-Big: {'a' * (100 << 10)}\r\n\r\n".encode())
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass  # closed, as at the end of the file; a timeout (neither answered nor closed) fails the test
    status = answer.split(b" ", 2)[1] if answer.startswith(b"HTTP/1.1 ") else b"closed"
    assert status in (b"400", b"431", b"closed"), answer[:200]
    still_serves(node)


@pytest.mark.parametrize("section, key, value", [
    ("http", "max_upload_mb", 1 << 44), ("http", "idle_timeout", 10 ** 10), ("http", "max_parts", 0),
    ("http", "body_timeout", 0), ("http", "min_body_rate", -1),
    ("archive", "max_inflated_mb", 2048), ("archive", "min_free_mb", 1 << 44)])
def test_limits_out_of_range_are_refused_at_start(loupe_bin, tmp_path, section, key, value):
    config = write_yaml(tmp_path / "bad.yaml", f"{section}:\n  {key}: {value}\n")
    result = run([loupe_bin, "serve", "--config", config, "--data", tmp_path / "data"], timeout=60)
    assert result.returncode != 0 and f"{section} {key} must be" in result.output, result.output


def test_query_identifiers_are_never_deflated(node):
    """DCMTK would inflate a deflated C-FIND/C-MOVE/C-GET identifier in memory without bound: the
    query models accept only uncompressed syntaxes (a store's data set is inflated by Loupe, bounded)."""
    with pytest.raises(dimse.DIMSEError, match="association rejected|no presentation context accepted"):
        dimse.Association(HOST, int(node.port), node.ae, "BOMBSCU", abstract_syntaxes=(dimse.STUDY_ROOT_FIND,),
                          transfer_syntaxes=(DeflatedExplicitVRLittleEndian,))
    with dimse.Association(HOST, int(node.port), node.ae, "FINDSCU", abstract_syntaxes=(dimse.STUDY_ROOT_FIND,),
                           transfer_syntaxes=(DeflatedExplicitVRLittleEndian, dimse.EXPLICIT_LE)) as association:
        identifier = pydicom.Dataset()
        identifier.QueryRetrieveLevel, identifier.StudyInstanceUID = "STUDY", node.kept.StudyInstanceUID
        assert len(association.find(identifier)) == 1


def hostile_dimensions() -> list[pydicom.Dataset]:
    """Headers that promise gigabytes over a few bytes of pixel data: 65535² 16-bit, 2^31 − 1 frames,
    65535² RGB, and all of these at once (more bytes than a 64-bit integer counts)."""
    def image(seed, rows, columns, samples, bits, frames, pixels):
        ds, _ = instance("1.2.826.0.1.3680043.10.2.4", random.Random(seed))
        ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.BitsAllocated = rows, columns, samples, bits
        ds.BitsStored, ds.HighBit = bits, bits - 1
        if samples == 3:
            ds.PhotometricInterpretation, ds.PlanarConfiguration = "RGB", 0
        if frames > 1:
            ds.NumberOfFrames = frames
        ds.PixelData = bytes(pixels)
        return ds
    return [image(20, 65535, 65535, 1, 16, 1, 8), image(21, 16, 16, 1, 16, (1 << 31) - 1, 8),
            image(22, 65535, 65535, 3, 8, 1, 12), image(23, 65535, 65535, 3, 16, (1 << 31) - 1, 12)]


def test_hostile_pixel_dimensions_allocate_nothing_and_are_refused_clearly(node):
    """Rows × Columns × Frames × Samples far beyond the bytes sent: stored as sent (the header is the
    sender's), but rendering and frames answer 4xx with a message, derivations fail without
    allocating the promised gigabytes, and the node keeps serving."""
    images = hostile_dimensions()
    for ds in images[:3]:
        assert stow(node, ds).status_code == 200
    ds = images[3]
    with dimse.Association(HOST, int(node.port), node.ae, "DIMSSCU", abstract_syntaxes=(CT_IMAGE_STORAGE,),
                           transfer_syntaxes=(dimse.EXPLICIT_LE,)) as association:
        assert association.store(CT_IMAGE_STORAGE, ds.SOPInstanceUID, dimse.encode_dataset(ds, dimse.EXPLICIT_LE)) == 0
    wait_for_derivations(node.http_url, timeout=120)
    for ds in images:
        url = f"{node.base_url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
        for path, accept in (("/frames/1", 'multipart/related; type="application/octet-stream"'),
                             ("/rendered", "image/png"), ("/frames/1/rendered", "image/png")):
            response = http_session().get(url + path, headers={"Accept": accept}, timeout=30)
            assert 400 <= response.status_code < 500 and response.text.strip(), (path, response.status_code, response.text[:200])
        assert http_session().get(url + "/metadata", timeout=30).status_code == 200
        jobs = analysis(node.http_url, ds.SOPInstanceUID)["derivations"]
        assert {j["processor"]: j["state"] for j in jobs}.get("png") == "failed", jobs
    peak_kb = int(next(line.split()[1] for line in Path(f"/proc/{node.proc.pid}/status").read_text().splitlines()
                       if line.startswith("VmHWM:")))
    assert peak_kb < 1 << 20, f"peak RSS {peak_kb >> 10} MB: a promised image was allocated"
    still_serves(node)
