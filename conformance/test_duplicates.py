"""Duplicate SOP Instance UIDs: `keep` (the default: the first copy wins) and `replace` (the new
copy takes the old one's place, in the index too: counts, studies left empty)."""

import array

import pydicom
from pydicom.uid import generate_uid

from loupe_support import dataset_bytes, final_status, first_difference, run
from test_import import summary


def altered_copy(instance: dict, target, new_study: bool = False) -> dict:
    """The same SOP Instance UID with other pixel data and, optionally, in another study."""
    ds = pydicom.dcmread(instance["path"])
    pixels = array.array("H", ds.PixelData)
    ds.PixelData = array.array("H", ((v + 1000) % 4096 for v in pixels)).tobytes()
    record = dict(instance, path=target)
    if new_study:
        ds.StudyInstanceUID = generate_uid()
        ds.SeriesInstanceUID = generate_uid()
        ds.StudyDate = "20250102"
        ds.AccessionNumber = "CF-ACC-MOVED"
        record.update(StudyInstanceUID=ds.StudyInstanceUID, SeriesInstanceUID=ds.SeriesInstanceUID)
    ds.save_as(target, enforce_file_format=True)
    return record


def study_counts(node, patient_id) -> dict:
    result = node.find("STUDY", [("PatientID", patient_id), ("StudyInstanceUID", ""), ("NumberOfStudyRelatedSeries", ""),
                                 ("NumberOfStudyRelatedInstances", "")])
    assert result.ok, str(result)
    return {str(r.StudyInstanceUID): (int(r.NumberOfStudyRelatedSeries), int(r.NumberOfStudyRelatedInstances))
            for r in result.responses}


def moved_bytes(node, storescp, study_uid) -> dict:
    storescp.clear()
    moved = node.move("STORESCP", "STUDY", {"StudyInstanceUID": study_uid})
    assert final_status(moved.output) == 0x0000, str(moved)
    return {uid: dataset_bytes(path) for uid, path in storescp.received().items()}


def test_keep_policy_first_copy_wins(loupe_factory, generated, storescp, tmp_path):
    node = loupe_factory("loupe-keep", peers={"STORESCP": storescp.address})
    study = generated.study("S2")
    assert node.send([i["path"] for i in study]).returncode == 0
    same_study = altered_copy(study[0], tmp_path / "same.dcm")
    other_study = altered_copy(study[1], tmp_path / "other.dcm", new_study=True)
    sent = node.send([same_study["path"], other_study["path"]])
    assert sent.returncode == 0 and "ERROR" not in sent.output.split("Status Summary")[-1], str(sent)

    pid = study[0]["PatientID"]
    assert study_counts(node, pid) == {generated.studies["S2"]: (1, 2)}, "a kept duplicate changed the index"
    got = moved_bytes(node, storescp, generated.studies["S2"])
    for instance in study:
        original = dataset_bytes(instance["path"])
        assert got[instance["SOPInstanceUID"]] == original, first_difference(got[instance["SOPInstanceUID"]], original)


def test_replace_policy_new_copy_replaces_old(loupe_factory, generated, storescp, tmp_path):
    node = loupe_factory("loupe-replace", peers={"STORESCP": storescp.address}, extra_args=["--duplicates", "replace"])
    study = generated.study("S2")
    assert node.send([i["path"] for i in study]).returncode == 0
    same_study = altered_copy(study[0], tmp_path / "same.dcm")
    other_study = altered_copy(study[1], tmp_path / "other.dcm", new_study=True)
    sent = node.send([same_study["path"], other_study["path"]])
    assert sent.returncode == 0, str(sent)

    pid = study[0]["PatientID"]
    # S2 keeps one instance (replaced in place); the other instance now lives in a new study.
    assert study_counts(node, pid) == {generated.studies["S2"]: (1, 1), other_study["StudyInstanceUID"]: (1, 1)}
    patient = node.find("PATIENT", [("PatientID", pid), ("NumberOfPatientRelatedStudies", ""),
                                    ("NumberOfPatientRelatedSeries", ""), ("NumberOfPatientRelatedInstances", "")],
                        model="P")
    assert patient.ok and len(patient.responses) == 1, str(patient)
    r = patient.responses[0]
    assert (int(r.NumberOfPatientRelatedStudies), int(r.NumberOfPatientRelatedSeries),
            int(r.NumberOfPatientRelatedInstances)) == (2, 2, 2)

    one = node.find("IMAGE", [("StudyInstanceUID", ""), ("SOPInstanceUID", other_study["SOPInstanceUID"])])
    assert one.ok and one.values("StudyInstanceUID") == [other_study["StudyInstanceUID"]], str(one)

    got = moved_bytes(node, storescp, generated.studies["S2"])
    assert set(got) == {same_study["SOPInstanceUID"]}
    assert got[same_study["SOPInstanceUID"]] == dataset_bytes(same_study["path"]), "the old copy is still served"
    got = moved_bytes(node, storescp, other_study["StudyInstanceUID"])
    assert got == {other_study["SOPInstanceUID"]: dataset_bytes(other_study["path"])}


def test_replace_policy_study_left_empty_disappears(loupe_factory, generated, tmp_path):
    node = loupe_factory("loupe-replace-empty", extra_args=["--duplicates", "replace"])
    instance = generated.study("S6")[0]        # S6 has a single instance
    assert node.send([instance["path"]]).returncode == 0
    moved_away = altered_copy(instance, tmp_path / "moved.dcm", new_study=True)
    assert node.send([moved_away["path"]]).returncode == 0
    counts = study_counts(node, instance["PatientID"])
    assert counts == {moved_away["StudyInstanceUID"]: (1, 1)}, f"the emptied study is still listed: {counts}"
    series = node.find("SERIES", [("StudyInstanceUID", generated.studies["S6"]), ("SeriesInstanceUID", "")])
    assert series.ok and series.responses == [], str(series)


def test_import_with_replace_reports_replaced(loupe_bin, generated, tmp_path):
    data = tmp_path / "data"
    instance = generated.study("S3")[0]
    first = run([loupe_bin, "import", "--data", data, instance["path"]])
    assert first.returncode == 0 and summary(first.output)["imported"] == 1, str(first)
    copy = altered_copy(instance, tmp_path / "copy.dcm")
    kept = run([loupe_bin, "import", "--data", data, copy["path"]])
    assert kept.returncode == 0 and summary(kept.output)["duplicates"] == 1, str(kept)
    replaced = run([loupe_bin, "import", "--data", data, "--duplicates", "replace", copy["path"]])
    counts = summary(replaced.output)
    assert replaced.returncode == 0 and counts["replaced"] == 1 and counts["duplicates"] == 0, str(replaced)
