"""C-MOVE (to a bit-preserving storescp) and C-GET: what arrives, byte for byte, sub-operation
counts, Move Originator, C-CANCEL, failure statuses (unknown destination, no unique key, refused
sub-operations, unreachable peer), and transfer syntax negotiation of the sub-operations
(destinations that accept only uncompressed or only the Default Transfer Syntax)."""

import re
import subprocess

import pydicom
import pytest

from loupe_corpus import CT_IMAGE_STORAGE, PATIENTS
from loupe_support import (HOST, STORESCP, StoreSCP, dataset_bytes, files_by_sop_instance_uid, final_status,
                           first_difference, free_port, stop_process, sub_operation_counts, tail, wait_for_port)


def assert_same_bytes(received: dict, expected: dict):
    """received / expected: SOP Instance UID -> file. Data sets (after the file meta) must be equal."""
    assert set(received) == set(expected), (f"missing: {sorted(set(expected) - set(received))}\n"
                                            f"unexpected: {sorted(set(received) - set(expected))}")
    differing = []
    for uid, path in expected.items():
        got, want = dataset_bytes(received[uid]), dataset_bytes(path)
        if got != want:
            differing.append(f"{uid} ({path.name}): {first_difference(got, want)}")
    assert not differing, "data sets changed on the way through Loupe:\n" + "\n".join(differing)


def generated_files(archive, keys) -> dict:
    return {i["SOPInstanceUID"]: i["path"] for i in archive.generated.instances
            if i["StudyInstanceUID"] in {archive.generated.studies[k] for k in keys}}


def test_move_study_uid_list_of_generated_studies(archive, storescp):
    storescp.clear()
    keys = ["S1", "S4"]
    moved = archive.node.move("STORESCP", "STUDY",
                              {"StudyInstanceUID": "\\".join(archive.generated.studies[k] for k in keys)})
    expected = generated_files(archive, keys)
    assert final_status(moved.output) == 0x0000, str(moved)
    counts = sub_operation_counts(moved.output)
    assert counts.get("completed") == len(expected) and counts.get("failed") == 0, f"{counts}\n{moved}"
    assert_same_bytes(storescp.received(), expected)


def test_move_whole_pydicom_corpus_is_bit_preserving(archive, storescp):
    """Every pydicom study, in its own transfer syntax, moved back out: each data set must equal
    what dcmsend transmitted (the wire capture); duplicates sent later must not have replaced the
    first copy."""
    storescp.clear()
    capture = archive.capture.by_uid
    studies = sorted({r["StudyInstanceUID"] for r in archive.model.records
                      if r["SOPInstanceUID"] in capture})
    moved = archive.node.move("STORESCP", "STUDY", {"StudyInstanceUID": "\\".join(studies)})
    assert final_status(moved.output) == 0x0000, str(moved)
    counts = sub_operation_counts(moved.output)
    received = storescp.received()
    # Generated instances do not share these studies.
    assert counts.get("completed") == len(capture), f"{counts}\n{moved}"
    assert_same_bytes(received, dict(capture))


def test_move_generated_files_equal_the_files_sent(archive, storescp):
    """The generated corpus is encoded the way DCMTK sends it: the moved data sets must equal the
    files on disk themselves."""
    storescp.clear()
    keys = list(archive.generated.studies)
    moved = archive.node.move("STORESCP", "STUDY",
                              {"StudyInstanceUID": "\\".join(archive.generated.studies[k] for k in keys)})
    assert final_status(moved.output) == 0x0000, str(moved)
    assert_same_bytes(storescp.received(), generated_files(archive, keys))


@pytest.mark.parametrize("level", ["SERIES", "IMAGE"])
def test_move_at_series_and_image_level(archive, storescp, level):
    storescp.clear()
    study = archive.generated.study("S1")
    series_uid = study[0]["SeriesInstanceUID"]
    keys = {"StudyInstanceUID": archive.generated.studies["S1"], "SeriesInstanceUID": series_uid}
    in_series = [i for i in study if i["SeriesInstanceUID"] == series_uid]
    if level == "IMAGE":
        chosen = in_series[:2]
        keys["SOPInstanceUID"] = "\\".join(i["SOPInstanceUID"] for i in chosen)
    else:
        chosen = in_series
    moved = archive.node.move("STORESCP", level, keys)
    assert final_status(moved.output) == 0x0000, str(moved)
    assert_same_bytes(storescp.received(), {i["SOPInstanceUID"]: i["path"] for i in chosen})


