"""WADO-RS on the main archive (the generated corpus and pydicom's files, received over DIMSE):
metadata compared attribute by attribute with pydicom's reading of the stored files, BulkDataURIs,
metadata at the three levels and gzip; retrieve of studies, series and instances with
dicomweb-client (converted to Explicit VR Little Endian by default, as stored with
transfer-syntax=*); rendered and thumbnail resources decoded with Pillow; WADO-URI."""

import gzip
import io
import warnings

import numpy as np
import pydicom
import pytest
import requests

from dicomweb_support import (EXPLICIT_VR_LE, IMPLICIT_VR_LE, JPEG_2000, JPEG_BASELINE, bulk_paths, compare_datasets,
                              decodable, describe, from_json, media_type, multipart_response, pixel_frames,
                              read_dicom, session)
from loupe_support import dataset_bytes, first_difference

ANY_DICOM = 'multipart/related; type="application/dicom"; transfer-syntax=*'
DICOM_JSON = {"Accept": "application/dicom+json"}


def read(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path)


def instance_url(web, record) -> str:
    return (f"{web.base_url}/studies/{record['StudyInstanceUID']}/series/{record['SeriesInstanceUID']}"
            f"/instances/{record['SOPInstanceUID']}")


def stored_syntax(web, uid) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return str(pydicom.dcmread(web.stored[uid], stop_before_pixels=True).file_meta.TransferSyntaxUID)


def image(data: bytes, expected_format: str):
    from PIL import Image
    picture = Image.open(io.BytesIO(data))
    picture.load()
    assert picture.format == expected_format, f"{picture.format}, not {expected_format}"
    return picture


# ---- metadata ---------------------------------------------------------------------------------------

def test_series_metadata_equals_the_stored_files(web):
    """retrieve_series_metadata for every series: one object per instance, and each, read with
    pydicom's Dataset.from_json, has exactly the data elements of the stored file with the same
    VRs and values (bulk data aside)."""
    client = web.client()
    problems = []
    series = web.model.groups("SERIES")
    for series_uid, records in series.items():
        study_uid = records[0]["StudyInstanceUID"]
        metadata = client.retrieve_series_metadata(study_uid, series_uid)
        by_uid = {item["00080018"]["Value"][0]: item for item in metadata}
        expected = {r["SOPInstanceUID"] for r in records}
        if set(by_uid) != expected:
            problems.append(f"series {series_uid}: instances {sorted(by_uid)} instead of {sorted(expected)}")
            continue
        for uid, item in by_uid.items():
            file_ds = read(web.stored[uid])
            differences = compare_datasets(from_json(item), file_ds, big_endian=not file_ds.is_little_endian,
                                           bulk=set(bulk_paths(item)))
            problems += [f"{web.stored[uid].name}: {d}" for d in differences]
    assert len(series) >= 40
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:60])


def test_bulk_data_uris_resolve_to_the_stored_values(web):
    """Every BulkDataURI of the instance metadata points into that instance's bulkdata resource and
    answers the element's value (little endian), one application/octet-stream part; Pixel Data's
    answers the frames."""
    http = session()
    problems = []
    checked = 0
    for uid, path in sorted(web.stored.items()):
        record = web.record(uid)
        base = instance_url(web, record)
        r = http.get(base + "/metadata", headers=DICOM_JSON, timeout=60)
        assert r.status_code == 200, describe(r)
        [item] = r.json()
        file_ds = read(path)
        for key, uri in bulk_paths(item).items():
            if not uri.startswith(base + "/bulkdata/"):
                problems.append(f"{path.name} {key}: BulkDataURI {uri} is not under {base}/bulkdata/")
                continue
            if key == ("7FE00010",):
                continue          # pixel data: test_pixel_data_bulk_data_uri_gives_the_frames
            element, ds = None, file_ds
            for step in key:
                if isinstance(step, int):
                    ds = element.value[step]
                else:
                    element = ds[int(step, 16)]
            got = http.get(uri, headers={"Accept": 'multipart/related; type="application/octet-stream"'}, timeout=60)
            if got.status_code != 200:
                problems.append(f"{path.name} {key}: HTTP {got.status_code} {got.text[:200]}")
                continue
            parts = multipart_response(got)
            want = bytes(element.value)
            if not file_ds.is_little_endian and element.VR in ("OW", "US", "SS"):
                want = b"".join(want[i:i + 2][::-1] for i in range(0, len(want), 2))
            if len(parts) != 1 or parts[0].body.rstrip(b"\0") != want.rstrip(b"\0"):
                problems.append(f"{path.name} {key}: {[len(p.body) for p in parts]} bytes, {len(want)} in the file")
            checked += 1
    assert checked >= 3, f"only {checked} bulk data values outside Pixel Data"
    assert not problems, "\n".join(problems)


