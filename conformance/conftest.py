"""Fixtures of the live conformance suite: real `loupe serve` processes, DCMTK tools, a storescp
destination and Orthanc, all on loopback ports picked at run time.

LOUPE_BIN names the binary under test (the Makefile sets it to the debug build).
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from loupe_corpus import ArchiveModel, generate_ct_corpus, instance_record, select_pydicom_corpus
from loupe_support import (DCMDUMP, HOST, LoupeNode, Orthanc, StoreSCP, dcmsend, files_by_sop_instance_uid,
                           run)

# ---- the binary ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def loupe_bin() -> str:
    binary = os.environ.get("LOUPE_BIN")
    if not binary:
        pytest.fail("LOUPE_BIN is not set: run `LOUPE_BIN=$(swift build --show-bin-path)/loupe python3 -m pytest conformance`")
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        pytest.fail(f"LOUPE_BIN={binary} is not an executable file")
    return binary


@pytest.fixture(scope="session")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("conformance")


# ---- Loupe's log on failure -------------------------------------------------------------------------

def pytest_runtest_setup(item):
    item._loupe_log_offsets = {id(n): (n.log_path.stat().st_size if n.log_path.exists() else 0)
                               for n in LoupeNode.registry}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    offsets = getattr(item, "_loupe_log_offsets", {})
    for node in LoupeNode.registry:
        if not node.log_path.exists():
            continue
        data = node.log_path.read_bytes()
        start = offsets.get(id(node), 0)
        recent = data[start:].decode("utf-8", errors="replace").splitlines()
        if not recent:
            continue
        report.sections.append((f"{node.name} stderr during the test ({node.log_path})", "\n".join(recent[-80:])))


# ---- nodes ------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def loupe_factory(loupe_bin, work):
    """Starts extra Loupe nodes (own data directory and port); all are stopped at the end."""
    started = []
    counter = [0]

    def make(name="node", start=True, **kwargs) -> LoupeNode:
        counter[0] += 1
        node = LoupeNode(loupe_bin, work / f"{name}-{counter[0]}", name=name, **kwargs)
        started.append(node)
        if start:
            node.start()
        return node

    yield make
    for node in started:            # signal all first, then wait: each takes about a second
        if node.running:
            node.proc.send_signal(signal.SIGTERM)
    for node in started:
        node.stop()


def write_yaml(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ---- corpora ------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def generated(work):
    """The generated multi-patient CT/MR corpus (3 patients, 6 studies, 8 series, 16 images)."""
    return generate_ct_corpus(work / "generated")


def parses_with_dcmtk(path) -> bool:
    """DCMTK reads the file to the end and finds the SOP Instance UID as a UI element (one of
    pydicom's files declares RLE but holds an implicit VR data set, which DCMTK reads as UN)."""
    result = run([DCMDUMP, "-q", "+P", "0008,0018", path], timeout=30)
    return result.returncode == 0 and "(0008,0018) UI [" in result.output


@pytest.fixture(scope="session")
def pydicom_files():
    corpus = select_pydicom_corpus(parses_with_dcmtk)
    assert len(corpus.primary) >= 30, f"too few usable pydicom test files: {corpus.primary}"
    return corpus


@pytest.fixture(scope="session")
def sop_classes(generated, pydicom_files) -> set:
    return generated.sop_classes | pydicom_files.sop_classes


@dataclass
class WireCapture:
    """What dcmsend actually transmits for each file, as a bit-preserving storescp received it.

    DCMTK's SCUs re-encode a data set before sending it, which for some of pydicom's files changes
    bytes (group lengths, sequence length encoding, padding). Loupe can only be asked to keep what
    it was sent, so the pydicom corpus is compared with this capture; the generated corpus, whose
    encoding DCMTK leaves alone, is compared with the files themselves."""
    by_uid: dict = field(default_factory=dict)   # SOP Instance UID -> captured file
    run: object = None


@pytest.fixture(scope="session")
def wire_capture(work, pydicom_files, sop_classes) -> WireCapture:
    scp = StoreSCP(work / "reference-storescp", sop_classes, ae="REFERENCE").start()
    try:
        result = dcmsend(HOST, scp.port, scp.ae, pydicom_files.primary)
    finally:
        scp.stop()
    return WireCapture(files_by_sop_instance_uid(scp.directory), result)


@pytest.fixture(scope="session")
def storescp(work, sop_classes):
    """The C-MOVE destination: storescp +B, accepting every SOP class and transfer syntax of the corpora."""
    scp = StoreSCP(work / "storescp", sop_classes, ae="STORESCP").start()
    yield scp
    scp.stop()


@pytest.fixture(scope="session")
def loupe(loupe_factory, storescp) -> LoupeNode:
    """The main node, peer STORESCP (storescp +B). The Orthanc tests run their own node and
    Orthanc (fixture orthanc_pair), so that what Orthanc sends does not change this archive."""
    return loupe_factory("loupe", peers={"STORESCP": storescp.address})


@dataclass
class Archive:
    """The main node after the corpora were sent to it, and what it must now hold."""
    node: LoupeNode
    generated: object
    pydicom: object
    capture: WireCapture
    model: ArchiveModel
    sends: dict


@pytest.fixture(scope="session")
def archive(loupe, generated, pydicom_files, wire_capture) -> Archive:
    sends = {
        "generated": loupe.send(generated.files()),
        "pydicom": loupe.send(pydicom_files.primary),
        # Later copies of SOP Instance UIDs already sent: Loupe keeps the first by default.
        "duplicates": loupe.send(pydicom_files.duplicates),
    }
    records = [dict(r) for r in generated.instances]
    records += [instance_record(path) for uid, path in sorted(wire_capture.by_uid.items())]
    return Archive(loupe, generated, pydicom_files, wire_capture, ArchiveModel(records), sends)


@pytest.fixture(scope="session")
def crowded(loupe_factory, loupe_bin, work, generated, storescp):
    """A node holding one study of 600 instances (written by `loupe import`), so that a C-FIND or
    C-MOVE has many responses to cancel. Returns (node, StudyInstanceUID, number of instances)."""
    import pydicom
    from pydicom.uid import generate_uid
    many = work / "crowded"
    many.mkdir()
    ds = pydicom.dcmread(generated.instances[0]["path"])
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientID = "LOUPE-CF-CROWD"
    total = 600
    for n in range(total):
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = n + 1
        ds.save_as(many / f"{n:04d}.dcm", enforce_file_format=True)
    node = loupe_factory("loupe-crowded", start=False, peers={"STORESCP": storescp.address})
    imported = run([loupe_bin, "import", "--data", node.data_dir, many], timeout=300)
    assert imported.returncode == 0, str(imported)
    node.start()
    return node, str(ds.StudyInstanceUID), total


# ---- Orthanc -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def orthanc_pair(loupe_factory, storescp, generated, work):
    """A Loupe node and an Orthanc that know each other: Loupe has the peer ORTHANC, Orthanc the
    modality "loupe". The node holds the generated corpus except study S1 (which Orthanc sends)."""
    if not os.path.exists("/usr/sbin/Orthanc"):
        pytest.fail("Orthanc is not installed (/usr/sbin/Orthanc): scripts/install-deps.sh test installs it")
    node = loupe_factory("loupe-orthanc", start=False)
    orthanc = Orthanc(work / f"orthanc-{node.port}", {"loupe": [node.ae, HOST, node.port]})
    node.peers = {"ORTHANC": orthanc.address, "STORESCP": storescp.address}
    node.start()
    orthanc.start()
    sent = node.send(generated.files([k for k in generated.studies if k != "S1"]))
    assert sent.returncode == 0, str(sent)
    yield node, orthanc
    orthanc.stop()



