"""Issue 7: photos in, DICOM out. POST /api/photos and `loupe photo` archive a flush or lesion photo
as a Secondary Capture image that dciodvfy accepts and DCMTK renders with the photo's colours; photos
of a patient, kind and day share a series; they are found by QIDO-RS and C-FIND and go through the
pipeline like any image (a colour photograph of skin is not an anomaly). Bad photos get a 4xx and
store nothing."""

import io
import json
import subprocess

import numpy as np
import pydicom
import pytest
from PIL import Image

from dicomweb_support import analysis, session, wait_for_derivations
from loupe_support import run
from photo_support import encode, irregular_lesion, lesion_photo, post_photo, skin_photo

SC = "1.2.840.10008.5.1.4.1.1.7"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"


@pytest.fixture(scope="module")
def node(loupe_factory):
    return loupe_factory("photos")


def base_of(node) -> str:
    return f"http://127.0.0.1:{node.http_port}"


def metadata(**extra) -> dict:
    return {"PatientID": "FLUSH-1", "PatientName": "Rossi^Maria", "BirthDate": "1961-04-02", "Sex": "F",
            "kind": "flush", "BodySite": "face", "Device": "Bedside camera 3", **extra}


def archived_file(node, sop_uid: str):
    (path,) = list(node.data_dir.glob(f"files/*/*/{sop_uid}.dcm"))
    return path


def dciodvfy_errors(path) -> list:
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    return [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")]


def dcmtk_rendering(path, tmp_path) -> np.ndarray:
    png = tmp_path / f"{path.stem}.png"
    result = run(["/usr/bin/dcmj2pnm", "+on", str(path), str(png)], timeout=60)
    assert result.returncode == 0, result.output
    return np.asarray(Image.open(png).convert("RGB")).astype(int)


def test_photos_become_secondary_capture_images_with_their_colours(node, tmp_path):
    base = base_of(node)
    photo = skin_photo(redness=0.2, seed=1)
    jpeg = encode(photo, "JPEG", quality=90)  # 4:2:0, as cameras write them
    png = encode(skin_photo(redness=0.1, seed=2), "PNG")
    answers = []
    for image, kind, content_type in ((jpeg, "flush", "image/jpeg"), (png, "flush", "image/png"), (jpeg, "lesion", "image/jpeg")):
        r = post_photo(base, image, metadata(kind=kind, AcquisitionDateTime="2026-11-23T09:30:00+01:00"), content_type)
        assert r.status_code == 201, r.text
        answer = r.json()
        assert set(answer) >= {"SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID"}
        assert r.headers["Location"].endswith(f"/instances/{answer['SOPInstanceUID']}")
        answers.append(answer)
    flush_jpeg, flush_png, lesion = answers
    # A series per patient, kind and day, in one study of the day.
    assert flush_jpeg["SeriesInstanceUID"] == flush_png["SeriesInstanceUID"] != lesion["SeriesInstanceUID"]
    assert flush_jpeg["StudyInstanceUID"] == flush_png["StudyInstanceUID"] == lesion["StudyInstanceUID"]

    for answer, source, transfer_syntax, tolerance in ((flush_jpeg, jpeg, JPEG_BASELINE, 3), (flush_png, png, "1.2.840.10008.1.2.1", 0)):
        path = archived_file(node, answer["SOPInstanceUID"])
        assert dciodvfy_errors(path) == [], path
        ds = pydicom.dcmread(path)
        assert ds.SOPClassUID == SC and ds.Modality == "XC" and ds.ConversionType == "DI"
        assert ds.file_meta.TransferSyntaxUID == transfer_syntax
        assert ds.PatientID == "FLUSH-1" and str(ds.PatientName) == "Rossi^Maria" and ds.PatientBirthDate == "19610402"
        assert ds.BodyPartExamined == "FACE" and ds.ManufacturerModelName == "Bedside camera 3"
        assert ds.AcquisitionDateTime.endswith("00") and ds.SeriesDescription == "Flush photos"
        if transfer_syntax == JPEG_BASELINE:
            assert ds.PhotometricInterpretation == "YBR_FULL_422"
            # The camera's JPEG, byte for byte.
            assert pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=1).__next__().rstrip(b"\0") == source.rstrip(b"\0")
        expected = np.asarray(Image.open(io.BytesIO(source)).convert("RGB")).astype(int)
        # As DCMTK renders it, and as Loupe serves it (WADO-RS rendered).
        served = session().get(f"{answer['RetrieveURL']}/rendered", headers={"Accept": "image/png"}, timeout=30)
        assert served.status_code == 200, served.text
        for rendered in (dcmtk_rendering(path, tmp_path), np.asarray(Image.open(io.BytesIO(served.content)).convert("RGB")).astype(int)):
            assert rendered.shape == expected.shape
            assert np.abs(rendered - expected).max() <= tolerance
            assert np.abs(rendered - expected).mean() < 0.5

    # Found by QIDO-RS and by C-FIND.
    series = session().get(f"{base}/dicom-web/series", params={"PatientID": "FLUSH-1", "Modality": "XC"}, timeout=30).json()
    assert {s["0020000E"]["Value"][0] for s in series} == {flush_jpeg["SeriesInstanceUID"], lesion["SeriesInstanceUID"]}
    found = node.find("SERIES", [("PatientID", "FLUSH-1"), ("StudyInstanceUID", flush_jpeg["StudyInstanceUID"]),
                                 ("SeriesInstanceUID", ""), ("SeriesDescription", "")])
    assert found.ok, found.run.output
    assert {str(r.SeriesDescription) for r in found.responses} == {"Flush photos", "Lesion photos"}

    # Through the pipeline: a derived PNG, an embedding, and an anomaly finding that a photo of skin is valid.
    wait_for_derivations(base)
    report = analysis(base, flush_jpeg["SOPInstanceUID"])
    assert {j["processor"]: j["state"] for j in report["derivations"]} == {"png": "done", "embedding": "done", "anomaly": "done",
                                                                          "photo": "done"}
    (finding,) = [f for f in report["findings"] if f["kind"] == "anomaly"]
    assert finding["label"] == "valid" and finding["details"]["photograph"] is True, finding


