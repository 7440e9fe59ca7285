"""QIDO-RS (PS3.18 10.6) with dicomweb-client against the main archive: searches at every level
and in every scope, with filters by keyword and by tag, wildcards, ranges, UID lists, fuzzy
matching, includefield and paging, checked against the archive model (PS3.4 C.2.2.2 matching
computed independently of Loupe); counts, RetrieveURLs and X-Total-Count over plain HTTP."""

import pytest

from dicomweb_support import RETRIEVE_URL, describe, first, session, text, values
from loupe_corpus import MR_IMAGE_STORAGE

QIDO = {"Accept": "application/dicom+json"}
LEVEL_ID = {"STUDY": "StudyInstanceUID", "SERIES": "SeriesInstanceUID", "IMAGE": "SOPInstanceUID"}


def resolve(web, query: dict) -> dict:
    """Study keys S1..S6 in UID values become the generated corpus' Study Instance UIDs."""
    studies = web.archive.generated.studies
    out = {}
    for key, value in query.items():
        for name, uid in studies.items():
            value = value.replace(f"<{name}>", uid)
        out[key] = value
    return out


def ids(items, level) -> set:
    return {first(item, LEVEL_ID[level]) for item in items}


def search(web, level, query, **kwargs):
    client = web.client()
    if level == "STUDY":
        return client.search_for_studies(search_filters=query, **kwargs)
    if level == "SERIES":
        return client.search_for_series(search_filters=query, **kwargs)
    return client.search_for_instances(search_filters=query, **kwargs)


# keyword / tag -> model keyword (the model speaks keywords)
TAG_KEYWORDS = {"00100020": "PatientID", "00080060": "Modality", "00100010": "PatientName", "00080050": "AccessionNumber"}

CASES = [
    ("study-patient-id", "STUDY", {"PatientID": "LOUPE-CF-P1"}),
    ("study-patient-id-by-tag", "STUDY", {"00100020": "LOUPE-CF-P2"}),
    ("study-name-wildcard", "STUDY", {"PatientName": "doe*"}),
    ("study-name-components", "STUDY", {"PatientName": "DOE^J*"}),
    ("study-name-question-mark", "STUDY", {"PatientName": "M?ller*"}),
    ("study-date-range", "STUDY", {"StudyDate": "20230101-20230131"}),
    ("study-date-open-start", "STUDY", {"StudyDate": "-20221231"}),
    ("study-date-open-end", "STUDY", {"StudyDate": "20240101-"}),
    ("study-time-range", "STUDY", {"StudyTime": "080000-150000", "PatientID": "LOUPE-CF-*"}),
    ("study-accession-wildcard", "STUDY", {"AccessionNumber": "CF-ACC-?00?"}),
    ("study-accession-by-tag", "STUDY", {"00080050": "CF-ACC-3002"}),
    ("study-modalities", "STUDY", {"ModalitiesInStudy": "MR"}),
    ("study-uid-list-comma", "STUDY", {"StudyInstanceUID": "<S1>,<S3>,1.2.3.4.5"}),
    ("study-uid-list-backslash", "STUDY", {"StudyInstanceUID": "<S2>\\<S6>"}),
    ("study-referring-accents", "STUDY", {"ReferringPhysicianName": "schafer*"}),
    ("study-description-and-date", "STUDY", {"StudyDescription": "CT*", "StudyDate": "20220101-20231231"}),
    ("series-modality", "SERIES", {"Modality": "CT"}),
    ("series-modality-by-tag-relational", "SERIES", {"00080060": "MR", "PatientID": "LOUPE-CF-P1"}),
    ("series-description-wildcard", "SERIES", {"SeriesDescription": "*AXIAL"}),
    ("series-number-in-study", "SERIES", {"SeriesNumber": "2", "StudyInstanceUID": "<S4>"}),
    ("image-sop-class", "IMAGE", {"SOPClassUID": MR_IMAGE_STORAGE, "PatientID": "LOUPE-CF-P3"}),
    ("image-instance-number", "IMAGE", {"InstanceNumber": "2", "StudyInstanceUID": "<S1>"}),
    ("image-by-patient-name", "IMAGE", {"PatientName": "doe^john"}),
]


