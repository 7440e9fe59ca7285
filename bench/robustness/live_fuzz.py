#!/usr/bin/env python3
"""A live fuzzer against a running node: for a set time, mutated Part-10 files over STOW-RS and
C-STORE, garbage and truncated PDUs on the DIMSE port, malformed multipart bodies, hostile QIDO-RS
parameters, path traversal on every route that takes a name, and bad photos and similarity uploads.

It passes when no answer is a 5xx other than 503, the node never dies, every instance stored before
is served bit for bit afterwards, and once the node is stopped `loupe check` finds every index row
with its file and no file without its row (nothing half-stored).

    python3 bench/robustness/live_fuzz.py [--seconds 600] [--seed 1] [--loupe-bin .build/release/loupe]

conformance/test_live_fuzz.py runs it for 20 seconds in `make test`.
"""

import argparse
import io
import os
import random
import socket
import struct
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

import pydicom

REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO / "conformance"))
sys.path.insert(0, str(REPO / "bench" / "ingest"))

import dimse  # noqa: E402
from dicomweb_support import encode_multipart, multipart_response  # noqa: E402
from instance_support import instance, part10, stow  # noqa: E402
from loupe_corpus import CT_IMAGE_STORAGE  # noqa: E402
from loupe_support import HOST, LoupeNode, http_session, meta_end  # noqa: E402

STUDY = "1.2.826.0.1.3680043.8.498.7007.1"
# pydicom warns of every broken value it meets in the mutated files, which are all broken.
warnings.filterwarnings("ignore", module="pydicom")
STOW_TYPE = 'multipart/related; type="application/dicom"; boundary={}'


def samples() -> list[bytes]:
    """Part-10 files to mutate: pydicom's small test files and a few generated CTs."""
    directory = Path(pydicom.__file__).parent / "data" / "test_files"
    files = [p.read_bytes() for p in sorted(directory.glob("*.dcm")) if p.stat().st_size < 256 << 10]
    rng = random.Random(0)
    return [f for f in files if f[128:132] == b"DICM"] + [part10(instance(STUDY + ".9", rng)[0]) for _ in range(3)]