def test_move_patient_root_patient_level(archive, storescp):
    storescp.clear()
    patient = PATIENTS["doejane"]
    moved = archive.node.move("STORESCP", "PATIENT", {"PatientID": patient["PatientID"]}, model="P")
    assert final_status(moved.output) == 0x0000, str(moved)
    expected = {i["SOPInstanceUID"]: i["path"] for i in archive.generated.instances
                if i["PatientID"] == patient["PatientID"]}
    assert_same_bytes(storescp.received(), expected)


def test_move_to_unknown_destination_is_refused_with_A801(archive, storescp):
    storescp.clear()
    moved = archive.node.move("NOWHERE", "STUDY", {"StudyInstanceUID": archive.generated.studies["S2"]})
    assert "0xa801" in moved.output.lower(), str(moved)
    assert final_status(moved.output) == 0xA801, str(moved)
    assert storescp.received() == {}


def test_move_without_unique_key_is_refused_with_A900(archive, storescp):
    """A STUDY-level C-MOVE whose Study Instance UID is empty (universal) names no study."""
    storescp.clear()
    moved = archive.node.move("STORESCP", "STUDY", {"StudyInstanceUID": ""})
    assert final_status(moved.output) == 0xA900, str(moved)
    assert storescp.received() == {}


def test_move_of_unknown_study_moves_nothing(archive, storescp):
    storescp.clear()
    moved = archive.node.move("STORESCP", "STUDY", {"StudyInstanceUID": "1.2.3.4.5.6.7.8.9.0"})
    status = final_status(moved.output)
    assert status == 0x0000, str(moved)
    assert sub_operation_counts(moved.output).get("completed", 0) == 0, str(moved)
    assert storescp.received() == {}


def test_get_study_into_directory_is_bit_preserving(archive, tmp_path):
    keys = ["S3", "S4"]
    got = archive.node.get("STUDY", {"StudyInstanceUID": "\\".join(archive.generated.studies[k] for k in keys)},
                           tmp_path)
    expected = generated_files(archive, keys)
    assert final_status(got.output) == 0x0000, str(got)
    counts = sub_operation_counts(got.output)
    assert counts.get("completed") == len(expected) and counts.get("failed") == 0, f"{counts}\n{got}"
    assert_same_bytes(files_by_sop_instance_uid(tmp_path), expected)


def test_get_series_patient_root(archive, tmp_path):
    study = archive.generated.study("S5")
    keys = {"PatientID": PATIENTS["doejane"]["PatientID"], "StudyInstanceUID": archive.generated.studies["S5"],
            "SeriesInstanceUID": study[0]["SeriesInstanceUID"]}
    got = archive.node.get("SERIES", keys, tmp_path, model="P")
    assert final_status(got.output) == 0x0000, str(got)
    assert_same_bytes(files_by_sop_instance_uid(tmp_path), {i["SOPInstanceUID"]: i["path"] for i in study})


def test_move_sub_operations_carry_the_move_originator(loupe_factory, generated, work):
    """C-STORE sub-operations of a C-MOVE carry Move Originator AE Title (0000,1030) and Message ID
    (0000,1031) (PS3.7 9.1.1.1)."""
    folder = work / "originator-storescp"
    (folder / "in").mkdir(parents=True)
    port = free_port()
    with open(folder / "log", "wb") as log:
        scp = subprocess.Popen([STORESCP, "-d", "+B", "-aet", "ORIGIN", "-od", str(folder / "in"), str(port)],
                               stdout=log, stderr=log)
    try:
        wait_for_port(port, scp, 15, describe=lambda: tail(folder / "log"))
        node = loupe_factory("loupe-originator", peers={"ORIGIN": f"ORIGIN@{HOST}:{port}"})
        assert node.send(generated.files(["S6"])).returncode == 0
        moved = node.move("ORIGIN", "STUDY", {"StudyInstanceUID": generated.studies["S6"]}, aet="ORIGINSCU")
        assert final_status(moved.output) == 0x0000, str(moved)
    finally:
        stop_process(scp)
    log_text = (folder / "log").read_text(errors="replace")
    assert re.search(r"Move Originator AE Title\s*:\s*ORIGINSCU", log_text), log_text[-3000:]
    assert re.search(r"Move Originator ID\s*:\s*1\b", log_text), log_text[-3000:]


def test_move_by_peer_name_uses_the_peer_ae_title(loupe_factory, generated, storescp):
    """The Move Destination is the configured peer NAME; the sub-association calls the peer's own
    AE title (here NAME DEST, AE STORESCP)."""
    node = loupe_factory("loupe-dest", peers={"DEST": storescp.address})
    assert node.send(generated.files(["S6"])).returncode == 0
    storescp.clear()
    moved = node.move("DEST", "STUDY", {"StudyInstanceUID": generated.studies["S6"]})
    assert final_status(moved.output) == 0x0000, str(moved)
    assert_same_bytes(storescp.received(), {i["SOPInstanceUID"]: i["path"] for i in generated.study("S6")})


