"""DICOMweb over the wire: error statuses with their JSON messages (404, 406, 400), CORS with
real preflight requests, Loupe's /api JSON and /healthz."""

import pytest

from dicomweb_support import describe, media_type, session

UNKNOWN = "1.2.826.0.1.3680043.8.498.1"
DICOM_JSON = {"Accept": "application/dicom+json"}
ANY_DICOM = 'multipart/related; type="application/dicom"; transfer-syntax=*'
VIEWER = "http://viewer.example:3000"


def message_of(r) -> str:
    kind, _ = media_type(r.headers.get("Content-Type"))
    assert kind == "application/json", describe(r)
    message = r.json().get("error", {}).get("message")
    assert isinstance(message, str) and message.strip(), describe(r)
    return message


def s1(web):
    record = next(r for r in web.archive.generated.study("S1") if r["Modality"] == "CT")
    return record["StudyInstanceUID"], record["SeriesInstanceUID"], record["SOPInstanceUID"]


# ---- 404 ---------------------------------------------------------------------------------------------

NOT_FOUND = [
    ("retrieve-study", "/studies/{x}", ANY_DICOM),
    ("retrieve-series", "/studies/{st}/series/{x}", ANY_DICOM),
    ("retrieve-instance", "/studies/{st}/series/{se}/instances/{x}", ANY_DICOM),
    ("instance-of-other-series", "/studies/{st}/series/{x}/instances/{i}", ANY_DICOM),
    ("study-metadata", "/studies/{x}/metadata", "application/dicom+json"),
    ("series-metadata", "/studies/{st}/series/{x}/metadata", "application/dicom+json"),
    ("instance-metadata", "/studies/{st}/series/{se}/instances/{x}/metadata", "application/dicom+json"),
    ("frames", "/studies/{st}/series/{se}/instances/{x}/frames/1", "multipart/related; type=application/octet-stream"),
    ("frame-beyond", "/studies/{st}/series/{se}/instances/{i}/frames/2", "multipart/related; type=application/octet-stream"),
    ("bulkdata-absent-tag", "/studies/{st}/series/{se}/instances/{i}/bulkdata/00431029", "multipart/related; type=application/octet-stream"),
    ("rendered", "/studies/{st}/series/{se}/instances/{x}/rendered", "image/jpeg"),
    ("study-thumbnail", "/studies/{x}/thumbnail", "image/jpeg"),
    ("search-series-of-unknown-study", "/studies/{x}/series", "application/dicom+json"),
    ("search-instances-of-unknown-study", "/studies/{x}/instances", "application/dicom+json"),
    ("search-instances-of-unknown-series", "/studies/{st}/series/{x}/instances", "application/dicom+json"),
]


@pytest.mark.parametrize("path,accept", [(c[1], c[2]) for c in NOT_FOUND], ids=[c[0] for c in NOT_FOUND])
def test_not_found(web, path, accept):
    st, se, i = s1(web)
    url = web.base_url + path.format(st=st, se=se, i=i, x=UNKNOWN)
    r = session().get(url, headers={"Accept": accept}, timeout=30)
    assert r.status_code == 404, describe(r)
    message_of(r)


def test_search_in_existing_scope_without_matches_is_empty_not_404(web):
    st, se, _ = s1(web)
    r = session().get(f"{web.base_url}/studies/{st}/series/{se}/instances", params={"InstanceNumber": "99"},
                      headers=DICOM_JSON, timeout=30)
    assert r.status_code in (200, 204), describe(r)
    assert r.status_code == 204 or r.json() == []


def test_unknown_route_and_patient(web):
    r = session().get(web.base_url + "/nothing-here", timeout=30)
    assert r.status_code == 404, describe(r)
    r = session().get(web.node.http_url + "/api/patients/NO-SUCH-PATIENT", timeout=30)
    assert r.status_code == 404, describe(r)
    message_of(r)


@pytest.mark.parametrize("accept", ["application/json", "*/*", None, "application/dicom+json; q=0.9, application/dicom+xml; q=0.1"])
def test_search_accepts_json_media_types(web, accept):
    headers = {"Accept": accept} if accept else {}
    r = session().get(f"{web.base_url}/studies", params={"PatientID": "LOUPE-CF-P2"}, headers=headers, timeout=30)
    assert r.status_code == 200, describe(r)
    assert media_type(r.headers["Content-Type"])[0] in ("application/dicom+json", "application/json")
    assert len(r.json()) == 2


# ---- 406 ---------------------------------------------------------------------------------------------

