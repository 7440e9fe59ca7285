"""Process and protocol helpers for the Loupe conformance suite.

Everything here talks to real processes: the `loupe` binary, DCMTK's command-line tools (always by
full path: pynetdicom installs commands with the same names) and Orthanc. Nothing is mocked.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
import requests

HOST = "127.0.0.1"

ECHOSCU = "/usr/bin/echoscu"
STORESCU = "/usr/bin/storescu"
DCMSEND = "/usr/bin/dcmsend"
FINDSCU = "/usr/bin/findscu"
MOVESCU = "/usr/bin/movescu"
GETSCU = "/usr/bin/getscu"
STORESCP = "/usr/bin/storescp"
DCMDUMP = "/usr/bin/dcmdump"
DCMCONV = "/usr/bin/dcmconv"
ORTHANC = "/usr/sbin/Orthanc"

# Every transfer syntax the corpora use, for storescp configurations. storescp takes the first
# entry of its own list that the requester proposed; Loupe takes the requester's first proposal.
# DCMTK's SCUs propose [file's compressed syntax, explicit LE, explicit BE, implicit LE], so with the
# compressed ones first and explicit LE before the other uncompressed ones, storescp makes the
# same choice as Loupe and receives the same bytes.
ALL_TRANSFER_SYNTAXES = [
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline
    "1.2.840.10008.1.2.4.51",  # JPEG Extended
    "1.2.840.10008.1.2.4.57",  # JPEG Lossless
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS Near-lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.5",     # RLE Lossless
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
    "1.2.840.10008.1.2.1",     # Explicit VR Little Endian
    "1.2.840.10008.1.2.2",     # Explicit VR Big Endian (retired)
    "1.2.840.10008.1.2",       # Implicit VR Little Endian
]


# ---- ports and processes ----------------------------------------------------------------------

def free_port() -> int:
    """A TCP port on the loopback interface that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 30.0,
                  describe=lambda: "") -> None:
    """Waits until something accepts connections on `port`; fails early if `proc` dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}\n{describe()}")
        if port_open(port):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout}s\n{describe()}")


def wait_for_port_closed(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not port_open(port):
            return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} still accepts connections after {timeout}s")


def tail(path: Path, lines: int = 60) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Run:
    """A finished command: its argv, exit status and merged output."""
    argv: list
    returncode: int
    output: str

    def __str__(self) -> str:
        return f"$ {' '.join(map(str, self.argv))}\n(exit {self.returncode})\n{self.output}"


def run(argv, timeout: float = 120, cwd=None, env=None) -> Run:
    argv = [a if isinstance(a, bytes) else str(a) for a in argv]   # bytes: e.g. Latin-1 query values
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, cwd=cwd, env=env)
    shown = [a.decode("latin-1") if isinstance(a, bytes) else a for a in argv]
    return Run(shown, proc.returncode, proc.stdout.decode("utf-8", errors="replace"))


def stop_process(proc: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 15.0) -> int | None:
    """Sends `sig` and waits; kills after `timeout`. Returns the exit status (None if it had to be killed)."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        return None


# ---- Loupe ------------------------------------------------------------------------------------

