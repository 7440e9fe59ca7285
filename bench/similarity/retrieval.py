#!/usr/bin/env python3
"""Loupe similarity-search quality: precision@1/5/10 of /api/similar on a labelled corpus.

    python3 bench/similarity/retrieval.py                           # 7 phantom labels x 6 series x 8 images + pydicom test files (~1 min)
    python3 bench/similarity/retrieval.py --series 3 --slices 4     # quick check (~30 s)
    python3 bench/similarity/retrieval.py --no-pydicom              # the phantoms only
    LOUPE_BIN=/path/to/loupe python3 bench/similarity/retrieval.py  # another binary (default .build/release/loupe)

Corpus, label = Modality + BodyPartExamined (Modality alone when the body part is missing):
  phantoms  scripts/data/phantoms.py, seeded: CT HEAD, CT CHEST, CT ABDOMEN, MR BRAIN, MR KNEE,
            US ABDOMEN, CR CHEST; --series series per label (own patient and study each), --slices images per
            series, --size pixels square; series differ in pose, contrast, window, noise and storage.
  pydicom   pydicom.data.get_testdata_files(): files with PixelData, Rows, Modality and the UIDs, one file per
            SOP Instance UID (the test set holds many encodings of one image; an uncompressed one is preferred),
            that /usr/bin/dcmj2pnm renders; labels with a single series are left out (nothing to retrieve once
            the own series is excluded). What was left out, and why, is listed in the results.
Both are generated once and cached under bench/.work/similarity/retrieval/corpus/ (DICOM files, the dcmj2pnm
renderings, manifest.json).

Loupe: a fresh archive (`loupe import`, then `loupe reprocess --all --processor embedding` until drained),
then `loupe serve --derivation-workers 0`; every instance that got an embedding is asked
GET /api/similar?instance=UID&k=10&exclude-same-series=true. Instances without an embedding (Loupe could not
read or render them) are out of the pool for every method, and are listed.

Peers, on the same pool and queries:
  pixels    `dcmj2pnm +on -il +Wi 1 +Sxv 224` (+Wm, min-max, when the file has no window), 8-bit grey, resized
            to 32x32 (PIL, bilinear), mean-subtracted, L2-normalised; cosine ranking, the query's series excluded
  chance    a random ranking: per query, the share of its label among the pool outside its own series
  best      the ceiling: a query whose label has fewer than k images outside its own series cannot score 1

precision@k = hits among the first k results / k (missing results count as misses), only for queries whose
label has >= 2 series in the pool; per label, macro (mean over labels) and micro (mean over queries). Scopes:
"all" (one pool: phantoms and pydicom together, labels merged by name, e.g. CT HEAD), and each source alone
(its own pool: Loupe's answer for k=1000 filtered to the source). The bench fails if any result shares the
query's SeriesInstanceUID (exclude-same-series not honoured).

Results: a markdown table on stdout and in bench/.work/similarity/retrieval.md, everything (per label, per
query rankings) in bench/.work/similarity/retrieval.json.
"""

import argparse
import collections
import datetime
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import time

sys.dont_write_bytecode = True

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
REPO = os.path.dirname(BENCH)
INGEST = os.path.join(BENCH, "ingest")
sys.path.insert(0, os.path.join(REPO, "scripts", "data"))
sys.path.insert(0, INGEST)

import phantoms  # noqa: E402  scripts/data/phantoms.py
import servers  # noqa: E402  bench/ingest/servers.py (start/stop by PID, cleanup at exit)

DCMJ2PNM = "/usr/bin/dcmj2pnm"
PYDICOM_SELECTION_VERSION = 2
KS = (1, 5, 10)
K = max(KS)
WIDE_K = 1000  # /api/similar's largest k: the per-source scopes filter this answer


def log(msg=""):
    print(msg, flush=True)


# ---- rendering (pixel baseline, and what "renderable" means for the pydicom files) ---------------

def dcmj2pnm(src, dst):
    """Renders frame 1 to an 8-bit PNG with the file's first window, else min-max; the VOI used, or None."""
    for voi, flags in (("window 1", ["+Wi", "1"]), ("min-max", ["+Wm"])):
        done = subprocess.run([DCMJ2PNM, "+on", "-il", *flags, "+Sxv", "224", src, dst], capture_output=True, text=True)
        if done.returncode == 0 and os.path.exists(dst) and os.path.getsize(dst) > 0:
            return voi
    if os.path.exists(dst):
        os.remove(dst)
    return None