def test_pixel_data_bulk_data_uri_gives_the_frames(web):
    record = web.archive.generated.study("S1")[0]
    base = instance_url(web, record)
    item = session().get(base + "/metadata", headers=DICOM_JSON, timeout=30).json()[0]
    assert item["7FE00010"] == {"vr": "OW", "BulkDataURI": base + "/bulkdata/7FE00010"}, item["7FE00010"]
    r = session().get(base + "/bulkdata/7FE00010", headers={"Accept": 'multipart/related; type="application/octet-stream"'},
                      timeout=30)
    assert r.status_code == 200, describe(r)
    parts = multipart_response(r)
    assert [p.body for p in parts] == [read(record["path"]).PixelData]


def test_metadata_at_study_series_and_instance_level_agree(web):
    http = session()
    study = web.archive.generated.study("S1")
    s = study[0]["StudyInstanceUID"]
    at_study = http.get(f"{web.base_url}/studies/{s}/metadata", headers=DICOM_JSON, timeout=30)
    assert at_study.status_code == 200, describe(at_study)
    assert media_type(at_study.headers["Content-Type"])[0] == "application/dicom+json"
    objects = {o["00080018"]["Value"][0]: o for o in at_study.json()}
    assert set(objects) == {r["SOPInstanceUID"] for r in study}
    for record in study:
        series = http.get(f"{web.base_url}/studies/{s}/series/{record['SeriesInstanceUID']}/metadata",
                          headers=DICOM_JSON, timeout=30).json()
        assert {o["00080018"]["Value"][0] for o in series} == \
            {r["SOPInstanceUID"] for r in study if r["SeriesInstanceUID"] == record["SeriesInstanceUID"]}
        one = http.get(instance_url(web, record) + "/metadata", headers=DICOM_JSON, timeout=30).json()
        assert one == [objects[record["SOPInstanceUID"]]]
        assert next(o for o in series if o["00080018"]["Value"][0] == record["SOPInstanceUID"]) == one[0]


def test_metadata_gzip_when_accepted(web):
    s = web.archive.generated.studies["S4"]
    url = f"{web.base_url}/studies/{s}/metadata"
    plain = session().get(url, headers={**DICOM_JSON, "Accept-Encoding": "identity"}, timeout=30)
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers, describe(plain)
    r = session().get(url, headers={**DICOM_JSON, "Accept-Encoding": "gzip"}, timeout=30, stream=True)
    assert r.status_code == 200, describe(r)
    assert r.headers.get("Content-Encoding") == "gzip", dict(r.headers)
    raw = r.raw.read(decode_content=False)
    assert raw[:2] == b"\x1f\x8b", "not a gzip stream"
    assert gzip.decompress(raw) == plain.content


# ---- retrieve ---------------------------------------------------------------------------------------

def test_instances_with_any_transfer_syntax_are_as_received(web):
    """transfer-syntax=*: every instance comes back with the data set Loupe received, bit for bit,
    in a Part-10 file whose meta information and part header name the stored transfer syntax."""
    http = session()
    problems = []
    for uid, path in sorted(web.stored.items()):
        r = http.get(instance_url(web, web.record(uid)), headers={"Accept": ANY_DICOM}, timeout=60)
        if r.status_code != 200:
            problems.append(f"{path.name}: HTTP {r.status_code}")
            continue
        [part] = multipart_response(r)
        got = read_dicom(part.body)
        ts = media_type(part.content_type)[1].get("transfer-syntax")
        if ts != str(got.file_meta.TransferSyntaxUID) or ts != stored_syntax(web, uid):
            problems.append(f"{path.name}: part says {ts}, file meta {got.file_meta.TransferSyntaxUID}")
        want = dataset_bytes(path)
        if dataset_bytes_of(part.body) != want:
            problems.append(f"{path.name}: {first_difference(dataset_bytes_of(part.body), want)}")
    assert not problems, "\n".join(problems)


def dataset_bytes_of(data: bytes) -> bytes:
    from loupe_support import meta_end
    return data[meta_end(data):]