# HTTP to the nodes on loopback never goes through a proxy from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class LoupeNode:
    """One `loupe serve` process on a data directory; can be stopped and started again on the same
    directory and port. stderr (the log) and stdout go to files in `workdir`.

    Before its first start the suite makes the node an admin API token (`loupe token create`), which
    `NodeAuth` sends with the suite's HTTP requests to it."""

    registry: list["LoupeNode"] = []

    def __init__(self, binary: str, workdir: Path, name: str = "loupe", ae: str = "LOUPE",
                 peers: dict | None = None, config: Path | None = None, extra_args=(), data_dir: Path | None = None,
                 https_ca: Path | None = None):
        self.binary = binary
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.ae = ae
        self.peers = dict(peers or {})
        self.config = config
        self.extra_args = list(extra_args)
        self.data_dir = Path(data_dir) if data_dir else self.workdir / "data"
        self.port = free_port()
        self.http_port = free_port()
        self.log_path = self.workdir / "loupe.stderr.log"
        self.out_path = self.workdir / "loupe.stdout.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.token: str | None = None
        # Set when the node serves HTTPS: the CA its certificate is checked against.
        self.https_ca = Path(https_ca) if https_ca else None
        LoupeNode.registry.append(self)

    @classmethod
    def serving(cls, url: str) -> "LoupeNode | None":
        """The node whose HTTP port a URL names."""
        port = urllib.parse.urlsplit(url).port
        return next((n for n in cls.registry if n.http_port == port), None)

    def cli(self, *args, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        """Runs a `loupe` subcommand on this node's data directory (and configuration); text output."""
        argv = [str(a) for a in [self.binary, *args, "--data", self.data_dir] + (["--config", self.config] if self.config else [])]
        return subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)

    def create_token(self, name: str, *roles: str, extra=()) -> str:
        """A new API token's secret (`loupe token create`)."""
        result = self.cli("token", "create", "--name", name, *[a for role in roles for a in ("--role", role)], *extra)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    @property
    def argv(self) -> list:
        argv = [self.binary, "serve", "--data", self.data_dir, "--ae", self.ae,
                "--dimse-port", self.port, "--http-port", self.http_port, "--log-level", "info"]
        for name, address in self.peers.items():
            argv += ["--peer", f"{name}={address}"]
        if self.config:
            argv += ["--config", self.config]
        return [str(a) for a in argv + self.extra_args]

    def start(self, timeout: float = 30.0) -> "LoupeNode":
        assert self.proc is None or self.proc.poll() is not None, "already running"
        if self.token is None:
            self.token = self.create_token("conformance-admin", "admin")
        self.starts += 1
        with open(self.log_path, "ab") as err, open(self.out_path, "ab") as out:
            err.write(f"\n===== start #{self.starts}: {' '.join(self.argv)}\n".encode())
            err.flush()
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        wait_for_port(self.port, self.proc, timeout, describe=lambda: self.log_tail())
        self.wait_for_http(timeout)
        return self

    def wait_for_http(self, timeout: float = 30.0) -> None:
        """Waits until GET /healthz answers 200 "ok" (the HTTP side listens and the index answers)."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"loupe exited with {self.proc.returncode} before /healthz answered\n{self.log_tail()}")
            try:
                context = ssl.create_default_context(cafile=str(self.https_ca)) if self.https_ca else None
                with _DIRECT.open(self.http_url + "/healthz", timeout=2) if context is None else \
                        urllib.request.urlopen(self.http_url + "/healthz", timeout=2, context=context) as response:
                    body = response.read()
                    if response.status == 200 and body.strip() == b"ok":
                        return
                    last = f"HTTP {response.status} {body[:200]!r}"
            except urllib.error.HTTPError as e:
                last = f"HTTP {e.code}"
            except OSError as e:
                last = str(e)
            time.sleep(0.05)
        raise TimeoutError(f"GET {self.http_url}/healthz does not answer 200 ok after {timeout}s ({last})\n{self.log_tail()}")

    @property
    def http_url(self) -> str:
        """The HTTP root (healthz, /api, /wado)."""
        return f"{'https' if self.https_ca else 'http'}://{HOST}:{self.http_port}"

    @property
    def base_url(self) -> str:
        """The DICOMweb root."""
        return f"{self.http_url}/dicom-web"

    def stop(self, sig=signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        return stop_process(self.proc, sig, timeout)

    def restart(self) -> "LoupeNode":
        code = self.stop()
        assert code == 0, f"loupe exited with {code} on SIGTERM\n{self.log_tail()}"
        # The old listening socket must be gone before the new process binds the same port.
        wait_for_port_closed(self.port)
        wait_for_port_closed(self.http_port)
        return self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        return tail(self.log_path, lines)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def address(self) -> str:
        return f"{self.ae}@{HOST}:{self.port}"

    # -- DIMSE conveniences (DCMTK tools against this node)
    def echo(self, aec: str | None = None, aet: str = "ECHOSCU") -> Run:
        return run([ECHOSCU, "-aet", aet, "-aec", aec or self.ae, HOST, self.port], timeout=30)

    def find(self, level: str, keys, model: str = "S", aet: str = "FINDSCU", extra=()) -> "FindResult":
        return findscu(HOST, self.port, self.ae, level, keys, model=model, aet=aet, extra=extra)

    def move(self, destination: str, level: str, keys, model: str = "S", aet: str = "MOVESCU", extra=()) -> Run:
        return movescu(HOST, self.port, self.ae, destination, level, keys, model=model, aet=aet, extra=extra)

    def get(self, level: str, keys, outdir: Path, model: str = "S", aet: str = "GETSCU") -> Run:
        return getscu(HOST, self.port, self.ae, level, keys, outdir, model=model, aet=aet)

    def send(self, files, aet: str = "DCMSEND", timeout: float = 600) -> Run:
        return dcmsend(HOST, self.port, self.ae, files, aet=aet, timeout=timeout)


class NodeAuth(requests.auth.AuthBase):
    """Authenticates the suite's requests to a Loupe node as that node's admin (its bearer token),
    unless a request brings its own Authorization; requests to anything else go as they are."""

    def __call__(self, request):
        node = LoupeNode.serving(request.url)
        if node is not None and node.token and "Authorization" not in request.headers:
            request.headers["Authorization"] = f"Bearer {node.token}"
        return request


def http_session(auth=True) -> requests.Session:
    """A requests session that never uses a proxy from the environment (the nodes are on loopback)
    and, unless told otherwise, authenticates as each node's admin."""
    s = requests.Session()
    s.trust_env = False
    if auth:
        s.auth = NodeAuth()
    return s