def pixel_vector(png, side=32):
    from PIL import Image
    with Image.open(png) as im:
        grey = im.convert("L").resize((side, side), Image.Resampling.BILINEAR)
    v = np.asarray(grey, dtype=np.float32).ravel()
    v -= v.mean()
    norm = np.linalg.norm(v)
    return v / norm if norm > 0 else v


# ---- corpora ----------------------------------------------------------------------------------

def write_json_atomically(path, value):
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "w") as f:
        json.dump(value, f, indent=1)
    os.replace(temporary, path)


def phantom_corpus(args):
    key = f"phantoms-v{phantoms.GENERATOR_VERSION}-s{args.series}-n{args.slices}-px{args.size}-seed{args.seed}"
    directory = os.path.join(args.corpus_dir, key)
    manifest = os.path.join(directory, "manifest.json")
    if os.path.exists(manifest):
        with open(manifest) as f:
            return directory, json.load(f)
    log(f"  generating phantoms -> {os.path.relpath(directory, REPO)}")
    t0 = time.perf_counter()
    shutil.rmtree(directory, ignore_errors=True)
    records = phantoms.generate(directory, args.series, args.slices, args.size, args.seed, progress=log)
    os.makedirs(os.path.join(directory, "png"), exist_ok=True)
    for i, record in enumerate(records):
        png = os.path.join("png", f"{i:05d}.png")
        record["voi"] = dcmj2pnm(os.path.join(directory, record["file"]), os.path.join(directory, png))
        if record["voi"] is None:
            raise SystemExit(f"dcmj2pnm cannot render the phantom {record['file']}")
        record["png"] = png
    series = collections.Counter(r["label"] for r in {r["series"]: r for r in records}.values())
    if set(series.values()) != {args.series} or len({r["sop"] for r in records}) != len(records):
        raise SystemExit(f"phantom UIDs are wrong: series per label {dict(series)}, {len(records)} files")
    value = {"records": records, "skipped": []}
    write_json_atomically(manifest, value)
    log(f"  ({len(records)} files, {time.perf_counter() - t0:.0f} s)")
    return directory, value


def pydicom_corpus(args):
    """pydicom's test images, one file per SOP Instance UID, labelled, renderable, copied with their PNGs."""
    import warnings
    import pydicom
    import pydicom.data
    directory = os.path.join(args.corpus_dir, f"pydicom-{pydicom.__version__}-v{PYDICOM_SELECTION_VERSION}")
    manifest = os.path.join(directory, "manifest.json")
    if os.path.exists(manifest):
        with open(manifest) as f:
            return directory, json.load(f)
    log(f"  selecting pydicom {pydicom.__version__} test files -> {os.path.relpath(directory, REPO)}")
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(os.path.join(directory, "dicom"))
    os.makedirs(os.path.join(directory, "png"))
    root = os.path.dirname(pydicom.data.get_testdata_files("CT_small.dcm")[0])
    skipped = []
    groups = collections.defaultdict(list)
    for path in sorted(p for p in pydicom.data.get_testdata_files() if os.path.isfile(p)):
        name = os.path.relpath(path, root) if path.startswith(root) else os.path.basename(path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path, force=True, defer_size=1024)
                has_pixels = "PixelData" in ds
        except Exception as e:  # noqa: BLE001 - any unreadable file is skipped
            skipped.append({"name": name, "reason": f"unreadable: {type(e).__name__}"})
            continue
        if not has_pixels or "Rows" not in ds:
            skipped.append({"name": name, "reason": "not an image (no PixelData/Rows)"})
            continue
        modality = str(ds.get("Modality", "") or "").strip()
        sop, series = str(ds.get("SOPInstanceUID", "") or ""), str(ds.get("SeriesInstanceUID", "") or "")
        if not modality or not sop or not series:
            skipped.append({"name": name, "reason": "no Modality" if not modality else "no SOP/Series Instance UID"})
            continue
        body = str(ds.get("BodyPartExamined", "") or "").strip().upper()
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        compressed = bool(syntax is None or syntax.is_compressed)
        groups[sop].append((compressed, name, path, {"sop": sop, "series": series, "study": str(ds.get("StudyInstanceUID", "")),
                                                     "label": f"{modality} {body}" if body else modality,
                                                     "size": f"{ds.Columns}x{ds.Rows}"}))
    chosen = []
    for sop in sorted(groups):
        group = sorted(groups[sop], key=lambda g: (g[0], g[1]))
        for i, (_compressed, name, path, record) in enumerate(group):
            png = os.path.join("png", f"{len(chosen):05d}.png")
            voi = dcmj2pnm(path, os.path.join(directory, png))
            if voi is None:
                skipped.append({"name": name, "reason": "dcmj2pnm cannot render it"})
                continue
            chosen.append({**record, "name": name, "path": path, "png": png, "voi": voi, "source": "pydicom"})
            skipped += [{"name": other[1], "reason": f"same SOP Instance UID as {name}"} for other in group[i + 1:]]
            break
    series_of = collections.defaultdict(set)
    for record in chosen:
        series_of[record["label"]].add(record["series"])
    records = []
    for record in chosen:
        if len(series_of[record["label"]]) < 2:
            skipped.append({"name": record["name"], "reason": f"label {record['label']} has one series"})
            os.remove(os.path.join(directory, record["png"]))
            continue
        record["file"] = os.path.join("dicom", f"{len(records):03d}-{os.path.basename(record['name'])}")
        shutil.copyfile(record.pop("path"), os.path.join(directory, record["file"]))
        records.append(record)
    value = {"records": records, "skipped": sorted(skipped, key=lambda s: s["name"])}
    write_json_atomically(manifest, value)
    return directory, value


