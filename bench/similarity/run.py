#!/usr/bin/env python3
"""Loupe similarity-index benchmark: Featurizer.VectorIndex against FAISS from Python and hnswlib.

    python3 bench/similarity/run.py                          # 100k base vectors, 1000 queries, 1280-d
    python3 bench/similarity/run.py --sizes 100000,1000000   # and 1M (HNSW engines only at 1M)
    python3 bench/similarity/run.py --quick                  # 20k base vectors, 200 queries (~1 min)
    python3 bench/similarity/run.py --quick --skip-loupe     # the Python engines only: no Swift build
    python3 bench/similarity/run.py --faiss-simd auto,NONE   # also FAISS with its SIMD kernels off

Data: synthetic clustered unit vectors of EfficientNet-Lite0's embedding size (1280): --centres random
unit centres, each point a random centre plus gaussian noise of norm ~--noise, L2-normalised; queries
are drawn the same way with other noise (none is in the base). Exact top-k by inner product (numpy,
float32, chunked) is the ground truth. Data and ground truth are cached under bench/.work/similarity/.

Engines, each in its own process (so each one's memory is gone before the next starts), all given the
base vectors in batches of 10,000 under ids 0..n-1 (the add calls timed together: build s), then the
queries one at a time on one thread, each timed alone (p50/p99/mean ms):
  loupe-hnsw   IndexBench (bench/similarity/IndexBench): Loupe's VectorIndex with --hnsw-threshold 1,
               i.e. an IndexIDMap over IndexHNSWFlat (inner product) of Debian's libfaiss, through the shim
  loupe-flat   the same with the threshold above n: exact search (IndexFlatIP); sizes <= --exact-max
  faiss-hnsw   faiss.IndexHNSWFlat(d, M, METRIC_INNER_PRODUCT) from Python (pip faiss-cpu)
  faiss-flat   faiss.IndexFlatIP from Python; sizes <= --exact-max
  hnswlib      hnswlib.Index(space="ip"), the same M (both keep 2*M links on layer 0 and M above)
Builds use --build-threads (OpenMP for both FAISS builds, hnswlib's own threads); searches use one thread.
Python timings include the Python call (see "call floor" in the output).

See bench/README.md ("Similarity index") for details.
"""

import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
REPO = os.path.dirname(BENCH)
DEFAULT_INDEX_BENCH = os.path.join(REPO, ".build", "release", "IndexBench")

_spec = importlib.util.spec_from_file_location("ingest_run", os.path.join(BENCH, "ingest", "run.py"))
ingest_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ingest_run)
cpu_model, mem_total = ingest_run.cpu_model, ingest_run.mem_total  # the environment section, as the other benches

BATCH = 10_000        # vectors per add call, as IndexBench
GENERATE_CHUNK = 10_000  # rows generated per seeded chunk: a smaller base is a prefix of a larger one
TRUTH_CHUNK = 50_000  # base rows per matmul of the ground truth


log, percentile = ingest_run.log, ingest_run.percentile   # percentile: as IndexBench's


def latency_stats(milliseconds):
    values = sorted(milliseconds)
    return {"p50_ms": percentile(values, 0.5), "p99_ms": percentile(values, 0.99),
            "mean_ms": sum(values) / len(values)}


# ---- data -------------------------------------------------------------------------------------

def data_key(args):
    return f"d{args.dimension}-c{args.centres}-noise{args.noise:g}-seed{args.seed}"


def centres(args):
    rng = np.random.default_rng([args.seed, 0])
    c = rng.standard_normal((args.centres, args.dimension), dtype=np.float32)
    return c / np.linalg.norm(c, axis=1, keepdims=True)


