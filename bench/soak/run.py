#!/usr/bin/env python3
"""Load and soak: associations storing while HTTP clients read (QIDO-RS, metadata, frames, rendered,
similar, an SSE event stream), for a set time on a preloaded archive. Reports errors, p50/p99 per
route, and the node's RSS, open file descriptors, threads and derivation lag sampled every 5 s.

The preload stores as fast as the associations go, with derivations running; on a small machine
ingest outpaces derivation (PNG, embedding, finding per instance), so the run then waits until the
derivations caught up and reports both rates. During the soak the associations store at --store-rate
in all, a rate derivation can follow, so that its lag must stay bounded.

Passes with zero errors (a 503 counts: nothing here should shed load), RSS flat after warm-up
(the last sample within 15 % of the one at the end of warm-up), no growth of descriptors or threads
beyond the connections in use, and derivation lag bounded (below --max-lag).

    python3 bench/soak/run.py                       # the issue's run: 16 × 64, 30 minutes, 100k instances
    python3 bench/soak/run.py --minutes 2 --preload 2000 --stores 4 --clients 8   # a short one
    python3 bench/soak/run.py --from-data bench/.work/soak-100k/data               # from a stopped node's copy
"""

import argparse
import os
import random
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO / "conformance"))
sys.path.insert(0, str(REPO / "bench" / "ingest"))

import dimse  # noqa: E402
from instance_support import instance  # noqa: E402
from loupe_corpus import CT_IMAGE_STORAGE  # noqa: E402
from loupe_support import HOST, LoupeNode, http_session  # noqa: E402


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies = defaultdict(list)
        self.errors = defaultdict(list)

    def clear(self):
        with self.lock:
            self.latencies.clear()
            self.errors.clear()

    def record(self, route: str, seconds: float, error: str | None = None):
        with self.lock:
            if error:
                self.errors[route].append(error)
            else:
                self.latencies[route].append(seconds)


def store_loop(node, stop: threading.Event, recorder: Recorder, known: list, seed: int, interval: float = 0):
    """Stores until stopped; with an interval, one instance every `interval` seconds at most."""
    rng = random.Random(seed)
    study = f"1.2.826.0.1.3680043.8.498.8080.{seed}"
    due = time.monotonic()
    while not stop.is_set():
        try:
            with dimse.Association(HOST, int(node.port), node.ae, "SOAKSCU", abstract_syntaxes=(CT_IMAGE_STORAGE,),
                                   transfer_syntaxes=(dimse.EXPLICIT_LE,)) as association:
                for _ in range(200):
                    if stop.is_set():
                        break
                    due += interval
                    if (wait := due - time.monotonic()) > 0:
                        stop.wait(wait)
                    ds, data = instance(study, rng)
                    started = time.monotonic()
                    status = association.store(CT_IMAGE_STORAGE, ds.SOPInstanceUID, data)
                    recorder.record("C-STORE", time.monotonic() - started, None if status == 0 else f"0x{status:04X}")
                    if status == 0:
                        known.append((ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID))
        except (OSError, dimse.DIMSEError) as error:
            recorder.record("C-STORE", 0, f"{type(error).__name__}: {error}")


def read_loop(node, stop: threading.Event, recorder: Recorder, known: list, seed: int):
    rng, http = random.Random(seed), http_session()
    base = node.base_url
    while not stop.is_set():
        study, series, sop = rng.choice(known)
        instance_url = f"{base}/studies/{study}/series/{series}/instances/{sop}"
        route, url, headers = rng.choice([
            ("QIDO studies", f"{base}/studies?PatientID=UIDS-1&limit=20", {"Accept": "application/dicom+json"}),
            ("QIDO instances", f"{base}/studies/{study}/instances?limit=50", {"Accept": "application/dicom+json"}),
            ("metadata", f"{instance_url}/metadata", {"Accept": "application/dicom+json"}),
            ("frames", f"{instance_url}/frames/1", {"Accept": 'multipart/related; type="application/octet-stream"'}),
            ("rendered", f"{instance_url}/rendered", {"Accept": "image/png"}),
            ("similar", f"{node.http_url}/api/similar?instance={sop}&k=10", {}),
        ])
        started = time.monotonic()
        try:
            response = http.get(url, headers=headers, timeout=60)
            # Rendered and similar need the instance's derivations; until they ran, 404/409 is the answer.
            fine = response.status_code == 200 or (route in ("rendered", "similar") and response.status_code in (404, 409))
            recorder.record(route, time.monotonic() - started, None if fine else f"{response.status_code} {response.text[:120]}")
        except Exception as error:  # noqa: BLE001 - every failure is recorded
            recorder.record(route, 0, f"{type(error).__name__}: {error}")


