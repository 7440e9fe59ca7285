#!/usr/bin/env python3
"""Loupe benchmark: C-STORE ingest throughput and C-FIND latency against dcmtk storescp and Orthanc.

    python3 bench/ingest/run.py                      # defaults: 2000 small, 300 large, 100k find index
    python3 bench/ingest/run.py --small 200 --large 20 --find-instances 2000   # quick check
    LOUPE_BIN=/path/to/loupe python3 bench/ingest/run.py

See bench/README.md for what is measured and how.
"""

import argparse
import datetime
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

import corpus  # noqa: E402
import dimse  # noqa: E402
import servers  # noqa: E402

BENCH_AE = "BENCHSCU"
# The ingest corpora's parts: shared out among 1, 2, 4, 8 or 16 associations.
INGEST_PARTS = 16


def log(msg=""):
    print(msg, flush=True)


# ---- environment ------------------------------------------------------------------------------

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def mem_total():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "?"


def filesystem(path):
    try:
        out = subprocess.run(["df", "-T", path], capture_output=True, text=True, timeout=10).stdout.splitlines()
        return out[-1].split()[1]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"


def command_version(args):
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=20)
        text = (out.stdout + out.stderr).strip().splitlines()
        return text[0] if text else "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def git_revision():
    try:
        rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + ("+dirty" if dirty else "") if rev else "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def environment(loupe_bin, workdir):
    st = os.stat(loupe_bin)
    env = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu_model(),
        "memory": mem_total(),
        "kernel": platform.release(),
        "filesystem": f"{filesystem(workdir)} ({workdir})",
        "loadavg_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "loupe": f"{loupe_bin} ({st.st_size / 1e6:.1f} MB, built "
                 f"{datetime.datetime.fromtimestamp(st.st_mtime).isoformat(timespec='seconds')}, repo {git_revision()})",
        "dcmtk": command_version([servers.STORESCU, "--version"]).strip("$ "),
        "orthanc": command_version([servers.ORTHANC, "--version"]),
        "python": platform.python_version(),
    }
    return env


# ---- statistics -------------------------------------------------------------------------------

def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def ratio(a, b):
    if not a or not b:
        return None
    return a / b


def fmt_ratio(r):
    return "-" if r is None else f"{r:.2f}x"


def verdict(value, target, higher_is_better=True):
    if value is None:
        return "n/a"
    ok = value >= target if higher_is_better else value <= target
    return "PASS" if ok else "MISS"


# ---- ingest -----------------------------------------------------------------------------------

def storescu_args(ae, port, directories):
    # -R: propose only the presentation contexts the files need; +sd +r: scan the directories;
    # -ta 600: a single-process storescp serves one association at a time, the others wait in
    # its listen queue for longer than the 30 s default.
    return [servers.STORESCU, "-R", "+sd", "+r", "-aet", BENCH_AE, "-aec", ae, "-ta", "600", "-td", "600",
            "127.0.0.1", str(port), *directories]


def send(receiver, directories, timeout, logdir, tag):
    """Runs one storescu per list of directories, all at once; returns the wall time of the slowest."""
    procs = []
    t0 = time.perf_counter()
    for k, d in enumerate(directories):
        procs.append(servers.start(storescu_args(receiver.ae, receiver.port, d),
                                   os.path.join(logdir, f"storescu-{tag}-{k}.log"), env=servers.dcmtk_env(True)))
    failures = []
    try:
        for p in procs:
            remaining = max(1.0, timeout - (time.perf_counter() - t0))
            try:
                code = p.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                failures.append(f"storescu pid {p.pid} timed out after {timeout:.0f} s")
                continue
            if code != 0:
                failures.append(f"storescu exited with {code}: {servers.log_tail(p, 5)}")
    finally:
        elapsed = time.perf_counter() - t0
        for p in procs:
            servers.stop(p, grace=5)
    return elapsed, failures


