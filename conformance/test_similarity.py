"""Issue 5: every image gets an EfficientNet-Lite0 embedding on the derivation queue; `/api/similar`
answers by archived instance (GET) or by an uploaded DICOM, PNG or JPEG (POST), with filters;
`loupe similar FILE` prints the same; a new instance is searchable as soon as its embedding is
derived; the FAISS index is saved at shutdown and reused."""

import io
import json
import time

import pydicom
from PIL import Image
from pydicom.uid import generate_uid

from dicomweb_support import analysis, session, wait_for_derivations
from loupe_support import run

KEYS = {"SOPInstanceUID", "SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID", "PatientID", "Modality",
        "score", "thumbnail", "rendered", "derived"}


def base(node) -> str:
    return f"http://127.0.0.1:{node.http_port}"


def embedded(web) -> list:
    """SOP Instance UIDs whose embedding is done, in a stable order."""
    wait_for_derivations(base(web.node))
    return [uid for uid in sorted(web.stored)
            if any(j["processor"] == "embedding" and j["state"] == "done" for j in analysis(base(web.node), uid)["derivations"])]


def similar(node, **params) -> list:
    deadline = time.monotonic() + 30
    while True:   # 503 while the index loads after a start
        response = session().get(f"{base(node)}/api/similar", params=params, timeout=60)
        if response.status_code != 503 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert response.status_code == 200, response.text
    return response.json()["results"]


def test_similar_to_an_archived_instance(web):
    uids = embedded(web)
    assert len(uids) >= 50
    query = next(uid for uid in uids if web.record(uid).get("Modality") == "MR")
    results = similar(web.node, instance=query, k=5)
    assert len(results) == 5
    assert all(KEYS <= set(r) for r in results), results[0]
    assert query not in [r["SOPInstanceUID"] for r in results]
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1.0001 for s in scores)
    # The URLs work: a thumbnail (WADO-RS) and the derived PNG.
    thumbnail = session().get(results[0]["thumbnail"], headers={"Accept": "image/jpeg"}, timeout=30)
    assert thumbnail.status_code == 200 and thumbnail.headers["Content-Type"].startswith("image/jpeg")
    png = session().get(base(web.node) + results[0]["derived"], timeout=30)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")

    cts = similar(web.node, instance=query, k=20, modality="CT")
    assert cts and all(r["Modality"] == "CT" for r in cts)
    patient = web.record(query)["PatientID"]
    own = similar(web.node, instance=query, k=20, patient=patient)
    assert all(r["PatientID"] == patient for r in own)
    series = web.record(query)["SeriesInstanceUID"]
    others = similar(web.node, instance=query, k=30, **{"exclude-same-series": "true"})
    assert len(others) == 30 and all(r["SeriesInstanceUID"] != series for r in others)

    missing = session().get(f"{base(web.node)}/api/similar", params={"instance": "1.2.3.4"}, timeout=10)
    assert missing.status_code == 404 and "message" in missing.json()["error"]


def test_an_uploaded_png_or_jpeg_finds_its_instance(web):
    uids = embedded(web)
    # An image whose pixels no other instance shares.
    uid = next(u for u in uids if web.record(u).get("Modality") == "CT")
    png = session().get(f"{base(web.node)}/api/derived/{uid}.png", timeout=30).content
    response = session().post(f"{base(web.node)}/api/similar", params={"k": 5}, data=png,
                             headers={"Content-Type": "image/png"}, timeout=60)
    assert response.status_code == 200, response.text
    # Windowing before or after scaling to 224 differs a little (narrow CT windows most), and
    # neighbouring slices of one scan are near-duplicates: the instance is among the best few.
    scores = {r["SOPInstanceUID"]: r["score"] for r in response.json()["results"]}
    assert scores.get(uid, 0) > 0.97, (web.stored[uid].name, scores)

    # The same as a JPEG in a multipart form (curl -F), as a browser would upload it.
    jpeg = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGB").save(jpeg, "JPEG", quality=95)
    form = session().post(f"{base(web.node)}/api/similar", params={"k": 5},
                         files={"file": ("query.jpg", jpeg.getvalue(), "image/jpeg")}, timeout=60)
    assert form.status_code == 200, form.text
    assert uid in [r["SOPInstanceUID"] for r in form.json()["results"]]

    for content_type, body, status in [("text/plain", b"hello", 415), ("image/png", b"\x89PNG broken", 422),
                                       ("image/jpeg", jpeg.getvalue()[:300], 422)]:
        refused = session().post(f"{base(web.node)}/api/similar", data=body, headers={"Content-Type": content_type}, timeout=30)
        assert refused.status_code == status and "message" in refused.json()["error"], (content_type, refused.text)


def test_cli_prints_what_the_endpoint_answers(web, loupe_bin):
    uids = embedded(web)
    uid = next(u for u in uids if web.record(u).get("Modality") == "CT")
    path = web.stored[uid]
    cli = run([loupe_bin, "similar", "--data", web.node.data_dir, "-k", "5", path], timeout=300)
    assert cli.returncode == 0, str(cli)
    printed = json.loads(cli.output[cli.output.index("{"):])   # after any log line
    response = session().post(f"{base(web.node)}/api/similar", params={"k": 5}, data=path.read_bytes(),
                             headers={"Content-Type": "application/dicom"}, timeout=60)
    assert response.status_code == 200, response.text
    answered = response.json()["results"]
    assert [r["SOPInstanceUID"] for r in printed["results"]] == [r["SOPInstanceUID"] for r in answered]
    assert all(abs(a["score"] - b["score"]) < 1e-4 for a, b in zip(printed["results"], answered))
    assert printed["results"][0]["SOPInstanceUID"] == uid or printed["results"][0]["score"] > 0.999


def copy_with_new_uids(source, target):
    ds = pydicom.dcmread(source)
    ds.SOPInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(target)
    return ds.SOPInstanceUID


def test_a_new_instance_is_searchable_once_embedded_and_the_index_is_saved(loupe_factory, generated, tmp_path):
    node = loupe_factory("loupe-similar")
    files = generated.files()[:4]
    assert node.send(files).returncode == 0
    wait_for_derivations(base(node), timeout=120)

    source = next(i for i in generated.instances if str(i["path"]) == str(files[0]))
    copy = tmp_path / "copy.dcm"
    new_uid = copy_with_new_uids(source["path"], copy)
    assert node.send([copy]).returncode == 0
    deadline = time.monotonic() + 60
    while True:
        jobs = analysis(base(node), new_uid)["derivations"]
        if any(j["processor"] == "embedding" and j["state"] == "done" for j in jobs):
            break
        assert time.monotonic() < deadline, jobs
        time.sleep(0.05)
    embedded_at = time.monotonic()
    results = similar(node, instance=source["SOPInstanceUID"], k=1)
    assert results[0]["SOPInstanceUID"] == new_uid and results[0]["score"] > 0.999
    assert time.monotonic() - embedded_at < 1.0

    node.stop()
    [saved] = (node.data_dir / "similarity").glob("*.faiss")
    assert saved.stat().st_size > 5 * 1280 * 2   # five float16 vectors
    node.start()
    assert "rebuilding" not in node.log_text()
    assert similar(node, instance=source["SOPInstanceUID"], k=1)[0]["SOPInstanceUID"] == new_uid
