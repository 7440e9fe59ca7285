"""What OHIF Viewer v3 does to list and open studies, request by request, with OHIF's own query
parameters and Accept headers (extensions/default/src/DicomWebDataSource: qido.js mapParams,
seriesInStudy, retrieveMetadataLoaderAsync; dicomweb-client JS _httpGetApplicationJson; the
cornerstone DICOM image loader's wadors loadImage/getPixelData), and every response checked the
way OHIF reads it: status, content types, parseable bodies, the values it uses present.

Configuration assumed: the usual local data source (supportsWildcard true, supportsFuzzyMatching
false, enableStudyLazyLoad true, imageRendering/thumbnailRendering "wadors")."""

import warnings
from urllib.parse import quote

import numpy as np
import pydicom
import pytest

from dicomweb_support import (DEFLATED_LE, EXPLICIT_VR_LE, JPEG_2000, JPEG_BASELINE, JPEG_EXTENDED, JPEG_LOSSLESS,
                              JPEG_LOSSLESS_SV1, JPEG_LS, NATIVE, describe, encapsulated_frames, first, media_type,
                              native_frame_array, native_frame_bytes, pixel_frames, session, text, values)

JPEG_FAMILY = {JPEG_BASELINE, JPEG_EXTENDED, JPEG_LOSSLESS, JPEG_LOSSLESS_SV1} | JPEG_LS

# dicomweb-client JS sends QIDO-RS and metadata requests with this Accept header.
DICOM_JSON = {"Accept": "application/dicom+json"}
# cornerstone's wadors image loader, for every frame (omitQuotationForMultipartRequest style).
OHIF_FRAMES_ACCEPT = "multipart/related; type=application/octet-stream; transfer-syntax=*"
# qido.js mapParams: the fields OHIF's study list adds to the defaults.
STUDY_LIST_FIELDS = "00081030,00080060,00080090,00100030"


def js_query(params: dict) -> str:
    """dicomweb-client JS _parseQueryParameters: key=encodeURIComponent(value), joined by &."""
    return "?" + "&".join(f"{k}={quote(str(v), safe='-_.!~*()' + chr(39))}" for k, v in params.items())


def study_list_params(**filters) -> dict:
    """mapParams() of qido.js for a study list search (undefined and empty values dropped, in
    OHIF's order)."""
    out = {}
    wildcard = lambda v: f"*{v}*" if v else v  # noqa: E731
    for key, value in [("PatientName", wildcard(filters.get("patientName"))),
                       ("00100020", wildcard(filters.get("patientId"))),
                       ("AccessionNumber", wildcard(filters.get("accessionNumber"))),
                       ("StudyDescription", wildcard(filters.get("studyDescription"))),
                       ("ModalitiesInStudy", filters.get("modalitiesInStudy")),
                       ("limit", filters.get("limit") or 101), ("offset", filters.get("offset") or 0),
                       ("fuzzymatching", "false"), ("includefield", STUDY_LIST_FIELDS)]:
        if value not in (None, ""):
            out[key] = value
    if filters.get("startDate") or filters.get("endDate"):
        out["StudyDate"] = f"{filters.get('startDate') or '19700102'}-{filters.get('endDate')}"
    if filters.get("studyInstanceUid"):
        out["StudyInstanceUID"] = "\\".join(filters["studyInstanceUid"])
    return out


def process_study(item: dict) -> dict:
    """qido.js processResults(): what the study list shows."""
    modalities = values(item, "00080061") or values(item, "00080060")
    return {
        "studyInstanceUid": first(item, "0020000D"),
        "date": first(item, "00080020"), "time": first(item, "00080030"),
        "accession": first(item, "00080050") or "", "mrn": first(item, "00100020") or "",
        "patientName": text(item, "00100010"), "patientBirthDate": first(item, "00100030") or "",
        "instances": float(first(item, "00201208") or 0), "description": first(item, "00081030") or "",
        "modalities": "\\".join(modalities), "referringPhysicianName": text(item, "00080090"),
    }


