#!/usr/bin/env python3
"""Loupe DICOMweb benchmark: QIDO-RS and WADO-RS latency against Orthanc with its DICOMweb plugin.

    python3 bench/dicomweb/run.py                       # 100k-instance index + series of 100 and 1,000
    python3 bench/dicomweb/run.py --find-instances 2000 --queries 50   # quick check (~2 min)
    LOUPE_BIN=/path/to/loupe python3 bench/dicomweb/run.py

See bench/README.md ("DICOMweb") for what is measured and how.
"""

import argparse
import base64
import datetime
import hashlib
import importlib.util
import json
import os
import random
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ beside bench/ingest's modules

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
REPO = os.path.dirname(BENCH)
INGEST = os.path.join(BENCH, "ingest")
sys.path.insert(0, INGEST)
sys.path.insert(0, HERE)

import corpus  # noqa: E402  bench/ingest/corpus.py
import servers  # noqa: E402  bench/ingest/servers.py
import extra  # noqa: E402
import webclient  # noqa: E402

# bench/ingest/run.py, under another name (this file is run.py too).
_spec = importlib.util.spec_from_file_location("ingest_run", os.path.join(INGEST, "run.py"))
ingest_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ingest_run)

DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
BENCH_AE = ingest_run.BENCH_AE
FIND_LAYOUT = ingest_run.FIND_LAYOUT  # 5 studies/patient x 2 series x 10 instances
FRAME_ACCEPT = "multipart/related; type=application/octet-stream; transfer-syntax=*"
JSON_ACCEPT = "application/dicom+json"
OHIF_STUDY_LIST = "/studies?limit=101&offset=0&fuzzymatching=false&includefield=00081030,00080060"

# The floor: a path neither server has (404 without touching the index); Loupe's /healthz queries
# the index's statistics, Orthanc's /system reads its database, so neither is a pure round trip.
FLOOR_PATH = "/no-such-resource"

STUDY_UID, SERIES_UID, SOP_UID = "0020000D", "0020000E", "00080018"

log = ingest_run.log
percentile = ingest_run.percentile


# ---- the servers --------------------------------------------------------------------------------

def orthanc_dicomweb_config(args):
    # Only what the plugin needs; every other plugin option keeps its default (see the README).
    cfg = {"Plugins": [DICOMWEB_PLUGIN], "RemoteAccessAllowed": True, "AuthenticationEnabled": False,
           "DicomWeb": {"Enable": True, "Root": "/dicom-web/"}}
    cfg.update(args.orthanc_config)
    return cfg


def ingest_args(args):
    """The fields of bench/ingest/run.py's arguments that its Orthanc cache filler reads."""
    return argparse.Namespace(refill_orthanc=args.refill_orthanc_find, orthanc_config={}, keep=args.keep)


def prepare_orthanc(args, find_dir, n, extra_manifest, runroot):
    """An Orthanc storage with the C-FIND corpus and the extra series, cached under
    WORK/orthanc-dicomweb-N-SIZES/: a copy of bench/ingest's cached C-FIND storage (filled by it when
    missing) plus the extra series sent with storescu. The copy leaves bench/ingest's cache as
    bench/ingest made it."""
    sizes = [s["count"] for s in extra_manifest["series"]]
    total = n + sum(sizes)
    cache = os.path.join(args.work, f"orthanc-dicomweb-{n}-" + "-".join(map(str, sizes)))
    marker = os.path.join(cache, "complete.json")
    find_cache = os.path.join(args.work, f"orthanc-find-{n}")
    find_marker = os.path.join(find_cache, "complete.json")
    if os.path.exists(marker) and os.path.exists(find_marker) and not (args.refill_orthanc or args.refill_orthanc_find):
        with open(marker) as f:
            info = json.load(f)
        with open(find_marker) as f:
            find_date = json.load(f).get("date")
        # Reused while it derives from bench/ingest's current cache (same fill date) and the same series.
        if (info.get("instances") == total and info.get("extra_params") == extra_manifest["params"]
                and info.get("find_fill", {}).get("date") == find_date):
            log(f"  orthanc: reusing the storage prepared earlier in {cache}")
            return os.path.join(cache, "storage"), dict(info, cached=True)
    find_info = ingest_run.fill_orthanc_cache(ingest_args(args), find_dir, n, find_cache, runroot)
    servers.rmtree(cache)
    os.makedirs(cache)
    t0 = time.perf_counter()
    subprocess.run(["cp", "-a", os.path.join(find_cache, "storage"), os.path.join(cache, "storage")], check=True)
    copy_seconds = time.perf_counter() - t0
    log(f"  orthanc: copied the C-FIND storage of {n} instances in {copy_seconds:.1f} s")
    wd = os.path.join(runroot, "orthanc-extra")
    o = servers.Orthanc(wd, storage=os.path.join(cache, "storage"), bench_ae=BENCH_AE, nodelay=True)
    elapsed = ingest_run.fill_orthanc(o, [s["directory"] for s in extra_manifest["series"]], total,
                                      timeout=3600, logdir=wd, tag="extra")
    log(f"  orthanc: added {sum(sizes)} instances of 512x512 with storescu in {elapsed:.1f} s")
    info = {"instances": total, "extra_params": extra_manifest["params"], "find_fill": find_info,
            "copy_seconds": copy_seconds, "extra_seconds": elapsed,
            "date": datetime.datetime.now().isoformat(timespec="seconds")}
    with open(marker, "w") as f:
        json.dump(info, f)
    if not args.keep:
        servers.rmtree(wd)
    return os.path.join(cache, "storage"), info


