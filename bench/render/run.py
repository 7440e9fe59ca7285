#!/usr/bin/env python3
"""Loupe render benchmark: derived PNGs per second, and pipeline lag while ingesting.

    python3 bench/render/run.py                          # 1000 CT 512x512 for throughput, 2000 for lag
    python3 bench/render/run.py --count 100 --ingest 200 # quick check (~1 min)
    LOUPE_BIN=/path/to/loupe python3 bench/render/run.py

1. Throughput, same files, same parallelism: Loupe's derivation pipeline in one process
   (`loupe reprocess --all`: read, decode, VOI, PNG encode, fsync, index bookkeeping) against
   `dcmj2pnm +on -il +Wi 1`, one process per file (the way a script would use DCMTK), W at a time.
2. Lag: a fresh `loupe serve` receives the corpus over 4 storescu associations at full speed; each
   instance's lag is from its index row (received_at) to its PNG job done (updated_at), both recorded
   by Loupe in milliseconds. The ingest rate is compared, on the same files, with storescp's and with
   Loupe's own when derivations are paused (`--derivation-workers 0`): what the pipeline costs ingest.

See bench/README.md ("Render") for details.
"""

import argparse
import concurrent.futures
import datetime
import importlib.util
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time

sys.dont_write_bytecode = True

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
REPO = os.path.dirname(BENCH)
INGEST = os.path.join(BENCH, "ingest")
sys.path.insert(0, INGEST)

import corpus  # noqa: E402  bench/ingest/corpus.py
import servers  # noqa: E402  bench/ingest/servers.py

_spec = importlib.util.spec_from_file_location("ingest_run", os.path.join(INGEST, "run.py"))
ingest_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ingest_run)
log = ingest_run.log

DCMJ2PNM = "/usr/bin/dcmj2pnm"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=1000, help="CT 512x512 files rendered for throughput")
    p.add_argument("--ingest", type=int, default=2000, help="CT 512x512 files sent for the lag measurement")
    p.add_argument("--workers", type=int, default=os.cpu_count(), help="parallelism of both renderers (default: cores)")
    p.add_argument("--repeat", type=int, default=2, help="throughput runs per cell; the fastest is kept")
    p.add_argument("--work", default=os.path.join(BENCH, ".work"))
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    args.orthanc_set = []
    ingest_run.resolve_common_args(args)
    for tool in (args.loupe_bin, DCMJ2PNM, servers.STORESCU, servers.STORESCP):
        if not os.access(tool, os.X_OK):
            raise SystemExit(f"{tool} not found (build Loupe with `make build`, apt-get install dcmtk)")
    return args


def ct_corpus(args, count):
    """The ingest bench's CT 512x512 corpus (shared cache): window 40/400, rescale -1024."""
    directory = os.path.join(args.work, "corpus", f"ingest-large-{count}")
    corpus.generate(directory, "large", count, 512, corpus.Layout(50, 2, 1), "12", progress=log)
    corpus.read_all(directory)
    return directory


def files_under(directory):
    return sorted(os.path.join(root, name) for root, _d, names in os.walk(directory) for name in names)


def loupe_pipeline(args, directory, workers, scratch, processor="png", extra=()):
    """Imports the files and derives everything (not timed: the workers drain every processor's
    jobs), then times `loupe reprocess --all --processor P`: that processor's derivations alone."""
    data = os.path.join(scratch, f"loupe-{workers}")
    shutil.rmtree(data, ignore_errors=True)
    imported = subprocess.run([args.loupe_bin, "import", "--data", data, directory], capture_output=True, text=True)
    if imported.returncode != 0:
        raise SystemExit(f"loupe import failed: {imported.stdout}{imported.stderr}")
    reprocess = [args.loupe_bin, "reprocess", "--data", data, "--all", "--derivation-workers", str(workers), *extra]
    for timed in (False, True):
        t0 = time.perf_counter()
        run = subprocess.run([*reprocess, *(["--processor", processor] if timed else [])], capture_output=True, text=True)
        elapsed = time.perf_counter() - t0
        if run.returncode != 0 or "failed 0" not in run.stdout:
            raise SystemExit(f"loupe reprocess failed: {run.stdout}{run.stderr}")
    return elapsed, data


def dcmtk_per_file(files, workers, scratch):
    out = os.path.join(scratch, f"dcmj2pnm-{workers}")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)

    def render(indexed):
        i, path = indexed
        r = subprocess.run([DCMJ2PNM, "+on", "-il", "+Wi", "1", path, os.path.join(out, f"{i:08d}.png")],
                           capture_output=True)
        if r.returncode != 0:
            raise RuntimeError(f"dcmj2pnm {path}: {r.stdout!r} {r.stderr!r}")

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(render, enumerate(files)))
    return time.perf_counter() - t0, out


def same_pixels(loupe_data, dcmtk_out, files, sample=5):
    """Loupe's derived PNGs of the first files equal dcmj2pnm's, pixel for pixel."""
    import numpy as np
    import pydicom
    from PIL import Image
    db = sqlite3.connect(f"file:{os.path.join(loupe_data, 'index.sqlite')}?mode=ro", uri=True)
    for i, path in enumerate(files[:sample]):
        uid = str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
        [(relative,)] = db.execute("SELECT d.path FROM derived_file d JOIN instance i ON i.id = d.instance_pk "
                                   "WHERE i.SOPInstanceUID = ?", (uid,)).fetchall()
        ours = np.asarray(Image.open(os.path.join(loupe_data, "derived", relative)))
        theirs = np.asarray(Image.open(os.path.join(dcmtk_out, f"{i:08d}.png")))
        if not np.array_equal(ours, theirs):
            return False
    return True