def test_bad_photos_get_a_4xx_and_store_nothing(node):
    base = base_of(node)
    before = session().get(f"{base}/api/stats", timeout=10).json()["instances"]
    jpeg = encode(skin_photo(seed=3), "JPEG", quality=90)
    other = post_photo(base, jpeg, metadata(PatientID="OTHER-9", AccessionNumber="ACC-PHOTO-1"))
    assert other.status_code == 201, other.text
    before += 1
    cases = [
        ("not an image", post_photo(base, b"%PDF-1.4 this is a document", metadata(), "application/pdf"), 415),
        ("truncated JPEG", post_photo(base, jpeg[: len(jpeg) // 2], metadata()), 400),
        ("empty", post_photo(base, b"", metadata()), 400),
        ("huge", post_photo(base, b"\xff\xd8" + b"\0" * (64 << 20), metadata()), 413),
        ("wider than DICOM", post_photo(base, encode(np.zeros((1, 70000, 3), np.uint8), "PNG"), metadata(), "image/png"), 413),
        ("no image part", post_photo(base, None, metadata()), 400),
        ("no metadata", post_photo(base, jpeg, None), 400),
        ("metadata not JSON", post_photo(base, jpeg, "PatientID=1"), 400),
        ("no PatientID", post_photo(base, jpeg, {k: v for k, v in metadata().items() if k != "PatientID"}), 400),
        ("unknown kind", post_photo(base, jpeg, metadata(kind="selfie")), 400),
        ("bad birth date", post_photo(base, jpeg, metadata(BirthDate="2 April 1961")), 400),
        ("another patient's accession", post_photo(base, jpeg, metadata(AccessionNumber="ACC-PHOTO-1")), 409),
        ("no such date", post_photo(base, jpeg, metadata(BirthDate="2020-13-45")), 400),
        ("taken in the future", post_photo(base, jpeg, metadata(AcquisitionDateTime="9999-12-31T23:30:00Z")), 400),
        ("a control character", post_photo(base, jpeg, metadata(PatientID="P\x7f1")), 400),
        ("a name too long", post_photo(base, jpeg, metadata(PatientName="A" * 65)), 400),
        ("not a form", session().post(f"{base}/api/photos", data=jpeg, headers={"Content-Type": "image/jpeg"}, timeout=30), 415),
    ]
    for name, response, status in cases:
        assert response.status_code == status, f"{name}: {response.status_code} {response.text}"
        assert len(response.text) > 10, f"{name}: the answer says why"
    reasons = {name: response.text for name, response, _ in cases}
    assert "PatientID" in reasons["no PatientID"] and "kind" in reasons["unknown kind"]
    assert "another patient" in reasons["another patient's accession"] and "JPEG" in reasons["truncated JPEG"]
    assert session().get(f"{base}/api/stats", timeout=10).json()["instances"] == before
    assert list(node.data_dir.glob("tmp/*")) == []


def test_loupe_photo_archives_a_file(loupe_bin, tmp_path):
    data = tmp_path / "data"
    source = tmp_path / "lesion.png"
    source.write_bytes(encode(skin_photo(seed=4), "PNG"))
    result = run([loupe_bin, "photo", "--data", data, source, "--patient-id", "DERM-2", "--patient-name", "Bianchi^Luca",
                  "--kind", "lesion", "--body-site", "left forearm", "--pixel-spacing", "0.05"], timeout=120)
    assert result.returncode == 0, result.output
    answer = json.loads(result.output.strip().splitlines()[-1])
    (path,) = list(data.glob(f"files/*/*/{answer['SOPInstanceUID']}.dcm"))
    ds = pydicom.dcmread(path)
    assert ds.Modality == "XC" and ds.SeriesDescription == "Lesion photos" and ds.BodyPartExamined == "FOREARM" and ds.Laterality == "L"
    assert [float(v) for v in ds.NominalScannedPixelSpacing] == [0.05, 0.05]
    assert dciodvfy_errors(path) == []
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(encode(skin_photo(seed=4), "JPEG")[:2000])
    bad = run([loupe_bin, "photo", "--data", data, truncated, "--patient-id", "DERM-2", "--patient-name", "Bianchi^Luca",
               "--kind", "lesion"], timeout=120)
    assert bad.returncode != 0 and "JPEG" in bad.output
    assert len(list(data.glob("files/*/*/*.dcm"))) == 1


def test_lesion_photos_get_abcd_features_a_score_and_similar_lesions(node):
    base = base_of(node)

    def post(pixels, patient, spacing=None):
        extra = {"PixelSpacing": spacing} if spacing else {}
        r = post_photo(base, encode(pixels, "PNG"), metadata(PatientID=patient, kind="lesion", BodySite="back", **extra), "image/png")
        assert r.status_code == 201, r.text
        return r.json()["SOPInstanceUID"]

    round_uid = post(lesion_photo(lambda t: np.full_like(t, 60.0)), "DERM-1", spacing=0.05)
    irregular = irregular_lesion()
    irregular_uid = post(irregular, "DERM-2", spacing=0.1)
    turned_uid = post(np.ascontiguousarray(np.rot90(irregular)), "DERM-3")
    wait_for_derivations(base)

    def lesion_finding(uid):
        (finding,) = [f for f in analysis(base, uid)["findings"] if f["kind"] == "lesion"]
        return finding

    plain = lesion_finding(round_uid)
    details = plain["details"]
    assert plain["label"] == "low" and plain["model"].startswith("lesion/")
    assert details["asymmetry"] == 0 and details["border"] == 8 and details["colours"] == ["dark brown"], details
    assert abs(details["diameterPixels"] - 121) <= 3 and abs(details["diameterMillimetres"] - 6.05) < 0.3
    assert "1.3·A + 0.1·B + 0.5·C + 0.5·D" in details["formula"] and "not a diagnosis" in details["note"]
    assert abs(details["totalDermoscopyScore"] - (1.3 * details["asymmetry"] + 0.1 * details["border"]
                                                  + 0.5 * len(details["colours"]) + 0.5 * details["differentialStructures"])) < 1e-9

    marked = lesion_finding(irregular_uid)
    assert marked["label"] == "high" and marked["details"]["totalDermoscopyScore"] > 5.45, marked
    assert {"black", "blue-grey"} <= set(marked["details"]["colours"]) and marked["details"]["asymmetry"] >= 1

    # Similar lesions: the same lesion turned comes first among lesion photos; flush photos are not lesions.
    similar = session().get(f"{base}{marked['details']['similar']}", timeout=30)
    assert similar.status_code == 200, similar.text
    results = similar.json()["results"]
    assert results[0]["SOPInstanceUID"] == turned_uid, results
    assert all(r["SeriesDescription"] == "Lesion photos" for r in results)
    flushes = session().get(f"{base}/api/similar", params={"instance": irregular_uid, "kind": "flush"}, timeout=30).json()["results"]
    assert flushes and all(r["SeriesDescription"] == "Flush photos" for r in flushes)
    assert session().get(f"{base}/api/similar", params={"instance": irregular_uid, "kind": "selfie"}, timeout=30).status_code == 400


def test_other_photos_keep_their_colours_and_pass_dciodvfy(node, tmp_path):
    """A CMYK JPEG (converted to RGB), a photo without a body site (Laterality left empty: unknown),
    a name and an accession number beyond ASCII (ISO_IR 192)."""
    base = base_of(node)
    photo = skin_photo(redness=0.3, seed=5)
    cmyk = io.BytesIO()
    Image.fromarray(photo).convert("CMYK").save(cmyk, format="JPEG", quality=95)
    meta = {"PatientID": "CMYK-1", "PatientName": "Müller^Jürgen", "kind": "flush", "AccessionNumber": "ÄKZ-42"}
    r = post_photo(base, cmyk.getvalue(), meta)
    assert r.status_code == 201, r.text
    path = archived_file(node, r.json()["SOPInstanceUID"])
    assert dciodvfy_errors(path) == [], path
    ds = pydicom.dcmread(path)
    assert ds.PhotometricInterpretation == "RGB" and ds.LossyImageCompression == "01" and ds.SpecificCharacterSet == "ISO_IR 192"
    assert str(ds.PatientName) == "Müller^Jürgen" and ds.AccessionNumber == "ÄKZ-42" and ds.Laterality == ""
    expected = np.asarray(Image.open(io.BytesIO(cmyk.getvalue())).convert("RGB")).astype(int)
    assert np.abs(dcmtk_rendering(path, tmp_path) - expected).max() <= 8
