"""Runs every fuzz target of Loupe under libFuzzer (with AddressSanitizer and LeakSanitizer) until
it has executed --runs inputs or --seconds have passed, and records executions, speed, coverage and
findings. A crash, a leak or an input slower than --timeout leaves its input in the work directory
(and fails the run); a finding that is fixed becomes a file under fuzz/Tests/regressions/<target>/.

    python3 bench/fuzz/run.py [--driver .build-fuzz/release/loupe-fuzz] [--runs 1000000] [--seconds 120]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import corpus  # noqa: E402

TARGETS = ["part10", "dicom-json", "multipart", "qido", "jpeg", "photo", "jwt"]
REPO = Path(__file__).resolve().parents[2]


def fuzz(driver: str, target: str, work: Path, seeds: Path, args) -> dict:
    learned = work / "corpus" / target  # what the fuzzer finds, kept between runs
    artifacts = work / "findings" / target
    learned.mkdir(parents=True, exist_ok=True)
    # Findings are this run's: one kept from an earlier run is in fuzz/Tests/regressions once fixed.
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    regressions = REPO / "fuzz" / "Tests" / "regressions" / target
    dirs = [learned, seeds / target] + ([regressions] if regressions.is_dir() else [])
    command = [driver, f"-runs={args.runs}", f"-max_total_time={args.seconds}", f"-timeout={args.timeout}",
               "-rss_limit_mb=2048", f"-max_len={corpus.MAX_LEN}", "-print_final_stats=1",
               f"-artifact_prefix={artifacts}/", *map(str, dirs)]
    started = time.monotonic()
    result = subprocess.run(command, env={**os.environ, "LOUPE_FUZZ_TARGET": target,
                                          "ASAN_OPTIONS": "detect_leaks=1:allocator_may_return_null=1",
                                          "LSAN_OPTIONS": f"suppressions={Path(__file__).parent / 'lsan.supp'}:print_suppressions=0"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    seconds = time.monotonic() - started
    log = result.stdout
    (work / f"{target}.log").write_text(log)
    stat = lambda name: int(m.group(1)) if (m := re.search(rf"stat::{name}:\s+(\d+)", log)) else None
    coverage = re.findall(r"cov: (\d+) ft: (\d+)", log)
    findings = sorted(p.name for p in artifacts.iterdir())
    return {"target": target, "executions": stat("number_of_executed_units"), "seconds": round(seconds, 1),
            "per_second": stat("average_exec_per_sec"), "peak_rss_mb": stat("peak_rss_mb"),
            "coverage": int(coverage[-1][0]) if coverage else None, "corpus": len(list(learned.iterdir())),
            "exit": result.returncode, "findings": findings}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--driver", default=str(REPO / ".build-fuzz/release/loupe-fuzz"))
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=120, help="per target, at most")
    parser.add_argument("--timeout", type=int, default=1, help="seconds one input may take")
    parser.add_argument("--work", default=str(REPO / "bench/.work/fuzz"))
    parser.add_argument("--targets", nargs="*", default=TARGETS)
    args = parser.parse_args()
    work = Path(args.work)
    seeds = work / "seeds"
    corpus.make(args.driver, seeds)
    rows = []
    for target in args.targets:
        row = fuzz(args.driver, target, work, seeds, args)
        rows.append(row)
        print(json.dumps(row), flush=True)
    (work / "results.json").write_text(json.dumps(rows, indent=1))
    print("\n| target | executions | seconds | exec/s | coverage | peak RSS MB | findings |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['target']} | {r['executions'] or 0:,} | {r['seconds']} | {r['per_second']} | {r['coverage']} | "
              f"{r['peak_rss_mb']} | {', '.join(r['findings']) or 'none'} |")
    # A driver whose Swift code lacks coverage counters runs fast and finds nothing (see the Makefile).
    blind = [r["target"] for r in rows if not r["coverage"]]
    if blind:
        print(f"no coverage reported for {', '.join(blind)}: the driver is not instrumented", file=sys.stderr)
    return 1 if blind or any(r["findings"] or r["exit"] != 0 for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