def clustered(args, rng, count, c):
    """`count` unit vectors: a random centre plus gaussian noise of norm ~args.noise, normalised."""
    labels = rng.integers(0, len(c), size=count)
    x = rng.standard_normal((count, args.dimension), dtype=np.float32)
    x *= np.float32(args.noise / np.sqrt(args.dimension))
    x += c[labels]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def write_atomically(path, write):
    temporary = f"{path}.tmp-{os.getpid()}"
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def base_file(args, n):
    path = os.path.join(args.data_dir, f"base-n{n}-{data_key(args)}.f32")
    if os.path.exists(path):
        return path
    log(f"  generating {n} base vectors -> {os.path.relpath(path, REPO)}")
    t0 = time.perf_counter()
    c = centres(args)

    def write(temporary):
        with open(temporary, "wb") as f:
            for chunk, first in enumerate(range(0, n, GENERATE_CHUNK)):
                rng = np.random.default_rng([args.seed, 1, chunk])
                clustered(args, rng, min(GENERATE_CHUNK, n - first), c).astype("<f4").tofile(f)

    write_atomically(path, write)
    log(f"  ({time.perf_counter() - t0:.1f} s)")
    return path


def queries_file(args):
    path = os.path.join(args.data_dir, f"queries-q{args.queries}-{data_key(args)}.f32")
    if not os.path.exists(path):
        rng = np.random.default_rng([args.seed, 2])
        vectors = clustered(args, rng, args.queries, centres(args)).astype("<f4")
        write_atomically(path, lambda temporary: vectors.tofile(temporary))
    return path


def read_vectors(path, dimension, mmap=False):
    if mmap:
        return np.memmap(path, dtype="<f4", mode="r").reshape(-1, dimension)
    return np.fromfile(path, dtype="<f4").reshape(-1, dimension)


def ground_truth(args, base_path, queries_path, n):
    """Exact top-k ids and scores by inner product (float32 matmul over chunks of the base), cached."""
    path = os.path.join(args.data_dir, f"truth-n{n}-q{args.queries}-k{args.k}-{data_key(args)}.npz")
    if os.path.exists(path):
        with np.load(path) as cached:
            return cached["ids"], cached["scores"]
    log(f"  exact top-{args.k} of {args.queries} queries over {n} vectors (numpy)")
    t0 = time.perf_counter()
    queries = read_vectors(queries_path, args.dimension)
    base = read_vectors(base_path, args.dimension, mmap=True)
    nq, k = len(queries), args.k
    best_scores = np.full((nq, k), -np.inf, dtype=np.float32)
    best_ids = np.full((nq, k), -1, dtype=np.int64)
    for first in range(0, n, TRUTH_CHUNK):
        scores = queries @ np.asarray(base[first:first + TRUTH_CHUNK]).T
        kk = min(k, scores.shape[1])
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        candidate_scores = np.concatenate([best_scores, np.take_along_axis(scores, part, axis=1)], axis=1)
        candidate_ids = np.concatenate([best_ids, part + first], axis=1)
        top = np.argpartition(-candidate_scores, k - 1, axis=1)[:, :k]
        best_scores = np.take_along_axis(candidate_scores, top, axis=1)
        best_ids = np.take_along_axis(candidate_ids, top, axis=1)
    order = np.argsort(-best_scores, axis=1, kind="stable")
    ids, scores = np.take_along_axis(best_ids, order, axis=1), np.take_along_axis(best_scores, order, axis=1)
    def write(temporary):
        with open(temporary, "wb") as f:
            np.savez(f, ids=ids, scores=scores)

    write_atomically(path, write)
    log(f"  ({time.perf_counter() - t0:.1f} s)")
    return ids, scores


def recall(found, truth):
    """Mean over queries of |found top-k ∩ exact top-k| / k."""
    k = truth.shape[1]
    hits = (found[:, :k, None] == truth[:, None, :]).any(axis=2) & (found[:, :k] >= 0)
    return float(hits.sum(axis=1).mean() / k)


# ---- Python engines (run in a child process: `run.py --worker ENGINE ...`) -----------------------