def sender_overhead(directories, logdir, tag, tries=3):
    """What storescu costs without a receiver: start-up plus scanning every file (-R reads each
    file's SOP class before associating), measured against a port nobody listens on."""
    port = servers.free_port()
    best = None
    for attempt in range(tries):
        procs = []
        t0 = time.perf_counter()
        for k, d in enumerate(directories):
            procs.append(servers.start(storescu_args("NOBODY", port, d),
                                       os.path.join(logdir, f"storescu-overhead-{tag}-{k}.log"),
                                       env=servers.dcmtk_env(True)))
        for p in procs:
            try:
                p.wait(timeout=600)
            finally:
                servers.stop(p, grace=5)
        elapsed = time.perf_counter() - t0
        best = elapsed if best is None else min(best, elapsed)
    return best


def make_receiver(name, workdir, args):
    if name == "storescp":
        return servers.StoreSCP(workdir, nodelay=not args.keep_nagle)
    if name == "orthanc":
        return servers.Orthanc(workdir, extra_config=args.orthanc_config, bench_ae=BENCH_AE,
                               nodelay=not args.keep_nagle)
    if name == "loupe":
        return servers.Loupe(workdir, args.loupe_bin)
    if name == "loupe-paused":
        return servers.Loupe(workdir, args.loupe_bin, extra_args=["--derivation-workers", "0"])
    raise ValueError(name)


def storage_dir(receiver):
    if isinstance(receiver, servers.StoreSCP):
        return receiver.out
    if isinstance(receiver, servers.Orthanc):
        return receiver.storage
    return receiver.data


def ingest_once(args, runroot, name, attempt, key, label, n, size_mb, parallel, dirs, overhead):
    """One fresh receiver, one send, one verification."""
    wd = os.path.join(runroot, f"ingest-{key}-{parallel}-{name}-{attempt}")
    receiver = make_receiver(name, wd, args)
    try:
        receiver.start()
        elapsed, failures = send(receiver, dirs, timeout=max(300, n / 5), logdir=wd, tag=f"{key}{parallel}")
        held = receiver.count()
        disk = servers.du_bytes(storage_dir(receiver))
    finally:
        receiver.stop()
    rate = n / elapsed
    ok = held == n and not failures
    log(f"  {name:8s} {key:5s} x{parallel} #{attempt + 1}: {n} in {elapsed:7.2f} s = {rate:8.1f}/s, "
        f"{size_mb / elapsed:6.1f} MB/s; holds {held}/{n}{'' if ok else '  -> VOID'}; "
        f"{disk / 1e6:.1f} MB on disk")
    for f in failures:
        log(f"      {f}")
    net = n / (elapsed - overhead) if elapsed > overhead else None
    # The receivers' files stay until the end of the run (in the run directory): deleting thousands
    # of files slows every file creation for the next minutes on ext4 without a journal (inodes
    # deleted in the last 60-300 s are skipped one by one: recently_deleted), which charged each
    # receiver for the one measured before it.
    return {"corpus": key, "label": label, "associations": parallel, "receiver": name,
            "instances": n, "seconds": round(elapsed, 3), "rate": round(rate, 1) if ok else None,
            "sender_overhead_seconds": round(overhead, 3), "net_rate": round(net, 1) if ok and net else None,
            "held": held, "disk_bytes": disk, "failures": failures}