def test_retrieve_study_with_dicomweb_client_is_explicit_vr_little_endian(web):
    """retrieve_study without a transfer syntax (dicomweb-client asks for
    multipart/related; type="application/dicom"): every instance, converted to Explicit VR
    Little Endian (PS3.18 8.7.3.5.2), same pixels."""
    client = web.client()
    study = web.archive.generated.study("S1")
    got = client.retrieve_study(study[0]["StudyInstanceUID"])
    by_uid = {str(ds.SOPInstanceUID): ds for ds in got}
    assert set(by_uid) == {r["SOPInstanceUID"] for r in study}
    for record in study:
        ds = by_uid[record["SOPInstanceUID"]]
        assert str(ds.file_meta.TransferSyntaxUID) == EXPLICIT_VR_LE
        assert ds.PixelData == read(record["path"]).PixelData


def jpeg_baseline_records(web):
    return [web.record(u) for u in sorted(web.stored) if stored_syntax(web, u) == JPEG_BASELINE]


def test_retrieve_instance_converts_jpeg_to_explicit_vr_little_endian(web):
    """retrieve_instance asking for Explicit VR Little Endian (dicomweb-client's own default for an
    instance is transfer-syntax=*) of every JPEG baseline instance: converted, colour decoded to
    RGB, pixels within ±2 of pydicom's decoding of the stored file."""
    client = web.client()
    records = jpeg_baseline_records(web)
    assert len(records) >= 5
    problems = []
    for record in records:
        name = web.stored[record["SOPInstanceUID"]].name
        got = client.retrieve_instance(record["StudyInstanceUID"], record["SeriesInstanceUID"], record["SOPInstanceUID"],
                                       media_types=(("application/dicom", EXPLICIT_VR_LE),))
        if str(got.file_meta.TransferSyntaxUID) != EXPLICIT_VR_LE:
            problems.append(f"{name}: {got.file_meta.TransferSyntaxUID}")
            continue
        original = pixel_frames(read(web.stored[record["SOPInstanceUID"]]))
        decoded = pixel_frames(got)
        if decoded.shape != original.shape:
            problems.append(f"{name}: shape {decoded.shape}, {original.shape} stored")
        elif np.abs(decoded.astype(int) - original.astype(int)).max() > 2:
            problems.append(f"{name}: pixels differ by {np.abs(decoded.astype(int) - original.astype(int)).max()}")
    assert not problems, "\n".join(problems)


def test_retrieve_any_syntax_with_dicomweb_client(web):
    client = web.client()
    record = jpeg_baseline_records(web)[0]
    [ds] = client.retrieve_series(record["StudyInstanceUID"], record["SeriesInstanceUID"],
                                  media_types=(("application/dicom", "*"),))
    assert str(ds.file_meta.TransferSyntaxUID) == JPEG_BASELINE
    assert ds.PixelData == read(web.stored[record["SOPInstanceUID"]]).PixelData


def test_retrieve_of_jpeg_2000_in_the_default_syntax_is_decoded(web):
    """A study with a JPEG 2000 instance asked for in the default transfer syntax (Explicit VR
    Little Endian, PS3.18 8.7.3.5.2): every part is decoded, and the JPEG 2000 instance's pixels
    equal pydicom's decoding of the stored file (pylibjpeg-openjpeg)."""
    uid = next(u for u in sorted(web.stored) if stored_syntax(web, u) in JPEG_2000)
    record = web.record(uid)
    url = f"{web.base_url}/studies/{record['StudyInstanceUID']}"
    r = session().get(url, headers={"Accept": 'multipart/related; type="application/dicom"'}, timeout=60)
    assert r.status_code == 200, describe(r)
    parts = multipart_response(r)
    assert all(media_type(p.content_type)[1].get("transfer-syntax") == EXPLICIT_VR_LE for p in parts)
    [converted] = [d for d in map(read_dicom, (p.body for p in parts)) if d.SOPInstanceUID == uid]
    assert str(converted.file_meta.TransferSyntaxUID) == EXPLICIT_VR_LE
    assert np.array_equal(converted.pixel_array, read(web.stored[uid]).pixel_array)


# ---- rendered -----------------------------------------------------------------------------------------

def renderable(web):
    out = []
    for uid in sorted(web.stored):
        ds = read(web.stored[uid])
        if "PixelData" in ds and "Rows" in ds:
            out.append((uid, ds))
    return out