def worker_main(argv):
    p = argparse.ArgumentParser(prog="run.py --worker")
    p.add_argument("engine", choices=["faiss-hnsw", "faiss-flat", "hnswlib"])
    for name in ("--base", "--queries", "--out"):
        p.add_argument(name, required=True)
    for name in ("--dimension", "--k", "--neighbors", "--ef-construction", "--build-threads"):
        p.add_argument(name, type=int, required=True)
    p.add_argument("--ef-search", required=True, help="comma-separated: one search pass each")
    a = p.parse_args(argv)
    ef_searches = [int(x) for x in a.ef_search.split(",")]
    base = read_vectors(a.base, a.dimension, mmap=True)
    queries = [np.ascontiguousarray(q[None, :]) for q in read_vectors(a.queries, a.dimension)]
    n = len(base)

    if a.engine == "hnswlib":
        import hnswlib
        index = hnswlib.Index(space="ip", dim=a.dimension)
        index.init_index(max_elements=n, ef_construction=a.ef_construction, M=a.neighbors, random_seed=100)

        def add(batch, ids):
            index.add_items(batch, ids, num_threads=a.build_threads)

        def prepare_search(ef):
            index.set_ef(ef)
            index.set_num_threads(1)

        def search(q):
            labels, _ = index.knn_query(q, k=a.k, num_threads=1)
            return labels[0]

        def call_floor():
            tiny = hnswlib.Index(space="ip", dim=a.dimension)
            tiny.init_index(max_elements=1, ef_construction=a.ef_construction, M=a.neighbors)
            tiny.add_items(queries[0], [0])
            tiny.set_num_threads(1)
            return lambda: tiny.knn_query(queries[0], k=1, num_threads=1)

        def stored():
            return index.get_current_count()

        approximate = True
    else:
        import faiss
        if a.engine == "faiss-hnsw":
            index = faiss.IndexHNSWFlat(a.dimension, a.neighbors, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = a.ef_construction
        else:
            index = faiss.IndexFlatIP(a.dimension)

        def add(batch, ids):
            faiss.omp_set_num_threads(a.build_threads)
            index.add(batch)  # ids are positions: 0..n-1 in order

        def prepare_search(ef):
            faiss.omp_set_num_threads(1)
            if a.engine == "faiss-hnsw":
                index.hnsw.efSearch = ef

        def search(q):
            _, labels = index.search(q, a.k)
            return labels[0]

        def call_floor():
            tiny = faiss.IndexFlatIP(a.dimension)
            tiny.add(queries[0])
            return lambda: tiny.search(queries[0], 1)

        def stored():
            return index.ntotal

        approximate = a.engine == "faiss-hnsw"

    building = 0.0
    for first in range(0, n, BATCH):
        batch = np.ascontiguousarray(base[first:first + BATCH], dtype=np.float32)  # read outside the timing
        ids = np.arange(first, first + len(batch), dtype=np.int64)
        t0 = time.perf_counter()
        add(batch, ids)
        building += time.perf_counter() - t0
    count = stored()

    passes = []
    for ef in ef_searches:
        prepare_search(ef)
        found = np.full((len(queries), a.k), -1, dtype=np.int64)
        milliseconds = []
        for row, q in enumerate(queries):
            t0 = time.perf_counter_ns()
            labels = search(q)
            milliseconds.append((time.perf_counter_ns() - t0) / 1e6)
            found[row, :len(labels)] = labels.astype(np.int64)
        found.astype("<i8").tofile(f"{a.out}.ef{ef}")
        passes.append((ef, milliseconds))

    floor = call_floor()
    floor_ms = []
    for _ in range(200):
        t0 = time.perf_counter_ns()
        floor()
        floor_ms.append((time.perf_counter_ns() - t0) / 1e6)
    for ef, milliseconds in passes:
        result = {"ef": ef, "build_s": building, **latency_stats(milliseconds), "approximate": approximate,
                  "count": int(count), "queries": len(queries), "call_floor_ms": percentile(sorted(floor_ms), 0.5)}
        if a.engine != "hnswlib":
            import faiss
            result["simd"] = faiss.SIMDConfig.get_level_name() if hasattr(faiss, "SIMDConfig") else "?"
        print(json.dumps(result), flush=True)


# ---- running the engines ----------------------------------------------------------------------

def engine_plan(args, n):
    """(name, kind, command, extra environment) of each engine to run at size n."""
    common = ["--dimension", str(args.dimension), "--k", str(args.k), "--neighbors", str(args.neighbors),
              "--ef-construction", str(args.ef_construction)]
    params = [*common, "--ef-search", ",".join(map(str, args.ef_search))]
    flat_params = [*common, "--ef-search", str(args.ef_search[0])]   # exact search: one pass
    exact = n <= args.exact_max
    threads = {"OMP_NUM_THREADS": str(args.build_threads)}
    plan = []
    if not args.skip_loupe:
        plan.append(("loupe-hnsw", "hnsw", [args.index_bench, *params, "--hnsw-threshold", "1"], threads))
    for level in args.faiss_simd:
        name = "faiss-hnsw" if level == "auto" else f"faiss-hnsw[{level}]"
        env = {} if level == "auto" else {"FAISS_SIMD_LEVEL": level}
        plan.append((name, "hnsw", ["--worker", "faiss-hnsw", *params], env))
    plan.append(("hnswlib", "hnsw", ["--worker", "hnswlib", *params], {}))
    if exact:
        if not args.skip_loupe:
            plan.append(("loupe-flat", "exact", [args.index_bench, *flat_params, "--hnsw-threshold", str(n + 1)], threads))
        plan.append(("faiss-flat", "exact", ["--worker", "faiss-flat", *flat_params], {}))
    return plan


def run_engine(args, name, command, extra_env, base_path, queries_path, out_path):
    if command[0] == "--worker":
        command = [sys.executable, os.path.abspath(__file__), *command, "--build-threads", str(args.build_threads)]
    command = [*command, "--base", base_path, "--queries", queries_path, "--out", out_path]
    env = {**os.environ, **extra_env}
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{name} failed ({done.returncode}): {' '.join(command)}\n{done.stdout}{done.stderr}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"{name} printed no JSON line:\n{done.stdout}{done.stderr}")
    results = [json.loads(line) for line in lines]   # one per efSearch pass
    for result in results:
        result["wall_s"] = wall
    return results