# ---- Loupe ------------------------------------------------------------------------------------

def run_loupe(args, command, ok_codes=(0,)):
    done = subprocess.run([args.loupe_bin, *command], capture_output=True, text=True, cwd=REPO)
    if done.returncode not in ok_codes:
        raise SystemExit(f"loupe {' '.join(command)} failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done


def build_archive(args, data, dicom_dirs):
    """Imports the corpus into a fresh archive and derives every embedding; what Loupe holds."""
    t0 = time.perf_counter()
    imported = run_loupe(args, ["import", "--data", data, *dicom_dirs], ok_codes=(0, 2))
    summary = imported.stdout.strip().splitlines()
    log(f"  import: {summary[-1] if summary else '?'} ({time.perf_counter() - t0:.0f} s)")
    t0 = time.perf_counter()
    derived = run_loupe(args, ["reprocess", "--data", data, "--all", "--processor", "embedding",
                               "--derivation-workers", str(args.workers)], ok_codes=(0, 1))
    lines = derived.stdout.strip().splitlines()
    log(f"  reprocess (embedding, {args.workers} workers): {lines[-1] if lines else '?'} ({time.perf_counter() - t0:.0f} s)")
    db = sqlite3.connect(f"file:{os.path.join(data, 'index.sqlite')}?mode=ro", uri=True)
    try:
        held = {row[0] for row in db.execute("SELECT SOPInstanceUID FROM instance")}
        embedded = {row[0] for row in db.execute(
            "SELECT i.SOPInstanceUID FROM embedding e JOIN instance i ON i.id = e.instance_pk")}
        models = sorted({row[0] for row in db.execute("SELECT DISTINCT model FROM embedding")})
        problems = {row[0]: f"{row[1]}: {row[2] or ''}".strip() for row in db.execute(
            "SELECT i.SOPInstanceUID, j.state, j.last_error FROM derivation_job j JOIN instance i ON i.id = j.instance_pk "
            "WHERE j.processor = 'embedding' AND j.state != 'done'")}
    finally:
        db.close()
    return held, embedded, problems, models


class Node:
    """`loupe serve` on the archive, derivations paused; stopped by PID."""

    def __init__(self, args, data, logdir):
        self.dimse_port = args.dimse_port or servers.free_port()
        self.http_port = args.http_port or servers.free_port()
        command = [args.loupe_bin, "serve", "--data", data, "--dimse-port", str(self.dimse_port),
                   "--http-port", str(self.http_port), "--derivation-workers", "0", "--log-level", "warning"]
        self.process = servers.start(command, os.path.join(logdir, "loupe.log"), cwd=REPO)
        self.url = f"http://127.0.0.1:{self.http_port}"
        import requests
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {servers.loupe_token(args.loupe_bin, data)}"
        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"loupe serve exited with {self.process.returncode}:\n{servers.log_tail(self.process)}")
            try:
                if self.http.get(self.url + "/api/stats", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"loupe serve: no /api/stats after 120 s:\n{servers.log_tail(self.process)}")
            time.sleep(0.1)

    def stats(self):
        return self.http.get(self.url + "/api/stats", timeout=30).json()

    def similar(self, sop, k):
        """The answer's JSON; retries while the similarity index loads (503)."""
        deadline = time.monotonic() + 300
        while True:
            r = self.http.get(self.url + "/api/similar", params={"instance": sop, "k": k, "exclude-same-series": "true"},
                              timeout=120)
            if r.status_code == 200:
                return r.json()
            if r.status_code != 503 or time.monotonic() > deadline:
                raise SystemExit(f"GET /api/similar?instance={sop}&k={k}: HTTP {r.status_code} {r.text[:500]}")
            time.sleep(0.5)

    def stop(self):
        servers.stop(self.process)