def run_ingest(args, runroot):
    log("== Ingest: C-STORE throughput with /usr/bin/storescu")
    cache = os.path.join(args.work, "corpus")
    corpora = []
    if args.small > 0:
        m = corpus.generate(os.path.join(cache, f"ingest-small-{args.small}"), "small", args.small, 64,
                            corpus.Layout(50, 2, 1), "11", progress=log, parts=INGEST_PARTS)
        corpora.append(("small", f"{args.small} x CT 64x64", os.path.join(cache, f"ingest-small-{args.small}"), m))
    if args.large > 0:
        m = corpus.generate(os.path.join(cache, f"ingest-large-{args.large}"), "large", args.large, 512,
                            corpus.Layout(50, 2, 1), "12", progress=log, parts=INGEST_PARTS)
        corpora.append(("large", f"{args.large} x CT 512x512", os.path.join(cache, f"ingest-large-{args.large}"), m))
    results = []
    for key, label, directory, manifest in corpora:
        corpus.read_all(directory)  # page cache: senders read from memory for every receiver alike
        n = manifest["params"]["count"]
        size_mb = manifest["total_bytes"] / 1e6
        for parallel in args.associations:
            dirs = corpus.senders(directory, parallel)
            overhead = sender_overhead(dirs, runroot, f"{key}{parallel}")
            log(f"  sender   {key:5s} x{parallel}: storescu start-up + file scan without a receiver: "
                f"{overhead:.3f} s")
            names = [r for r in args.receivers if r != "orthanc" or args.orthanc_ok]
            attempts = {name: [] for name in names}
            # Receivers interleaved within each round, so that drifting machine load hits all alike.
            for attempt in range(args.repeat):
                for name in names:
                    attempts[name].append(ingest_once(args, runroot, name, attempt, key, label, n, size_mb,
                                                      parallel, dirs, overhead))
            for name in names:
                valid = [r for r in attempts[name] if r["rate"]]
                best = dict(max(valid, key=lambda r: r["rate"]) if valid else attempts[name][-1])
                best["attempt_rates"] = [r["rate"] for r in attempts[name]]
                results.append(best)
    return results


def print_ingest_table(results):
    summary = []
    for field, title in (("rate", "wall clock: instances / storescu run time"),
                         ("net_rate", "net of sender overhead: instances / (run time - storescu alone)")):
        log()
        log(f"Ingest throughput, {title} (instances/s, higher is better; VOID = receiver did not hold "
            "every instance)")
        receivers = ["storescp", "orthanc", "loupe", "loupe-paused"]
        head = (f"{'corpus':22s} {'assoc':>5s} " + " ".join(f"{r:>12s}" for r in receivers)
                + f" {'loupe/orthanc':>14s} {'paused/orthanc':>15s} {'paused/storescp':>16s}")
        log(head)
        log("-" * len(head))
        rows = {}
        for r in results:
            rows.setdefault((r["label"], r["associations"]), {})[r["receiver"]] = r[field]
        for (label, parallel), rates in rows.items():
            cells = []
            for name in receivers:
                text = "-" if name not in rates else ("VOID" if rates[name] is None else f"{rates[name]:.0f}")
                cells.append(f"{text:>12s}")
            vs_orthanc = ratio(rates.get("loupe"), rates.get("orthanc"))
            paused_vs_orthanc = ratio(rates.get("loupe-paused"), rates.get("orthanc"))
            paused_vs_scp = ratio(rates.get("loupe-paused"), rates.get("storescp"))
            a = fmt_ratio(vs_orthanc) + " " + verdict(vs_orthanc, 1.5)
            b = fmt_ratio(paused_vs_orthanc) + " " + verdict(paused_vs_orthanc, 1.5)
            c = fmt_ratio(paused_vs_scp) + " " + verdict(paused_vs_scp, 0.9)
            log(f"{label:22s} {parallel:5d} " + " ".join(cells) + f" {a:>14s} {b:>15s} {c:>16s}")
            summary.append({"measure": field, "corpus": label, "associations": parallel, "rates": rates,
                            "loupe_vs_orthanc": vs_orthanc, "paused_vs_orthanc": paused_vs_orthanc,
                            "paused_vs_storescp": paused_vs_scp})
    log("targets: loupe/orthanc >= 1.5x (derivations on and paused), paused/storescp >= 0.9x with 4 and 16 "
        "associations (the wall-clock table is the strict one)")
    return summary


# ---- C-FIND -----------------------------------------------------------------------------------

FIND_LAYOUT = corpus.Layout(10, 2, 5)  # 5 studies/patient x 2 series x 10 instances


def study_identifier(**match):
    from pydicom.dataset import Dataset
    q = Dataset()
    q.QueryRetrieveLevel = "STUDY"
    # A typical worklist/viewer study query: every key the study list shows.
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate",
                    "StudyTime", "AccessionNumber", "StudyID", "StudyDescription", "ReferringPhysicianName",
                    "ModalitiesInStudy", "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances"):
        setattr(q, keyword, match.get(keyword, ""))
    return q