def run_size(args, n, scratch):
    log(f"== {n} base vectors, {args.queries} queries, {args.dimension}-d, top-{args.k}")
    base_path = base_file(args, n)
    queries_path = queries_file(args)
    truth, truth_scores = ground_truth(args, base_path, queries_path, n)
    log(f"  exact scores: top-1 mean {truth_scores[:, 0].mean():.3f}, top-{args.k} mean {truth_scores[:, -1].mean():.3f}")
    rows = []
    for name, kind, command, env in engine_plan(args, n):
        out_path = os.path.join(scratch, f"{name}-{n}.i64")
        for result in run_engine(args, name, command, env, base_path, queries_path, out_path):
            rows.append(check(args, name, kind, n, result, f"{out_path}.ef{result['ef']}", truth))
    loupe = {(r["kind"], r["ef"] if r["kind"] == "hnsw" else None): r for r in rows if r["engine"].startswith("loupe-")}
    for row in rows:
        mine = loupe.get((row["kind"], row["ef"] if row["kind"] == "hnsw" else None))
        row["p50_vs_loupe"] = row["p50_ms"] / mine["p50_ms"] if mine and mine is not row else None
        row["build_vs_loupe"] = row["build_s"] / mine["build_s"] if mine and mine is not row else None
    return rows


def check(args, name, kind, n, result, out_path, truth):
    """One engine's pass as a table row: its recall, and what is wrong with it, if anything."""
    found = np.fromfile(out_path, dtype="<i8").reshape(-1, args.k)
    problems = []
    if len(found) != len(truth):
        problems.append(f"{len(found)} result rows for {len(truth)} queries")
    if result["count"] != n:
        problems.append(f"count {result['count']} != {n}")
    if result["approximate"] != (kind == "hnsw"):
        problems.append(f"approximate={result['approximate']} for a {kind} run")
    row = {"engine": name, "kind": kind, "n": n, **result,
           "recall": recall(found, truth) if not problems else None, "problems": problems}
    os.remove(out_path)
    floor = f", call floor {row['call_floor_ms'] * 1000:.0f} us" if "call_floor_ms" in row else ""
    simd = f", SIMD {row['simd']}" if "simd" in row else ""
    log(f"  {name:<18} ef {row['ef']:>4}  build {row['build_s']:8.2f} s  p50 {row['p50_ms']:7.3f} ms  "
        f"p99 {row['p99_ms']:7.3f} ms  recall@{args.k} {row['recall'] if row['recall'] is not None else float('nan'):.4f}"
        f"{floor}{simd}" + (f"  PROBLEM: {'; '.join(problems)}" if problems else ""))
    return row