def events_loop(node, stop: threading.Event, recorder: Recorder):
    """One SSE subscriber that stays connected the whole run (a flush-watch screen); the node sends a
    heartbeat every 5 s, so a read waiting 15 s means the stream stalled."""
    http = http_session()
    while not stop.is_set():
        started = time.monotonic()
        try:
            with http.get(f"{node.http_url}/api/events", stream=True, timeout=(10, 15)) as response:
                if response.status_code != 200:
                    recorder.record("events", 0, f"{response.status_code}")
                    time.sleep(1)
                    continue
                for _ in response.iter_lines():
                    if stop.is_set():
                        break
            recorder.record("events", time.monotonic() - started)
        except requests.RequestException as error:
            recorder.record("events", 0, f"{type(error).__name__}: {error}")
            time.sleep(1)


def sample(node, lags: list) -> dict:
    pid = node.proc.pid
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) >> 10
    threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    lag = max([float(v) for v in re.findall(r'^loupe_derivation_lag_seconds\{[^}]*\} (\S+)', metrics(node), re.M)] or [0.0])
    lags.append(lag)
    return {"t": time.monotonic(), "rss_mb": rss, "threads": threads, "fds": fds, "lag_s": lag}


def percentile(values, q):
    return statistics.quantiles(values, n=100)[q - 1] if len(values) >= 2 else (values[0] if values else float("nan"))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=0.2, help="fraction of the run before RSS is compared")
    parser.add_argument("--preload", type=int, default=100_000)
    parser.add_argument("--stores", type=int, default=16)
    parser.add_argument("--clients", type=int, default=64)
    # 5/s is 18,000 instances an hour, about twice a large hospital's average; derivations run at nice 10
    # and get little CPU while 64 clients keep both cores busy.
    parser.add_argument("--store-rate", type=float, default=5,
                        help="instances a second over all storing associations during the soak (0: as fast as they go)")
    parser.add_argument("--drain-minutes", type=float, default=60, help="longest wait for the preload's derivations")
    parser.add_argument("--max-lag", type=float, default=120, help="seconds; derivation lag must stay below it")
    parser.add_argument("--from-data", type=Path,
                        help="start from a copy of this data directory (a node's --data, stopped) instead of preloading")
    parser.add_argument("--loupe-bin", default=os.environ.get("LOUPE_BIN", str(REPO / ".build" / "release" / "loupe")))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="loupe-soak-") as work:
        config = Path(work) / "loupe.yaml"
        config.write_text(f"dimse:\n  max_associations: {args.stores + 4}\nhttp:\n  max_connections: {args.clients * 2 + 16}\n")
        known = []
        if args.from_data:
            data = Path(work) / "node" / "data"
            shutil.copytree(args.from_data, data)
            with sqlite3.connect(f"file:{data / 'index.sqlite'}?mode=ro", uri=True) as index:
                known = index.execute("""
                    SELECT st.StudyInstanceUID, se.SeriesInstanceUID, i.SOPInstanceUID FROM instance i
                    JOIN series se ON se.id = i.series_pk JOIN study st ON st.id = se.study_pk""").fetchall()
        node = LoupeNode(args.loupe_bin, Path(work) / "node", config=config)
        if known:  # the copy has the token of the run that made it; this run gets its own
            node.token = node.create_token(f"soak-{os.getpid()}-{time.time_ns()}", "admin")
        node.start()
        try:
            report = soak(node, args, known)
        finally:
            node.stop()
    print(report)


def metrics(node) -> str:
    response = http_session().get(f"{node.http_url}/metrics", timeout=30)
    response.raise_for_status()
    assert "loupe_derivation_jobs" in response.text, "no derivation metrics"
    return response.text


def pending_jobs(node) -> int:
    found = re.findall(r'^loupe_derivation_jobs\{[^}]*state="(?:pending|running)"[^}]*\} (\S+)', metrics(node), re.M)
    return int(sum(float(v) for v in found))