@pytest.mark.parametrize("accept,fmt", [(None, "JPEG"), ("image/png", "PNG")], ids=["jpeg-default", "png"])
def test_rendered_instances_decode_with_their_size(web, accept, fmt):
    """Every image instance rendered (JPEG 2000 included): Pillow decodes it, Columns x Rows.
    Pixel data no decoder can read (pydicom fails too, e.g. JPEG2000-embedded-sequence-delimiter):
    422 with a message."""
    http = session()
    problems = []
    headers = {"Accept": accept} if accept else {}
    for uid, ds in renderable(web):
        r = http.get(instance_url(web, web.record(uid)) + "/rendered", headers=headers, timeout=60)
        if not decodable(ds):
            if r.status_code != 422 or not r.json().get("error", {}).get("message"):
                problems.append(f"{web.stored[uid].name}: undecodable, answered {r.status_code} {r.text[:120]}")
            continue
        if r.status_code != 200:
            problems.append(f"{web.stored[uid].name} ({ds.file_meta.TransferSyntaxUID}): HTTP {r.status_code} {r.text[:200]}")
            continue
        if media_type(r.headers.get("Content-Type"))[0] != f"image/{fmt.lower()}":
            problems.append(f"{web.stored[uid].name}: Content-Type {r.headers.get('Content-Type')}")
        try:
            picture = image(r.content, fmt)
        except Exception as e:
            problems.append(f"{web.stored[uid].name}: {e}")
            continue
        if picture.size != (int(ds.Columns), int(ds.Rows)):
            problems.append(f"{web.stored[uid].name}: {picture.size}, not {(int(ds.Columns), int(ds.Rows))}")
    assert not problems, "\n".join(problems)