# ---- report -----------------------------------------------------------------------------------

COLUMNS = ["engine", "n", "efSearch", "build s", "p50 ms", "p99 ms", "mean ms", "recall@{k}", "p50 / Loupe p50", "build / Loupe build"]


def table_cells(row):
    def ratio(value):
        return "-" if value is None else f"{value:.2f}x"
    return [row["engine"], f"{row['n']:,}", str(row["ef"]) if row["kind"] == "hnsw" else "-", f"{row['build_s']:.2f}", f"{row['p50_ms']:.3f}", f"{row['p99_ms']:.3f}",
            f"{row['mean_ms']:.3f}", "VOID" if row["recall"] is None else f"{row['recall']:.4f}",
            ratio(row["p50_vs_loupe"]), ratio(row["build_vs_loupe"])]


def text_table(rows, k):
    header = [c.format(k=k) for c in COLUMNS]
    cells = [table_cells(r) for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths)))]
    lines.append("-" * len(lines[0]))
    for c in cells:
        lines.append("  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(c, widths))))
    return "\n".join(lines)


def markdown_table(rows, k):
    header = [c.format(k=k) for c in COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(["---"] + ["---:"] * (len(header) - 1)) + " |"]
    lines += ["| " + " | ".join(table_cells(r)) + " |" for r in rows]
    return "\n".join(lines)


def command_output(command):
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=20)
        return done.stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def package_version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def environment(args):
    import faiss
    env = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu_model(),
        "memory": mem_total(),
        "kernel": platform.release(),
        "loadavg_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "faiss (python)": f"faiss-cpu {faiss.__version__}, SIMD {faiss.SIMDConfig.get_level_name()}"
                          if hasattr(faiss, "SIMDConfig") else f"faiss-cpu {faiss.__version__}",
        "hnswlib": package_version("hnswlib"),
        "faiss (loupe)": f"libfaiss-dev {command_output(['dpkg-query', '-W', '-f', '${Version}', 'libfaiss-dev'])} (Debian, static)",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "(unset)"),
        "repo": command_output(["git", "-C", REPO, "describe", "--always", "--dirty=+dirty"]),
    }
    if not args.skip_loupe:
        st = os.stat(args.index_bench)
        env["index_bench"] = (f"{args.index_bench} ({st.st_size / 1e6:.1f} MB, built "
                              f"{datetime.datetime.fromtimestamp(st.st_mtime).isoformat(timespec='seconds')})")
    return env


# ---- main -------------------------------------------------------------------------------------

