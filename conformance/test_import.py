"""`loupe import`: recursive import, non-DICOM files skipped, duplicates, rejected files (exit 2),
and the imported instances served over DIMSE afterwards."""

import re
import shutil

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from loupe_support import dataset_bytes, final_status, run

SUMMARY = re.compile(r"Imported (\d+) of (\d+) files: (\d+) duplicates, (\d+) replaced, "
                     r"(\d+) skipped \((\d+) not DICOM, (\d+) DICOMDIR\), (\d+) rejected\.")


def summary(output: str) -> dict:
    found = SUMMARY.findall(output)
    assert len(found) == 1, f"expected one summary line:\n{output}"
    keys = ("imported", "files", "duplicates", "replaced", "skipped", "not_dicom", "dicomdir", "rejected")
    counts = dict(zip(keys, map(int, found[0])))
    assert counts["skipped"] == counts["not_dicom"] + counts["dicomdir"], str(counts)
    return counts


def make_tree(root, generated):
    """The generated corpus in nested folders, with non-DICOM files beside it."""
    shutil.copytree(generated.directory, root / "dicom" / "nested")
    (root / "README.txt").write_text("not a DICOM file\n")
    (root / "dicom" / "notes.json").write_text('{"patient": "DOE^JOHN"}')
    (root / "dicom" / "nested" / "empty.dcm").write_bytes(b"")
    (root / "dicom" / "random.bin").write_bytes(bytes(range(256)) * 3)
    (root / "dicom" / "preamble-only.dcm").write_bytes(b"\0" * 128 + b"DICX" + b"\0" * 64)
    return 5


def test_import_skips_non_dicom_files_and_serves_the_rest(loupe_factory, loupe_bin, generated, tmp_path, storescp):
    tree = tmp_path / "tree"
    non_dicom = make_tree(tree, generated)
    node = loupe_factory("loupe-import", start=False, peers={"STORESCP": storescp.address})
    result = run([loupe_bin, "import", "--data", node.data_dir, tree], timeout=300)
    assert result.returncode == 0, str(result)
    counts = summary(result.output)
    n = len(generated.instances)
    assert counts == {"imported": n, "files": n + non_dicom, "duplicates": 0, "replaced": 0,
                      "skipped": non_dicom, "not_dicom": non_dicom, "dicomdir": 0, "rejected": 0}, str(result)

    # Importing the same tree again: every instance is a duplicate, nothing is added.
    again = run([loupe_bin, "import", "--data", node.data_dir, tree], timeout=300)
    assert again.returncode == 0, str(again)
    counts = summary(again.output)
    assert counts["imported"] == 0 and counts["duplicates"] == n and counts["skipped"] == non_dicom, str(again)

    # The node serves what was imported: counts and bytes.
    node.start()
    found = node.find("STUDY", [("StudyInstanceUID", ""), ("NumberOfStudyRelatedInstances", "")])
    assert found.ok, str(found)
    got = {str(r.StudyInstanceUID): int(r.NumberOfStudyRelatedInstances) for r in found.responses}
    expected = {}
    for i in generated.instances:
        expected[i["StudyInstanceUID"]] = expected.get(i["StudyInstanceUID"], 0) + 1
    assert got == expected

    storescp.clear()
    moved = node.move("STORESCP", "STUDY", {"StudyInstanceUID": generated.studies["S1"]})
    assert final_status(moved.output) == 0x0000, str(moved)
    received = storescp.received()
    originals = {i["SOPInstanceUID"]: i["path"] for i in generated.study("S1")}
    assert set(received) == set(originals)
    for uid, path in originals.items():
        assert dataset_bytes(received[uid]) == dataset_bytes(path), f"{path} changed by import"


def test_import_reports_rejected_files_with_exit_status_2(loupe_bin, generated, tmp_path):
    """A DICOM file that cannot be archived (no SOP Instance UID, no Study Instance UID) is rejected;
    the others are imported and the exit status is 2."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(generated.instances[0]["path"], folder / "good.dcm")
    ds = Dataset()
    ds.PatientName = "No^Identifiers"
    ds.PatientID = "LOUPE-CF-BAD"
    ds.Modality = "OT"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.save_as(folder / "bad.dcm", enforce_file_format=True)
    assert pydicom.dcmread(folder / "bad.dcm").PatientName == "No^Identifiers"

    result = run([loupe_bin, "import", "--data", tmp_path / "data", folder], timeout=120)
    counts = summary(result.output)
    assert counts["imported"] == 1 and counts["rejected"] == 1 and counts["files"] == 2, str(result)
    assert result.returncode == 2, str(result)


