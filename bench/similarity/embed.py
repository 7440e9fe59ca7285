#!/usr/bin/env python3
"""Loupe embedding benchmark: EfficientNet-Lite0 embeddings per second, against the project's numpy
reference forward pass (scripts/model/efficientnet.py) on the same images in the same run.

    python3 bench/similarity/embed.py                 # 300 CT 512x512
    python3 bench/similarity/embed.py --count 60      # quick check
    LOUPE_BIN=/path/to/loupe python3 bench/similarity/embed.py

Loupe: the corpus is imported and derived (not timed), then `loupe reprocess --all --processor embedding`
is timed with 1 worker and with one per core: read, DCMTK render of frame 1 with the file's window straight to
224x224, forward pass (Swift, OpenBLAS with one thread per worker), index write. The per-image figure
includes all of that plus the process start and model load.

numpy: the same files rendered by `dcmj2pnm +on -il +Wi 1 +Sxv 224` beforehand (not timed); timed is the
forward pass alone (scripts/model/efficientnet.features), one image at a time, OPENBLAS_NUM_THREADS=1,
in 1 process and in one per core. So the ratio favours numpy.

Agreement: the vectors Loupe stored (float16) against numpy's for the first files: cosine.
See bench/README.md ("Embedding").
"""

import argparse
import concurrent.futures
import importlib.util
import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import time

sys.dont_write_bytecode = True

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
REPO = os.path.dirname(BENCH)
MODEL = os.path.join(REPO, "models", "efficientnet-lite0.weights")

_spec = importlib.util.spec_from_file_location("render_run", os.path.join(BENCH, "render", "run.py"))
render_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(render_run)
log = render_run.log


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=300, help="CT 512x512 files")
    p.add_argument("--workers", type=int, default=os.cpu_count(), help="the pool size (default: cores)")
    p.add_argument("--repeat", type=int, default=2, help="Loupe runs per cell; the fastest is kept")
    p.add_argument("--work", default=os.path.join(BENCH, ".work"))
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    args.orthanc_set = []
    render_run.ingest_run.resolve_common_args(args)
    if not os.access(args.loupe_bin, os.X_OK):
        raise SystemExit(f"{args.loupe_bin} not found (make build, or set LOUPE_BIN)")
    if not os.path.exists(MODEL):
        raise SystemExit(f"{MODEL} not found (make model)")
    return args


def rendered_224(files, scratch):
    out = os.path.join(scratch, "dcmj2pnm-224")
    os.makedirs(out, exist_ok=True)
    paths = []
    for i, path in enumerate(files):
        target = os.path.join(out, f"{i:08d}.png")
        if not os.path.exists(target):
            r = subprocess.run([render_run.DCMJ2PNM, "+on", "-il", "+Wi", "1", "+Sxv", "224", path, target], capture_output=True)
            if r.returncode != 0:
                raise SystemExit(f"dcmj2pnm {path}: {r.stderr!r}")
        paths.append(target)
    return paths


def numpy_worker(pngs):
    """Runs in a process with OPENBLAS_NUM_THREADS=1: (per-image seconds, vectors)."""
    sys.path.insert(0, os.path.join(REPO, "scripts", "model"))
    import numpy as np
    from PIL import Image
    import efficientnet
    tensors = efficientnet.read(MODEL)
    times, vectors = [], []
    for png in pngs:
        image = efficientnet.fit(np.asarray(Image.open(png).convert("RGB")))
        t0 = time.perf_counter()
        features, _ = efficientnet.features(image, tensors)
        times.append(time.perf_counter() - t0)
        vectors.append(features / np.linalg.norm(features))
    return times, vectors


def numpy_reference(pngs, workers):
    os.environ["OPENBLAS_NUM_THREADS"] = "1"   # inherited by the pool's processes
    chunks = [pngs[i::workers] for i in range(workers)]
    t0 = time.perf_counter()
    # Spawned, not forked: a fork inherits the parent's OpenBLAS threads (numpy made the corpus).
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(numpy_worker, chunks))
    elapsed = time.perf_counter() - t0
    times = [t for r in results for t in r[0]]
    vectors = {}
    for chunk, (_t, vs) in zip(chunks, results):
        vectors.update(zip(chunk, vs))
    return elapsed, times, [vectors[p] for p in pngs]


def stored_vectors(data, files):
    import numpy as np
    import pydicom
    db = sqlite3.connect(f"file:{os.path.join(data, 'index.sqlite')}?mode=ro", uri=True)
    out = []
    for path in files:
        uid = str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
        [(blob,)] = db.execute("SELECT e.vector FROM embedding e JOIN instance i ON i.id = e.instance_pk "
                               "WHERE i.SOPInstanceUID = ?", (uid,)).fetchall()
        out.append(np.frombuffer(blob, dtype="<f2").astype(np.float32))
    return out


def main():
    args = parse_args()
    scratch = os.path.join(args.work, "similarity", "embed")
    os.makedirs(scratch, exist_ok=True)
    directory = render_run.ct_corpus(args, args.count)
    files = render_run.files_under(directory)
    pngs = rendered_224(files, scratch)
    log(f"== Embeddings: {len(files)} x CT 512x512")
    rows = []
    for workers in sorted({1, args.workers}):
        loupe_s, data = min(render_run.loupe_pipeline(args, directory, workers, scratch, "embedding", ["--model", MODEL])
                            for _ in range(args.repeat))
        numpy_s, numpy_times, numpy_vectors = numpy_reference(pngs, workers)
        row = {"workers": workers, "loupe_per_s": len(files) / loupe_s, "numpy_per_s": len(files) / numpy_s,
               "loupe_ms_per_image": 1000 * loupe_s * workers / len(files),
               "numpy_forward_ms_p50": 1000 * render_run.percentile(numpy_times, 0.5),
               "ratio": numpy_s / loupe_s}
        rows.append(row)
        log(f"  {workers} worker(s): Loupe {row['loupe_per_s']:6.1f}/s ({row['loupe_ms_per_image']:.1f} ms per image per worker, "
            f"render + embed + store), numpy {row['numpy_per_s']:6.1f}/s (forward p50 {row['numpy_forward_ms_p50']:.1f} ms) "
            f"-> {row['ratio']:.2f}x")
    import numpy as np
    sample = min(20, len(files))
    cosines = [float(a @ b) for a, b in zip(stored_vectors(data, files[:sample]), numpy_vectors[:sample])]
    log(f"  Loupe's stored vectors vs numpy's (first {sample}): cosine min {min(cosines):.5f}, median {np.median(cosines):.5f}")
    results = {"files": len(files), "rows": rows, "cosine_min": min(cosines), "cosine_median": float(np.median(cosines))}
    print("\n| | Loupe (render + embed + store) | numpy reference (forward pass only) | ratio |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['workers']} worker(s) / process(es) | {row['loupe_per_s']:.1f}/s, {row['loupe_ms_per_image']:.1f} ms per image "
              f"| {row['numpy_per_s']:.1f}/s, forward p50 {row['numpy_forward_ms_p50']:.1f} ms | {row['ratio']:.2f}x |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