def build_queries(n_instances, count, seed=1234):
    """The same query values for every server: {type: [identifier, ...]}."""
    rng = random.Random(seed)
    patients = max(1, (n_instances + FIND_LAYOUT.per_patient - 1) // FIND_LAYOUT.per_patient)
    surnames = sorted({corpus.patient_name(p).split("^")[0] for p in range(patients)})
    start = datetime.date(2015, 1, 1)
    queries = {"PatientID exact": [], "PatientName wildcard": [], "StudyDate 7-day range": []}
    for _ in range(count):
        p = rng.randrange(patients)
        queries["PatientID exact"].append(study_identifier(PatientID=f"BP{p:08d}"))
        queries["PatientName wildcard"].append(study_identifier(PatientName=rng.choice(surnames) + "*"))
        d0 = start + datetime.timedelta(days=rng.randrange(3650 - 7))
        d1 = d0 + datetime.timedelta(days=6)
        queries["StudyDate 7-day range"].append(study_identifier(StudyDate=f"{d0:%Y%m%d}-{d1:%Y%m%d}"))
    return queries


class RawClient:
    name = "raw socket client (bench/ingest/dimse.py)"

    def __init__(self, port, ae):
        self.assoc = dimse.Association("127.0.0.1", port, ae, BENCH_AE,
                                       abstract_syntaxes=[dimse.VERIFICATION, dimse.STUDY_ROOT_FIND], timeout=120)

    def echo(self):
        self.assoc.echo()

    def find(self, q):
        return len(self.assoc.find(q))

    def close(self):
        self.assoc.release()


class PynetdicomClient:
    name = "pynetdicom"

    def __init__(self, port, ae):
        from pynetdicom import AE
        from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind, Verification
        self.model = StudyRootQueryRetrieveInformationModelFind
        a = AE(ae_title=BENCH_AE)
        a.add_requested_context(Verification)
        a.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
        a.acse_timeout = a.dimse_timeout = a.network_timeout = 120
        self.assoc = a.associate("127.0.0.1", port, ae_title=ae)
        if not self.assoc.is_established:
            raise dimse.DIMSEError("pynetdicom: association not established")
        # pynetdicom leaves Nagle on: its C-FIND request (command and identifier written separately)
        # would wait ~40 ms for the server's delayed ACK.
        self.assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def echo(self):
        status = self.assoc.send_c_echo()
        if not status or status.Status != 0:
            raise dimse.DIMSEError(f"C-ECHO failed: {status}")

    def find(self, q):
        n = 0
        for status, identifier in self.assoc.send_c_find(q, self.model):
            if not status:
                raise dimse.DIMSEError("C-FIND: no response")
            if status.Status in (0xFF00, 0xFF01):
                n += 1
            elif status.Status != 0:
                raise dimse.DIMSEError(f"C-FIND status {status.Status:#06x}")
        return n

    def close(self):
        self.assoc.release()


def measure_find(port, ae, queries, args):
    client_class = PynetdicomClient if args.find_client == "pynetdicom" else RawClient
    client = client_class(port, ae)
    out = {}
    try:
        for _ in range(args.find_warmup):
            client.echo()
        samples = []
        for _ in range(max(50, args.find_queries)):
            t = time.perf_counter()
            client.echo()
            samples.append(time.perf_counter() - t)
        samples.sort()
        out["C-ECHO (floor)"] = {"p50_ms": percentile(samples, 0.5) * 1e3, "p95_ms": percentile(samples, 0.95) * 1e3,
                                 "mean_matches": 0, "counts": []}
        log(f"    {'C-ECHO (floor)':24s} p50 {out['C-ECHO (floor)']['p50_ms']:8.2f} ms  "
            f"p95 {out['C-ECHO (floor)']['p95_ms']:8.2f} ms")
        for kind, identifiers in queries.items():
            # Warm-up queries are other values than the measured ones (no cache primed for them).
            for q in identifiers[:args.find_warmup]:
                client.find(q)
            samples, counts = [], []
            for q in identifiers[args.find_warmup:]:
                t = time.perf_counter()
                n = client.find(q)
                samples.append(time.perf_counter() - t)
                counts.append(n)
            samples.sort()
            out[kind] = {"p50_ms": percentile(samples, 0.5) * 1e3, "p95_ms": percentile(samples, 0.95) * 1e3,
                         "max_ms": samples[-1] * 1e3, "mean_matches": sum(counts) / len(counts), "counts": counts}
            log(f"    {kind:24s} p50 {out[kind]['p50_ms']:8.2f} ms  p95 {out[kind]['p95_ms']:8.2f} ms  "
                f"({out[kind]['mean_matches']:.1f} matches on average)")
    finally:
        client.close()
    return out


def fill_orthanc(o, dirs, expected, timeout, logdir, tag):
    """Starts Orthanc, sends it `dirs` with storescu, checks it then holds `expected` instances in all,
    stops it; returns the sending time."""
    try:
        o.start()
        elapsed, failures = send(o, dirs, timeout=timeout, logdir=logdir, tag=tag)
        held = o.count()
    finally:
        o.stop()
    for f in failures:
        log(f"      {f}")
    if held != expected:
        raise RuntimeError(f"Orthanc holds {held} of {expected} instances after sending ({tag})")
    return elapsed


def fill_orthanc_cache(args, find_dir, n, cache_dir, runroot):
    """An Orthanc storage holding the find corpus, kept between runs (filling it is the slow part)."""
    marker = os.path.join(cache_dir, "complete.json")
    if os.path.exists(marker) and not args.refill_orthanc:
        with open(marker) as f:
            info = json.load(f)
        if info.get("instances") == n and info.get("generator") == corpus.GENERATOR_VERSION:
            log(f"  orthanc: reusing the index filled earlier in {cache_dir} "
                f"(filling took {info['seconds']:.0f} s, {info['rate']:.0f}/s)")
            return dict(info, cached=True)
    servers.rmtree(cache_dir)
    os.makedirs(cache_dir)
    wd = os.path.join(runroot, "orthanc-fill")
    o = servers.Orthanc(wd, storage=os.path.join(cache_dir, "storage"), extra_config=args.orthanc_config,
                        bench_ae=BENCH_AE, nodelay=True)
    log(f"  orthanc: filling with {n} instances, 4 parallel storescu associations (slow; cached afterwards)")
    elapsed = fill_orthanc(o, corpus.senders(find_dir, 4), n, timeout=max(3600, n / 10), logdir=wd, tag="fill")
    info = {"instances": n, "seconds": elapsed, "rate": n / elapsed, "generator": corpus.GENERATOR_VERSION,
            "method": "4 x storescu", "date": datetime.datetime.now().isoformat(timespec="seconds")}
    with open(marker, "w") as f:
        json.dump(info, f)
    log(f"  orthanc: filled in {elapsed:.1f} s ({n / elapsed:.0f}/s)")
    if not args.keep:
        servers.rmtree(wd)
    return info


def run_find(args, runroot):
    n = args.find_instances
    log(f"== C-FIND latency: study-level queries on an index of {n} instances ({FIND_LAYOUT.describe()})")
    find_dir = os.path.join(args.work, "corpus", f"find-{n}")
    manifest = corpus.generate(find_dir, "find", n, 16, FIND_LAYOUT, "21", progress=log)
    log(f"  {manifest['patients']} patients, {manifest['studies']} studies")
    queries = build_queries(n, args.find_warmup + args.find_queries)
    result = {"instances": n, "patients": manifest["patients"], "studies": manifest["studies"],
              "queries_per_type": args.find_queries, "client": args.find_client, "servers": {}}

    # Loupe: a fresh archive filled with `loupe import`.
    loupe_wd = os.path.join(runroot, "find-loupe")
    loupe = servers.Loupe(loupe_wd, args.loupe_bin)
    os.makedirs(loupe_wd, exist_ok=True)
    log(f"  loupe: importing {n} files with `loupe import`")
    seconds = servers.loupe_import(args.loupe_bin, loupe.data, [find_dir], os.path.join(loupe_wd, "import.log"))
    log(f"  loupe: imported in {seconds:.1f} s ({n / seconds:.0f}/s)")
    result["loupe_import_seconds"] = seconds
    try:
        loupe.start()
        studies, held = servers.count_via_find("127.0.0.1", loupe.port, loupe.ae)
        result["loupe_disk_bytes"] = servers.du_bytes(loupe.data)
        result["loupe_index_bytes"] = sum(os.path.getsize(os.path.join(loupe.data, f))
                                          for f in os.listdir(loupe.data) if f.startswith("index.sqlite"))
        log(f"  loupe: holds {held} instances in {studies} studies; {result['loupe_disk_bytes'] / 1e6:.0f} MB on "
            f"disk, of which index {result['loupe_index_bytes'] / 1e6:.0f} MB")
        if held != n or studies != manifest["studies"]:
            raise RuntimeError(f"Loupe holds {held}/{n} instances, {studies}/{manifest['studies']} studies")
        log(f"  loupe: measuring ({args.find_client} client, one association)")
        result["servers"]["loupe"] = measure_find(loupe.port, loupe.ae, queries, args)
    finally:
        loupe.stop()
        if not args.keep:
            servers.rmtree(loupe_wd)

    if args.orthanc_ok and "orthanc" in args.receivers:
        cache_dir = os.path.join(args.work, f"orthanc-find-{n}")
        result["orthanc_fill"] = fill_orthanc_cache(args, find_dir, n, cache_dir, runroot)
        wd = os.path.join(runroot, "find-orthanc")
        o = servers.Orthanc(wd, storage=os.path.join(cache_dir, "storage"), extra_config=args.orthanc_config,
                            bench_ae=BENCH_AE, nodelay=not args.keep_nagle)
        try:
            o.start()
            held = o.count()
            if held != n:
                raise RuntimeError(f"Orthanc holds {held}/{n} instances")
            result["orthanc_disk_bytes"] = servers.du_bytes(o.storage)
            result["orthanc_index_bytes"] = sum(os.path.getsize(os.path.join(o.storage, f))
                                                for f in os.listdir(o.storage) if f.startswith("index"))
            log(f"  orthanc: holds {held} instances; {result['orthanc_disk_bytes'] / 1e6:.0f} MB on disk, of "
                f"which index {result['orthanc_index_bytes'] / 1e6:.0f} MB")
            log(f"  orthanc: measuring ({args.find_client} client, one association)")
            result["servers"]["orthanc"] = measure_find(o.port, o.ae, queries, args)
        finally:
            o.stop()
            if not args.keep:
                servers.rmtree(wd)

    # Both servers must answer the same queries with the same number of matches.
    mismatches = {}
    if len(result["servers"]) == 2:
        a, b = result["servers"]["loupe"], result["servers"]["orthanc"]
        for kind in queries:
            diff = [i for i, (x, y) in enumerate(zip(a[kind]["counts"], b[kind]["counts"])) if x != y]
            if diff:
                i = diff[0]
                mismatches[kind] = (f"{len(diff)} of {len(a[kind]['counts'])} queries differ, e.g. #{i}: "
                                    f"loupe {a[kind]['counts'][i]}, orthanc {b[kind]['counts'][i]} matches")
    result["count_mismatches"] = mismatches
    for s in result["servers"].values():
        for v in s.values():
            v.pop("counts", None)
    return result


def print_find_table(result):
    log()
    log(f"C-FIND latency, study level, {result['instances']} instances / {result['studies']} studies / "
        f"{result['patients']} patients, {result['queries_per_type']} queries per type, one association, "
        f"{result['client']} client (ms, lower is better)")
    s = result["servers"]
    head = (f"{'query':24s} {'matches':>7s} {'loupe p50':>10s} {'loupe p95':>10s} {'orthanc p50':>12s} "
            f"{'orthanc p95':>12s} {'speed-up p50':>13s} {'p50<=5ms':>9s}")
    log(head)
    log("-" * len(head))
    rows = []
    for kind in s["loupe"]:
        lo = s["loupe"][kind]
        ot = s.get("orthanc", {}).get(kind)
        speedup = ratio(ot["p50_ms"], lo["p50_ms"]) if ot else None
        is_query = kind != "C-ECHO (floor)"
        o50 = f"{ot['p50_ms']:.2f}" if ot else "-"
        o95 = f"{ot['p95_ms']:.2f}" if ot else "-"
        up = fmt_ratio(speedup) + (" " + verdict(speedup, 5.0) if is_query else "")
        target = verdict(lo["p50_ms"], 5.0, higher_is_better=False) if is_query else ""
        log(f"{kind:24s} {lo['mean_matches']:7.1f} {lo['p50_ms']:10.2f} {lo['p95_ms']:10.2f} "
            f"{o50:>12s} {o95:>12s} {up:>13s} {target:>9s}")
        rows.append({"query": kind, "loupe": lo, "orthanc": ot, "speedup_p50": speedup})
    log("targets: loupe p50 <= 5 ms and >= 5x faster than orthanc (p50)")
    if "loupe_import_seconds" in result:
        log(f"index fill: loupe import {result['loupe_import_seconds']:.1f} s; "
            + (f"orthanc 4 x storescu {result['orthanc_fill']['seconds']:.1f} s"
               + (" (in an earlier run; the index is cached)" if result['orthanc_fill'].get('cached') else "")
               if result.get("orthanc_fill") else "orthanc not measured"))
    for kind, text in result.get("count_mismatches", {}).items():
        log(f"WARNING match counts differ for {kind}: {text}")
    return rows


# ---- main -------------------------------------------------------------------------------------

def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=int, default=2000, help="instances in the 64x64 CT corpus (0 to skip)")
    ap.add_argument("--large", type=int, default=300, help="instances in the 512x512 CT corpus (0 to skip)")
    ap.add_argument("--associations", default="1,4,16", help="parallel associations to measure (each divides 16)")
    ap.add_argument("--repeat", type=int, default=2, help="ingest runs per cell; the fastest is kept")
    ap.add_argument("--receivers", default="storescp,orthanc,loupe,loupe-paused",
                    help="subset of storescp,orthanc,loupe,loupe-paused (derivations paused: --derivation-workers 0)")
    ap.add_argument("--find-instances", type=int, default=100000, help="instances in the C-FIND index (0 to skip)")
    ap.add_argument("--find-queries", type=int, default=200, help="measured queries per query type")
    ap.add_argument("--find-warmup", type=int, default=20, help="unmeasured queries per type first")
    ap.add_argument("--find-client", choices=["raw", "pynetdicom"], default="raw",
                    help="C-FIND client: the blocking socket client here (default) or pynetdicom (adds its "
                         "own polling latency; for cross-checking)")
    ap.add_argument("--skip-ingest", action="store_true")
    ap.add_argument("--skip-find", action="store_true")
    ap.add_argument("--refill-orthanc", action="store_true", help="rebuild the cached Orthanc C-FIND index")
    ap.add_argument("--orthanc-set", action="append", default=[], metavar="KEY=JSON",
                    help='override an Orthanc configuration key, e.g. StorageAccessOnFind=\'"Never"\'')
    ap.add_argument("--keep-nagle", action="store_true",
                    help="do not set TCP_NODELAY=1 for storescp and Orthanc (Debian's DCMTK as installed: "
                         "~40 ms delayed-ACK stalls per message)")
    ap.add_argument("--work", default=os.path.join(REPO, "bench", ".work"), help="cache and scratch directory")
    ap.add_argument("--keep", action="store_true", help="keep the receivers' directories and logs")
    ap.add_argument("--json", help="also write the results here (default: WORK/results/<date>.json)")
    args = ap.parse_args()
    args.associations = [int(x) for x in args.associations.split(",") if x]
    args.receivers = [x for x in args.receivers.split(",") if x]
    unknown = set(args.receivers) - {"storescp", "orthanc", "loupe", "loupe-paused"}
    if unknown:
        ap.error(f"unknown receivers: {', '.join(sorted(unknown))}")
    resolve_common_args(args)
    return args