NOT_ACCEPTABLE = [
    ("search-as-xml", "/studies", "multipart/related; type=\"application/dicom+xml\""),
    ("metadata-as-xml", "/studies/{st}/metadata", "multipart/related; type=\"application/dicom+xml\""),
    ("retrieve-as-pdf", "/studies/{st}/series/{se}/instances/{i}", "application/pdf"),
    ("retrieve-as-zip", "/studies/{st}", "application/zip"),
    ("rendered-as-dicom", "/studies/{st}/series/{se}/instances/{i}/rendered", "application/dicom"),
    ("rendered-as-gif", "/studies/{st}/series/{se}/instances/{i}/rendered", "image/gif"),
    ("frames-as-jpeg2000", "/studies/{st}/series/{se}/instances/{i}/frames/1", "multipart/related; type=\"image/jp2\""),
    ("frames-in-unknown-syntax", "/studies/{st}/series/{se}/instances/{i}/frames/1",
     "multipart/related; type=\"application/octet-stream\"; transfer-syntax=1.2.840.10008.1.2.4.50"),
]


@pytest.mark.parametrize("path,accept", [(c[1], c[2]) for c in NOT_ACCEPTABLE], ids=[c[0] for c in NOT_ACCEPTABLE])
def test_not_acceptable(web, path, accept):
    st, se, i = s1(web)
    r = session().get(web.base_url + path.format(st=st, se=se, i=i), headers={"Accept": accept}, timeout=30)
    assert r.status_code == 406, describe(r)
    message_of(r)


# ---- 400 ---------------------------------------------------------------------------------------------

BAD_REQUESTS = [
    ("unknown-attribute", "/studies", {"NoSuchKeyword": "x"}),
    ("unknown-tag", "/series", {"GGGGEEEE": "x"}),
    ("unknown-includefield", "/studies", {"includefield": "NotAnAttribute"}),
    ("negative-limit", "/studies", {"limit": "-1"}),
    ("text-limit", "/instances", {"limit": "ten"}),
    ("text-offset", "/studies", {"offset": "x"}),
    ("window-text", "/studies/{st}/series/{se}/instances/{i}/rendered", {"window": "abc"}),
    ("window-zero-width", "/studies/{st}/series/{se}/instances/{i}/rendered", {"window": "40,0"}),
    ("window-function", "/studies/{st}/series/{se}/instances/{i}/rendered", {"window": "40,400,cubic"}),
    ("viewport-zero", "/studies/{st}/series/{se}/instances/{i}/rendered", {"viewport": "0,0"}),
    ("quality-zero", "/studies/{st}/series/{se}/instances/{i}/rendered", {"quality": "0"}),
    ("frame-zero", "/studies/{st}/series/{se}/instances/{i}/frames/0", {}),
]


@pytest.mark.parametrize("path,params", [(c[1], c[2]) for c in BAD_REQUESTS], ids=[c[0] for c in BAD_REQUESTS])
def test_bad_request_with_message(web, path, params):
    st, se, i = s1(web)
    r = session().get(web.base_url + path.format(st=st, se=se, i=i), params=params, timeout=30)
    assert r.status_code == 400, describe(r)
    message = message_of(r)
    named = [v for v in params.values() if v] + list(params)
    assert any(str(n) in message for n in named) or not params, f"the message does not say what is wrong: {message}"


# ---- CORS --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cors_node(loupe_factory, generated):
    node = loupe_factory("loupe-cors", start=False)
    node.extra_args += ["--cors-origin", VIEWER]
    node.start()
    assert node.send(generated.files(["S2"])).returncode == 0
    return node


