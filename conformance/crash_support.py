"""Kill -9 in the middle of ingest: what was acknowledged must all be there after a restart, bit for bit,
with no file the index does not name and no row without its file. Shared by conformance/test_crash.py
(a few rounds) and bench/crash/run.py (20 rounds, a release build).

Each round: several associations store new small and large instances into one new study through a
DIMSE client that notes every C-STORE success; the node is SIGKILLed at a random moment; restarted on the same data; then every
acknowledged instance is fetched over WADO-RS and compared with what was sent."""

import random
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import generate_uid

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench" / "ingest"))
import dimse  # noqa: E402  bench/ingest/dimse.py: a client that reports each C-STORE's status

from dicomweb_support import session  # noqa: E402

CT = "1.2.840.10008.5.1.4.1.1.2"


def instance(rng: random.Random, size: int, study: str, series: str, number: int) -> tuple[str, bytes]:
    """A CT data set (Explicit VR Little Endian, no meta header) of size x size pixels."""
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.SOPClassUID, ds.SOPInstanceUID = CT, generate_uid()
    ds.PatientID, ds.PatientName = "CRASH-1", "CRASH^TEST"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.Modality = study, series, "CT"
    ds.InstanceNumber = number
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.random.default_rng(rng.getrandbits(32)).integers(0, 4096, (size, size), dtype=np.uint16).tobytes()
    return ds.SOPInstanceUID, dimse.encode_dataset(ds, dimse.EXPLICIT_LE)


class Sender(threading.Thread):
    """One association storing its share of the instances until it runs out or the node dies."""

    def __init__(self, port: int, ae: str, items: list[tuple[str, bytes]]):
        super().__init__(daemon=True)
        self.port, self.ae, self.items = port, ae, items
        self.acknowledged: list[str] = []
        self.refused: list[tuple[str, int]] = []

    def run(self):
        try:
            with dimse.Association("127.0.0.1", self.port, self.ae, "CRASHSCU", abstract_syntaxes=(CT,),
                                   transfer_syntaxes=(dimse.EXPLICIT_LE,), timeout=30) as association:
                for uid, data in self.items:
                    status = association.store(CT, uid, data)
                    if status == 0:
                        self.acknowledged.append(uid)
                    else:
                        self.refused.append((uid, status))
        except (OSError, dimse.DIMSEError):
            pass  # the node was killed


def data_set_bytes(part10: bytes) -> bytes:
    """What follows the preamble and the file meta group of a Part-10 file."""
    position = 132
    while part10[position:position + 2] == b"\x02\x00":
        vr = part10[position + 4:position + 6]
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT", b"UC", b"UR"):
            length = int.from_bytes(part10[position + 8:position + 12], "little")
            position += 12 + length
        else:
            length = int.from_bytes(part10[position + 6:position + 8], "little")
            position += 8 + length
    return part10[position:]


def index_and_files(data_dir: Path) -> tuple[set[str], set[str]]:
    """(file paths the index names, files under DATA/files), relative; the node must be stopped."""
    with sqlite3.connect(f"file:{data_dir / 'index.sqlite'}?mode=ro", uri=True) as db:
        named = {row[0] for row in db.execute("SELECT file_path FROM instance")}
    root = data_dir / "files"
    present = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    return named, present


def make_senders(node, rng: random.Random, associations: int, per_association: int,
                 large_every: int) -> tuple[str, str, dict[str, bytes], list[Sender]]:
    """New 64x64 CT instances, every `large_every`-th one 512x512, in one new study, shared out to
    `associations` senders (not started): (study, series, what is sent by SOP Instance UID, senders)."""
    study, series = generate_uid(), generate_uid()
    sent: dict[str, bytes] = {}
    senders = []
    for a in range(associations):
        items = []
        for i in range(per_association):
            size = 512 if i % large_every == large_every - 1 else 64
            uid, data = instance(rng, size, study, series, a * per_association + i + 1)
            sent[uid] = data
            items.append((uid, data))
        senders.append(Sender(int(node.port), node.ae, items))
    return study, series, sent, senders


def crash_round(node, rng: random.Random, associations: int = 4, per_association: int = 60, large_every: int = 6,
                kill_within: tuple[float, float] = (0.3, 2.0)) -> dict:
    """Stores, kills the node at a random moment, restarts it; returns what was sent and acknowledged.
    The node must be running; it is running again on return."""
    study, series, sent, senders = make_senders(node, rng, associations, per_association, large_every)
    for sender in senders:
        sender.start()
    time.sleep(rng.uniform(*kill_within))
    node.stop(sig=signal.SIGKILL)
    for sender in senders:
        sender.join(timeout=60)
    acknowledged = [uid for sender in senders for uid in sender.acknowledged]
    refused = [r for sender in senders for r in sender.refused]
    node.start()
    return {"study": study, "series": series, "sent": sent, "acknowledged": acknowledged, "refused": refused}


def check_round(node, result: dict) -> None:
    """Every acknowledged instance is served as it was sent."""
    http = session()
    for uid in result["acknowledged"]:
        url = f"{node.base_url}/studies/{result['study']}/series/{result['series']}/instances/{uid}"
        r = http.get(url, headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'}, timeout=30)
        assert r.status_code == 200, f"acknowledged {uid} is missing after the crash: {r.status_code} {r.text[:200]}"
        body = r.content
        start = body.index(b"\r\n\r\n") + 4
        end = body.rindex(b"\r\n--")
        assert data_set_bytes(body[start:end]) == result["sent"][uid], f"acknowledged {uid} differs from what was sent"


def check_files(node) -> None:
    """With the node stopped: every row has its file and every file its row; nothing is left staged."""
    named, present = index_and_files(Path(node.data_dir))
    assert named - present == set(), f"rows without files: {sorted(named - present)[:5]}"
    assert present - named == set(), f"files without rows: {sorted(present - named)[:5]}"
    staged = list((Path(node.data_dir) / "tmp").iterdir())
    assert staged == [], f"staged files left: {staged[:5]}"