class LoupeWeb:
    name = "loupe"

    def __init__(self, args, runroot):
        self.wd = os.path.join(runroot, "loupe")
        self.data = os.path.join(self.wd, "data")
        self.binary = args.loupe_bin
        self.process = None

    def fill(self, paths):
        os.makedirs(self.wd, exist_ok=True)
        return servers.loupe_import(self.binary, self.data, paths, os.path.join(self.wd, "import.log"))

    def start(self):
        self.dimse_port = servers.free_port()
        self.http_port = servers.free_port()
        # Requests without credentials are served as a radiologist (access.anonymous): "auth off", beside
        # the same requests with credentials, checked (see Authenticated).
        self.config = os.path.join(self.wd, "loupe.yaml")
        with open(self.config, "w") as f:
            f.write("access:\n  anonymous: radiologist\n")
        self.token = servers.loupe_token(self.binary, self.data, config=self.config)
        servers.loupe_user(self.binary, self.data, "bench", BASIC_PASSWORD, config=self.config)
        # Derivations paused: the 100k imported instances would otherwise be rendered to PNG in the
        # background while latencies are measured (a state a node is in only after a bulk import).
        args = [self.binary, "serve", "--data", self.data, "--ae", "LOUPE", "--dimse-port", str(self.dimse_port),
                "--http-port", str(self.http_port), "--log-level", "warning", "--derivation-workers", "0",
                "--config", self.config]
        self.process = servers.start(args, os.path.join(self.wd, "loupe.log"))
        self.url = f"http://127.0.0.1:{self.http_port}"
        servers.wait_http(self.url + "/healthz", self.process)
        self.base = self.url + "/dicom-web"
        self.floor_path = self.url + FLOOR_PATH

    def count(self):
        studies, instances = servers.count_via_find("127.0.0.1", self.dimse_port, "LOUPE")
        return studies, instances

    def stop(self):
        if self.process is not None:
            servers.stop(self.process)
            self.process = None


BASIC_PASSWORD = "bench-password-1"


class Authenticated:
    """Credentials for the same Loupe process: an API token (bearer) or HTTP Basic (a local user;
    Argon2id verified once, then cached)."""

    def __init__(self, loupe, scheme):
        if scheme == "token":
            self.headers = {"Authorization": f"Bearer {loupe.token}"}
        else:
            self.headers = {"Authorization": "Basic " + base64.b64encode(f"bench:{BASIC_PASSWORD}".encode()).decode()}


class OrthancWeb:
    name = "orthanc"

    def __init__(self, args, runroot, storage):
        self.o = servers.Orthanc(os.path.join(runroot, "orthanc"), storage=storage,
                                 extra_config=orthanc_dicomweb_config(args), bench_ae=BENCH_AE, nodelay=True)

    def start(self):
        self.o.start()
        self.url = self.o.url
        self.base = self.url + "/dicom-web"
        self.floor_path = self.url + FLOOR_PATH
        r = self.o.http.get(self.url + "/plugins/dicom-web", timeout=10)
        if r.status_code != 200:
            raise RuntimeError(f"the DICOMweb plugin is not loaded (/plugins/dicom-web: {r.status_code}):\n"
                               f"{servers.log_tail(self.o.process)}")
        self.plugin_version = r.json().get("Version", "?")
        self.version = self.o.version()

    def count(self):
        s = self.o.statistics()
        return int(s["CountStudies"]), int(s["CountInstances"])

    def stop(self):
        self.o.stop()


# ---- what is asked ------------------------------------------------------------------------------

class Endpoint:
    """One row of the table: a list of requests (the same for both servers), the first `warmup`
    of them unmeasured, and how to reduce a response to what both servers must agree on."""

    def __init__(self, key, label, kind, requests, warmup, measured, check, target=None, p50_target=None):
        self.key = key
        self.label = label
        self.kind = kind          # "qido", "metadata", "frame", "rendered", "floor"
        self.requests = requests  # [(path, headers)], warmup + measured of them
        self.warmup = warmup
        self.measured = measured
        self.check = check        # Response -> (ok, signature, note)
        self.target = target      # speed-up target, or None
        self.p50_target = p50_target  # Loupe p50 target in ms, or None


def dicom_json(resp):
    return json.loads(resp.body) if resp.body else []


def value_of(item, tag):
    v = item.get(tag, {}).get("Value")
    return v[0] if v else None