# ---- measurement ------------------------------------------------------------------------------

def query_loupe(args, node, records, wide):
    """Per query SOP: top-K results (k=K) and, when `wide`, the k=WIDE_K answer; checks exclusion."""
    by_sop = {r["sop"]: r for r in records}
    answers, violations, unknown, mismatched, model = {}, [], set(), collections.Counter(), None
    wide_k = min(WIDE_K, len(records))
    t0 = time.perf_counter()
    for n, record in enumerate(records, 1):
        entry = {}
        for name, k in (("top", K), ("wide", wide_k)) if wide else (("top", K),):
            answer = node.similar(record["sop"], k)
            model = answer.get("model", model)
            results = answer.get("results", [])
            for result in results:
                sop, series = result.get("SOPInstanceUID"), result.get("SeriesInstanceUID")
                known = by_sop.get(sop)
                if sop == record["sop"] or series == record["series"] or (known and known["series"] == record["series"]):
                    violations.append({"query": record["sop"], "query_series": record["series"], "result": sop,
                                       "result_series": series, "k": k})
                if known is None:
                    unknown.add(sop)
                    continue
                label = " ".join(x for x in (result.get("Modality"), result.get("BodyPartExamined")) if x)
                if label.upper() != known["label"].upper():
                    mismatched[(known["label"], label)] += 1
            entry[name] = [(r.get("SOPInstanceUID"), float(r.get("score", "nan"))) for r in results]
        answers[record["sop"]] = entry
        if n % 100 == 0 or n == len(records):
            log(f"    {n}/{len(records)} queries ({time.perf_counter() - t0:.0f} s)")
    return answers, violations, unknown, mismatched, model


def pixel_rankings(records, directories):
    """Per query SOP (every record): the ranked SOPs of the whole pool, own series excluded."""
    vectors = np.stack([pixel_vector(os.path.join(directories[r["source"]], r["png"])) for r in records])
    series = np.array([r["series"] for r in records])
    sims = vectors @ vectors.T
    rankings = {}
    for i, r in enumerate(records):
        s = sims[i].copy()
        s[series == r["series"]] = -np.inf
        order = np.argsort(-s, kind="stable")
        order = order[np.isfinite(s[order])]
        rankings[r["sop"]] = [records[j]["sop"] for j in order]
    return rankings


def evaluate(queries, ranked, label_of):
    """Per-query hits at each k; ranked[sop] is the list of result SOPs (best first)."""
    per_query = {}
    for q in queries:
        results = ranked.get(q["sop"], [])[:K]
        hits = [label_of.get(s) == q["label"] for s in results]
        per_query[q["sop"]] = {k: sum(hits[:k]) / k for k in KS}
    return per_query


def chance(queries, pool):
    """Expected precision@k of a random ranking of the pool outside the query's series."""
    label_count = collections.Counter(r["label"] for r in pool)
    series_label_count = collections.Counter((r["series"], r["label"]) for r in pool)
    series_count = collections.Counter(r["series"] for r in pool)
    per_query = {}
    for q in queries:
        others = len(pool) - series_count[q["series"]]
        same = label_count[q["label"]] - series_label_count[(q["series"], q["label"])]
        share = same / others if others else 0.0
        per_query[q["sop"]] = {k: share * min(k, others) / k for k in KS}
    return per_query