def throughput(args, scratch):
    log(f"== Throughput: {args.count} x CT 512x512 to PNG")
    directory = ct_corpus(args, args.count)
    files = files_under(directory)
    rows = []
    for workers in sorted({1, args.workers}):
        loupe = min(loupe_pipeline(args, directory, workers, scratch)[0] for _ in range(args.repeat))
        dcmtk = min(dcmtk_per_file(files, workers, scratch)[0] for _ in range(args.repeat))
        rows.append({"workers": workers, "loupe_png_per_s": len(files) / loupe, "dcmj2pnm_png_per_s": len(files) / dcmtk,
                     "ratio": dcmtk / loupe})
        log(f"  {workers} worker(s): Loupe {len(files) / loupe:7.1f} PNG/s, dcmj2pnm {len(files) / dcmtk:7.1f} PNG/s "
            f"-> {dcmtk / loupe:.2f}x")
    identical = same_pixels(os.path.join(scratch, f"loupe-{args.workers}"), os.path.join(scratch, f"dcmj2pnm-{args.workers}"), files)
    log(f"  pixels identical to dcmj2pnm (first 5 files): {identical}")
    return {"files": len(files), "rows": rows, "identical_pixels": identical}


def percentile(values, q):
    return ingest_run.percentile(sorted(values), q)


def lag(args, scratch):
    log(f"== Pipeline lag: {args.ingest} x CT 512x512 over 4 associations at full speed")
    directory = ct_corpus(args, args.ingest)
    dirs = corpus.senders(directory, 4)
    logdir = os.path.join(scratch, "logs")
    os.makedirs(logdir, exist_ok=True)

    scp = servers.StoreSCP(os.path.join(scratch, "storescp"))
    scp.start()
    try:
        scp_seconds, failures = ingest_run.send(scp, dirs, 3600, logdir, "storescp")
    finally:
        scp.stop()
    if failures:
        raise SystemExit(f"storescp run failed: {failures}")

    paused = servers.Loupe(os.path.join(scratch, "paused"), args.loupe_bin, extra_args=["--derivation-workers", "0"])
    paused.start()
    try:
        paused_seconds, failures = ingest_run.send(paused, dirs, 3600, logdir, "paused")
    finally:
        paused.stop()
    if failures:
        raise SystemExit(f"sending to Loupe (derivations paused) failed: {failures}")

    node = servers.Loupe(os.path.join(scratch, "lag"), args.loupe_bin)
    node.start()
    try:
        t0 = time.time()
        seconds, failures = ingest_run.send(node, dirs, 3600, logdir, "loupe")
        if failures:
            raise SystemExit(f"sending to Loupe failed: {failures}")
        acked = time.time()
        import requests
        auth = node.authorization()
        deadline = time.time() + 3600
        while True:
            counts = requests.get(f"http://127.0.0.1:{node.http_port}/api/stats", headers=auth, timeout=10).json()["derivations"]
            if counts["pending"] == 0 and counts["running"] == 0:
                break
            if time.time() > deadline:
                raise SystemExit(f"derivations not drained an hour after the last acknowledgement: {counts}")
            time.sleep(0.2)
        drained = time.time()
        db = sqlite3.connect(f"file:{os.path.join(node.data, 'index.sqlite')}?mode=ro", uri=True)
        lags = [row[0] for row in db.execute(
            "SELECT (julianday(j.updated_at) - julianday(i.received_at)) * 86400 FROM derivation_job j "
            "JOIN instance i ON i.id = j.instance_pk WHERE j.state = 'done' AND j.processor = 'png'")]
    finally:
        node.stop()
    if len(lags) != args.ingest:
        raise SystemExit(f"{len(lags)} PNGs for {args.ingest} instances")
    result = {"instances": args.ingest, "ingest_per_s": args.ingest / seconds, "storescp_per_s": args.ingest / scp_seconds,
              "ingest_vs_storescp": scp_seconds / seconds, "paused_per_s": args.ingest / paused_seconds,
              "ingest_vs_paused": paused_seconds / seconds, "drain_after_last_ack_s": drained - acked,
              "pipeline_png_per_s": args.ingest / (drained - t0),
              "lag_p50_s": percentile(lags, 0.5), "lag_p95_s": percentile(lags, 0.95), "lag_max_s": max(lags)}
    log(f"  ingest {result['ingest_per_s']:.1f}/s: {result['ingest_vs_paused']:.2f}x Loupe with derivations paused "
        f"({result['paused_per_s']:.1f}/s), {result['ingest_vs_storescp']:.2f}x storescp ({result['storescp_per_s']:.1f}/s)")
    log(f"  all PNGs {result['drain_after_last_ack_s']:.1f} s after the last ack "
        f"({result['pipeline_png_per_s']:.1f} PNG/s from first instance to last PNG)")
    log(f"  lag from index row to PNG: p50 {result['lag_p50_s']:.2f} s, p95 {result['lag_p95_s']:.2f} s, "
        f"max {result['lag_max_s']:.2f} s")
    return result


def main():
    args = parse_args()
    scratch = os.path.join(args.work, "tmp", f"render-{os.getpid()}")
    os.makedirs(scratch, exist_ok=True)
    env = ingest_run.environment(args.loupe_bin, args.work)
    env.pop("orthanc")
    for key, value in env.items():
        log(f"  {key:<17} {value}")
    try:
        results = {"environment": env, "throughput": throughput(args, scratch), "lag": lag(args, scratch)}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # processes: servers' atexit stops what it started
    log(f"load at end {os.getloadavg()[0]:.2f}")
    out = args.json or os.path.join(args.work, "results", f"render-{datetime.datetime.now():%Y%m%d-%H%M%S}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(results, f, indent=2)
    log(f"results: {out}")


if __name__ == "__main__":
    main()