def resolve_common_args(args):
    """--orthanc-set KEY=JSON items into a configuration dict; the Loupe binary and work directory as absolute paths."""
    args.orthanc_config = {}
    for item in args.orthanc_set:
        key, _, value = item.partition("=")
        args.orthanc_config[key] = json.loads(value)
    args.loupe_bin = os.path.abspath(os.environ.get("LOUPE_BIN") or os.path.join(REPO, ".build", "release", "loupe"))
    args.work = os.path.abspath(args.work)


def check_tools(args):
    if not os.access(args.loupe_bin, os.X_OK):
        raise SystemExit(f"Loupe binary not found: {args.loupe_bin}\n"
                         "Build it (swift build -c release --product loupe, or make bench) or set LOUPE_BIN.")
    for tool in (servers.STORESCU, servers.STORESCP):
        if not os.access(tool, os.X_OK):
            raise SystemExit(f"{tool} not found: apt-get install dcmtk")
    args.orthanc_ok = "orthanc" in args.receivers
    if args.orthanc_ok:
        try:
            import requests  # noqa: F401
        except ImportError:
            log("NOTE: python3-requests is missing: Orthanc is skipped (pip install requests)")
            args.orthanc_ok = False
        if not os.access(servers.ORTHANC, os.X_OK):
            log("NOTE: /usr/sbin/Orthanc is missing: Orthanc is skipped (apt-get install orthanc)")
            args.orthanc_ok = False
    if args.find_client == "pynetdicom":
        try:
            import pynetdicom  # noqa: F401
        except ImportError:
            raise SystemExit("--find-client pynetdicom needs pynetdicom (pip install pynetdicom)")