def qido(web, path: str, params: dict):
    r = session().get(web.base_url + path + js_query(params), headers=DICOM_JSON, timeout=60)
    assert r.status_code == 200, describe(r)
    assert media_type(r.headers.get("Content-Type"))[0] == "application/dicom+json", describe(r)
    body = r.json()
    assert isinstance(body, list), describe(r)
    return body


# ---- the study list ----------------------------------------------------------------------------------

def test_study_list_first_page(web):
    """GET /studies?limit=101&offset=0&fuzzymatching=false&includefield=00081030%2C00080060%2C...:
    every study (fewer than 101), each with what the list shows."""
    body = qido(web, "/studies", study_list_params())
    rows = [process_study(item) for item in body]
    assert {r["studyInstanceUid"] for r in rows} == set(web.model.groups("STUDY"))
    generated = web.archive.generated
    for key, uid in generated.studies.items():
        row = next(r for r in rows if r["studyInstanceUid"] == uid)
        record = generated.study(key)[0]
        assert row["date"] == record["StudyDate"] and row["time"] == record["StudyTime"]
        assert row["accession"] == record["AccessionNumber"] and row["mrn"] == record["PatientID"]
        assert row["patientName"] == record["PatientName"]
        assert row["patientBirthDate"] == record["PatientBirthDate"]
        assert row["instances"] == len(generated.study(key))
        assert row["description"] == record["StudyDescription"]
        assert row["modalities"] == web.model.modalities_in_study(uid)
        assert row["referringPhysicianName"] == record["ReferringPhysicianName"]


FILTERS = [
    ("patient-name", dict(patientName="doe"), ["S3", "S4", "S5", "S6"]),
    ("patient-id", dict(patientId="CF-P2"), ["S3", "S4"]),
    ("accession", dict(accessionNumber="ACC-100"), ["S1", "S2"]),
    ("description", dict(studyDescription="HEAD"), ["S4"]),
    ("modality", dict(modalitiesInStudy="MR", patientId="LOUPE-CF"), ["S1", "S3", "S5"]),
    ("end-date-only", dict(endDate="20221231", patientId="LOUPE-CF"), ["S2", "S6"]),
    ("date-range", dict(startDate="20230101", endDate="20231231", patientId="LOUPE-CF"), ["S1", "S3", "S5"]),
]


@pytest.mark.parametrize("filters,expected", [(f[1], f[2]) for f in FILTERS], ids=[f[0] for f in FILTERS])
def test_study_list_filters(web, filters, expected):
    params = study_list_params(**filters)
    body = qido(web, "/studies", params)
    got = {first(i, "0020000D") for i in body}
    keywords = {"PatientName": "PatientName", "00100020": "PatientID", "AccessionNumber": "AccessionNumber",
                "StudyDescription": "StudyDescription", "ModalitiesInStudy": "ModalitiesInStudy", "StudyDate": "StudyDate"}
    must, open_ = web.model.expected("STUDY", {keywords[k]: v for k, v in params.items() if k in keywords})
    assert {web.archive.generated.studies[k] for k in expected} <= must, "the model disagrees with the case"
    assert must <= got <= must | open_, f"missing {sorted(must - got)}, unexpected {sorted(got - must - open_)}"


def test_study_list_by_study_instance_uids(web):
    """OHIF's /viewer?StudyInstanceUIDs=a,b looks the studies up with a backslash-separated list."""
    wanted = [web.archive.generated.studies["S2"], web.archive.generated.studies["S5"]]
    body = qido(web, "/studies", study_list_params(studyInstanceUid=wanted))
    assert sorted(first(i, "0020000D") for i in body) == sorted(wanted)


def test_study_list_second_page(web):
    total = len(web.model.groups("STUDY"))
    first_page = qido(web, "/studies", study_list_params(limit=25))
    second_page = qido(web, "/studies", study_list_params(limit=25, offset=25))
    assert len(first_page) == 25 and len(second_page) == total - 25
    assert not {first(i, "0020000D") for i in first_page} & {first(i, "0020000D") for i in second_page}


# ---- opening a study ---------------------------------------------------------------------------------