def ideal(queries, pool):
    """The best any ranking can do: all of the label's images outside the query's series first."""
    label_count = collections.Counter(r["label"] for r in pool)
    series_label_count = collections.Counter((r["series"], r["label"]) for r in pool)
    return {q["sop"]: {k: min(k, label_count[q["label"]] - series_label_count[(q["series"], q["label"])]) / k for k in KS}
            for q in queries}


def summarise(per_query, queries):
    by_label = collections.defaultdict(list)
    for q in queries:
        by_label[q["label"]].append(per_query[q["sop"]])
    labels = {label: {f"p@{k}": float(np.mean([v[k] for v in values])) for k in KS} | {"queries": len(values)}
              for label, values in sorted(by_label.items())}
    macro = {f"p@{k}": float(np.mean([labels[label][f"p@{k}"] for label in labels])) for k in KS}
    micro = {f"p@{k}": float(np.mean([per_query[q["sop"]][k] for q in queries])) for k in KS}
    return {"macro": macro, "micro": micro, "labels": labels}


def scope_result(name, pool, loupe_ranked, pixel_ranked, partial):
    label_of = {r["sop"]: r["label"] for r in pool}
    series_of_label = collections.defaultdict(set)
    for r in pool:
        series_of_label[r["label"]].add(r["series"])
    queries = [r for r in pool if len(series_of_label[r["label"]]) >= 2]
    if not queries:
        return None
    methods = {"loupe": evaluate(queries, loupe_ranked, label_of), "pixels": evaluate(queries, pixel_ranked, label_of),
               "chance": chance(queries, pool), "ideal": ideal(queries, pool)}
    result = {"scope": name, "pool": len(pool), "queries": len(queries),
              "labels": {label: len(s) for label, s in sorted(series_of_label.items())},
              "query_labels": sorted({q["label"] for q in queries}), "partial_answers": partial,
              "methods": {m: summarise(pq, queries) for m, pq in methods.items()}}
    # top-1 confusions of Loupe and of the pixels, per label
    for method, ranked in (("loupe", loupe_ranked), ("pixels", pixel_ranked)):
        confusions = collections.defaultdict(collections.Counter)
        for q in queries:
            top = ranked.get(q["sop"], [])[:1]
            got = label_of.get(top[0], "(none)") if top else "(none)"
            if got != q["label"]:
                confusions[q["label"]][got] += 1
        result["methods"][method]["top1_confusions"] = {label: dict(c.most_common()) for label, c in sorted(confusions.items())}
    return result


# ---- report -----------------------------------------------------------------------------------

METHOD_NAMES = {"loupe": "Loupe /api/similar", "pixels": "pixels 32x32 cosine", "chance": "chance",
                "ideal": "best possible"}


def ratio(a, b):
    return f"{a / b:.2f}x" if b > 0 else "-"


def scope_table(result):
    m = result["methods"]
    header = ["method", *[f"P@{k}" for k in KS], *[f"P@{k} micro" for k in KS]]
    rows = []
    for method in ("loupe", "pixels", "chance", "ideal"):
        rows.append([METHOD_NAMES[method], *[f"{m[method]['macro'][f'p@{k}']:.3f}" for k in KS],
                     *[f"{m[method]['micro'][f'p@{k}']:.3f}" for k in KS]])
    rows.append(["Loupe / pixels", *[ratio(m["loupe"]["macro"][f"p@{k}"], m["pixels"]["macro"][f"p@{k}"]) for k in KS],
                 *[ratio(m["loupe"]["micro"][f"p@{k}"], m["pixels"]["micro"][f"p@{k}"]) for k in KS]])
    rows.append(["Loupe / chance", *[ratio(m["loupe"]["macro"][f"p@{k}"], m["chance"]["macro"][f"p@{k}"]) for k in KS],
                 *[ratio(m["loupe"]["micro"][f"p@{k}"], m["chance"]["micro"][f"p@{k}"]) for k in KS]])
    return markdown(header, rows)