@pytest.mark.parametrize("level,query", [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_search_matches_the_model(web, level, query):
    query = resolve(web, query)
    model_query = {TAG_KEYWORDS.get(k, k): v for k, v in query.items()}
    # QIDO-RS lists UIDs with commas (PS3.18 8.3.4.1) where C-FIND uses backslashes.
    model_query = {k: v.replace(",", "\\") if k.endswith("UID") else v for k, v in model_query.items()}
    must, open_ = web.model.expected(level, model_query)
    got = ids(search(web, level, query), level)
    assert must, f"the case selects nothing: {query}"
    assert must <= got, f"missing: {sorted(must - got)}"
    assert got <= must | open_, f"unexpected: {sorted(got - must - open_)}"


def test_search_everything_at_each_level(web):
    for level in ("STUDY", "SERIES", "IMAGE"):
        got = search(web, level, {})
        assert ids(got, level) == set(web.model.groups(level)), level
        assert len(got) == len(web.model.groups(level)), f"{level}: duplicates in the answer"


@pytest.mark.parametrize("name,expected", [("doe^jane", ["S5", "S6"]), ("MULLER^JORG", ["S1", "S2"]),
                                           ("Müller^Jörg", ["S1", "S2"])])
def test_fuzzy_matching_of_person_names(web, name, expected):
    """fuzzymatching=true: names match whatever their case and accents."""
    got = web.client().search_for_studies(search_filters={"PatientName": name}, fuzzymatching=True)
    assert ids(got, "STUDY") == {web.archive.generated.studies[k] for k in expected}


def test_search_in_scope_of_study_and_series(web):
    client = web.client()
    generated = web.archive.generated
    s1 = generated.studies["S1"]
    series = client.search_for_series(study_instance_uid=s1)
    assert {first(i, "SeriesInstanceUID") for i in series} == {r["SeriesInstanceUID"] for r in generated.study("S1")}
    assert all(first(i, "StudyInstanceUID") == s1 for i in series)
    ct = next(r for r in generated.study("S1") if r["Modality"] == "CT")
    instances = client.search_for_instances(study_instance_uid=s1, series_instance_uid=ct["SeriesInstanceUID"])
    assert {first(i, "SOPInstanceUID") for i in instances} == \
        {r["SOPInstanceUID"] for r in generated.study("S1") if r["SeriesInstanceUID"] == ct["SeriesInstanceUID"]}
    in_study = client.search_for_instances(study_instance_uid=generated.studies["S4"])
    assert {first(i, "SOPInstanceUID") for i in in_study} == {r["SOPInstanceUID"] for r in generated.study("S4")}
    filtered = client.search_for_series(study_instance_uid=s1, search_filters={"Modality": "MR"})
    assert [first(i, "Modality") for i in filtered] == ["MR"]


def test_default_return_attributes_and_counts(web):
    """The attributes PS3.18 Table 10.6.3-3/-4/-5 require, with the values of the files and the
    counts of the model."""
    client = web.client()
    generated = web.archive.generated
    for item in client.search_for_studies(search_filters={"PatientID": "LOUPE-CF-*"}):
        uid = first(item, "StudyInstanceUID")
        record = next(r for r in generated.instances if r["StudyInstanceUID"] == uid)
        assert text(item, "PatientName") == record["PatientName"]
        assert first(item, "PatientID") == record["PatientID"]
        assert first(item, "StudyDate") == record["StudyDate"]
        assert first(item, "AccessionNumber") == record["AccessionNumber"]
        assert first(item, "StudyDescription") == record["StudyDescription"]
        assert text(item, "ReferringPhysicianName") == record["ReferringPhysicianName"]
        assert values(item, "ModalitiesInStudy") == web.model.modalities_in_study(uid).split("\\")
        assert first(item, "NumberOfStudyRelatedSeries") == web.model.count("NumberOfStudyRelatedSeries", uid)
        assert first(item, "NumberOfStudyRelatedInstances") == web.model.count("NumberOfStudyRelatedInstances", uid)
        assert item["00081190"]["vr"] == "UR"
    for item in client.search_for_series(study_instance_uid=generated.studies["S4"]):
        uid = first(item, "SeriesInstanceUID")
        record = next(r for r in generated.instances if r["SeriesInstanceUID"] == uid)
        assert first(item, "Modality") == record["Modality"]
        assert first(item, "SeriesNumber") == int(record["SeriesNumber"])
        assert first(item, "SeriesDescription") == record["SeriesDescription"]
        assert first(item, "NumberOfSeriesRelatedInstances") == web.model.count("NumberOfSeriesRelatedInstances", uid)
    for item in client.search_for_instances(study_instance_uid=generated.studies["S5"]):
        record = next(r for r in generated.instances if r["SOPInstanceUID"] == first(item, "SOPInstanceUID"))
        assert first(item, "SOPClassUID") == record["SOPClassUID"]
        assert first(item, "InstanceNumber") == int(record["InstanceNumber"])
        assert first(item, "Rows") == 64 and first(item, "Columns") == 64


def test_includefield_by_keyword_tag_and_all(web):
    client = web.client()
    generated = web.archive.generated
    s3 = generated.studies["S3"]
    # Relational: study attributes on series results, by keyword and by tag.
    series = client.search_for_series(study_instance_uid=s3, fields=["StudyDescription", "00100010"])
    assert series and all(first(i, "StudyDescription") == "MR BRAIN" for i in series)
    assert all(text(i, "PatientName") == "DOE^JOHN" for i in series)
    # An attribute no index holds, from the stored data sets.
    instances = client.search_for_instances(study_instance_uid=s3, fields=["SliceThickness", "00180087"])
    assert instances and all(float(first(i, "SliceThickness")) == 1.5 for i in instances)
    assert all(float(first(i, "MagneticFieldStrength")) == 1.5 for i in instances)
    # all: every attribute available at the level and above.
    everything = client.search_for_instances(study_instance_uid=s3, fields=["all"])
    assert everything
    for item in everything:
        for keyword in ("StudyDescription", "SeriesDescription", "PatientName", "StudyDate", "Modality"):
            assert values(item, keyword), f"includefield=all lacks {keyword}"
    # Without includefield, a non-default attribute is not returned.
    plain = client.search_for_instances(study_instance_uid=s3)
    assert all("00180050" not in i for i in plain)


def test_paging_with_limit_and_offset(web):
    """limit/offset pages cover every study once, in a stable order; X-Total-Count is the total."""
    client = web.client()
    total = len(web.model.groups("STUDY"))
    everything = [first(i, "StudyInstanceUID") for i in client.search_for_studies()]
    pages = []
    offset = 0
    while offset < total + 5:
        page = [first(i, "StudyInstanceUID") for i in client.search_for_studies(limit=7, offset=offset)]
        assert len(page) <= 7
        pages += page
        offset += 7
    assert pages == everything, "pages are not the unpaged order cut in pieces"
    assert len(set(pages)) == total
    r = session().get(f"{web.base_url}/studies", params={"limit": 3, "offset": 2}, headers=QIDO, timeout=30)
    assert r.status_code == 200 and len(r.json()) == 3, describe(r)
    assert r.headers.get("X-Total-Count") == str(total), dict(r.headers)
    filtered = session().get(f"{web.base_url}/studies", params={"PatientID": "LOUPE-CF-P3", "limit": 1},
                             headers=QIDO, timeout=30)
    assert len(filtered.json()) == 1 and filtered.headers.get("X-Total-Count") == "2", describe(filtered)
    beyond = session().get(f"{web.base_url}/studies", params={"offset": total + 10}, headers=QIDO, timeout=30)
    assert beyond.status_code in (200, 204) and (beyond.status_code == 204 or beyond.json() == []), describe(beyond)


def test_retrieve_urls_point_to_the_resources(web):
    """RetrieveURL (0008,1190) of each result is the absolute WADO-RS URL of the entity (built
    from the request's Host), and resolves."""
    http = session()
    generated = web.archive.generated
    s1 = generated.studies["S1"]
    studies = http.get(f"{web.base_url}/studies", params={"StudyInstanceUID": s1}, headers=QIDO, timeout=30).json()
    assert values(studies[0], RETRIEVE_URL) == [f"{web.base_url}/studies/{s1}"]
    series = http.get(f"{web.base_url}/studies/{s1}/series", headers=QIDO, timeout=30).json()
    for item in series:
        url = first(item, RETRIEVE_URL)
        assert url == f"{web.base_url}/studies/{s1}/series/{first(item, 'SeriesInstanceUID')}"
        assert http.get(url + "/metadata", headers=QIDO, timeout=30).status_code == 200
    instances = http.get(f"{web.base_url}/instances", params={"StudyInstanceUID": s1}, headers=QIDO, timeout=30).json()
    for item in instances:
        url = first(item, RETRIEVE_URL)
        assert url == (f"{web.base_url}/studies/{s1}/series/{first(item, 'SeriesInstanceUID')}"
                       f"/instances/{first(item, 'SOPInstanceUID')}")
    forwarded = http.get(f"{web.base_url}/studies", params={"StudyInstanceUID": s1}, timeout=30,
                         headers={**QIDO, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "pacs.example.org"}).json()
    assert first(forwarded[0], RETRIEVE_URL) == f"https://pacs.example.org/dicom-web/studies/{s1}"


def test_responses_are_dicom_json_with_vr(web):
    r = session().get(f"{web.base_url}/series", params={"PatientID": "LOUPE-CF-P1"}, headers=QIDO, timeout=30)
    assert r.status_code == 200, describe(r)
    assert r.headers["Content-Type"].split(";")[0].strip() == "application/dicom+json"
    body = r.json()
    assert isinstance(body, list) and len(body) == 3
    for item in body:
        for key, element in item.items():
            assert len(key) == 8 and key == key.upper() and int(key, 16) >= 0, key
            assert "vr" in element and len(element["vr"]) == 2, (key, element)
            assert set(element) <= {"vr", "Value", "InlineBinary", "BulkDataURI"}, (key, element)