def expected_linear_window(ds, center: float, width: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1 (LINEAR) on the modality values, to 8 bits."""
    values = ds.pixel_array.astype(float) * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
    low, high = center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2
    if width == 1:       # a threshold: every value is below or above the window
        out = np.where(values > high, 255.0, 0.0)
    else:
        out = ((values - (center - 0.5)) / (width - 1) + 0.5) * 255
    out[values <= low] = 0
    out[values > high] = 255
    return out


@pytest.mark.parametrize("window", [None, (40, 400), (1000, 3000), (-500, 1)], ids=["file", "40-400", "1000-3000", "narrow"])
def test_rendered_window_is_the_linear_voi_function(web, window):
    """A generated CT image rendered to PNG equals the linear VOI LUT of its modality values (±1):
    with the file's window (40/400) when none is given, else with window=center,width."""
    record = web.archive.generated.study("S2")[0]
    ds = read(record["path"])
    params = {} if window is None else {"window": f"{window[0]},{window[1]}"}
    r = session().get(instance_url(web, record) + "/rendered", params=params, headers={"Accept": "image/png"}, timeout=30)
    assert r.status_code == 200, describe(r)
    got = np.asarray(image(r.content, "PNG").convert("L"), dtype=float)
    center, width = window or (40, 400)
    want = expected_linear_window(ds, center, width)
    assert got.shape == want.shape
    difference = np.abs(got - want)
    assert difference.max() <= 1.0, f"rendered pixels differ by up to {difference.max()} from the LINEAR window {center}/{width}"
    assert got.std() > 0 or window == (-500, 1)


@pytest.mark.parametrize("viewport,size", [("32,32", (32, 32)), ("100,50", (50, 50)), ("640,640", (640, 640))])
def test_rendered_viewport_scales_to_fit(web, viewport, size):
    """viewport=vw,vh (PS3.18 8.3.5.1.3): the 64x64 image scaled to fit, aspect ratio kept."""
    record = web.archive.generated.study("S3")[0]
    r = session().get(instance_url(web, record) + "/rendered", params={"viewport": viewport}, timeout=30)
    assert r.status_code == 200, describe(r)
    assert image(r.content, "JPEG").size == size


def test_rendered_viewport_keeps_aspect_ratio_of_a_wide_image(web):
    uid, ds = next((u, d) for u, d in renderable(web) if int(d.Columns) == 320 and int(d.Rows) == 240)
    r = session().get(instance_url(web, web.record(uid)) + "/rendered", params={"viewport": "160,160"}, timeout=30)
    assert r.status_code == 200, describe(r)
    assert image(r.content, "JPEG").size == (160, 120)


def test_rendered_frames_of_a_multiframe_instance(web):
    uid, ds = next((u, d) for u, d in renderable(web) if int(d.get("NumberOfFrames", 1) or 1) == 30)
    base = instance_url(web, web.record(uid))
    frames = []
    for n in (1, 17, 30):
        r = session().get(f"{base}/frames/{n}/rendered", headers={"Accept": "image/png"}, timeout=30)
        assert r.status_code == 200, describe(r)
        picture = image(r.content, "PNG")
        assert picture.size == (int(ds.Columns), int(ds.Rows))
        frames.append(np.asarray(picture.convert("RGB"), dtype=int))
    reference = pixel_frames(ds)
    for n, got in zip((1, 17, 30), frames):
        # A colour image without VOI renders to its own values (JPEG decoder rounding aside).
        assert np.abs(got - reference[n - 1].astype(int)).mean() < 3, f"frame {n} is not the rendered frame {n}"
    r = session().get(f"{base}/frames/31/rendered", timeout=30)
    assert r.status_code == 404, describe(r)


@pytest.mark.parametrize("accept,fmt", [("image/png;q=0.5, image/jpeg;q=0.9", "JPEG"), ("image/jpeg;q=0, image/png", "PNG"),
                                        ("image/*", "JPEG"), ("*/*", "JPEG")], ids=["q-prefers-jpeg", "jpeg-refused", "image-any", "any"])
def test_rendered_media_type_negotiation(web, accept, fmt):
    record = web.archive.generated.study("S2")[0]
    r = session().get(instance_url(web, record) + "/rendered", headers={"Accept": accept}, timeout=30)
    assert r.status_code == 200, describe(r)
    assert media_type(r.headers["Content-Type"])[0] == f"image/{fmt.lower()}"
    assert image(r.content, fmt).size == (64, 64)


def test_single_part_instance_retrieve(web):
    """Accept: application/dicom (single part) is allowed for an Instance resource (PS3.18 10.4.4):
    the Part-10 file itself."""
    record = web.archive.generated.study("S2")[0]
    r = session().get(instance_url(web, record), headers={"Accept": "application/dicom"}, timeout=30)
    assert r.status_code == 200, describe(r)
    assert media_type(r.headers["Content-Type"])[0] == "application/dicom"
    assert dataset_bytes_of(r.content) == dataset_bytes(record["path"])


def test_retrieve_instance_rendered_with_dicomweb_client(web):
    record = web.archive.generated.study("S1")[0]
    data = web.client().retrieve_instance_rendered(record["StudyInstanceUID"], record["SeriesInstanceUID"],
                                                   record["SOPInstanceUID"], media_types=("image/png",))
    assert image(data, "PNG").size == (64, 64)


def test_rendered_series_is_multipart_of_images(web):
    """/series/{uid}/rendered asked for as multipart/related; type="image/png", the representation
    it has (PS3.18 10.4.4: a Rendered Study or Series asked for with single part media types only
    should fail): one image part per instance."""
    records = [r for r in web.archive.generated.study("S1") if r["Modality"] == "CT"]
    url = f"{web.base_url}/studies/{records[0]['StudyInstanceUID']}/series/{records[0]['SeriesInstanceUID']}/rendered"
    r = session().get(url, headers={"Accept": 'multipart/related; type="image/png"'}, timeout=60)
    assert r.status_code == 200, describe(r)
    parts = multipart_response(r)
    assert len(parts) == len(records)
    for part in parts:
        assert media_type(part.content_type)[0] == "image/png"
        assert image(part.body, "PNG").size == (64, 64)


@pytest.mark.parametrize("level", ["study", "series", "instance"])
def test_thumbnails_at_every_level(web, level):
    record = web.archive.generated.study("S5")[0]
    url = {"study": f"{web.base_url}/studies/{record['StudyInstanceUID']}/thumbnail",
           "series": f"{web.base_url}/studies/{record['StudyInstanceUID']}/series/{record['SeriesInstanceUID']}/thumbnail",
           "instance": instance_url(web, record) + "/thumbnail"}[level]
    r = session().get(url, headers={"Accept": "image/jpeg"}, timeout=30)
    assert r.status_code == 200, describe(r)
    assert media_type(r.headers["Content-Type"])[0] == "image/jpeg"
    picture = image(r.content, "JPEG")
    assert picture.size[0] == picture.size[1] > 0, "a square image has a square thumbnail"
    png = session().get(url, headers={"Accept": "image/png"}, timeout=30)
    assert png.status_code == 200 and image(png.content, "PNG").size == picture.size, describe(png)


# ---- WADO-URI ---------------------------------------------------------------------------------------

def wado_uri(node, record, root="", **params):
    query = {"requestType": "WADO", "studyUID": record["StudyInstanceUID"], "seriesUID": record["SeriesInstanceUID"],
             "objectUID": record["SOPInstanceUID"], **params}
    base = node.http_url + (root or "") + "/wado"
    return session().get(base, params=query, timeout=60)


@pytest.mark.parametrize("root", ["", "/dicom-web"])
def test_wado_uri_dicom_of_an_explicit_vr_instance(web, root):
    record = web.archive.generated.study("S6")[0]
    r = wado_uri(web.node, record, root, contentType="application/dicom")
    assert r.status_code == 200, describe(r)
    assert media_type(r.headers["Content-Type"])[0] == "application/dicom"
    assert dataset_bytes_of(r.content) == dataset_bytes(record["path"])


def stow_record(stow, syntax_uid):
    """A record-like dict of the first instance stored over STOW-RS in `syntax_uid`."""
    for uid in sorted(stow.sent, key=lambda u: stow.names[u]):
        ds = stow.dataset(uid)
        if str(ds.file_meta.TransferSyntaxUID) == syntax_uid and "PixelData" in ds:
            return {"StudyInstanceUID": str(ds.StudyInstanceUID), "SeriesInstanceUID": str(ds.SeriesInstanceUID),
                    "SOPInstanceUID": uid, "name": stow.names[uid]}
    raise AssertionError(f"nothing stored as {syntax_uid}")


@pytest.mark.parametrize("stored", [IMPLICIT_VR_LE, JPEG_BASELINE], ids=["implicit-vr", "jpeg-baseline"])
def test_wado_uri_dicom_defaults_to_explicit_vr_little_endian(stow, stored):
    """Without transferSyntax, WADO-URI answers in the default Transfer Syntax of DICOM web services
    (PS3.18 9.4.2.4 Transfer Syntax UID: "If it is not present, the response payload shall be
    encoded in the default Transfer Syntax for DICOM Web Services, which is Explicit VR Little
    Endian Uncompressed"), whatever the stored encoding."""
    record = stow_record(stow, stored)
    r = wado_uri(stow.node, record, contentType="application/dicom")
    assert r.status_code == 200, describe(r)
    got = read_dicom(r.content)
    assert str(got.file_meta.TransferSyntaxUID) == EXPLICIT_VR_LE, \
        f"{record['name']} (stored as {stored}) came as {got.file_meta.TransferSyntaxUID}"
    assert str(got.SOPInstanceUID) == record["SOPInstanceUID"]


def test_wado_uri_explicit_transfer_syntax(stow):
    record = stow_record(stow, IMPLICIT_VR_LE)
    r = wado_uri(stow.node, record, contentType="application/dicom", transferSyntax=EXPLICIT_VR_LE)
    assert r.status_code == 200, describe(r)
    got = read_dicom(r.content)
    assert str(got.file_meta.TransferSyntaxUID) == EXPLICIT_VR_LE
    assert str(got.SOPInstanceUID) == record["SOPInstanceUID"]
    assert np.array_equal(got.pixel_array, stow.dataset(record["SOPInstanceUID"]).pixel_array)


@pytest.mark.parametrize("content_type,fmt", [(None, "JPEG"), ("image/jpeg", "JPEG"), ("image/png", "PNG")])
def test_wado_uri_rendered(web, content_type, fmt):
    record = web.archive.generated.study("S4")[0]
    params = {"contentType": content_type} if content_type else {}
    r = wado_uri(web.node, record, **params)
    assert r.status_code == 200, describe(r)
    assert media_type(r.headers["Content-Type"])[0] == f"image/{fmt.lower()}"
    assert image(r.content, fmt).size == (64, 64)
    scaled = wado_uri(web.node, record, rows="32", columns="32", **params)
    assert scaled.status_code == 200 and image(scaled.content, fmt).size == (32, 32), describe(scaled)


@pytest.mark.parametrize("change,status", [
    ({"objectUID": None}, 400), ({"requestType": "NOTWADO"}, 400),
    ({"objectUID": "1.2.3.4.5.6.7.8.9"}, 404), ({"contentType": "application/pdf"}, 406),
], ids=["no-objectUID", "requestType", "unknown-object", "pdf"])
def test_wado_uri_errors(web, change, status):
    record = web.archive.generated.study("S4")[0]
    query = {"requestType": "WADO", "studyUID": record["StudyInstanceUID"], "seriesUID": record["SeriesInstanceUID"],
             "objectUID": record["SOPInstanceUID"]}
    for key, value in change.items():
        if value is None:
            query.pop(key)
        else:
            query[key] = value
    r = session().get(web.node.http_url + "/wado", params=query, timeout=30)
    assert r.status_code == status, describe(r)
