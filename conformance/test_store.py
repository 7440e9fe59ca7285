"""C-STORE: the generated corpus and pydicom's test files (every transfer syntax they use) sent
with dcmsend, implicit VR and big endian data sets sent with storescu, duplicates (the first copy of
a SOP Instance UID is kept), and concurrent senders."""

import re
import subprocess
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian, generate_uid

from loupe_support import (DCMCONV, DCMSEND, HOST, STORESCP, STORESCU, StoreSCP, dataset_bytes,
                           files_by_sop_instance_uid, final_status, first_difference, run, wait_for_port)


def status_summary(output: str) -> dict:
    """dcmsend's closing summary: counts by outcome."""
    summary = {}
    for key, pattern in [("instances", r"Number of SOP instances\s*:\s*(\d+)"),
                         ("sent", r"- sent to the peer\s*:\s*(\d+)"),
                         ("success", r"\* with status SUCCESS\s*:\s*(\d+)"),
                         ("warning", r"\* with status WARNING\s*:\s*(\d+)"),
                         ("error", r"\* with status ERROR\s*:\s*(\d+)"),
                         ("not_sent", r"- NOT sent to the peer\s*:\s*(\d+)")]:
        found = re.search(pattern, output)
        summary[key] = int(found.group(1)) if found else 0
    return summary


def image_uids(node, study_uids) -> list:
    result = node.find("IMAGE", [("StudyInstanceUID", "\\".join(sorted(study_uids))), ("SOPInstanceUID", "")])
    assert result.ok, str(result)
    return result.values("SOPInstanceUID")


def test_generated_corpus_is_stored(archive):
    sent = archive.sends["generated"]
    summary = status_summary(sent.output)
    assert sent.returncode == 0, str(sent)
    assert summary["success"] == len(archive.generated.instances), f"{summary}\n{sent}"
    found = image_uids(archive.node, archive.generated.studies.values())
    assert sorted(found) == sorted(i["SOPInstanceUID"] for i in archive.generated.instances)


def test_pydicom_corpus_is_stored_in_every_transfer_syntax(archive):
    """Every file dcmsend could transmit (to a bit-preserving storescp) Loupe accepts too: all
    storage SOP classes and transfer syntaxes (JPEG, JPEG-LS, JPEG 2000, RLE, deflate, big endian)."""
    capture = archive.capture.by_uid
    primary_uids = {archive.pydicom.uid_of[p] for p in archive.pydicom.primary}
    # The capture is the yardstick: dcmsend must have been able to send (nearly) everything.
    assert set(capture) <= primary_uids
    assert len(capture) >= len(primary_uids) - 2, f"dcmsend could not send {primary_uids - set(capture)}"

    sent = archive.sends["pydicom"]
    summary = status_summary(sent.output)
    assert summary["error"] == 0, f"Loupe refused instances:\n{sent}"
    assert summary["success"] + summary["warning"] == len(capture), f"{summary}\n{sent}"

    studies = {r["StudyInstanceUID"] for r in archive.model.records}
    found = image_uids(archive.node, studies)
    assert len(found) == len(set(found)), "an instance is listed twice"
    expected = set(capture) | {i["SOPInstanceUID"] for i in archive.generated.instances}
    assert set(found) == expected, (f"missing: {sorted(expected - set(found))}\n"
                                    f"unexpected: {sorted(set(found) - expected)}")


def test_transfer_syntaxes_of_the_corpus(archive):
    """Guards the test data: the pydicom corpus reaches Loupe in many transfer syntaxes (dcmsend
    sends uncompressed files as explicit VR little endian; implicit VR and big endian are covered
    by test_store_and_get_keep_implicit_and_big_endian_bytes)."""
    import pydicom
    syntaxes = {str(pydicom.dcmread(p, stop_before_pixels=True).file_meta.TransferSyntaxUID)
                for p in archive.capture.by_uid.values()}
    assert {"1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.4.50",
            "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"} <= syntaxes, syntaxes


def test_duplicate_instances_are_accepted_and_not_indexed_twice(archive):
    dup = archive.sends["duplicates"]
    assert archive.pydicom.duplicates, "the pydicom corpus has no duplicate SOP Instance UIDs"
    summary = status_summary(dup.output)
    assert summary["error"] == 0, f"Loupe refused a duplicate (keep policy):\n{dup}"
    dup_uids = sorted({archive.pydicom.uid_of[p] for p in archive.pydicom.duplicates})
    result = archive.node.find("IMAGE", [("SOPInstanceUID", "\\".join(dup_uids)), ("StudyInstanceUID", "")])
    assert result.ok, str(result)
    found = result.values("SOPInstanceUID")
    assert sorted(found) == sorted(u for u in dup_uids if u in archive.capture.by_uid), str(result)


def _variant(source: Path, folder: Path, dcmconv_flag: str) -> dict:
    """A copy of a generated instance with new UIDs, converted by DCMTK's dcmconv to another
    uncompressed transfer syntax (+ti implicit VR little endian, +tb explicit VR big endian)."""
    ds = pydicom.dcmread(source)
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        setattr(ds, keyword, generate_uid())
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientID = "LOUPE-CF-TS"
    ds.PatientName = "Syntax^Test"
    little = folder / "explicit-le.dcm"
    ds.save_as(little, enforce_file_format=True)
    target = folder / "variant.dcm"
    converted = run([DCMCONV, dcmconv_flag, little, target])
    assert converted.returncode == 0, str(converted)
    return {"path": target, "SOPInstanceUID": ds.SOPInstanceUID, "StudyInstanceUID": ds.StudyInstanceUID}