def test_move_with_refused_sub_operations_reports_failures(loupe_factory, generated, work):
    """A destination that accepts CT but not MR: the CT images arrive, the MR ones fail. The final
    status is B000 (sub-operations complete, one or more failures) with the failed count and the
    Failed SOP Instance UID List (0008,0058) (PS3.4 C.4.2.1.5, C.4.2.3.1)."""
    ct_only = StoreSCP(work / "ct-only-storescp", [CT_IMAGE_STORAGE], ae="CTONLY").start()
    try:
        node = loupe_factory("loupe-partial", peers={"CTONLY": ct_only.address})
        assert node.send(generated.files(["S1"])).returncode == 0
        study = generated.study("S1")
        ct = {i["SOPInstanceUID"]: i["path"] for i in study if i["Modality"] == "CT"}
        mr = sorted(i["SOPInstanceUID"] for i in study if i["Modality"] == "MR")
        moved = node.move("CTONLY", "STUDY", {"StudyInstanceUID": generated.studies["S1"]})
        assert final_status(moved.output) == 0xB000, str(moved)
        counts = sub_operation_counts(moved.output)
        assert counts.get("completed") == len(ct) and counts.get("failed") == len(mr), f"{counts}\n{moved}"
        assert_same_bytes(ct_only.received(), ct)
        failed_list = re.findall(r"\(0008,0058\) UI \[([^\]]*)\]", moved.output)
        assert failed_list, f"no Failed SOP Instance UID List in the final response\n{moved}"
        assert sorted(failed_list[-1].split("\\")) == mr, failed_list[-1]
    finally:
        ct_only.stop()


def test_move_to_unreachable_peer_fails_without_success(loupe_factory, generated):
    """The destination is configured but nothing listens there: nothing can be completed, and the
    final status must not claim success."""
    node = loupe_factory("loupe-unreachable", peers={"GONE": f"GONE@{HOST}:{free_port()}"})
    assert node.send(generated.files(["S6"])).returncode == 0
    moved = node.move("GONE", "STUDY", {"StudyInstanceUID": generated.studies["S6"]})
    status = final_status(moved.output)
    assert status is not None and status not in (0x0000, 0xFF00), str(moved)
    assert sub_operation_counts(moved.output).get("completed", 0) == 0, str(moved)
    assert node.echo().returncode == 0


def test_c_cancel_stops_a_move(crowded, storescp):
    """movescu --cancel 1: C-CANCEL after the first pending response. The move stops early with
    final status Cancel (FE00); what the final response counts as completed is what arrived."""
    node, study, total = crowded
    storescp.clear()
    moved = node.move("STORESCP", "STUDY", {"StudyInstanceUID": study}, extra=["--cancel", "1"])
    assert "Sending Cancel Request" in moved.output, str(moved)
    assert final_status(moved.output) == 0xFE00, str(moved)[-4000:]
    counts = sub_operation_counts(moved.output)
    received = storescp.received()
    assert 1 <= len(received) < total, f"{len(received)} of {total} instances moved despite C-CANCEL"
    assert counts.get("completed") == len(received), f"{counts}, {len(received)} received"


UNCOMPRESSED = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2")


def _jpeg_instance(archive):
    """A JPEG Baseline instance of the pydicom corpus, as Loupe received it, alone in its study."""
    studies = archive.model.groups("STUDY")
    for uid, path in sorted(archive.capture.by_uid.items()):
        meta = pydicom.dcmread(path, stop_before_pixels=True)
        if str(meta.file_meta.TransferSyntaxUID) == "1.2.840.10008.1.2.4.50" and len(studies[meta.StudyInstanceUID]) == 1:
            return uid, str(meta.StudyInstanceUID), path
    pytest.fail("no JPEG Baseline instance alone in its study in the corpus")