def normalized(value):
    """A DICOM JSON value in a form both servers' encodings agree on: numbers as floats (Loupe
    writes DS 0 as 0, Orthanc as 0.0 or the other way round), BulkDataURIs (which name the server's
    host and port) as a marker, the key order of objects irrelevant."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list):
        return [normalized(v) for v in value]
    if isinstance(value, dict):
        return {k: ("<bulk>" if k == "BulkDataURI" else normalized(v)) for k, v in sorted(value.items())}
    return value


# Attributes whose values name the server (its URL) and so differ by construction.
SERVER_SPECIFIC = {"00081190"}


def by_uid(items, uid_tag):
    return {value_of(i, uid_tag) or "": {t: normalized(v) for t, v in i.items() if t not in SERVER_SPECIFIC}
            for i in items}


def qido_check(uid_tag, compare_uids=True):
    def check(resp):
        if resp.status != 200:
            return False, None, f"HTTP {resp.status}: {resp.body[:200]!r}", None
        items = dicom_json(resp)
        uids = sorted(value_of(i, uid_tag) or "" for i in items)
        sig = (len(items), hashlib.sha1("\n".join(uids).encode()).hexdigest()[:12] if compare_uids else None)
        return True, sig, f"{len(items)} results", by_uid(items, uid_tag)
    return check


def metadata_check(expected_sops):
    expected = sorted(expected_sops)

    def check(resp):
        if resp.status != 200:
            return False, None, f"HTTP {resp.status}: {resp.body[:200]!r}", None
        items = dicom_json(resp)
        sops = sorted(value_of(i, SOP_UID) or "" for i in items)
        ok = sops == expected
        return ok, (len(items), hashlib.sha1("\n".join(sops).encode()).hexdigest()[:12]), \
            f"{len(items)} instances, {len(resp.body) / 1e6:.2f} MB" + ("" if ok else " (SOP Instance UIDs differ)"), \
            by_uid(items, SOP_UID)
    return check


def frame_check(expected_pixels):
    def check(resp):
        if resp.status != 200:
            return False, None, f"HTTP {resp.status}: {resp.body[:200]!r}", None
        try:
            parts = webclient.multipart_parts(resp.header("content-type"), resp.body)
        except ValueError as exc:
            return False, None, f"{exc}", None
        if len(parts) != 1:
            return False, (len(parts),), f"{len(parts)} parts", None
        ok = parts[0] == expected_pixels
        return ok, (1, len(parts[0]), hashlib.sha1(parts[0]).hexdigest()[:12]), \
            f"{len(parts[0])} bytes" + ("" if ok else " (not the stored pixel data)"), None
    return check


def rendered_check(rows, columns):
    def check(resp):
        if resp.status != 200:
            return False, None, f"HTTP {resp.status}: {resp.body[:200]!r}", None
        ctype = (resp.header("content-type") or "").split(";")[0].strip()
        size = webclient.jpeg_size(resp.body)
        ok = ctype == "image/jpeg" and size == (columns, rows)
        return ok, ("image/jpeg", size), f"{ctype} {size} {len(resp.body)} bytes", None
    return check


def content_differences(a, b):
    """Attributes both servers return for the same matches but with other values, and attributes
    only one of them returns: {key: [description with an example, count]}."""
    out = {}
    for uid in a.keys() & b.keys():
        x, y = a[uid], b[uid]
        for tag in x.keys() & y.keys():
            if x[tag] != y[tag]:
                entry = out.setdefault(f"{tag} differs", [f"{tag} values differ, e.g. loupe "
                                                          f"{json.dumps(x[tag].get('Value'))[:60]}, orthanc "
                                                          f"{json.dumps(y[tag].get('Value'))[:60]}", 0])
                entry[1] += 1
        for tag in x.keys() - y.keys():
            out.setdefault(f"{tag} loupe", [f"{tag} only from loupe", 0])[1] += 1
        for tag in y.keys() - x.keys():
            out.setdefault(f"{tag} orthanc", [f"{tag} only from orthanc", 0])[1] += 1
    return out


def floor_check(resp):
    return resp.status == 404, None, f"HTTP {resp.status}", None


def build_endpoints(args, n, extra_manifest):
    rng = random.Random(4321)
    patients = max(1, (n + FIND_LAYOUT.per_patient - 1) // FIND_LAYOUT.per_patient)
    studies = max(1, (n + FIND_LAYOUT.per_study - 1) // FIND_LAYOUT.per_study)
    surnames = sorted({corpus.patient_name(p).split("^")[0] for p in range(patients)})
    start = datetime.date(2015, 1, 1)
    q = args.warmup + args.queries
    J = {"Accept": JSON_ACCEPT}
    eps = []
    eps.append(Endpoint("floor", "HTTP floor (404, no index)", "floor", [(None, {})] * (args.warmup + args.queries),
                        args.warmup, args.queries, floor_check))

    def qido(key, label, paths, uid_tag=STUDY_UID, compare=True):
        eps.append(Endpoint(key, label, "qido", [(p, J) for p in paths], args.warmup, len(paths) - args.warmup,
                            qido_check(uid_tag, compare), target=args.qido_target, p50_target=args.qido_p50))

    qido("qido-patientid", "QIDO studies PatientID=",
         [f"/studies?PatientID=BP{rng.randrange(patients):08d}" for _ in range(q)])
    qido("qido-name", "QIDO studies PatientName=X*",
         [f"/studies?PatientName={rng.choice(surnames)}*" for _ in range(q)])
    dates = []
    for _ in range(q):
        d0 = start + datetime.timedelta(days=rng.randrange(3650 - 7))
        dates.append(f"/studies?StudyDate={d0:%Y%m%d}-{d0 + datetime.timedelta(days=6):%Y%m%d}")
    qido("qido-date", "QIDO studies StudyDate 7 days", dates)
    # The OHIF study list: the same request every time; which 101 studies come first is up to the
    # server (QIDO defines no order), so only the number of results is compared.
    qido("qido-ohif", "QIDO OHIF study list (101)", [OHIF_STUDY_LIST] * q, compare=False)
    qido("qido-series", "QIDO series in a study",
         [f"/studies/{corpus.uid('21', 3, rng.randrange(studies))}/series" for _ in range(q)], uid_tag=SERIES_UID)

    st = extra_manifest["study_uid"]
    for s in extra_manifest["series"]:
        k = s["count"]
        count = args.metadata_1000 if k >= 1000 else args.metadata_100
        path = f"/studies/{st}/series/{s['series_uid']}/metadata"
        eps.append(Endpoint(f"metadata-{k}", f"WADO series metadata ({k})", "metadata",
                            [(path, J)] * (args.metadata_warmup + count), args.metadata_warmup, count,
                            metadata_check(s["sop_uids"]), target=args.metadata_target))

    big = max(extra_manifest["series"], key=lambda s: s["count"])
    sops = big["sop_uids"]
    # Not a study search: a long answer (one result per instance), the same requests as metadata;
    # the per-result cost of QIDO shows here. No p50 target.
    k = big["count"]
    count = args.metadata_1000 if k >= 1000 else args.metadata_100
    eps.append(Endpoint(f"qido-instances-{k}", f"QIDO instances in series ({k})", "qido",
                        [(f"/studies/{st}/series/{big['series_uid']}/instances", J)] * (args.metadata_warmup + count),
                        args.metadata_warmup, count, qido_check(SOP_UID), target=args.qido_target))
    base = f"/studies/{st}/series/{big['series_uid']}/instances/"
    _header, tail = corpus._template(extra.SIZE)  # noqa: SLF001 - the pixel data every instance carries
    pixels = tail[12:]  # (7FE0,0010) OW, 2 reserved bytes, 4-byte length, then the value
    assert len(pixels) == extra_manifest["frame_bytes"]
    # Distinct instances, in the same order for both servers: warm-up ones are not measured again.
    order = list(range(len(sops)))
    rng.shuffle(order)
    nf = min(len(sops), args.warmup + args.frames)
    eps.append(Endpoint("frame", "WADO frame (512x512x16, 512 KiB)", "frame",
                        [(base + f"{sops[i]}/frames/1", {"Accept": FRAME_ACCEPT}) for i in order[:nf]],
                        min(args.warmup, nf // 2), nf - min(args.warmup, nf // 2), frame_check(pixels)))
    nr = min(len(sops), args.warmup + args.rendered)
    eps.append(Endpoint("rendered", "WADO rendered (image/jpeg)", "rendered",
                        [(base + f"{sops[i]}/rendered", {"Accept": "image/jpeg"}) for i in order[-nr:]],
                        min(args.warmup, nr // 2), nr - min(args.warmup, nr // 2),
                        rendered_check(extra_manifest["rows"], extra_manifest["columns"])))
    # The same with the window given: without it, each server picks its own default (Loupe the file's
    # window 40/400, Orthanc 1.10/plugin 1.7 a wider one), which changes the JPEG's size and encoding time.
    eps.append(Endpoint("rendered-window", "WADO rendered window=40,400,linear", "rendered",
                        [(base + f"{sops[i]}/rendered?window=40,400,linear", {"Accept": "image/jpeg"})
                         for i in order[-nr:]],
                        min(args.warmup, nr // 2), nr - min(args.warmup, nr // 2),
                        rendered_check(extra_manifest["rows"], extra_manifest["columns"])))
    return eps


# ---- measuring ----------------------------------------------------------------------------------

def run_endpoint(server, ep, args):
    """Warm-up requests, then the measured ones (stopping early past --budget seconds once
    --min-samples are in). Returns the latencies and the per-request signatures."""
    client = webclient.Client(server.base)
    floor = webclient.Client(server.floor_path) if ep.kind == "floor" else None
    samples, sigs, notes, failures, details = [], [], [], [], []
    first = None
    t_start = time.perf_counter()
    reconnects = 0
    try:
        for idx, (path, headers) in enumerate(ep.requests):
            measured = idx >= ep.warmup
            if measured and len(samples) >= args.min_samples and time.perf_counter() - t_start > args.budget:
                break
            resp = floor.get("", headers) if floor else client.get(path, headers)
            reconnects += resp.reconnected
            if first is None:
                first = resp.seconds
            ok, sig, note, detail = ep.check(resp)
            if not ok:
                failures.append(f"{path}: {note}")
            if measured:
                samples.append(resp.seconds)
                sigs.append(sig)
                if len(details) < args.content_checks:
                    details.append(detail)
                if len(notes) < 1:
                    notes.append(note)
    finally:
        client.close()
        if floor:
            floor.close()
    connections = (floor or client).connections
    s = sorted(samples)
    counts = [sig[0] for sig in sigs if sig and isinstance(sig[0], int)]
    return {"mean_results": sum(counts) / len(counts) if ep.kind in ("qido", "metadata") and counts else None,
            "n": len(s), "p50_ms": percentile(s, 0.5) * 1e3, "p95_ms": percentile(s, 0.95) * 1e3,
            "min_ms": s[0] * 1e3 if s else None, "max_ms": s[-1] * 1e3 if s else None,
            "first_ms": first * 1e3 if first is not None else None, "connections": connections,
            "reconnects": reconnects, "failures": failures[:5], "failure_count": len(failures),
            "note": notes[0] if notes else "", "signatures": sigs, "details": details}


def compare(ep, results):
    """VOID reasons for a row: a failed response, or servers that disagree."""
    reasons = []
    for name, r in results.items():
        if r["failure_count"]:
            reasons.append(f"{name}: {r['failure_count']} bad responses, e.g. {r['failures'][0]}")
    if "loupe" in results and ep.kind != "floor":
        for other in (name for name in results if name != "loupe"):
            a, b = results["loupe"]["signatures"], results[other]["signatures"]
            diff = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
            if diff:
                i = diff[0]
                path = ep.requests[ep.warmup + i][0]
                reasons.append(f"{len(diff)} of {min(len(a), len(b))} answers differ, e.g. {path}: loupe {a[i]}, "
                               f"{other} {b[i]}")
    return reasons


def compare_content(ep, results):
    """Attribute values of the same matches, over the first --content-checks measured answers:
    printed, not a reason for VOID (the two servers return different optional attributes).
    {"differ": {tag: [example, count]}, "loupe_only": [tags], "orthanc_only": [tags]}"""
    out = {"differ": {}, "loupe_only": [], "orthanc_only": []}
    if "loupe" not in results or "orthanc" not in results:
        return out
    for x, y in zip(results["loupe"]["details"], results["orthanc"]["details"]):
        if x is None or y is None:
            continue
        for uid in x.keys() & y.keys():
            a, b = x[uid], y[uid]
            for tag in sorted(a.keys() & b.keys()):
                if a[tag] != b[tag]:
                    entry = out["differ"].setdefault(tag, [f"loupe {json.dumps(a[tag].get('Value'))[:60]}, orthanc "
                                                           f"{json.dumps(b[tag].get('Value'))[:60]}", 0])
                    entry[1] += 1
            out["loupe_only"] = sorted(set(out["loupe_only"]) | (a.keys() - b.keys()))
            out["orthanc_only"] = sorted(set(out["orthanc_only"]) | (b.keys() - a.keys()))
    return out


def fmt(v, digits=2):
    return "-" if v is None else f"{v:.{digits}f}"


def print_table(rows, header_info):
    log()
    log(f"DICOMweb latency, {header_info} (ms, lower is better; one persistent HTTP connection per server)")
    p50_limit = next((r["p50_target"] for r in rows if r.get("p50_target")), 5.0)
    p50_head = f"p50<={p50_limit:g}ms"
    head = (f"{'request':34s} {'n':>4s} {'results':>7s} {'loupe p50':>10s} {'loupe p95':>10s} {'orthanc p50':>12s} "
            f"{'orthanc p95':>12s} {'speed-up p50':>13s} {'target':>7s} {p50_head:>9s}")
    log(head)
    log("-" * len(head))
    for row in rows:
        lo, ot = row["servers"].get("loupe"), row["servers"].get("orthanc")
        speedup = row.get("speedup_p50")
        if row["void"]:
            verdict_text = "VOID"
        elif row["target"] is None or speedup is None:
            verdict_text = ""
        else:
            verdict_text = ingest_run.verdict(speedup, row["target"])
        target = f">={row['target']:g}x" if row["target"] else ""
        p50_target = ""
        if row.get("p50_target") and lo:
            p50_target = "VOID" if row["void"] else ingest_run.verdict(lo["p50_ms"], row["p50_target"],
                                                                        higher_is_better=False)
        n = max((r["n"] for r in row["servers"].values()), default=0)
        results = next((r["mean_results"] for r in row["servers"].values() if r.get("mean_results") is not None),
                       None)
        up = " ".join(x for x in (ingest_run.fmt_ratio(speedup) if speedup else "", verdict_text) if x) or "-"
        log(f"{row['label']:34s} {n:4d} {fmt(results, 1):>7s} {fmt(lo and lo['p50_ms']):>10s} "
            f"{fmt(lo and lo['p95_ms']):>10s} {fmt(ot and ot['p50_ms']):>12s} {fmt(ot and ot['p95_ms']):>12s} "
            f"{up:>13s} {target:>7s} {p50_target:>9s}")
    targets = sorted({(r["kind"], r["target"]) for r in rows if r["target"]})
    log("targets: " + ", ".join(f"{'series metadata' if k == 'metadata' else 'QIDO'} >= {t:g}x faster than Orthanc"
                                for k, t in targets)
        + f", Loupe p50 <= {p50_limit:g} ms for the study and series searches (speed-up = orthanc p50 / loupe p50; "
          "results = mean number of results or instances per answer)")
    for row in rows:
        if row["kind"] in ("metadata", "frame", "rendered"):
            parts = [f"{name}: {r['note']}, first request {fmt(r['first_ms'], 1)} ms"
                     for name, r in row["servers"].items()]
            log(f"  {row['label']}: " + "; ".join(parts))
        for reason in row["void_reasons"]:
            log(f"  VOID {row['label']}: {reason}")
    if not any({"loupe", "orthanc"} <= r["servers"].keys() for r in rows):
        return
    log("attributes of the same matches compared between the servers (not a reason for VOID; server URLs "
        "and BulkDataURIs left out, numbers compared as numbers):")
    study_time = False
    for row in rows:
        c = row.get("content_differences") or {}
        if not (c.get("differ") or c.get("loupe_only") or c.get("orthanc_only")):
            if row["kind"] in ("qido", "metadata") and {"loupe", "orthanc"} <= row["servers"].keys():
                log(f"  {row['label']}: same values")
            continue
        parts = [f"{tag} differs in {n} matches (e.g. {example})" for tag, (example, n) in c["differ"].items()]
        if c["loupe_only"]:
            parts.append("only loupe returns " + ",".join(c["loupe_only"]))
        if c["orthanc_only"]:
            parts.append("only orthanc returns " + ",".join(c["orthanc_only"]))
        log(f"  {row['label']}: " + "; ".join(parts))
        study_time = study_time or "00080030" in c["differ"]
    if study_time:
        log("  (00080030 StudyTime: the C-FIND corpus writes one time placeholder for Study/Series/Acquisition/"
            "Content Time, so the two series of a study carry StudyTimes 1 s apart; each server keeps another)")


def measure_auth(args, loupe, endpoints):
    """Each row's requests sent to the same Loupe process without credentials (access.anonymous) and
    with each scheme, interleaved request by request (the first client rotating), on one persistent
    connection each: machine drift hits every mode alike."""
    modes = [("none", {})] + [(scheme, Authenticated(loupe, scheme).headers) for scheme in args.auth]
    rows = []
    for ep in endpoints:
        clients = {name: webclient.Client(loupe.floor_path if ep.kind == "floor" else loupe.base) for name, _ in modes}
        samples = {name: [] for name, _ in modes}
        bad = 0
        try:
            for idx, (path, headers) in enumerate(ep.requests):
                order = modes[idx % len(modes):] + modes[:idx % len(modes)]
                for name, credentials in order:
                    resp = clients[name].get("" if ep.kind == "floor" else path, {**headers, **credentials})
                    if not ep.check(resp)[0]:
                        bad += 1
                    if idx >= ep.warmup:
                        samples[name].append(resp.seconds)
        finally:
            for client in clients.values():
                client.close()
        p50 = {name: percentile(sorted(v), 0.5) * 1e3 for name, v in samples.items()}
        row = {"key": ep.key, "label": ep.label, "kind": ep.kind, "n": len(samples["none"]), "p50_ms": p50, "bad": bad,
               "cost_percent": {name: (p50[name] / p50["none"] - 1) * 100 for name in p50 if name != "none"}}
        log(f"    {ep.label:34s} " + "  ".join(f"{name} {p50[name]:7.2f} ms" for name in p50)
            + (f"  [{bad} bad]" if bad else ""))
        rows.append(row)
    return rows


def print_auth_table(rows, limit):
    """What checking credentials costs, per row: p50 with each scheme against p50 without."""
    schemes = [name for name in rows[0]["p50_ms"] if name != "none"] if rows else []
    log()
    log(f"Cost of checking credentials (p50 ms; one Loupe process, requests interleaved without credentials (served as "
        f"access.anonymous) and with them; target: under {limit:g} % at p50 for QIDO, metadata and frames)")
    head = f"{'request':34s} {'n':>4s} {'none':>8s} " + " ".join(f"{s:>8s} {'cost':>8s}" for s in schemes)
    log(head)
    log("-" * len(head))
    for row in rows:
        cells = []
        for scheme in schemes:
            cost = row["cost_percent"][scheme]
            targeted = row["kind"] in ("qido", "metadata", "frame")
            verdict = (" ok" if cost < limit else " !") if targeted else ""
            cells.append(f"{fmt(row['p50_ms'][scheme]):>8s} {fmt(cost, 1) + '%':>6s}{verdict:3s}")
        log(f"{row['label']:34s} {row['n']:4d} {fmt(row['p50_ms']['none']):>8s} " + " ".join(cells)
            + (f"  [{row['bad']} bad answers]" if row["bad"] else ""))


def measure(args, servers_up, endpoints):
    rows = []
    for ep in endpoints:
        results = {}
        # Loupe and Orthanc one after the other per row, so that drifting machine load hits both.
        for srv in servers_up:
            r = run_endpoint(srv, ep, args)
            results[srv.name] = r
            log(f"    {ep.label:34s} {srv.name:8s} n {r['n']:4d}  p50 {r['p50_ms']:9.2f} ms  "
                f"p95 {r['p95_ms']:9.2f} ms  {r['note']}"
                + (f"  [{r['failure_count']} bad]" if r["failure_count"] else "")
                + (f"  [{r['connections']} connections]" if r["connections"] != 1 else ""))
        reasons = compare(ep, results)
        content = compare_content(ep, results)
        speedup = None
        if "loupe" in results and "orthanc" in results and ep.kind not in ("floor",):
            speedup = ingest_run.ratio(results["orthanc"]["p50_ms"], results["loupe"]["p50_ms"])
        for r in results.values():
            r.pop("signatures", None)
            r.pop("details", None)
        rows.append({"content_differences": content, "key": ep.key, "label": ep.label, "kind": ep.kind, "target": ep.target,
                     "p50_target": ep.p50_target,
                     "servers": results, "speedup_p50": speedup, "void": bool(reasons), "void_reasons": reasons})
    return rows


# ---- main ---------------------------------------------------------------------------------------

def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--find-instances", type=int, default=100000,
                    help="instances of the C-FIND corpus (bench/ingest's, cached): 1000 patients x 5 studies x "
                         "2 series x 10 at 100000")
    ap.add_argument("--series-sizes", default="100,1000",
                    help="instances of each extra 512x512 CT series (one study); metadata is asked for each")
    ap.add_argument("--queries", type=int, default=200, help="measured requests per QIDO row")
    ap.add_argument("--warmup", type=int, default=20, help="unmeasured requests first (QIDO, frame, rendered)")
    ap.add_argument("--metadata-100", type=int, default=50, help="measured metadata requests, series < 1000")
    ap.add_argument("--metadata-1000", type=int, default=20, help="measured metadata requests, series >= 1000")
    ap.add_argument("--metadata-warmup", type=int, default=2, help="unmeasured metadata requests first")
    ap.add_argument("--frames", type=int, default=200, help="measured frame requests (distinct instances)")
    ap.add_argument("--rendered", type=int, default=100, help="measured rendered requests (distinct instances)")
    ap.add_argument("--budget", type=float, default=90.0,
                    help="seconds per row and server after which measuring stops once --min-samples are in")
    ap.add_argument("--min-samples", type=int, default=10)
    ap.add_argument("--content-checks", type=int, default=5,
                    help="measured answers per row whose attribute values are compared between the servers")
    ap.add_argument("--servers", default="loupe,orthanc", help="subset of loupe,orthanc")
    ap.add_argument("--auth", default="token,basic",
                    help="Loupe with these credentials too, beside none (subset of token,basic; empty: none only)")
    ap.add_argument("--auth-limit", type=float, default=5.0, help="target: cost of checking credentials, percent of p50")
    ap.add_argument("--client-cpu", type=int, default=None, metavar="CPU",
                    help="pin the measuring client to this CPU (less run-to-run spread on small machines)")
    ap.add_argument("--qido-target", type=float, default=3.0)
    ap.add_argument("--metadata-target", type=float, default=10.0)
    ap.add_argument("--qido-p50", type=float, default=5.0, help="Loupe p50 target (ms) of the study/series searches")
    ap.add_argument("--refill-orthanc", action="store_true",
                    help="rebuild the cached Orthanc storage of this bench (a copy of bench/ingest's + the series)")
    ap.add_argument("--refill-orthanc-find", action="store_true",
                    help="rebuild bench/ingest's cached Orthanc C-FIND storage first as well (~4 min at 100k)")
    ap.add_argument("--orthanc-set", action="append", default=[], metavar="KEY=JSON",
                    help='override an Orthanc configuration key, e.g. DicomWeb=\'{"Enable": true, '
                         '"SeriesMetadata": "MainDicomTags"}\'')
    ap.add_argument("--work", default=os.path.join(BENCH, ".work"), help="cache and scratch directory")
    ap.add_argument("--keep", action="store_true", help="keep the servers' directories and logs")
    ap.add_argument("--json", help="also write the results here (default: WORK/results/dicomweb-<date>.json)")
    args = ap.parse_args()
    args.sizes = [int(x) for x in args.series_sizes.split(",") if x]
    args.servers = [x for x in args.servers.split(",") if x]
    args.auth = [x for x in args.auth.split(",") if x]
    if set(args.auth) - {"token", "basic"}:
        ap.error("--auth: token and/or basic")
    if set(args.servers) - {"loupe", "orthanc"}:
        ap.error("--servers: loupe and/or orthanc")
    ingest_run.resolve_common_args(args)
    return args


def main():
    args = parse_args()
    if not os.access(args.loupe_bin, os.X_OK):
        raise SystemExit(f"Loupe binary not found: {args.loupe_bin} (build it or set LOUPE_BIN)")
    if "orthanc" in args.servers:
        for path, package in ((servers.ORTHANC, "orthanc"), (DICOMWEB_PLUGIN, "orthanc-dicomweb"),
                              (servers.STORESCU, "dcmtk")):
            if not os.path.exists(path):
                log(f"NOTE: {path} is missing (apt-get install {package}): Orthanc is skipped")
                args.servers.remove("orthanc")
                break
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.makedirs(args.work, exist_ok=True)
    runroot = os.path.join(args.work, "tmp", f"dicomweb-{os.getpid()}")
    os.makedirs(runroot, exist_ok=True)
    env = ingest_run.environment(args.loupe_bin, args.work)
    env["orthanc-dicomweb"] = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "orthanc-dicomweb"],
                                             capture_output=True, text=True).stdout.strip() or "?"
    log("Loupe DICOMweb benchmark")
    for k, v in env.items():
        log(f"  {k:17s} {v}")
    log("  orthanc          DICOMweb plugin with its defaults (StudiesMetadata/SeriesMetadata \"Full\": every "
        "file of the series is read per metadata request)"
        + (f", overrides {args.orthanc_config}" if args.orthanc_config else ""))
    log("  client           python http.client, one persistent connection per server and row, TCP_NODELAY, "
        "no compression asked")
    results = {"environment": env, "arguments": {k: v for k, v in vars(args).items()}}
    t_start = time.perf_counter()
    running = []
    try:
        n = args.find_instances
        log(f"== Corpus: {n} instances ({FIND_LAYOUT.describe()}) + series of {args.series_sizes} 512x512 CT")
        find_dir = os.path.join(args.work, "corpus", f"find-{n}")
        manifest = corpus.generate(find_dir, "find", n, 16, FIND_LAYOUT, "21", progress=log)
        xm = extra.generate(os.path.join(args.work, "corpus"), args.sizes, progress=log)
        total = n + sum(args.sizes)
        studies_total = manifest["studies"] + 1
        results["corpus"] = {"find_instances": n, "studies": studies_total, "patients": manifest["patients"] + 1,
                             "series_sizes": args.sizes, "instances": total}
        corpus.read_all(os.path.dirname(xm["series"][0]["directory"]))

        loupe = orthanc = None
        if "loupe" in args.servers:
            loupe = LoupeWeb(args, runroot)
            log(f"  loupe: `loupe import` of {total} files into a fresh archive")
            seconds = loupe.fill([find_dir, os.path.dirname(xm["series"][0]["directory"])])
            log(f"  loupe: imported in {seconds:.1f} s ({total / seconds:.0f}/s)")
            results["loupe_import_seconds"] = seconds
        if "orthanc" in args.servers:
            storage, info = prepare_orthanc(args, find_dir, n, xm, runroot)
            results["orthanc_storage"] = info
            orthanc = OrthancWeb(args, runroot, storage)
        for srv in (loupe, orthanc):
            if srv is None:
                continue
            srv.start()
            running.append(srv)
            studies, held = srv.count()
            log(f"  {srv.name}: up at {srv.base}; holds {held} instances in {studies} studies"
                + (f"; Orthanc {srv.version}, DICOMweb plugin {srv.plugin_version}" if srv is orthanc else ""))
            if held != total or studies != studies_total:
                raise RuntimeError(f"{srv.name} holds {held}/{total} instances, {studies}/{studies_total} studies")
            if srv is orthanc:
                results["environment"]["orthanc_plugin_reported"] = srv.plugin_version

        if args.client_cpu is not None:
            # After the servers started (they do not inherit it): only this client is pinned.
            os.sched_setaffinity(0, {args.client_cpu})
        log("== Measuring (per row: loupe, then orthanc)"
            + (f"; client pinned to CPU {args.client_cpu}" if args.client_cpu is not None else ""))
        endpoints = build_endpoints(args, n, xm)
        rows = measure(args, running, endpoints)
        results["rows"] = rows
        if loupe is not None and args.auth:
            log("== Measuring the cost of checking credentials (Loupe, requests interleaved: none, "
                + ", ".join(args.auth) + ")")
            results["auth"] = measure_auth(args, loupe, endpoints)
    finally:
        for srv in running:
            try:
                srv.stop()
            except Exception as exc:  # noqa: BLE001 - report and go on stopping
                log(f"  stopping {srv.name}: {exc}")
        servers.cleanup()
        if not args.keep:
            servers.rmtree(runroot)

    log()
    log("=" * 110)
    print_table(rows, f"{total} instances / {studies_total} studies (C-FIND corpus of {n} + series of "
                      f"{args.series_sizes} 512x512 CT)")
    fill = [f"loupe import {results['loupe_import_seconds']:.1f} s"] if "loupe_import_seconds" in results else []
    if "orthanc_storage" in results:
        info = results["orthanc_storage"]
        fill.append("orthanc storage " + ("cached from an earlier run" if info.get("cached") else
                                          f"copied in {info['copy_seconds']:.0f} s + extra series by storescu in "
                                          f"{info['extra_seconds']:.0f} s"))
    if "auth" in results:
        print_auth_table(results["auth"], args.auth_limit)
    log("fill: " + "; ".join(fill))
    log(f"nproc {env['nproc']}, {env['cpu']}, load average at start {env['loadavg_at_start']}, "
        f"now {' '.join(f'{x:.2f}' for x in os.getloadavg())}; total {time.perf_counter() - t_start:.0f} s")
    out = args.json or os.path.join(args.work, "results",
                                    "dicomweb-" + datetime.datetime.now().strftime("%Y%m%d-%H%M%S") + ".json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(results, f, indent=2, default=str)
    log(f"results written to {out}")
    if any(r["void"] for r in rows):
        sys.exit(2)


if __name__ == "__main__":
    main()