def label_table(result):
    m = result["methods"]
    header = ["label", "series", "queries", "Loupe P@1", "Loupe P@5", "Loupe P@10", "pixels P@1", "pixels P@10",
              "chance P@10", "best P@10", "Loupe top-1 misses"]
    rows = []
    for label in result["query_labels"]:
        lo, px, ch, best = (m[method]["labels"][label] for method in ("loupe", "pixels", "chance", "ideal"))
        misses = m["loupe"]["top1_confusions"].get(label, {})
        rows.append([label, str(result["labels"][label]), str(lo["queries"]), f"{lo['p@1']:.3f}", f"{lo['p@5']:.3f}",
                     f"{lo['p@10']:.3f}", f"{px['p@1']:.3f}", f"{px['p@10']:.3f}", f"{ch['p@10']:.3f}", f"{best['p@10']:.3f}",
                     ", ".join(f"{k or '?'} {v}" for k, v in misses.items()) or "-"])
    return markdown(header, rows)


def markdown(header, rows):
    """Text columns (any cell not a number or ratio) left-aligned, the others right-aligned."""
    def number(cell):
        return cell.rstrip("x").replace(".", "", 1).isdigit()

    def numeric(column):
        return all(number(r[column]) or r[column] == "-" for r in rows) and any(number(r[column]) for r in rows)
    align = ["---:" if i > 0 and numeric(i) else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def command_version(command):
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=20)
        lines = (done.stdout + done.stderr).strip().splitlines()
        return lines[0] if lines else "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def environment(args):
    import pydicom
    st = os.stat(args.loupe_bin)
    rev = command_version(["git", "-C", REPO, "describe", "--always", "--dirty=+dirty"])
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "nproc": len(os.sched_getaffinity(0)),
        "loadavg_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "loupe": f"{args.loupe_bin} ({st.st_size / 1e6:.1f} MB, built "
                 f"{datetime.datetime.fromtimestamp(st.st_mtime).isoformat(timespec='seconds')}, repo {rev})",
        "dcmtk": command_version([DCMJ2PNM, "--version"]).strip("$ "),
        "pydicom": pydicom.__version__,
        "python": platform.python_version(),
    }


# ---- main -------------------------------------------------------------------------------------

def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--series", type=int, default=6, help="phantom series per label (default 6)")
    p.add_argument("--slices", type=int, default=8, help="images per phantom series (default 8)")
    p.add_argument("--size", type=int, default=256, choices=(256, 512), help="phantom rows = columns (default 256)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-pydicom", action="store_true", help="leave pydicom's test files out")
    p.add_argument("--no-phantoms", action="store_true", help="leave the phantoms out")
    p.add_argument("--no-scopes", action="store_true", help="only the pooled corpus, not each source alone "
                                                            "(saves the k=1000 query per instance)")
    p.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)), help="embedding workers (default: cores)")
    p.add_argument("--dimse-port", type=int, default=0, help="loupe serve's DIMSE port (default: a free one)")
    p.add_argument("--http-port", type=int, default=0, help="loupe serve's HTTP port (default: a free one)")
    p.add_argument("--keep", action="store_true", help="keep the archive and log (bench/.work/similarity/retrieval/tmp-PID)")
    p.add_argument("--work", default=os.path.join(BENCH, ".work"))
    p.add_argument("--json", help="results file (default bench/.work/similarity/retrieval.json; the table beside it as .md)")
    args = p.parse_args()
    if args.no_pydicom and args.no_phantoms:
        p.error("nothing to measure")
    args.loupe_bin = os.path.abspath(os.environ.get("LOUPE_BIN") or os.path.join(REPO, ".build", "release", "loupe"))
    args.work = os.path.abspath(args.work)
    args.out_dir = os.path.join(args.work, "similarity")
    args.corpus_dir = os.path.join(args.out_dir, "retrieval", "corpus")
    os.makedirs(args.corpus_dir, exist_ok=True)
    for _ in range(60):  # the binary may be being rebuilt
        if os.access(args.loupe_bin, os.X_OK):
            break
        log(f"  waiting for {args.loupe_bin} ...")
        time.sleep(10)
    for tool in (args.loupe_bin, DCMJ2PNM):
        if not os.access(tool, os.X_OK):
            raise SystemExit(f"{tool} not found (build Loupe with `make build`; apt-get install dcmtk)")
    return args


