"""Starting and stopping the receivers under test: dcmtk storescp, Orthanc and Loupe.

Every process is started in its own session and remembered by PID; cleanup() ends exactly those
processes (SIGTERM, then SIGKILL after a grace period) and nothing else.
"""

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import time

import dimse

STORESCP = "/usr/bin/storescp"
STORESCU = "/usr/bin/storescu"
ORTHANC = "/usr/sbin/Orthanc"

_processes = []  # every Popen this module started


def dcmtk_env(nodelay=True):
    """Environment for DCMTK-based peers (storescu, storescp, Orthanc). Debian's DCMTK 3.6.7 leaves
    Nagle's algorithm on unless TCP_NODELAY=1 is set; with it on, every DIMSE message made of more
    than one small write waits for the peer's delayed ACK (~40 ms). Upstream Orthanc builds disable
    Nagle at compile time, and Loupe sets TCP_NODELAY=1 itself."""
    env = dict(os.environ)
    if nodelay:
        env["TCP_NODELAY"] = "1"
    return env


def free_port():
    """A TCP port nobody listens on right now (bind to 0, read, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args, log_path, env=None, cwd=None):
    log = open(log_path, "ab")
    p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True, env=env, cwd=cwd)
    log.close()
    p.log_path = log_path
    _processes.append(p)
    return p


def stop(p, grace=30.0):
    """SIGTERM the process (by PID), wait, SIGKILL if it does not go."""
    if p.poll() is None:
        try:
            os.kill(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=10)
    if p in _processes:
        _processes.remove(p)
    return p.returncode


def cleanup():
    for p in list(_processes):
        try:
            stop(p, grace=10)
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


atexit.register(cleanup)


def log_tail(p, lines=20):
    try:
        with open(p.log_path, "rb") as f:
            return b"\n".join(f.read().splitlines()[-lines:]).decode(errors="replace")
    except OSError:
        return ""


def wait_http(url, process, timeout=120.0):
    """Waits until `url` answers 200 (a server's health or system resource) while `process` runs."""
    import urllib.error
    import urllib.request
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}:\n{log_tail(process)}")
        try:
            with opener.open(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.HTTPError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not 200 after {timeout:.0f} s:\n{log_tail(process)}")


def wait_port(port, process, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}:\n{log_tail(process)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} not open after {timeout:.0f} s:\n{log_tail(process)}")


def du_bytes(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass
    return total


class Receiver:
    """Common shape: start() on a fresh directory, count() what it holds, stop()."""
    name = "?"
    ae = "?"

    def __init__(self, workdir, nodelay=True):
        self.workdir = workdir
        self.process = None
        self.port = None
        self.nodelay = nodelay

    def stop(self):
        if self.process is not None:
            code = stop(self.process)
            self.process = None
            return code
        return None


class StoreSCP(Receiver):
    name = "storescp"
    ae = "STORESCP"
    # Default single-process storescp: one association at a time, data sets decoded and
    # re-encoded (not bit-preserving), no fsync.
    options = []

    def start(self):
        os.makedirs(self.workdir, exist_ok=True)
        self.out = os.path.join(self.workdir, "out")
        os.makedirs(self.out, exist_ok=True)
        self.port = free_port()
        args = [STORESCP, *self.options, "-aet", self.ae, "-od", self.out, str(self.port)]
        self.command = " ".join(args)
        self.process = start(args, os.path.join(self.workdir, "storescp.log"), env=dcmtk_env(self.nodelay))
        wait_port(self.port, self.process, timeout=30)
        dimse.wait_for_echo("127.0.0.1", self.port, self.ae, timeout=30, process=self.process)

    def count(self):
        return sum(len(files) for _r, _d, files in os.walk(self.out))


class Orthanc(Receiver):
    name = "orthanc"
    ae = "ORTHANC"

    def __init__(self, workdir, storage=None, extra_config=None, bench_ae="BENCHSCU", nodelay=True):
        super().__init__(workdir, nodelay)
        self.storage = storage or os.path.join(workdir, "storage")
        self.extra_config = extra_config or {}
        self.bench_ae = bench_ae

    def config(self):
        cfg = {
            "Name": "LoupeBench",
            "StorageDirectory": self.storage,
            "IndexDirectory": self.storage,
            "TemporaryDirectory": os.path.join(self.workdir, "tmp"),
            "DicomAet": self.ae,
            "DicomPort": self.port,
            "HttpPort": self.http_port,
            "Plugins": [],
            "LuaScripts": [],
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "HttpServerEnabled": True,
            "DicomServerEnabled": True,
            # C-FIND from a caller that is not a known modality is refused by default (1.10).
            "DicomAlwaysAllowFind": True,
            "DicomModalities": {"bench": [self.bench_ae, "127.0.0.1", 104]},
            "SaveJobs": False,
        }
        cfg.update(self.extra_config)
        return cfg

    def start(self):
        os.makedirs(self.workdir, exist_ok=True)
        os.makedirs(self.storage, exist_ok=True)
        os.makedirs(os.path.join(self.workdir, "tmp"), exist_ok=True)
        self.port = free_port()
        self.http_port = free_port()
        cfg_path = os.path.join(self.workdir, "orthanc.json")
        with open(cfg_path, "w") as f:
            json.dump(self.config(), f, indent=2)
        self.process = start([ORTHANC, cfg_path], os.path.join(self.workdir, "orthanc.log"), cwd=self.workdir,
                             env=dcmtk_env(self.nodelay))
        self.url = f"http://127.0.0.1:{self.http_port}"
        import requests
        self.http = requests.Session()
        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited with {self.process.returncode}:\n{log_tail(self.process)}")
            try:
                if self.http.get(self.url + "/system", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"Orthanc REST not up after 120 s:\n{log_tail(self.process)}")
            time.sleep(0.1)
        wait_port(self.port, self.process, timeout=60)
        dimse.wait_for_echo("127.0.0.1", self.port, self.ae, timeout=60, process=self.process)

    def statistics(self):
        r = self.http.get(self.url + "/statistics", timeout=60)
        r.raise_for_status()
        return r.json()

    def count(self):
        return int(self.statistics()["CountInstances"])

    def version(self):
        return self.http.get(self.url + "/system", timeout=10).json().get("Version", "?")


class Loupe(Receiver):
    name = "loupe"
    ae = "LOUPE"

    def __init__(self, workdir, binary, data=None, extra_args=()):
        super().__init__(workdir)
        self.binary = binary
        self.data = data or os.path.join(workdir, "data")
        self.extra_args = list(extra_args)

    def start(self):
        os.makedirs(self.workdir, exist_ok=True)
        self.port = free_port()
        self.http_port = free_port()
        args = [self.binary, "serve", "--data", self.data, "--ae", self.ae, "--dimse-port", str(self.port),
                "--http-port", str(self.http_port), "--log-level", "warning", *self.extra_args]
        self.command = " ".join(args)
        self.process = start(args, os.path.join(self.workdir, "loupe.log"))
        wait_port(self.port, self.process, timeout=60)
        dimse.wait_for_echo("127.0.0.1", self.port, self.ae, timeout=60, process=self.process)

    def count(self):
        return count_via_find("127.0.0.1", self.port, self.ae)[1]

    def authorization(self):
        """Headers that authenticate HTTP requests as an admin (a token made at the first call)."""
        if getattr(self, "_token", None) is None:
            self._token = loupe_token(self.binary, self.data)
        return {"Authorization": f"Bearer {self._token}"}


def count_via_find(host, port, ae, calling_ae="BENCHSCU"):
    """(studies, instances) as a STUDY-level C-FIND with NumberOfStudyRelatedInstances reports them."""
    from pydicom.dataset import Dataset
    q = Dataset()
    q.QueryRetrieveLevel = "STUDY"
    q.StudyInstanceUID = ""
    q.NumberOfStudyRelatedInstances = ""
    with dimse.Association(host, port, ae, calling_ae, abstract_syntaxes=[dimse.STUDY_ROOT_FIND],
                          timeout=300) as assoc:
        matches = assoc.find(q, decode=True)
    total = 0
    for m in matches:
        value = m.get("NumberOfStudyRelatedInstances")
        total += int(value) if value not in (None, "") else 0
    return len(matches), total


def loupe_token(binary, data, role="admin", config=None):
    """A new API token's secret on a Loupe archive (`loupe token create`), for a bench's HTTP requests."""
    name = f"bench-{os.getpid()}-{time.monotonic_ns()}"
    argv = [binary, "token", "create", "--data", data, "--name", name, "--role", role] + (["--config", config] if config else [])
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"loupe token create failed: {result.stderr}")
    return result.stdout.strip()


def loupe_user(binary, data, name, password, role="admin", config=None):
    """A local user on a Loupe archive (`loupe user add`), unless it exists."""
    argv = [binary, "user", "add", name, "--role", role, "--password-stdin", "--data", data] + (["--config", config] if config else [])
    result = subprocess.run(argv, input=password + "\n", capture_output=True, text=True, timeout=120)
    if result.returncode != 0 and "exists already" not in result.stderr:
        raise RuntimeError(f"loupe user add failed: {result.stderr}")


def loupe_import(binary, data, paths, log_path, jobs=None, timeout=7200):
    args = [binary, "import", "--data", data, *paths]
    if jobs:
        args += ["--jobs", str(jobs)]
    t0 = time.perf_counter()
    p = start(args, log_path)
    try:
        code = p.wait(timeout=timeout)
    finally:
        stop(p)
    elapsed = time.perf_counter() - t0
    if code != 0:
        raise RuntimeError(f"loupe import exited with {code}:\n{log_tail(p)}")
    return elapsed


def rmtree(path):
    shutil.rmtree(path, ignore_errors=True)