def mutate(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        kind = rng.randrange(6)
        at = rng.randrange(max(1, len(data)))
        if kind == 0:  # flip bytes
            data[at:at + 1] = bytes([rng.randrange(256)])
        elif kind == 1:  # a length field made huge, odd or undefined
            data[at:at + 4] = struct.pack("<I", rng.choice([0xFFFFFFFF, 0x7FFFFFFF, 0xFFFFFFFE, 1, 3, rng.getrandbits(32)]))
        elif kind == 2:  # truncate
            del data[at:]
        elif kind == 3:  # insert garbage
            data[at:at] = rng.randbytes(rng.randint(1, 64))
        elif kind == 4:  # duplicate a chunk
            data[at:at] = data[at:at + rng.randint(1, 512)]
        else:  # a sequence or item delimiter where none belongs
            data[at:at] = rng.choice([b"\xfe\xff\x00\xe0\xff\xff\xff\xff", b"\xfe\xff\xdd\xe0\x00\x00\x00\x00",
                                      b"\x08\x00\x15\x11SQ\x00\x00\xff\xff\xff\xff"])
    return bytes(data)


class Fuzzer:
    def __init__(self, node: LoupeNode, rng: random.Random, kept: list[bytes]):
        self.node, self.rng = node, rng
        self.http = http_session()
        # The instances stored before are mutated too: a broken copy must never touch the stored one.
        self.samples = samples() + kept
        self.answers: Counter = Counter()
        self.failures: list[str] = []

    def check(self, what: str, response) -> None:
        self.answers[f"{what} {response.status_code}"] += 1
        if response.status_code >= 500 and response.status_code != 503:
            self.failures.append(f"{what}: {response.status_code} {response.text[:200]}")

    def http_request(self, what: str, method: str, path: str, **kwargs) -> None:
        try:
            response = self.http.request(method, f"{self.node.http_url}{path}", timeout=30, **kwargs)
        except Exception as error:  # a connection the node dropped; whether it lives is checked after
            self.answers[f"{what} {type(error).__name__}"] += 1
            return
        self.check(what, response)
        if b"root:x:0:0" in response.content:
            self.failures.append(f"{what}: {path} served /etc/passwd")

    def stow(self):
        data = mutate(self.rng.choice(self.samples), self.rng)
        self.http_request("STOW", "POST", "/dicom-web/studies", data=encode_multipart([data], "fz"),
                          headers={"Content-Type": STOW_TYPE.format("fz"), "Accept": "application/dicom+json"})

    def c_store(self):
        """A mutated data set under the SOP Instance UID it names (where it still names one), so that
        it gets past the check that the command and the data set agree."""
        data = mutate(self.rng.choice(self.samples), self.rng)
        try:
            data = data[meta_end(data):]
        except (ValueError, IndexError):
            pass
        try:
            uid = str(pydicom.dcmread(io.BytesIO(data), force=True, stop_before_pixels=True).SOPInstanceUID)
            uid.encode("ascii")  # the command carries it as ASCII
        except Exception:  # noqa: BLE001 - whatever pydicom makes of a broken data set
            uid = pydicom.uid.generate_uid()
        try:
            with dimse.Association(HOST, int(self.node.port), self.node.ae, "FUZZSCU", abstract_syntaxes=(CT_IMAGE_STORAGE,),
                                   transfer_syntaxes=(dimse.EXPLICIT_LE,), timeout=30) as association:
                status = association.store(CT_IMAGE_STORAGE, uid, data)
            self.answers[f"C-STORE 0x{status:04X}"] += 1
        except (OSError, dimse.DIMSEError) as error:
            self.answers[f"C-STORE {type(error).__name__}"] += 1

    def pdu(self):
        """Garbage, truncated or oversized PDUs, before or after association."""
        choice = self.rng.randrange(4)
        try:
            if choice == 2:  # a real association, then a P-DATA-TF of garbage (its length right or wrong)
                association = dimse.Association(HOST, int(self.node.port), self.node.ae, "FUZZSCU", timeout=5)
                body = self.rng.randbytes(self.rng.randint(0, 300))
                length = max(0, len(body) + self.rng.choice([0, 10, -1]))
                association.sock.sendall(struct.pack(">BBI", 4, 0, length) + body)
                sock = association.sock
            else:
                sock = socket.create_connection((HOST, int(self.node.port)), timeout=5)
                if choice == 0:
                    sock.sendall(self.rng.randbytes(self.rng.randint(1, 2048)))
                elif choice == 1:  # an A-ASSOCIATE-RQ announcing 4 GB
                    sock.sendall(struct.pack(">BBI", 1, 0, 0xFFFFFFFF) + self.rng.randbytes(64))
                else:  # a truncated A-ASSOCIATE-RQ
                    sock.sendall(struct.pack(">BBI", 1, 0, 200) + b"\x00\x01" + self.rng.randbytes(30))
            with sock:
                sock.settimeout(0.5)  # the node may wait for the rest (acse_timeout); no need to wait with it
                try:
                    sock.recv(1024)
                except OSError:
                    pass
            self.answers[f"PDU kind {choice}"] += 1
        except (OSError, dimse.DIMSEError) as error:
            self.answers[f"PDU {type(error).__name__}"] += 1

    def multipart(self):
        rng = self.rng
        boundary = rng.choice(["fz", "", "a" * 200, "--", "x\r\ny", "ü"])
        body = rng.choice([
            b"--" + boundary.encode() + b"\r\n\r\n" + rng.randbytes(100),
            (b"--" + boundary.encode()) * rng.randint(1, 20000),
            b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n" + b"X: " + b"y" * 100000,
            encode_multipart([mutate(rng.choice(self.samples), rng)], "fz")[: rng.randint(0, 4000)],
            rng.randbytes(rng.randint(0, 5000)),
        ])
        content_type = rng.choice([STOW_TYPE.format(boundary), "multipart/related", "multipart/related; boundary=",
                                   "application/dicom", 'multipart/related; type="application/dicom+xml"; boundary=fz'])
        self.http_request("multipart", "POST", "/dicom-web/studies", data=body,
                          headers={"Content-Type": content_type.encode("utf-8").decode("latin-1")})

    QIDO_KEYS = ["PatientName", "PatientID", "StudyDate", "StudyTime", "ModalitiesInStudy", "AccessionNumber",
                 "StudyInstanceUID", "00100010", "0020000D", "SeriesNumber", "includefield", "limit", "offset",
                 "fuzzymatching", "loupe-patient", "loupe-orderby", "loupe-anomaly", "FFFFFFFF", "", "x" * 300]
    QIDO_VALUES = ["*", "?", "*?*?*?*?*?*?*", "' OR 1=1 --", "\"; DROP TABLE instance; --", "%00", "\x00", "ü^é",
                   "山田*", "20201301", "2020-", "-2020", "-", "--", "20200101-20190101", "1e30", "-1", "99999999999999999999",
                   "all", "true", "\\\\\\", "A" * 100000, "%", "_", "[", "\\", "0x10", "NaN", "\ud7ff", "1.2.3..4", "..", "/"]

    def qido(self):
        rng = self.rng
        params = [(rng.choice(self.QIDO_KEYS), rng.choice(self.QIDO_VALUES)) for _ in range(rng.randint(1, 5))]
        level = rng.choice(["studies", "series", "instances", f"studies/{STUDY}/series", f"studies/{STUDY}/instances"])
        self.http_request("QIDO", "GET", f"/dicom-web/{level}", params=params, headers={"Accept": "application/dicom+json"})

    TRAVERSALS = ["..", "../..", "..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "....//....//etc/passwd",
                  "..\\..\\etc\\passwd", "%252e%252e%252f", "/etc/passwd", "1.2.3/../../../etc/passwd", "%00", "a" * 5000]

    def traversal(self):
        rng = self.rng
        name = rng.choice(self.TRAVERSALS)
        path = rng.choice([f"/dicom-web/studies/{name}", f"/dicom-web/studies/{STUDY}/series/{name}/metadata",
                           f"/dicom-web/studies/{STUDY}/series/1/instances/{name}/frames/1",
                           f"/dicom-web/studies/{name}/rendered", f"/static/{name}", f"/assets/{name}",
                           f"/api/instances/{name}/analysis", f"/api/derived/{name}", f"/studies/{name}",
                           f"/dicom-web/wado?requestType=WADO&studyUID={name}&seriesUID={name}&objectUID={name}"])
        self.http_request("traversal", "GET", path)

    def upload(self):
        rng = self.rng
        head = rng.choice([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xc0\x00\x11\x08\xff\xff\xff\xff\x03", b""])
        png_huge = (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">IIBBBBB", 0x7FFFFFFF, 0x7FFFFFFF, 8, 2, 0, 0, 0)
                    + b"\x00" * 4)
        body = rng.choice([head + rng.randbytes(rng.randint(0, 4000)), png_huge, head])
        if rng.random() < 0.5:
            self.http_request("similar", "POST", "/api/similar", params={"k": rng.choice(["5", "-1", "999999", "x"])},
                              data=body, headers={"Content-Type": rng.choice(["image/png", "image/jpeg", "text/plain"])})
        else:
            metadata = rng.choice(['{"PatientID": "FZ1", "kind": "flush"}', "{", "[]", '{"PatientID": "' + "x" * 5000 + '"}', ""])
            self.http_request("photo", "POST", "/api/photos", files={"image": ("p", body, "image/jpeg"),
                                                                   "metadata": ("m.json", metadata, "application/json")})

    def step(self):
        self.rng.choice([self.stow, self.c_store, self.pdu, self.multipart, self.qido, self.qido, self.traversal, self.upload])()


def stored_before(node: LoupeNode, count: int = 10) -> dict[tuple[str, str], tuple[bytes, bytes]]:
    """Stores `count` instances; (series, SOP instance) → (the file sent, what WADO-RS serves)."""
    rng, kept = random.Random(42), {}
    for _ in range(count):
        ds, _ = instance(STUDY, rng)
        response = stow(node, ds)
        assert response.status_code == 200, response.text[:300]
        kept[(ds.SeriesInstanceUID, ds.SOPInstanceUID)] = (part10(ds), retrieve(node, ds.SeriesInstanceUID, ds.SOPInstanceUID))
    return kept


def retrieve(node: LoupeNode, series: str, sop: str) -> bytes:
    response = http_session().get(f"{node.base_url}/studies/{STUDY}/series/{series}/instances/{sop}",
                                  headers={"Accept": 'multipart/related; type="application/dicom"'}, timeout=30)
    assert response.status_code == 200, f"{sop}: {response.status_code}"
    return b"".join(part.body for part in multipart_response(response))


def run(node: LoupeNode, seconds: float, seed: int) -> dict:
    """Fuzzes `node` (started, with its data directory) for `seconds`; stops it and returns a report.
    Raises AssertionError on any failure."""
    kept = stored_before(node)
    fuzzer = Fuzzer(node, random.Random(seed), [sent for sent, _ in kept.values()])
    deadline, steps = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        fuzzer.step()
        steps += 1
        if steps % 50 == 0:
            assert node.running, f"the node died after {steps} steps:\n{node.log_tail()}"
    assert node.running, f"the node died:\n{node.log_tail()}"
    assert http_session().get(f"{node.http_url}/healthz", timeout=30).status_code == 200
    changed = [sop for (series, sop), (_, served) in kept.items() if retrieve(node, series, sop) != served]
    assert not changed, f"instances stored before changed: {changed}"
    node.stop()
    check = node.cli("check", timeout=600)
    report = {"steps": steps, "answers": dict(sorted(fuzzer.answers.items())), "failures": fuzzer.failures,
              "check": check.stdout.strip().splitlines()[-3:]}
    assert not fuzzer.failures, "\n".join(fuzzer.failures[:20])
    assert check.returncode == 0, f"loupe check after fuzzing:\n{check.stdout}\n{check.stderr}"
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--loupe-bin", default=os.environ.get("LOUPE_BIN", str(REPO / ".build" / "release" / "loupe")))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="loupe-live-fuzz-") as work:
        node = LoupeNode(args.loupe_bin, Path(work) / "node").start()
        try:
            report = run(node, args.seconds, args.seed)
        finally:
            if node.running:
                node.stop()
    print(f"{report['steps']} requests in {args.seconds:.0f} s, no failure")
    for answer, count in report["answers"].items():
        print(f"  {answer}: {count}")
    print("loupe check:", *report["check"], sep="\n  ")


if __name__ == "__main__":
    main()
