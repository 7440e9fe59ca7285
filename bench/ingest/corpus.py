"""Synthetic CT corpora, generated once and cached under bench/.work/.

One complete CT data set is built with pydicom (realistic CT Image attributes, Explicit VR Little
Endian, Part-10 file meta) whose varying values are fixed-length placeholders. Each instance is
that template with the placeholders replaced (same lengths, so element lengths and the meta group
length stay valid) and the constant pixel data appended. This writes ~100k files in seconds,
where pydicom per file would take minutes.

Layout: DIR/part0 .. DIR/part3, contiguous quarters of the corpus (whole studies stay together
when the counts allow it), so 4 parallel senders can each take one directory.
"""

import array
import datetime
import io
import json
import math
import os
import random
import shutil
import sys
import time

from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

GENERATOR_VERSION = 3
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
UID_ROOT = "1.2.826.0.1.3680043.8.498."  # pydicom's root, plus our own suffixes
PARTS = 4

SYLLABLES_1 = ["BAR", "KEL", "MOR", "TAN", "VIL", "DUR", "SON", "PER", "LAN", "HOL"]
SYLLABLES_2 = ["KIN", "TON", "VAS", "RIK", "DEL", "MAN", "BER", "SEN", "LOW", "GAR"]
GIVEN = ["ANNA", "JOHN", "MARA", "PAUL", "LENA", "ERIK", "NINA", "OSKR", "IDAH", "LUKE"]

# Placeholders: each is unique in the template header and has the length of every real value.
P_SOP = UID_ROOT + "99.1.9876543210"
P_SERIES = UID_ROOT + "99.2.9876543210"
P_STUDY = UID_ROOT + "99.3.9876543210"
P_FOR = UID_ROOT + "99.4.9876543210"
P_PATID = "ZQPATIDZQZ"       # BP + 8 digits
P_PATNAME = "QZQZQZ^QZQZ"    # SURNAM^GIVN
P_BIRTH = "18880808"
P_DATE = "20990101"          # StudyDate, also Series/Acquisition/Content/InstanceCreation date
P_TIME = "101010"
P_ACCESSION = "ACZQZQZQZQ"   # AC + 8 digits
P_STUDYID = "STZQZQZQ"       # ST + 6 digits
P_SERIESNO = "9091"
P_INSTNO = "707172"
P_Z = "+09999.999"
PLACEHOLDERS = [P_SOP, P_SERIES, P_STUDY, P_FOR, P_PATID, P_PATNAME, P_BIRTH, P_DATE, P_TIME, P_ACCESSION,
                P_STUDYID, P_SERIESNO, P_INSTNO, P_Z]


def uid(corpus_code, kind, index):
    return f"{UID_ROOT}{corpus_code}.{kind}.{1000000000 + index}"


def patient_name(p):
    return f"{SYLLABLES_1[p % 10]}{SYLLABLES_2[(p // 10) % 10]}^{GIVEN[(p // 100) % 10]}"


def study_date(global_study):
    # Spread over ten years, deterministically scrambled so that dates do not follow arrival order.
    day = (global_study * 7919) % 3650
    return (datetime.date(2015, 1, 1) + datetime.timedelta(days=day)).strftime("%Y%m%d")


def birth_date(p):
    return (datetime.date(1930, 1, 1) + datetime.timedelta(days=(p * 3571) % 25000)).strftime("%Y%m%d")


def _pixels(size):
    """A CT-like slice: air outside, a water disc with a little noise, a bone ring. Stored values
    are HU + 1024 as signed 16-bit little endian (pure Python: numpy is not needed)."""
    rng = random.Random(size)
    c = (size - 1) / 2
    out = array.array("h")
    for y in range(size):
        for x in range(size):
            r = math.hypot(x - c, y - c) / (size / 2)
            hu = 900.0 if 0.78 <= r < 0.85 else (40.0 if r < 0.78 else -1000.0)
            out.append(int(hu + rng.gauss(0, 12)) + 1024)
    if sys.byteorder == "big":
        out.byteswap()
    return out.tobytes()