def soak(node, args, known: list) -> str:
    """`known`: the instances of the archive the node started with (none, or a copy's)."""
    recorder, stop = Recorder(), threading.Event()
    # Preload as fast as the associations go, derivations running alongside as a user runs them.
    preload_started, copied = time.monotonic(), len(known)
    threads = [threading.Thread(target=store_loop, args=(node, stop, recorder, known, 1000 + n))
               for n in range(args.stores if copied < args.preload else 0)]
    for thread in threads:
        thread.start()
    while len(known) < args.preload:
        assert node.running, node.log_tail()
        assert not recorder.errors, f"stores failed while preloading: {dict(recorder.errors)}"
        time.sleep(1)
    stop.set()
    for thread in threads:
        thread.join(120)
    preload_seconds, preloaded = time.monotonic() - preload_started, len(known) - copied
    # Derivations cannot keep up with unpaced ingest on a small machine; the soak starts once they caught up.
    drain_started, backlog = time.monotonic(), pending_jobs(node)
    while (left := pending_jobs(node)) > 0:
        assert node.running, node.log_tail()
        assert time.monotonic() - drain_started < args.drain_minutes * 60, f"{left} derivation jobs left after {args.drain_minutes} min"
        time.sleep(5)
    drain_seconds = time.monotonic() - drain_started

    recorder.clear()
    stop = threading.Event()
    interval = args.stores / args.store_rate if args.store_rate > 0 else 0
    threads = [threading.Thread(target=store_loop, args=(node, stop, recorder, known, 2000 + n, interval)) for n in range(args.stores)]
    threads += [threading.Thread(target=read_loop, args=(node, stop, recorder, known, n)) for n in range(args.clients)]
    threads.append(threading.Thread(target=events_loop, args=(node, stop, recorder)))
    for thread in threads:
        thread.start()
    samples, lags = [], []
    soak_started = time.monotonic()
    deadline = soak_started + args.minutes * 60
    while time.monotonic() < deadline:
        samples.append(sample(node, lags))
        time.sleep(5)
    samples.append(sample(node, lags))
    stop.set()
    soak_seconds = time.monotonic() - soak_started
    for thread in threads:
        thread.join(120)
    assert node.running, node.log_tail()

    warm = samples[max(0, int(len(samples) * args.warmup) - 1)]
    last = samples[-1]
    stored = len(recorder.latencies["C-STORE"])
    rate = f"{args.store_rate:g}/s" if args.store_rate > 0 else "unpaced"
    lines = [f"started from {copied} instances copied; " * bool(copied) +
             f"preloaded {preloaded} instances in {preload_seconds:.0f} s ({preloaded / max(preload_seconds, 1):.0f}/s over {args.stores} "
             f"associations, derivations running); the {backlog} derivation jobs then pending were done in {drain_seconds:.0f} s "
             f"({backlog / max(drain_seconds, 1):.0f}/s)",
             f"then {args.minutes:g} min with {args.stores} storing associations ({rate}: {stored / soak_seconds:.1f}/s stored) and "
             f"{args.clients} HTTP clients; {len(known)} instances at the end", "",
             "| route | requests | errors | p50 ms | p99 ms |", "| --- | --- | --- | --- | --- |"]
    for route in sorted(set(recorder.latencies) | set(recorder.errors)):
        values = recorder.latencies[route]
        lines.append(f"| {route} | {len(values)} | {len(recorder.errors[route])} | {percentile(values, 50) * 1000:.1f} | "
                     f"{percentile(values, 99) * 1000:.1f} |")
    lines += ["", f"RSS after warm-up {warm['rss_mb']} MB, at the end {last['rss_mb']} MB (max {max(s['rss_mb'] for s in samples)} MB); "
              f"threads {warm['threads']} → {last['threads']} (max {max(s['threads'] for s in samples)}); "
              f"descriptors {warm['fds']} → {last['fds']} (max {max(s['fds'] for s in samples)}); "
              f"derivation lag max {max(lags):.1f} s, at the end {lags[-1]:.1f} s"]
    report = "\n".join(lines)
    errors = {route: found[:3] for route, found in recorder.errors.items() if found}
    assert not errors, f"{report}\n\nerrors: {errors}"
    assert last["rss_mb"] <= warm["rss_mb"] * 1.15, f"{report}\n\nRSS grew after warm-up"
    assert last["threads"] <= warm["threads"] + 8 and last["fds"] <= warm["fds"] + args.clients + args.stores, \
        f"{report}\n\nthreads or descriptors grew"
    assert max(lags) < args.max_lag, f"{report}\n\nderivation lag unbounded"
    return report


if __name__ == "__main__":
    main()
