"""Interoperability with Orthanc 1.10 (another PACS, built on DCMTK too but with its own
networking code): Orthanc C-STOREs to Loupe, C-FINDs on Loupe and C-MOVEs from Loupe into itself.

The node here (fixture orthanc_pair) holds the generated corpus except study S1; Orthanc knows
Loupe as modality "loupe", Loupe knows Orthanc as peer ORTHANC."""

import pytest

from loupe_corpus import ArchiveModel


def loupe_study_instances(node, study_uid) -> list:
    result = node.find("IMAGE", [("StudyInstanceUID", study_uid), ("SOPInstanceUID", "")])
    assert result.ok, str(result)
    return sorted(result.values("SOPInstanceUID"))


def orthanc_instances_of_study(orthanc, study_uid) -> list:
    found = orthanc.post("/tools/find", {"Level": "Instance", "Expand": True,
                                         "Query": {"StudyInstanceUID": study_uid}})
    return sorted(i["MainDicomTags"]["SOPInstanceUID"] for i in found)


def test_orthanc_echoes_loupe(orthanc_pair):
    node, orthanc = orthanc_pair
    assert orthanc.post("/modalities/loupe/echo", {}) == {}


def test_orthanc_stores_a_study_into_loupe(orthanc_pair, generated):
    node, orthanc = orthanc_pair
    study = generated.study("S1")
    study_uid = generated.studies["S1"]
    assert loupe_study_instances(node, study_uid) == [], "S1 must reach Loupe only through Orthanc"
    orthanc_study = None
    for instance in study:
        uploaded = orthanc.post("/instances", data=instance["path"].read_bytes())
        assert uploaded["Status"] in ("Success", "AlreadyStored"), uploaded
        orthanc_study = uploaded["ParentStudy"]

    job = orthanc.post("/modalities/loupe/store", {"Resources": [orthanc_study], "Synchronous": True})
    assert int(job.get("FailedInstancesCount", 0)) == 0, job
    assert int(job.get("InstancesCount", len(study))) == len(study), job

    assert loupe_study_instances(node, study_uid) == sorted(i["SOPInstanceUID"] for i in study)
    result = node.find("STUDY", [("StudyInstanceUID", study_uid), ("PatientName", ""),
                                 ("NumberOfStudyRelatedSeries", ""), ("NumberOfStudyRelatedInstances", ""),
                                 ("ModalitiesInStudy", "")])
    assert result.ok and len(result.responses) == 1, str(result)
    response = result.responses[0]
    assert str(response.PatientName) == study[0]["PatientName"]
    assert int(response.NumberOfStudyRelatedInstances) == len(study)
    assert int(response.NumberOfStudyRelatedSeries) == len({i["SeriesInstanceUID"] for i in study})
    assert sorted(response.ModalitiesInStudy) == sorted({i["Modality"] for i in study})


@pytest.mark.parametrize("query", [
    {"PatientName": "DOE*", "StudyDate": "20230101-20231231"},
    {"PatientName": "muller*", "StudyDate": "-20221231"},
    {"PatientName": "doe^j*", "StudyDate": "20240101-"},
], ids=["doe-2023", "muller-until-2022", "doe-lowercase-from-2024"])
def test_orthanc_queries_loupe_at_study_level(orthanc_pair, generated, query):
    node, orthanc = orthanc_pair
    answer = orthanc.post("/modalities/loupe/query",
                          {"Level": "Study", "Query": dict(query, StudyInstanceUID="", AccessionNumber="")})
    query_id = answer["ID"]
    indexes = orthanc.get(f"/queries/{query_id}/answers")
    found = {}
    for index in indexes:
        content = orthanc.get(f"/queries/{query_id}/answers/{index}/content", params={"simplify": ""})
        found[content["StudyInstanceUID"]] = content
    # What the node holds: the generated corpus; S1 only once Orthanc has stored it, and S1 does
    # not match any of these queries, so the expectation does not depend on test order.
    model = ArchiveModel([i for i in generated.instances if i["StudyInstanceUID"] != generated.studies["S1"]])
    must, _ = model.expected("STUDY", query)
    assert must, f"query {query} matches nothing in the corpus"
    assert set(found) == must, f"query {query}: got {sorted(found)}, expected {sorted(must)}"
    for uid, content in found.items():
        first = next(i for i in generated.instances if i["StudyInstanceUID"] == uid)
        assert content.get("AccessionNumber") == first["AccessionNumber"], content
        assert content.get("StudyDate") == first["StudyDate"], content


def test_orthanc_retrieves_a_study_from_loupe_by_c_move(orthanc_pair, generated):
    node, orthanc = orthanc_pair
    study_uid = generated.studies["S3"]
    assert orthanc_instances_of_study(orthanc, study_uid) == [], "Orthanc must get S3 only from Loupe"
    answer = orthanc.post("/modalities/loupe/query", {"Level": "Study", "Query": {"StudyInstanceUID": study_uid}})
    query_id = answer["ID"]
    assert orthanc.get(f"/queries/{query_id}/answers") == ["0"]
    orthanc.post(f"/queries/{query_id}/answers/0/retrieve", {"TargetAet": "ORTHANC", "Synchronous": True})

    expected = sorted(i["SOPInstanceUID"] for i in generated.study("S3"))
    assert orthanc_instances_of_study(orthanc, study_uid) == expected
    # The images arrived whole: Orthanc decodes the same pixel data as the files hold.
    for instance in generated.study("S3"):
        ids = orthanc.post("/tools/lookup", data=instance["SOPInstanceUID"].encode())
        assert len(ids) == 1 and ids[0]["Type"] == "Instance", ids
        tags = orthanc.get(f"/instances/{ids[0]['ID']}/simplified-tags")
        assert tags["PatientName"] == instance["PatientName"]
        assert tags["SeriesInstanceUID"] == instance["SeriesInstanceUID"]
