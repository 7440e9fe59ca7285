"""Process lifecycle: a restart on the same data directory keeps everything, and SIGTERM/SIGINT
shut the node down gracefully (exit status 0, within a few seconds, open associations finished)."""

import signal
import subprocess
import time

import pytest

from loupe_corpus import PATIENTS
from loupe_support import GETSCU, HOST, port_open


def snapshot(node) -> dict:
    """What the archive answers: studies with counts, patients with counts, every image UID."""
    studies = node.find("STUDY", [("StudyInstanceUID", ""), ("PatientID", ""), ("StudyDate", ""),
                                  ("ModalitiesInStudy", ""), ("NumberOfStudyRelatedSeries", ""),
                                  ("NumberOfStudyRelatedInstances", "")])
    patients = node.find("PATIENT", [("PatientID", ""), ("PatientName", ""), ("NumberOfPatientRelatedStudies", ""),
                                     ("NumberOfPatientRelatedSeries", ""), ("NumberOfPatientRelatedInstances", "")],
                         model="P")
    assert studies.ok and patients.ok, f"{studies}\n{patients}"
    study_uids = sorted(studies.values("StudyInstanceUID"))
    images = node.find("IMAGE", [("StudyInstanceUID", "\\".join(study_uids)), ("SOPInstanceUID", "")])
    assert images.ok, str(images)

    def rows(result, keys):
        return sorted(tuple(str(r.get(k, "")) for k in keys) for r in result.responses)

    return {
        "studies": rows(studies, ["StudyInstanceUID", "PatientID", "StudyDate", "ModalitiesInStudy",
                                  "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances"]),
        "patients": rows(patients, ["PatientID", "PatientName", "NumberOfPatientRelatedStudies",
                                    "NumberOfPatientRelatedSeries", "NumberOfPatientRelatedInstances"]),
        "images": sorted(images.values("SOPInstanceUID")),
    }


def test_restart_on_same_data_keeps_everything(archive):
    node = archive.node
    before = snapshot(node)
    assert len(before["images"]) == len(archive.model.records), "the archive is not what was sent"
    assert {r[0] for r in before["studies"]} == set(archive.model.groups("STUDY"))

    node.restart()          # SIGTERM (asserts exit status 0), then start on the same directory and port
    assert node.starts >= 2
    assert node.echo().returncode == 0

    after = snapshot(node)
    assert after["studies"] == before["studies"]
    assert after["patients"] == before["patients"]
    assert after["images"] == before["images"]
    # And a matching query still matches the same way.
    result = node.find("PATIENT", [("PatientName", "muller*"), ("PatientID", "")], model="P")
    assert result.values("PatientID") == [PATIENTS["mueller"]["PatientID"]], str(result)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_shuts_down_gracefully(loupe_factory, sig):
    node = loupe_factory("loupe-shutdown")
    assert node.echo().returncode == 0
    started = time.monotonic()
    code = node.stop(sig, timeout=10)
    elapsed = time.monotonic() - started
    assert code == 0, f"exit status {code} after {sig.name}\n{node.log_tail()}"
    assert elapsed < 5, f"shutdown took {elapsed:.1f}s"
    assert not port_open(node.port), "the DIMSE port still accepts connections after exit"


def test_shutdown_lets_an_open_association_finish(loupe_factory, generated, tmp_path):
    """SIGTERM while a C-GET association is busy: within the grace period (--shutdown-grace 20)
    the association's retrieves complete, then the process exits 0."""
    node = loupe_factory("loupe-grace", extra_args=["--shutdown-grace", "20"])
    sent = node.send(generated.files())
    assert sent.returncode == 0, str(sent)
    n = len(generated.instances)
    repeats = 3
    # getscu --repeat sends the C-GET several times on one association (about 2 s in all here).
    argv = [GETSCU, "-d", "-S", "-aec", node.ae, "+B", "-od", str(tmp_path), "--repeat", str(repeats),
            "-k", "QueryRetrieveLevel=STUDY",
            "-k", "StudyInstanceUID=" + "\\".join(generated.studies.values()), HOST, str(node.port)]
    with open(tmp_path / "getscu.log", "wb") as log:
        getscu = subprocess.Popen(argv, stdout=log, stderr=log)
        deadline = time.monotonic() + 15
        while "Received C-STORE Request" not in (tmp_path / "getscu.log").read_text(errors="replace"):
            assert getscu.poll() is None and time.monotonic() < deadline, "the C-GET did not start"
            time.sleep(0.02)
        assert getscu.poll() is None, "the C-GET finished before the signal: nothing was tested"
        started = time.monotonic()
        code = node.stop(signal.SIGTERM, timeout=60)
        elapsed = time.monotonic() - started
        getscu_code = getscu.wait(timeout=60)
    output = (tmp_path / "getscu.log").read_text(errors="replace")
    assert code == 0, f"exit status {code}\n{node.log_tail()}"
    assert elapsed < 20, f"exit took {elapsed:.1f}s: longer than the grace period"
    assert getscu_code == 0, output[-3000:]
    assert "Cancel" not in output, "a retrieve was cancelled by the shutdown:\n" + output[-3000:]
    assert output.count("DIMSE status is: Success") >= repeats, output[-3000:]
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("1.")]) == n