# ---- DCMTK tools ------------------------------------------------------------------------------

def _key_args(level: str | None, keys) -> list:
    """findscu/movescu/getscu `-k` arguments. `keys` is a dict or a list of (keyword, value) pairs;
    value None or "" asks for the attribute as a return key (universal matching)."""
    args = []
    if level:
        args += ["-k", f"QueryRetrieveLevel={level}"]
    items = keys.items() if isinstance(keys, dict) else keys
    for name, value in items:
        if isinstance(value, bytes):
            args += ["-k", name.encode() + b"=" + value]
        else:
            args += ["-k", name if value in (None, "") else f"{name}={value}"]
    return args


@dataclass
class FindResult:
    run: Run
    responses: list = field(default_factory=list)  # pydicom Datasets, in arrival order
    final: str | None = None                        # text of "Received Final Find Response (...)"

    @property
    def ok(self) -> bool:
        return self.run.returncode == 0 and self.final == "Success"

    def values(self, keyword: str) -> list:
        return [str(ds.get(keyword, "")) for ds in self.responses]

    def __str__(self) -> str:
        return f"final={self.final!r} responses={len(self.responses)}\n{self.run}"


FINAL_FIND = re.compile(r"Received Final Find Response \(([^)]*)\)")


def findscu(host, port, aec, level, keys, model="S", aet="FINDSCU", extra=(), timeout=60) -> FindResult:
    model_flag = {"S": "-S", "P": "-P"}[model]
    with tempfile.TemporaryDirectory(prefix="findscu-") as out:
        argv = [FINDSCU, "-v", model_flag, "-aet", aet, "-aec", aec, "-X", "-od", out, *extra,
                *_key_args(level, keys), host, port]
        result = run(argv, timeout=timeout)
        responses = []
        for name in sorted(os.listdir(out)):
            if name.startswith("rsp") and name.endswith(".dcm"):
                responses.append(pydicom.dcmread(os.path.join(out, name)))
    match = FINAL_FIND.search(result.output)
    return FindResult(result, responses, match.group(1) if match else None)


FINAL_MOVE = re.compile(r"Received Final Move Response \(([^)]*)\)")


def movescu(host, port, aec, destination, level, keys, model="S", aet="MOVESCU", extra=(), timeout=300) -> Run:
    model_flag = {"S": "-S", "P": "-P"}[model]
    argv = [MOVESCU, "-v", "-d", model_flag, "-aet", aet, "-aec", aec, "-aem", destination, *extra,
            *_key_args(level, keys), host, port]
    return run(argv, timeout=timeout)


def getscu(host, port, aec, level, keys, outdir, model="S", aet="GETSCU", timeout=300) -> Run:
    model_flag = {"S": "-S", "P": "-P"}[model]
    argv = [GETSCU, "-v", "-d", model_flag, "-aet", aet, "-aec", aec, "+B", "-od", outdir,
            *_key_args(level, keys), host, port]
    return run(argv, timeout=timeout)