@pytest.mark.parametrize("transfer_syntax, dcmconv_flag, storescu_flag, storescp_flag", [
    (ImplicitVRLittleEndian, "+ti", "-xi", "+xi"),
    (ExplicitVRBigEndian, "+tb", "-xb", "+xb"),
], ids=["implicit-vr-le", "explicit-vr-be"])
def test_store_and_move_keep_implicit_and_big_endian_bytes(loupe_factory, generated, work, sop_classes,
                                                            transfer_syntax, dcmconv_flag, storescu_flag,
                                                            storescp_flag):
    """storescu proposes the file's own uncompressed syntax first (-xi / -xb); Loupe accepts the
    first proposal, stores the data set as received, indexes it, and moves it unchanged to a
    destination that asks for that syntax (storescp +xi / +xb, bit-preserving)."""
    folder = work / f"variant{dcmconv_flag}"
    folder.mkdir()
    variant = _variant(generated.instances[0]["path"], folder, dcmconv_flag)
    assert str(pydicom.dcmread(variant["path"]).file_meta.TransferSyntaxUID) == transfer_syntax

    destination = StoreSCP(folder / "storescp", sop_classes, ae="SYNTAXSCP")
    destination.proc = None
    with open(destination.log_path, "ab") as log:
        destination.proc = subprocess.Popen(
            [STORESCP, "-v", "+B", storescp_flag, "-aet", destination.ae, "-od", str(destination.directory),
             str(destination.port)], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    wait_for_port(destination.port, destination.proc, 15)
    try:
        node = loupe_factory("loupe-syntax", peers={"SYNTAXSCP": destination.address})
        sent = run([STORESCU, "-v", storescu_flag, "-aec", node.ae, HOST, node.port, variant["path"]])
        assert sent.returncode == 0 and "Received Store Response (Success)" in sent.output, str(sent)
        found = node.find("STUDY", [("StudyInstanceUID", variant["StudyInstanceUID"]), ("PatientName", ""),
                                    ("PatientID", ""), ("NumberOfStudyRelatedInstances", "")])
        assert found.ok and len(found.responses) == 1, str(found)
        assert str(found.responses[0].PatientName) == "Syntax^Test"
        assert found.responses[0].PatientID == "LOUPE-CF-TS"
        assert int(found.responses[0].NumberOfStudyRelatedInstances) == 1

        moved = node.move("SYNTAXSCP", "STUDY", {"StudyInstanceUID": variant["StudyInstanceUID"]})
        assert final_status(moved.output) == 0x0000, str(moved)
        received = files_by_sop_instance_uid(destination.directory)
        assert list(received) == [variant["SOPInstanceUID"]], str(moved)
        path = received[variant["SOPInstanceUID"]]
        received_ts = str(pydicom.dcmread(path).file_meta.TransferSyntaxUID)
        assert received_ts == transfer_syntax, f"moved in {received_ts}\n{moved}"
        original, returned = dataset_bytes(variant["path"]), dataset_bytes(path)
        assert returned == original, first_difference(returned, original)
    finally:
        destination.stop()


def test_concurrent_stores_of_the_same_study_count_once(loupe_factory, generated):
    """Three SCUs at once: two send the same study, one another study. Every instance is indexed
    once and the counts are exact."""
    node = loupe_factory("loupe-concurrent")
    batches = [generated.files(["S1"]), list(reversed(generated.files(["S1"]))), generated.files(["S4"])]
    procs = [subprocess.Popen([DCMSEND, "-aet", f"SCU{n}", "-aec", node.ae, HOST, str(node.port), *map(str, files)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for n, files in enumerate(batches)]
    outputs = [p.communicate(timeout=120)[0].decode(errors="replace") for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(outputs)
    result = node.find("STUDY", [("StudyInstanceUID", ""), ("NumberOfStudyRelatedSeries", ""),
                                 ("NumberOfStudyRelatedInstances", "")])
    assert result.ok, str(result)
    got = {str(r.StudyInstanceUID): (int(r.NumberOfStudyRelatedSeries), int(r.NumberOfStudyRelatedInstances))
           for r in result.responses}
    expected = {}
    for key in ("S1", "S4"):
        study = generated.study(key)
        expected[generated.studies[key]] = (len({i["SeriesInstanceUID"] for i in study}), len(study))
    assert got == expected
    images = node.find("IMAGE", [("StudyInstanceUID", "\\".join(expected)), ("SOPInstanceUID", "")])
    assert sorted(images.values("SOPInstanceUID")) == sorted(i["SOPInstanceUID"] for k in ("S1", "S4")
                                                             for i in generated.study(k))
    patient = node.find("PATIENT", [("PatientID", generated.study("S1")[0]["PatientID"]),
                                    ("NumberOfPatientRelatedInstances", "")], model="P")
    assert patient.ok and int(patient.responses[0].NumberOfPatientRelatedInstances) == len(generated.study("S1"))