def assert_sent_decompressed_or_failed(run, received: dict, uid: str):
    """The requester accepted uncompressed syntaxes only. Either the instance arrived really
    decompressed (native pixel data of the right length) and the status is Success, or it was
    not sent: one failed sub-operation and a final status that is not Success."""
    counts = sub_operation_counts(run.output)
    status = final_status(run.output)
    if uid in received:
        ds = pydicom.dcmread(received[uid])
        ts = str(ds.file_meta.TransferSyntaxUID)
        element = ds["PixelData"]
        assert ts in UNCOMPRESSED, f"arrived in {ts}"
        assert not element.is_undefined_length, (
            f"the JPEG data set was sent as is on a {ts} presentation context: encapsulated Pixel Data "
            f"(7FE0,0010) in a native transfer syntax; the receiver's file is malformed. Loupe reported "
            f"final status {status if status is None else hex(status)} with sub-operation counts {counts}")
        native = ds.Rows * ds.Columns * ds.SamplesPerPixel * ds.BitsAllocated // 8 * int(ds.get("NumberOfFrames", 1))
        assert len(element.value) == native
        assert status == 0x0000, str(run)
    else:
        assert counts.get("failed") == 1 and counts.get("completed") == 0, f"{counts}\n{run}"
        assert status not in (None, 0x0000), f"final status {status} although nothing was sent\n{run}"


def test_get_of_compressed_instance_not_accepted_by_requester(archive, tmp_path):
    """getscu proposes uncompressed syntaxes only for its storage sub-operations: Loupe must
    decompress a JPEG instance or fail the sub-operation, never send JPEG data on such a context."""
    uid, study, _ = _jpeg_instance(archive)
    got = archive.node.get("STUDY", {"StudyInstanceUID": study}, tmp_path)
    assert_sent_decompressed_or_failed(got, files_by_sop_instance_uid(tmp_path), uid)


def test_move_of_compressed_instance_to_uncompressed_only_destination(loupe_factory, archive, work):
    """The destination (storescp without options) accepts uncompressed syntaxes only: same rule
    for a C-MOVE sub-operation."""
    uid, study, path = _jpeg_instance(archive)
    folder = work / "plain-storescp"
    (folder / "in").mkdir(parents=True)
    port = free_port()
    with open(folder / "log", "wb") as log:
        scp = subprocess.Popen([STORESCP, "-v", "+B", "-aet", "PLAIN", "-od", str(folder / "in"), str(port)],
                               stdout=log, stderr=log)
    try:
        wait_for_port(port, scp, 15, describe=lambda: tail(folder / "log"))
        node = loupe_factory("loupe-plain", peers={"PLAIN": f"PLAIN@{HOST}:{port}"})
        assert node.send([path]).returncode == 0
        moved = node.move("PLAIN", "STUDY", {"StudyInstanceUID": study})
        assert_sent_decompressed_or_failed(moved, files_by_sop_instance_uid(folder / "in"), uid)
    finally:
        stop_process(scp)


def error_comments(output: str) -> list:
    return re.findall(r"\(0000,0902\) LO \[([^\]]*)\]", output)


def test_move_to_destination_supporting_only_the_default_transfer_syntax(loupe_factory, generated, work):
    """Implicit VR Little Endian is the DICOM Default Transfer Syntax, which every AE supports
    (PS3.5 10.1). A destination that accepts nothing else (storescp +xi) must still receive
    instances stored in explicit VR little endian: Loupe has to offer the default syntax in its
    sub-association and convert; the content must be unchanged."""
    folder = work / "implicit-only-storescp"
    (folder / "in").mkdir(parents=True)
    port = free_port()
    with open(folder / "log", "wb") as log:
        scp = subprocess.Popen([STORESCP, "-v", "+B", "+xi", "-aet", "IMPLICIT", "-od", str(folder / "in"), str(port)],
                               stdout=log, stderr=log)
    try:
        wait_for_port(port, scp, 15, describe=lambda: tail(folder / "log"))
        node = loupe_factory("loupe-implicit", peers={"IMPLICIT": f"IMPLICIT@{HOST}:{port}"})
        study = generated.study("S3")
        assert node.send([i["path"] for i in study]).returncode == 0
        moved = node.move("IMPLICIT", "STUDY", {"StudyInstanceUID": generated.studies["S3"]})
        status = final_status(moved.output)
        assert status == 0x0000, (f"final status {status if status is None else hex(status)}, "
                                  f"counts {sub_operation_counts(moved.output)}, comments {error_comments(moved.output)}")
        received = files_by_sop_instance_uid(folder / "in")
        assert set(received) == {i["SOPInstanceUID"] for i in study}
        for instance in study:
            got = pydicom.dcmread(received[instance["SOPInstanceUID"]])
            want = pydicom.dcmread(instance["path"])
            assert str(got.file_meta.TransferSyntaxUID) == "1.2.840.10008.1.2"
            for element in want:
                assert got[element.tag].value == element.value, f"{element.keyword} changed in the conversion"
    finally:
        stop_process(scp)