def dcmsend(host, port, aec, files, aet="DCMSEND", timeout=600) -> Run:
    """dcmsend proposes each file's own transfer syntax (storescu would not, for compressed files).
    -nh: carry on past an unreadable file; the caller checks what arrived."""
    return run([DCMSEND, "-v", "-nh", "-aet", aet, "-aec", aec, host, port, *[str(f) for f in files]],
               timeout=timeout)


def final_status(output: str) -> int | None:
    """The status of the last DIMSE response in DCMTK debug output (-d): for movescu and getscu,
    the final C-MOVE/C-GET response."""
    statuses = re.findall(r"DIMSE Status\s*:\s*0x([0-9A-Fa-f]{4})", output)
    return int(statuses[-1], 16) if statuses else None


def sub_operation_counts(output: str) -> dict:
    """Sub-operation counters of the last C-MOVE/C-GET response in DCMTK debug output."""
    counts = {}
    for key in ("Remaining", "Completed", "Failed", "Warning"):
        found = re.findall(rf"{key} Suboperations\s*:\s*(\d+|none)", output)
        if found:
            counts[key.lower()] = None if found[-1] == "none" else int(found[-1])
    return counts


# ---- storescp destination -------------------------------------------------------------------------

def write_storescp_config(path: Path, sop_classes) -> Path:
    """A storescp association configuration accepting the given SOP classes (and Verification) in
    every transfer syntax of the corpora: `storescp +xa` does not accept JPEG and JPEG 2000 ones."""
    lines = ["[[TransferSyntaxes]]", "[All]"]
    lines += [f"TransferSyntax{i + 1} = {ts}" for i, ts in enumerate(ALL_TRANSFER_SYNTAXES)]
    lines += ["[[PresentationContexts]]", "[Contexts]", "PresentationContext1 = 1.2.840.10008.1.1\\All"]
    lines += [f"PresentationContext{i + 2} = {uid}\\All" for i, uid in enumerate(sorted(set(sop_classes)))]
    lines += ["[[Profiles]]", "[Default]", "PresentationContexts = Contexts"]
    path.write_text("\n".join(lines) + "\n")
    return path


class StoreSCP:
    """`storescp +B` (bit-preserving) writing into `directory`."""

    def __init__(self, workdir: Path, sop_classes, ae: str = "STORESCP"):
        self.workdir = Path(workdir)
        self.directory = self.workdir / "received"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.config = write_storescp_config(self.workdir / "storescp.cfg", sop_classes)
        self.ae = ae
        self.port = free_port()
        self.log_path = self.workdir / "storescp.log"
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"{self.ae}@{HOST}:{self.port}"

    def start(self) -> "StoreSCP":
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [STORESCP, "-v", "+B", "-xf", str(self.config), "Default", "-aet", self.ae,
                 "-od", str(self.directory), str(self.port)],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        wait_for_port(self.port, self.proc, 15, describe=lambda: tail(self.log_path))
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, signal.SIGTERM, 10)

    def clear(self) -> Path:
        for entry in self.directory.iterdir():
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        return self.directory

    def received(self) -> dict:
        return files_by_sop_instance_uid(self.directory)


def files_by_sop_instance_uid(directory: Path) -> dict:
    """SOP Instance UID -> path, for every DICOM file in `directory` (not recursive)."""
    found = {}
    for entry in sorted(Path(directory).iterdir()):
        if not entry.is_file():
            continue
        try:
            ds = pydicom.dcmread(entry, stop_before_pixels=True)
        except Exception:
            continue
        uid = ds.get("SOPInstanceUID") or ds.file_meta.get("MediaStorageSOPInstanceUID")
        if uid:
            found[str(uid)] = entry
    return found


# ---- bytes of a data set ---------------------------------------------------------------------------

_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}