def preflight(node, path, method="GET", headers="accept", origin=VIEWER):
    return session().options(node.base_url + path, timeout=30, headers={
        "Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers})


def test_cors_preflight_for_ohif_requests(cors_node, generated):
    """OHIF's frame request carries a non-safelisted Accept, so the browser sends a preflight."""
    record = generated.study("S2")[0]
    path = (f"/studies/{record['StudyInstanceUID']}/series/{record['SeriesInstanceUID']}"
            f"/instances/{record['SOPInstanceUID']}/frames/1")
    r = preflight(cors_node, path, headers="accept,authorization")
    assert r.status_code == 204, describe(r)
    assert r.headers.get("Access-Control-Allow-Origin") == VIEWER, dict(r.headers)
    assert "GET" in [m.strip() for m in r.headers.get("Access-Control-Allow-Methods", "").split(",")]
    allowed = [h.strip().lower() for h in r.headers.get("Access-Control-Allow-Headers", "").split(",")]
    assert "accept" in allowed and "authorization" in allowed, dict(r.headers)
    assert "origin" in r.headers.get("Vary", "").lower(), "the answer depends on Origin: Vary: Origin"
    # STOW-RS from the viewer (upload): POST with Content-Type.
    post = preflight(cors_node, "/studies", method="POST", headers="content-type")
    assert post.status_code == 204 and "POST" in post.headers.get("Access-Control-Allow-Methods", ""), describe(post)


def test_cors_headers_on_answers(cors_node, generated):
    http = session()
    r = http.get(cors_node.base_url + "/studies", headers={"Origin": VIEWER, **DICOM_JSON}, timeout=30)
    assert r.status_code == 200 and r.headers.get("Access-Control-Allow-Origin") == VIEWER, describe(r)
    assert "x-total-count" in r.headers.get("Access-Control-Expose-Headers", "").lower(), \
        "X-Total-Count is unreadable from a browser unless exposed"
    error = http.get(cors_node.base_url + f"/studies/{UNKNOWN}/metadata", headers={"Origin": VIEWER, **DICOM_JSON}, timeout=30)
    assert error.status_code == 404 and error.headers.get("Access-Control-Allow-Origin") == VIEWER, \
        "error answers need the CORS header too, or the browser hides them"


def test_cors_other_origins_get_nothing(cors_node, web):
    other = "http://evil.example"
    r = session().get(cors_node.base_url + "/studies", headers={"Origin": other, **DICOM_JSON}, timeout=30)
    assert r.status_code == 200 and "Access-Control-Allow-Origin" not in r.headers, dict(r.headers)
    p = preflight(cors_node, "/studies", origin=other)
    assert p.headers.get("Access-Control-Allow-Origin") in (None, ""), describe(p)
    # A node without --cors-origin sends no CORS headers at all.
    plain = session().get(web.base_url + "/studies", headers={"Origin": VIEWER, **DICOM_JSON}, timeout=30)
    assert plain.status_code == 200 and "Access-Control-Allow-Origin" not in plain.headers


# ---- /api and /healthz -------------------------------------------------------------------------------

def test_healthz(web):
    r = session().get(web.node.http_url + "/healthz", timeout=30)
    assert r.status_code == 200 and r.text.strip() == "ok", describe(r)


def test_api_stats_counts_the_archive(web):
    r = session().get(web.node.http_url + "/api/stats", timeout=30)
    assert r.status_code == 200 and media_type(r.headers["Content-Type"])[0] == "application/json", describe(r)
    stats = r.json()
    derivations = stats.pop("derivations")
    findings = stats.pop("findings")
    flagged = stats.pop("flagged")
    assert stats == {"patients": len(web.model.groups("PATIENT")), "studies": len(web.model.groups("STUDY")),
                     "series": len(web.model.groups("SERIES")), "instances": len(web.model.records)}
    # A PNG, an embedding, an anomaly and a photo job per instance, in whatever state the workers have reached.
    assert set(derivations) == {"pending", "running", "done", "failed", "skipped"}
    assert sum(derivations.values()) == 4 * len(web.model.records)
    # Anomaly findings so far: at most one per instance; `flagged` counts the invalid ones.
    assert set(findings) <= {"anomaly"} and set(findings.get("anomaly", {})) <= {"valid", "invalid"}
    assert sum(findings.get("anomaly", {}).values()) <= len(web.model.records)
    assert flagged == findings.get("anomaly", {}).get("invalid", 0)


def test_api_patient_and_counts(web):
    generated = web.archive.generated
    pid = "LOUPE-CF-P1"
    keys = [k for k in generated.studies if generated.study(k)[0]["PatientID"] == pid]
    r = session().get(f"{web.node.http_url}/api/patients/{pid}", timeout=30)
    assert r.status_code == 200 and media_type(r.headers["Content-Type"])[0] == "application/json", describe(r)
    patient = r.json()
    assert patient["PatientID"] == pid and patient["PatientName"] == "Müller^Jörg"
    assert patient["PatientBirthDate"] == "19580412" and patient["PatientSex"] == "M"
    instances = [i for k in keys for i in generated.study(k)]
    assert patient["NumberOfPatientRelatedStudies"] == len(keys)
    assert patient["NumberOfPatientRelatedSeries"] == len({i["SeriesInstanceUID"] for i in instances})
    assert patient["NumberOfPatientRelatedInstances"] == len(instances)
    studies = {s["StudyInstanceUID"]: s for s in patient["Studies"]}
    assert set(studies) == {generated.studies[k] for k in keys}
    for key in keys:
        study = studies[generated.studies[key]]
        record = generated.study(key)[0]
        assert study["StudyDate"] == record["StudyDate"] and study["StudyDescription"] == record["StudyDescription"]
        assert study["AccessionNumber"] == record["AccessionNumber"]
        assert study["ModalitiesInStudy"] == web.model.modalities_in_study(record["StudyInstanceUID"]).split("\\")
        assert study["NumberOfStudyRelatedInstances"] == len(generated.study(key))
    counts = session().get(f"{web.node.http_url}/api/patients/{pid}/counts", timeout=30)
    assert counts.status_code == 200, describe(counts)
    assert counts.json() == {"studies": len(keys), "series": patient["NumberOfPatientRelatedSeries"],
                             "instances": len(instances)}