def _template(size):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = P_SOP
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = UID_ROOT + "77.1"
    meta.ImplementationVersionName = "LOUPE_BENCH"
    ds = FileDataset("template.dcm", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.InstanceCreationDate = P_DATE
    ds.InstanceCreationTime = P_TIME
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.SOPInstanceUID = P_SOP
    ds.StudyDate = P_DATE
    ds.SeriesDate = P_DATE
    ds.AcquisitionDate = P_DATE
    ds.ContentDate = P_DATE
    ds.StudyTime = P_TIME
    ds.SeriesTime = P_TIME
    ds.AcquisitionTime = P_TIME
    ds.ContentTime = P_TIME
    ds.AccessionNumber = P_ACCESSION
    ds.Modality = "CT"
    ds.Manufacturer = "LOUPE BENCH"
    ds.InstitutionName = "BENCH GENERAL HOSPITAL"
    ds.ReferringPhysicianName = "REFERRER^RITA"
    ds.StationName = "CT01"
    ds.StudyDescription = "CT CHEST ABDOMEN PELVIS"
    ds.SeriesDescription = "AXIAL 1.25MM STD"
    ds.ManufacturerModelName = "SYNTHETIC 64"
    ds.PatientName = P_PATNAME
    ds.PatientID = P_PATID
    ds.PatientBirthDate = P_BIRTH
    ds.PatientSex = "O"
    ds.BodyPartExamined = "CHEST"
    ds.SliceThickness = "1.25"
    ds.KVP = "120"
    ds.DataCollectionDiameter = "500"
    ds.ReconstructionDiameter = "360"
    ds.GantryDetectorTilt = "0"
    ds.TableHeight = "150"
    ds.RotationDirection = "CW"
    ds.ExposureTime = "500"
    ds.XRayTubeCurrent = "250"
    ds.Exposure = "125"
    ds.ConvolutionKernel = "STANDARD"
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = P_STUDY
    ds.SeriesInstanceUID = P_SERIES
    ds.StudyID = P_STUDYID
    ds.SeriesNumber = P_SERIESNO
    ds.AcquisitionNumber = "1"
    ds.InstanceNumber = P_INSTNO
    ds.ImagePositionPatient = ["-180.000", "-180.000", P_Z]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.FrameOfReferenceUID = P_FOR
    ds.PositionReferenceIndicator = ""
    ds.SliceLocation = P_Z
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = size
    ds.Columns = size
    spacing = f"{360.0 / size:.6f}".rstrip("0")
    ds.PixelSpacing = [spacing, spacing]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.PixelData = _pixels(size)
    ds["PixelData"].VR = "OW"

    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    data = buf.getvalue()
    pixel_tag = b"\xe0\x7f\x10\x00OW"
    cut = data.rindex(pixel_tag)
    header, tail = data[:cut], data[cut:]
    expected = {P_SOP: 2, P_SERIES: 1, P_STUDY: 1, P_FOR: 1, P_PATID: 1, P_PATNAME: 1, P_BIRTH: 1,
                P_DATE: 5, P_TIME: 5, P_ACCESSION: 1, P_STUDYID: 1, P_SERIESNO: 1, P_INSTNO: 1, P_Z: 2}
    for placeholder, n in expected.items():
        found = header.count(placeholder.encode())
        if found != n:
            raise AssertionError(f"placeholder {placeholder} occurs {found} times, expected {n}")
    return header, tail


def _slots(header):
    """Positions of the placeholders in the template header: the placeholders in order and the
    constant segments around them (values are spliced in by position, never by search-and-replace,
    so that one value can never be mistaken for another placeholder)."""
    found = []
    for placeholder in PLACEHOLDERS:
        token = placeholder.encode()
        start = 0
        while (at := header.find(token, start)) >= 0:
            found.append((at, placeholder))
            start = at + len(token)
    found.sort()
    slots, segments, pos = [], [], 0
    for at, placeholder in found:
        if at < pos:
            raise AssertionError(f"placeholder {placeholder} overlaps another one")
        segments.append(header[pos:at])
        slots.append(placeholder)
        pos = at + len(placeholder)
    segments.append(header[pos:])
    return slots, segments


class Layout:
    def __init__(self, instances_per_series, series_per_study, studies_per_patient):
        self.per_series = instances_per_series
        self.series_per_study = series_per_study
        self.studies_per_patient = studies_per_patient

    @property
    def per_study(self):
        return self.per_series * self.series_per_study

    @property
    def per_patient(self):
        return self.per_study * self.studies_per_patient

    def describe(self):
        return (f"{self.studies_per_patient} studies/patient x {self.series_per_study} series/study x "
                f"{self.per_series} instances/series")


def fill_template(header, slots, segments, values):
    """The template header with each placeholder slot replaced by its value (of the same length)."""
    pieces = [segments[0]]
    for placeholder, segment in zip(slots, segments[1:]):
        pieces.append(values[placeholder].encode())
        pieces.append(segment)
    filled = b"".join(pieces)
    assert len(filled) == len(header)
    return filled


def cached_manifest(directory, manifest_path, params):
    """The manifest of a cached corpus written with these parameters; else None, with the directory
    emptied and the stale manifest removed, ready to be written."""
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
        if manifest.get("params") == params:
            return manifest
    shutil.rmtree(directory, ignore_errors=True)
    if os.path.exists(manifest_path):
        os.remove(manifest_path)
    os.makedirs(directory)
    return None


def generate(directory, name, count, size, layout, corpus_code, progress=print, parts=PARTS):
    """Writes the corpus (or reuses a cached one with the same parameters) in `parts` directories
    of consecutive files. Returns its manifest."""
    params = {"generator": GENERATOR_VERSION, "name": name, "count": count, "size": size,
              "per_series": layout.per_series, "series_per_study": layout.series_per_study,
              "studies_per_patient": layout.studies_per_patient, "corpus_code": corpus_code, "parts": parts}
    # Beside the corpus, not in it: senders and importers scan the directory.
    manifest_path = directory.rstrip("/") + ".json"
    cached = cached_manifest(directory, manifest_path, params)
    if cached:
        progress(f"  corpus {name}: cached in {directory} ({count} files)")
        return cached
    t0 = time.perf_counter()
    header, tail = _template(size)
    slots, segments = _slots(header)
    part_count = parts
    parts = [os.path.join(directory, f"part{k}") for k in range(part_count)]
    for p in parts:
        os.makedirs(p)
    studies = set()
    patients = set()
    total_bytes = 0
    for i in range(count):
        instance_in_series = i % layout.per_series
        series_global = i // layout.per_series
        series_in_study = series_global % layout.series_per_study
        study_global = i // layout.per_study
        patient = i // layout.per_patient
        studies.add(study_global)
        patients.add(patient)
        values = {
            P_SOP: uid(corpus_code, 1, i),
            P_SERIES: uid(corpus_code, 2, series_global),
            P_STUDY: uid(corpus_code, 3, study_global),
            P_FOR: uid(corpus_code, 4, series_global),
            P_PATID: f"BP{patient:08d}",
            P_PATNAME: patient_name(patient),
            P_BIRTH: birth_date(patient),
            P_DATE: study_date(study_global),
            P_TIME: f"{8 + study_global % 10:02d}{study_global % 60:02d}{series_in_study % 60:02d}",
            P_ACCESSION: f"AC{study_global:08d}",
            P_STUDYID: f"ST{study_global % 1000000:06d}",
            P_SERIESNO: f"{series_in_study + 1:04d}",
            P_INSTNO: f"{instance_in_series + 1:06d}",
            P_Z: f"{0.0 - 1.25 * instance_in_series:+010.3f}",
        }
        h = fill_template(header, slots, segments, values)
        part = min(part_count - 1, i * part_count // count)
        with open(os.path.join(parts[part], f"{i:08d}.dcm"), "wb") as f:
            f.write(h)
            f.write(tail)
        total_bytes += len(h) + len(tail)
        if count >= 20000 and (i + 1) % 20000 == 0:
            progress(f"  corpus {name}: {i + 1}/{count} files")
    manifest = {"params": params, "studies": len(studies), "patients": len(patients),
                "file_bytes": len(header) + len(tail), "total_bytes": total_bytes,
                "seconds": round(time.perf_counter() - t0, 2)}
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=2)
    progress(f"  corpus {name}: generated {count} files ({total_bytes / 1e6:.1f} MB, "
             f"{manifest['studies']} studies, {manifest['patients']} patients) in {manifest['seconds']} s")
    return manifest


def part_dirs(directory):
    """The corpus's part directories, in order."""
    names = [n for n in os.listdir(directory) if n.startswith("part") and n[4:].isdigit()]
    return [os.path.join(directory, n) for n in sorted(names, key=lambda n: int(n[4:]))]


def senders(directory, associations):
    """The part directories each of `associations` senders sends (every part once)."""
    parts = part_dirs(directory)
    if associations == 1:
        return [parts]
    if len(parts) % associations:
        raise SystemExit(f"{directory} has {len(parts)} parts: it cannot be shared by {associations} associations")
    return [parts[k::associations] for k in range(associations)]


def read_all(directory):
    """Reads every file once so that senders find the corpus in the page cache."""
    n = 0
    for root, _d, files in os.walk(directory):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                while f.read(1 << 20):
                    pass
            n += 1
    return n