def meta_end(data: bytes) -> int:
    """Offset of the first byte after the File Meta Information (group 0002, explicit VR little
    endian, read element by element: the group length is not always present or right)."""
    if data[128:132] != b"DICM":
        raise ValueError("no DICM prefix")
    offset = 132
    while offset + 8 <= len(data):
        group = int.from_bytes(data[offset:offset + 2], "little")
        if group != 0x0002:
            break
        vr = data[offset + 4:offset + 6]
        if vr in _LONG_VRS:
            length = int.from_bytes(data[offset + 8:offset + 12], "little")
            offset += 12 + length
        else:
            length = int.from_bytes(data[offset + 6:offset + 8], "little")
            offset += 8 + length
    return offset


def dataset_bytes(path: Path) -> bytes:
    data = Path(path).read_bytes()
    return data[meta_end(data):]


def first_difference(a: bytes, b: bytes) -> str:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"first difference at data set offset {i} (0x{i:x}): {a[i:i+16].hex()} vs {b[i:i+16].hex()}"
    return f"lengths differ: {len(a)} vs {len(b)}"


# ---- Orthanc -----------------------------------------------------------------------------------

class Orthanc:
    """Orthanc 1.10 with a generated configuration, on loopback ports, driven over its REST API."""

    def __init__(self, workdir: Path, modalities: dict, aet: str = "ORTHANC", extra_config: dict | None = None):
        self.extra_config = dict(extra_config or {})
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.aet = aet
        self.dicom_port = free_port()
        self.http_port = free_port()
        self.modalities = modalities
        self.log_path = self.workdir / "orthanc.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    @property
    def address(self) -> str:
        return f"{self.aet}@{HOST}:{self.dicom_port}"

    def write_config(self) -> Path:
        config = {
            "Name": "conformance",
            "StorageDirectory": str(self.workdir / "storage"),
            "IndexDirectory": str(self.workdir / "index"),
            "StorageCompression": False,
            "DicomAet": self.aet,
            "DicomPort": self.dicom_port,
            "HttpPort": self.http_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "SslEnabled": False,
            "Plugins": [],
            "DicomModalities": self.modalities,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowEcho": True,
            "DicomCheckCalledAet": False,
            "DicomScuTimeout": 30,
            "HttpTimeout": 60,
            "ConcurrentJobs": 1,
            "SaveJobs": False,
            "StableAge": 60,
            **self.extra_config,
        }
        path = self.workdir / "orthanc.json"
        path.write_text(json.dumps(config, indent=2))
        return path

    def start(self, timeout: float = 60.0) -> "Orthanc":
        config = self.write_config()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([ORTHANC, str(config)],
                                         stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        wait_for_port(self.http_port, self.proc, timeout, describe=lambda: tail(self.log_path))
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > deadline:
                raise TimeoutError(f"Orthanc's REST API does not answer\n{self.log_tail()}")
            time.sleep(0.1)
        wait_for_port(self.dicom_port, self.proc, timeout, describe=lambda: tail(self.log_path))
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, signal.SIGTERM, 20)

    def log_tail(self, lines: int = 60) -> str:
        return tail(self.log_path, lines)

    # REST (requests when installed, else the standard library: scripts/install-deps.sh does not list requests)
    def _request(self, method: str, path: str, body: bytes | None = None, params: dict | None = None,
                 content_type: str | None = None):
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            import requests
        except ImportError:
            requests = None
        if requests is not None:
            headers = {"Content-Type": content_type} if content_type else {}
            r = requests.request(method, url, data=body, headers=headers, timeout=300)
            status, text = r.status_code, r.content
        else:
            request = urllib.request.Request(url, data=body, method=method)
            if content_type:
                request.add_header("Content-Type", content_type)
            try:
                with urllib.request.urlopen(request, timeout=300) as response:
                    status, text = response.status, response.read()
            except urllib.error.HTTPError as e:
                status, text = e.code, e.read()
        if not 200 <= status < 300:
            raise AssertionError(f"{method} {path} -> HTTP {status}: {text[:2000]!r}\n{self.log_tail(30)}")
        return json.loads(text) if text else None

    def get(self, path: str, params: dict | None = None):
        return self._request("GET", path, params=params)

    def post(self, path: str, body=None, data: bytes | None = None):
        if data is not None:
            return self._request("POST", path, body=data, content_type="application/octet-stream")
        return self._request("POST", path, body=json.dumps(body).encode(), content_type="application/json")

    def ready(self) -> bool:
        try:
            self.get("/system")
            return True
        except (AssertionError, OSError):
            return False