def main():
    args = parse_args()
    started = time.perf_counter()
    env = environment(args)
    for key, value in env.items():
        log(f"  {key:<17} {value}")

    log("== Corpus")
    directories, records, skipped = {}, [], []
    if not args.no_phantoms:
        directory, value = phantom_corpus(args)
        directories["phantom"] = directory
        records += value["records"]
    if not args.no_pydicom:
        directory, value = pydicom_corpus(args)
        directories["pydicom"] = directory
        records += value["records"]
        skipped += value["skipped"]
    for source in directories:
        mine = [r for r in records if r["source"] == source]
        labels = collections.Counter(r["label"] for r in mine)
        log(f"  {source}: {len(mine)} files, {len(labels)} labels: " +
            ", ".join(f"{label} {n} ({len({r['series'] for r in mine if r['label'] == label})} series)"
                      for label, n in sorted(labels.items())))
    tiny = [r for r in records if r["source"] == "pydicom" and max(map(int, r["size"].split("x"))) < 32]
    if tiny:
        log(f"  note: {len(tiny)} of the pydicom images are smaller than 32x32 ({', '.join(sorted({r['size'] for r in tiny}))})")
    if skipped:
        reasons = collections.Counter(s["reason"].split(" as ")[0] if s["reason"].startswith("same SOP") else
                                      (s["reason"] if not s["reason"].startswith("label ") else "label with one series")
                                      for s in skipped)
        log(f"  pydicom files left out: {len(skipped)} (" + ", ".join(f"{r}: {n}" for r, n in reasons.most_common()) + ")")

    scratch = os.path.join(args.out_dir, "retrieval", f"tmp-{os.getpid()}")
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    node = None
    try:
        log("== Loupe archive")
        dicom_dirs = [os.path.join(directories[s], "dicom") for s in directories]
        held, embedded, problems, models = build_archive(args, os.path.join(scratch, "data"), dicom_dirs)
        missing = [r for r in records if r["sop"] not in embedded]
        for r in missing:
            why = "not imported" if r["sop"] not in held else problems.get(r["sop"], "no embedding")
            r["loupe_problem"] = why
            log(f"  no embedding: {r['source']} {r.get('name', r['file'])} [{r['label']}]: {why[:160]}")
        pool = [r for r in records if r["sop"] in embedded]
        if len(pool) < 2:
            raise SystemExit("fewer than 2 embedded instances: nothing to measure")
        log(f"  pool: {len(pool)} embedded instances of {len(records)}; model(s) {', '.join(models)}")

        log("== Queries")
        node = Node(args, os.path.join(scratch, "data"), scratch)
        stats = node.stats()
        log(f"  loupe serve on DIMSE {node.dimse_port}, HTTP {node.http_port}; derivations {stats.get('derivations')}")
        wide = not args.no_scopes and len(directories) > 1
        t0 = time.perf_counter()
        answers, violations, unknown, mismatched, model = query_loupe(args, node, pool, wide)
        query_seconds = time.perf_counter() - t0
        node.stop()
        node = None
    finally:
        if node is not None:
            node.stop()
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)

    if violations:
        for v in violations[:20]:
            log(f"  VIOLATION: query {v['query']} (series {v['query_series']}) -> {v['result']} (series {v['result_series']}), k={v['k']}")
        raise SystemExit(f"exclude-same-series NOT honoured: {len(violations)} result(s) share the query's series "
                         f"or are the query itself")
    log(f"  exclude-same-series honoured: no result of {sum(len(a['top']) for a in answers.values())} (k={K})"
        + (f" and {sum(len(a['wide']) for a in answers.values())} (k<={WIDE_K})" if wide else "")
        + " shares the query's series")
    if unknown:
        raise SystemExit(f"{len(unknown)} result(s) are not in the corpus: {sorted(unknown)[:5]}")
    if mismatched:
        log("  note: labels from Loupe's answer differ from the files' for: " +
            ", ".join(f"{a} -> {b!r} x{n}" for (a, b), n in mismatched.items()))
    short = sum(1 for a in answers.values() if len(a["top"]) < min(K, len(pool) - 1))
    if short:
        log(f"  note: {short} queries got fewer than {K} results")

    log("== Pixel baseline")
    pixel_ranked = pixel_rankings(pool, directories)

    scopes = [("all", pool)]
    if wide:
        scopes += [(source, [r for r in pool if r["source"] == source]) for source in directories]
    results = []
    for name, members in scopes:
        inside = {r["sop"] for r in members}
        if name == "all":
            loupe_ranked = {sop: [s for s, _ in a["top"]] for sop, a in answers.items()}
            partial = 0
        else:
            loupe_ranked = {sop: [s for s, _ in a["wide"] if s in inside][:K] for sop, a in answers.items() if sop in inside}
            partial = sum(1 for sop in inside if len(answers[sop]["wide"]) >= WIDE_K and len(loupe_ranked[sop]) < K)
        pixels = {sop: [s for s in ranked if s in inside][:K] for sop, ranked in pixel_ranked.items() if sop in inside}
        result = scope_result(name, members, loupe_ranked, pixels, partial)
        if result is None:
            log(f"  scope {name}: no label with 2 series, skipped")
            continue
        if partial:
            log(f"  scope {name}: {partial} queries may miss results (the k={WIDE_K} answer was cut)")
        results.append(result)

    if wide:  # the k=10 answer should be the head of the k=1000 one (exact search below Loupe's HNSW threshold)
        differ = sum(1 for a in answers.values() if [s for s, _ in a["top"]] != [s for s, _ in a["wide"][:K]])
        log(f"  k={K} answers equal to the head of the k={WIDE_K} answers: {len(answers) - differ}/{len(answers)}")

    sources = " + ".join(f"{len([r for r in pool if r['source'] == s])} {s}" for s in directories)
    title = (f"Similarity search quality, Loupe /api/similar (model {model}) vs 32x32 pixels and chance: "
             f"precision@1/5/10 by label (Modality + BodyPartExamined), query's own series excluded; "
             f"pool {len(pool)} images ({sources}); phantoms {args.series} series x {args.slices} images, "
             f"{args.size}px, seed {args.seed}")
    parts = [title + "."]
    for result in results:
        heading = (f"Corpus: {result['scope']} — {result['queries']} queries over {len(result['query_labels'])} labels, "
                   f"pool {result['pool']}")
        parts += ["", f"**{heading}** (P@k: macro over labels; micro: over queries)", "", scope_table(result), "",
                  label_table(result)]
    notes = ("Loupe = EfficientNet-Lite0 features of frame 1 (file VOI, fit to 224x224), exact cosine search; pixels = "
             "dcmj2pnm rendering (window 1, else min-max), 32x32 grey, mean-subtracted, cosine; chance = the query "
             "label's share of the pool outside its series. Queries only for labels with >= 2 series in the pool.")
    parts += ["", notes]
    text = "\n".join(parts) + "\n"
    log("")
    log(text)

    pool_sops = {r["sop"] for r in pool}
    label_of = {r["sop"]: r["label"] for r in records}
    per_query = [{"sop": r["sop"], "source": r["source"], "name": r.get("name"), "label": r["label"],
                  "series": r["series"],
                  "loupe": [[s, label_of.get(s), round(score, 4)] for s, score in answers[r["sop"]]["top"]],
                  "pixels": [[s, label_of.get(s)] for s in pixel_ranked[r["sop"]][:K]]} for r in pool]
    output = {
        "environment": env,
        "parameters": {k: getattr(args, k) for k in ("series", "slices", "size", "seed", "no_pydicom", "no_phantoms",
                                                      "no_scopes", "workers")},
        "model": model,
        "corpus": {"files": len(records), "pool": len(pool), "sources": {s: os.path.relpath(d, REPO) for s, d in directories.items()},
                   "not_embedded": [{"source": r["source"], "name": r.get("name", r["file"]), "label": r["label"],
                                     "why": r["loupe_problem"]} for r in records if r["sop"] not in pool_sops],
                   "pydicom_left_out": skipped},
        "query_seconds": query_seconds,
        "scopes": results,
        "queries": per_query,
        "markdown": text,
    }
    out = args.json or os.path.join(args.out_dir, "retrieval.json")
    write_json_atomically(out, output)
    markdown_out = os.path.splitext(out)[0] + ".md"
    with open(markdown_out, "w") as f:
        f.write(text)
    log(f"load at end {os.getloadavg()[0]:.2f}; total {time.perf_counter() - started:.0f} s")
    log(f"results: {out}, {markdown_out}")


if __name__ == "__main__":
    main()