def main():
    args = parse_args()
    check_tools(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.makedirs(args.work, exist_ok=True)
    runroot = os.path.join(args.work, "tmp", f"run-{os.getpid()}")
    os.makedirs(runroot, exist_ok=True)
    env = environment(args.loupe_bin, args.work)
    log("Loupe benchmark")
    for k, v in env.items():
        log(f"  {k:17s} {v}")
    log("  receivers        storescp: default single process (no --fork: one association at a time), "
        "not bit-preserving, no fsync")
    log("                   TCP_NODELAY=1 for storescu" + ("" if args.keep_nagle else ", storescp and Orthanc")
        + " (Debian's DCMTK leaves Nagle on; Loupe sets it itself)")
    log("                   orthanc: default configuration (SQLite index, SyncStorageArea on, "
        "StorageAccessOnFind Always, DicomThreadsCount 4, MaximumPduLength 16384)"
        + (f", overrides {args.orthanc_config}" if args.orthanc_config else ""))
    log("                   loupe: serve, derivations at their defaults (loupe-paused: --derivation-workers 0); each instance "
        "durable before its C-STORE response (small files by the index commit that carries their bytes)")
    log("  sender           /usr/bin/storescu -R +sd +r -ta 600 -td 600 (one process per association), "
        "corpus in page cache")
    results = {"environment": env, "arguments": {k: v for k, v in vars(args).items()}}
    t_start = time.perf_counter()
    failed = []
    try:
        for section, wanted, run in (("ingest", not args.skip_ingest and (args.small or args.large), run_ingest),
                                     ("find", not args.skip_find and args.find_instances > 0, run_find)):
            if not wanted:
                continue
            try:
                results[section] = run(args, runroot)
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # noqa: BLE001 - report, clean up, go on with the other section
                import traceback
                log(f"ERROR in the {section} section: {exc}")
                log(traceback.format_exc())
                failed.append(section)
                servers.cleanup()
    finally:
        servers.cleanup()
        if not args.keep:
            servers.rmtree(runroot)

    log()
    log("=" * 100)
    if "ingest" in results:
        results["ingest_summary"] = print_ingest_table(results["ingest"])
    if "find" in results:
        log()
        results["find_summary"] = print_find_table(results["find"])
    log()
    log(f"nproc {env['nproc']}, {env['cpu']}, load average at start {env['loadavg_at_start']}, "
        f"now {' '.join(f'{x:.2f}' for x in os.getloadavg())}; total {time.perf_counter() - t_start:.0f} s")
    out = args.json or os.path.join(args.work, "results",
                                    datetime.datetime.now().strftime("%Y%m%d-%H%M%S") + ".json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(results, f, indent=2, default=str)
    log(f"results written to {out}")
    if failed:
        log(f"FAILED sections: {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
