"""The large series of the DICOMweb benchmark: one patient, one study, one series per requested size
(default 100 and 1,000 instances), 512x512 16-bit CT, written like bench/ingest/corpus.py does (its
template and placeholder splicing are reused) and cached under bench/.work/corpus/.

The patient, study and series are distinct from those of the C-FIND corpus (PatientID BP9xxxxxxx,
corpus code 31), so adding them changes none of the C-FIND corpus's query answers.

Layout: DIR/series-<size>/<n>.dcm, one directory per series.
"""

import json
import os
import time

import corpus  # bench/ingest/corpus.py (the caller puts bench/ingest on sys.path)

GENERATOR_VERSION = 1
CORPUS_CODE = "31"
SIZE = 512
PATIENT_ID = "BP90000000"        # "BP" + 8 digits, as the placeholder requires
PATIENT_NAME = "DICOMW^BNCH"     # SURNAM^GIVN
BIRTH_DATE = "19700101"
STUDY_DATE = "20240601"
STUDY_TIME = "093000"
ACCESSION = "AC90000000"
STUDY_ID = "ST900000"


def study_uid():
    return corpus.uid(CORPUS_CODE, 3, 0)


def series_uid(k):
    return corpus.uid(CORPUS_CODE, 2, k)


def directory_for(cache, sizes):
    return os.path.join(cache, "dicomweb-extra-" + "-".join(str(s) for s in sizes))


def generate(cache, sizes, progress=print):
    """Writes (or reuses) the series; returns a manifest with the UIDs per series."""
    directory = directory_for(cache, sizes)
    params = {"generator": GENERATOR_VERSION, "corpus_generator": corpus.GENERATOR_VERSION, "sizes": list(sizes),
              "size": SIZE, "corpus_code": CORPUS_CODE}
    manifest_path = directory + ".json"
    cached = corpus.cached_manifest(directory, manifest_path, params)
    if cached:
        progress(f"  extra series {sizes}: cached in {directory}")
        return cached
    t0 = time.perf_counter()
    header, tail = corpus._template(SIZE)  # noqa: SLF001 - shared bench internals
    slots, segments = corpus._slots(header)  # noqa: SLF001
    series = []
    sop_index = 0
    total_bytes = 0
    for k, count in enumerate(sizes):
        sdir = os.path.join(directory, f"series-{count}")
        os.makedirs(sdir)
        sops = []
        for i in range(count):
            sop = corpus.uid(CORPUS_CODE, 1, sop_index)
            sop_index += 1
            values = {
                corpus.P_SOP: sop,
                corpus.P_SERIES: series_uid(k),
                corpus.P_STUDY: study_uid(),
                corpus.P_FOR: corpus.uid(CORPUS_CODE, 4, k),
                corpus.P_PATID: PATIENT_ID,
                corpus.P_PATNAME: PATIENT_NAME,
                corpus.P_BIRTH: BIRTH_DATE,
                corpus.P_DATE: STUDY_DATE,
                corpus.P_TIME: STUDY_TIME,
                corpus.P_ACCESSION: ACCESSION,
                corpus.P_STUDYID: STUDY_ID,
                corpus.P_SERIESNO: f"{k + 1:04d}",
                corpus.P_INSTNO: f"{i + 1:06d}",
                corpus.P_Z: f"{0.0 - 1.25 * i:+010.3f}",
            }
            h = corpus.fill_template(header, slots, segments, values)
            with open(os.path.join(sdir, f"{i:06d}.dcm"), "wb") as f:
                f.write(h)
                f.write(tail)
            total_bytes += len(h) + len(tail)
            sops.append(sop)
        series.append({"count": count, "series_uid": series_uid(k), "directory": sdir, "sop_uids": sops})
    manifest = {"params": params, "study_uid": study_uid(), "patient_id": PATIENT_ID, "series": series,
                "rows": SIZE, "columns": SIZE, "frame_bytes": SIZE * SIZE * 2, "total_bytes": total_bytes,
                "seconds": round(time.perf_counter() - t0, 2)}
    with open(manifest_path, "w") as f:
        json.dump(manifest, f)
    progress(f"  extra series {sizes}: generated {sum(sizes)} files ({total_bytes / 1e6:.0f} MB) in "
             f"{manifest['seconds']} s")
    return manifest