def cornerstone_frame(response):
    """getPixelData() of cornerstone's wadors loader: the first part of a multipart response, found
    the way it finds it, and the transfer syntax getTransferSyntaxForContentType() derives."""
    content_type = response.headers.get("Content-Type") or "application/octet-stream"
    data = response.content
    if "multipart" not in content_type:
        return content_type, data, None
    token = data.find(b"\r\n\r\n")
    assert token >= 0, "invalid response - no multipart mime header"
    header = data[:token].decode("latin-1").split("\r\n")
    boundary = next((line for line in header if line[:2] == "--"), None)
    assert boundary, "invalid response - no boundary marker"
    offset = token + 4
    end = data.find(boundary.encode("latin-1"), offset)
    assert end >= 0, "invalid response - terminating boundary not found"
    part_type = next((line[13:].strip() for line in header if line[:13] == "Content-Type:"), None)
    params = {}
    for parameter in (part_type or "").split(";"):
        pieces = parameter.split("=")
        if len(pieces) == 2:
            params[pieces[0].strip()] = pieces[1].strip().replace('"', "")
    return part_type, data[offset:end - 2], params.get("transfer-syntax", "1.2.840.10008.1.2")


def naturalized(item: dict) -> dict:
    """dcmjs naturalizeDataset, reduced to what is checked here (keyword -> value or values)."""
    from pydicom.datadict import keyword_for_tag
    out = {}
    for tag, element in item.items():
        keyword = keyword_for_tag(int(tag, 16)) or tag
        value = element.get("Value")
        if "BulkDataURI" in element:
            out[keyword] = {"BulkDataURI": element["BulkDataURI"]}
        elif value is not None:
            out[keyword] = value[0] if len(value) == 1 else value
    return out


IMAGE_MODULE = ["SOPInstanceUID", "SOPClassUID", "SeriesInstanceUID", "StudyInstanceUID", "Rows", "Columns",
                "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation", "PhotometricInterpretation",
                "SamplesPerPixel"]


def read(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path)


def open_study(web, study_uid: str) -> list:
    """The requests OHIF makes to display one study; returns a list of problems."""
    http = session()
    problems = []
    # Lazy load: the series of the study, then each series' metadata.
    series_list = qido(web, f"/studies/{study_uid}/series", {})
    with_fields = qido(web, f"/studies/{study_uid}/series", {"includefield": "0008103E,00080021"})
    assert {first(s, "0020000E") for s in series_list} == {first(s, "0020000E") for s in with_fields}
    expected_series = {r["SeriesInstanceUID"] for r in web.model.records if r["StudyInstanceUID"] == study_uid}
    if {first(s, "0020000E") for s in series_list} != expected_series:
        problems.append(f"study {study_uid}: series {[first(s, '0020000E') for s in series_list]}")
    for series in with_fields:
        info = naturalized(series)
        records = [r for r in web.model.records if r["SeriesInstanceUID"] == info.get("SeriesInstanceUID")]
        if records and records[0]["Modality"] and info.get("Modality") != records[0]["Modality"]:
            problems.append(f"series {first(series, '0020000E')}: Modality {info.get('Modality')!r}, "
                            f"{records[0]['Modality']!r} in the files")
        if not isinstance(first(series, "00201209"), (int, float)):
            problems.append(f"series {first(series, '0020000E')}: NumberOfSeriesRelatedInstances "
                            f"{series.get('00201209')} is not a number")
        series_uid = info["SeriesInstanceUID"]
        r = http.get(f"{web.base_url}/studies/{study_uid}/series/{series_uid}/metadata", headers=DICOM_JSON, timeout=60)
        if r.status_code != 200 or media_type(r.headers.get("Content-Type"))[0] != "application/dicom+json":
            problems.append(f"series {series_uid} metadata: {describe(r)}")
            continue
        for item in r.json():
            instance = naturalized(item)
            uid = instance.get("SOPInstanceUID")
            path = web.stored.get(uid)
            if path is None:
                problems.append(f"series {series_uid}: unknown instance {uid}")
                continue
            if "PixelData" not in instance:
                continue          # SR, RT plan, waveform: OHIF does not load frames for them
            missing = [k for k in IMAGE_MODULE if k not in instance]
            if missing:
                problems.append(f"{path.name}: metadata lacks {missing}")
            pixel = instance["PixelData"]
            frame_root = f"{web.base_url}/studies/{study_uid}/series/{series_uid}/instances/{uid}"
            if not (isinstance(pixel, dict) and pixel["BulkDataURI"].startswith(frame_root + "/bulkdata/")):
                problems.append(f"{path.name}: PixelData {pixel!r:.120}")
            try:
                count = int(instance.get("NumberOfFrames") or 1)
            except (TypeError, ValueError):
                count = 1
            problems += load_frames(http, frame_root, path, count)
    return problems


