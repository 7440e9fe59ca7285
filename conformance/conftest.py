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
def loupe(loupe_factory, storescp, work) -> LoupeNode:
    """The main node, peer STORESCP (storescp +B). The Orthanc tests run their own node and
    Orthanc (fixture orthanc_pair), so that what Orthanc sends does not change this archive."""
    # Quick retries: an undecodable image's PNG job reaches "failed" within the suite's patience.
    config = write_yaml(work / "loupe.yaml", "derivation:\n  max_attempts: 3\n  retry_delay: 0.2\n")
    return loupe_factory("loupe", peers={"STORESCP": storescp.address}, config=config)


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





# ---- DICOMweb -----------------------------------------------------------------------------------

@dataclass
class WebArchive:
    """The main node over HTTP, after the corpora were sent to it over DIMSE (fixture `archive`).
    `stored` maps every SOP Instance UID to the file whose bytes Loupe received (the generated file,
    or the wire capture of a pydicom file)."""
    archive: Archive
    base_url: str
    stored: dict

    @property
    def node(self) -> LoupeNode:
        return self.archive.node

    @property
    def model(self) -> ArchiveModel:
        return self.archive.model

    def client(self):
        from dicomweb_support import client
        return client(self.base_url)

    def record(self, sop_uid: str) -> dict:
        return next(r for r in self.model.records if r["SOPInstanceUID"] == sop_uid)


@pytest.fixture(scope="session")
def web(archive) -> WebArchive:
    stored = {i["SOPInstanceUID"]: Path(i["path"]) for i in archive.generated.instances}
    stored.update({uid: Path(path) for uid, path in archive.capture.by_uid.items()})
    assert set(stored) == {r["SOPInstanceUID"] for r in archive.model.records}
    return WebArchive(archive, archive.node.base_url, stored)


# pydicom test files stored over STOW-RS in other encodings than the primary corpus, each with fresh
# Study, Series and SOP Instance UIDs (they share their UIDs with primary files): RLE (1, 8, 16 and
# 32 bits, several frames), big endian and implicit VR native data, multi-frame, JPEG-LS, JPEG 2000
# and 12-bit JPEG Extended.
STOW_VARIANTS = ["MR_small_RLE.dcm", "SC_rgb_rle_2frame.dcm", "SC_rgb_rle_16bit_2frame.dcm",
                 "SC_rgb_rle_32bit_2frame.dcm", "MR_small_bigendian.dcm", "MR_small_implicit.dcm",
                 "rtdose.dcm", "rtdose_expb.dcm", "SC_rgb_small_odd_big_endian.dcm",
                 "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm", "JPGExtended.dcm"]


@dataclass
class StowArchive:
    """A node filled only over STOW-RS by dicomweb-client's store_instances. `sent` holds, per SOP
    Instance UID, the exact bytes of the part that went over the wire (captured from the request);
    `names` the pydicom file it came from; `responses` the (status, response data set) of each
    store_instances call."""
    node: LoupeNode
    sent: dict
    names: dict
    primary: list
    variants: list
    responses: list
    variant_study: str

    def dataset(self, uid: str):
        from dicomweb_support import read_dicom
        return read_dicom(self.sent[uid])


def _pydicom_writes(path) -> bool:
    import io
    import warnings
    import pydicom
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            pydicom.dcmwrite(io.BytesIO(), pydicom.dcmread(path))
            return True
        except Exception:
            return False


@pytest.fixture(scope="session")
def stow(loupe_factory, pydicom_files) -> StowArchive:
    import warnings
    import pydicom
    from pydicom.uid import generate_uid
    from dicomweb_support import client, parse_multipart, read_dicom

    # --base-url: dicomweb-client sends "Host: 127.0.0.1" without the port on small requests, so the
    # URLs in responses would otherwise lack it.
    node = loupe_factory("loupe-stow", start=False)
    node.extra_args += ["--base-url", node.base_url]
    node.start()
    web_client = client(node.base_url)
    bodies, statuses = [], []
    encode = web_client._encode_multipart_message

    def capture_body(content, content_type):       # the exact message body the client sends
        body = encode(content, content_type)
        bodies.append((content_type, body))
        return body
    web_client._encode_multipart_message = capture_body
    web_client._session.hooks["response"].append(lambda response, *a, **k: statuses.append(response.status_code))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        primary_paths = [p for p in pydicom_files.primary if _pydicom_writes(p)]
        primary = [pydicom.dcmread(p) for p in primary_paths]
        by_name = {p.name: p for p in pydicom_files.candidates}
        variant_study = generate_uid()
        variants, variant_names = [], []
        for name in STOW_VARIANTS:
            assert name in by_name, f"pydicom test file {name} is missing or unusable"
            ds = pydicom.dcmread(by_name[name])
            ds.StudyInstanceUID = variant_study
            ds.SeriesInstanceUID = generate_uid()
            ds.SOPInstanceUID = generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            variants.append(ds)
            variant_names.append(name)

    responses = [web_client.store_instances(primary)]
    responses.append(web_client.store_instances(variants))
    sent, names = {}, {}
    assert len(bodies) == 2 and len(statuses) == 2, f"requests: {len(bodies)}, responses: {statuses}"
    for (content_type, body), batch, labels in zip(
            bodies, [primary, variants], [[p.name for p in primary_paths], variant_names]):
        parts = parse_multipart(content_type, body)
        assert len(parts) == len(batch)
        for part, ds, label in zip(parts, batch, labels):
            uid = str(read_dicom(part.body).SOPInstanceUID)
            assert uid == str(ds.SOPInstanceUID)
            sent[uid] = part.body
            names[uid] = label
    return StowArchive(node, sent, names, [str(d.SOPInstanceUID) for d in primary],
                       [str(d.SOPInstanceUID) for d in variants],
                       list(zip(statuses, responses)),
                       variant_study)