def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", help="comma-separated base sizes (default 100000; --quick: 20000)")
    p.add_argument("--queries", type=int, help="queries (default 1000; --quick: 200)")
    p.add_argument("--quick", action="store_true", help="smoke run: 20k base vectors, 200 queries")
    p.add_argument("--dimension", type=int, default=1280)
    p.add_argument("--centres", type=int, default=1000, help="cluster centres of the synthetic data")
    p.add_argument("--noise", type=float, default=1.0, help="norm of the noise added to a unit centre")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--neighbors", type=int, default=32, help="HNSW M (FAISS and hnswlib: 2*M links on layer 0)")
    p.add_argument("--ef-construction", type=int, default=64)
    p.add_argument("--ef-search", default="64",
                   help="HNSW efSearch, comma-separated for a recall/latency curve over one build (default 64)")
    p.add_argument("--exact-max", type=int, default=100_000, help="exact (flat) runs only at sizes up to this")
    p.add_argument("--build-threads", type=int, default=len(os.sched_getaffinity(0)),
                   help="threads for building the indexes (default: cores); searches use one")
    p.add_argument("--faiss-simd", default="auto",
                   help="FAISS (python) SIMD levels, one faiss-hnsw run each: auto, NONE, AVX2, AVX512 (default auto)")
    p.add_argument("--index-bench", help=f"IndexBench binary (default {os.path.relpath(DEFAULT_INDEX_BENCH, REPO)}, "
                                         "built with `swift build -c release --product IndexBench` when missing)")
    p.add_argument("--skip-loupe", action="store_true", help="run the Python engines only")
    p.add_argument("--work", default=os.path.join(BENCH, ".work"))
    p.add_argument("--json", help="results file (default bench/.work/similarity/results.json; the table goes beside it as .md)")
    args = p.parse_args()
    args.sizes = [int(s) for s in (args.sizes or ("20000" if args.quick else "100000")).split(",") if s.strip()]
    args.queries = args.queries or (200 if args.quick else 1000)
    args.faiss_simd = [s.strip() for s in args.faiss_simd.split(",") if s.strip()]
    args.ef_search = [int(s) for s in args.ef_search.split(",") if s.strip()]
    args.work = os.path.abspath(args.work)
    args.out_dir = os.path.join(args.work, "similarity")
    args.data_dir = os.path.join(args.out_dir, "data")
    os.makedirs(args.data_dir, exist_ok=True)
    if not args.skip_loupe:
        if args.index_bench:
            args.index_bench = os.path.abspath(args.index_bench)
            if not os.access(args.index_bench, os.X_OK):
                raise SystemExit(f"IndexBench not found: {args.index_bench}")
        else:
            args.index_bench = DEFAULT_INDEX_BENCH
            if not os.access(args.index_bench, os.X_OK):
                log("IndexBench not built: swift build -c release --product IndexBench")
                subprocess.run(["swift", "build", "-c", "release", "--product", "IndexBench"], cwd=REPO, check=True)
    return args


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        return worker_main(sys.argv[2:])
    args = parse_args()
    started = time.perf_counter()
    env = environment(args)
    for key, value in env.items():
        log(f"  {key:<17} {value}")
    scratch = os.path.join(args.out_dir, f"tmp-{os.getpid()}")
    os.makedirs(scratch, exist_ok=True)
    try:
        rows = [row for n in args.sizes for row in run_size(args, n, scratch)]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    title = (f"Similarity index, {args.dimension}-d unit vectors ({args.centres} clusters, noise {args.noise:g}), "
             f"{args.queries} queries one at a time, top-{args.k}; HNSW M={args.neighbors}, "
             f"efConstruction={args.ef_construction}, efSearch={args.ef_search}; builds on {args.build_threads} "
             f"thread(s), searches on 1")
    notes = ("p50 / Loupe p50 = engine p50 / Loupe p50 of the same kind (HNSW or exact): above 1, Loupe is faster; "
             "Python engines' latencies include the Python call")
    log("")
    log(title)
    log(text_table(rows, args.k))
    log(notes)
    markdown = f"{title}.\n\n{markdown_table(rows, args.k)}\n\n{notes}.\n"
    log("")
    log(markdown)
    results = {"environment": env,
               "parameters": {k: getattr(args, k) for k in ("sizes", "queries", "dimension", "centres", "noise", "seed",
                                                             "k", "neighbors", "ef_construction", "ef_search",
                                                             "exact_max", "build_threads", "faiss_simd")},
               "rows": rows, "markdown": markdown}
    out = args.json or os.path.join(args.out_dir, "results.json")
    with open(out, "w") as f:
        json.dump(results, f, indent=2)
    markdown_out = os.path.splitext(out)[0] + ".md"
    with open(markdown_out, "w") as f:
        f.write(markdown)
    log(f"load at end {os.getloadavg()[0]:.2f}; total {time.perf_counter() - started:.0f} s")
    log(f"results: {out}, {markdown_out}")


if __name__ == "__main__":
    main()