def load_frames(http, frame_root, path, count) -> list:
    """Every frame, as cornerstone loads it, compared with the stored file."""
    problems = []
    ds = read(path)
    stored_ts = str(ds.file_meta.TransferSyntaxUID)
    for n in range(1, count + 1):
        r = http.get(f"{frame_root}/frames/{n}", headers={"Accept": OHIF_FRAMES_ACCEPT}, timeout=60)
        if r.status_code != 200:
            problems.append(f"{path.name} frame {n}: HTTP {r.status_code} {r.text[:200]}")
            continue
        try:
            part_type, pixels, ts = cornerstone_frame(r)
        except AssertionError as e:
            problems.append(f"{path.name} frame {n}: {e}")
            continue
        if stored_ts in NATIVE:
            if ts != EXPLICIT_VR_LE:
                problems.append(f"{path.name} frame {n}: cornerstone reads transfer syntax {ts} from {part_type!r}")
            if ds.is_little_endian:
                if pixels != native_frame_bytes(ds, n - 1):
                    problems.append(f"{path.name} frame {n}: {len(pixels)} bytes differ from the stored frame")
            elif not np.array_equal(native_frame_array(pixels, ds), pixel_frames(ds)[n - 1]):
                problems.append(f"{path.name} frame {n}: pixel values differ (big endian file)")
        else:
            if ts != stored_ts:
                problems.append(f"{path.name} frame {n}: cornerstone reads transfer syntax {ts}, stored {stored_ts}")
            if pixels != encapsulated_frames(ds)[n - 1]:
                problems.append(f"{path.name} frame {n}: compressed frame differs from the stored one")
    return problems


def test_open_generated_study(web):
    """S1: a CT and an MR series, everything OHIF loads to display them."""
    problems = open_study(web, web.archive.generated.studies["S1"])
    assert not problems, "\n".join(problems)


STORED_FAMILIES = {
    "native": NATIVE - {DEFLATED_LE}, "deflated": {DEFLATED_LE}, "jpeg": JPEG_FAMILY, "jpeg-2000": JPEG_2000,
}


@pytest.mark.parametrize("family", list(STORED_FAMILIES) + ["non-image"])
def test_open_every_study_of_the_archive(web, family):
    """Each study of the archive that holds an instance stored in the family's transfer syntaxes
    (pydicom's files: colour, JPEG, JPEG 2000, multi-frame, non-image objects), opened as OHIF does."""
    studies = set()
    for uid, path in web.stored.items():
        ds = read(path)
        ts = str(ds.file_meta.TransferSyntaxUID)
        image = "PixelData" in ds
        if (family == "non-image" and not image) or (image and ts in STORED_FAMILIES.get(family, ())):
            studies.add(web.record(uid)["StudyInstanceUID"])
    assert studies, f"no {family} study in the archive"
    problems = []
    for study_uid in sorted(studies):
        problems += open_study(web, study_uid)
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:60])


def test_series_thumbnail_fetch(web):
    """thumbnailRequestStrategy "fetch": GET /studies/{s}/series/{se}/thumbnail, Accept image/jpeg."""
    from PIL import Image
    import io
    record = web.archive.generated.study("S1")[0]
    r = session().get(f"{web.base_url}/studies/{record['StudyInstanceUID']}/series/{record['SeriesInstanceUID']}/thumbnail",
                      headers={"Accept": "image/jpeg"}, timeout=30)
    assert r.status_code == 200, describe(r)
    assert media_type(r.headers["Content-Type"])[0] == "image/jpeg"
    Image.open(io.BytesIO(r.content)).load()
