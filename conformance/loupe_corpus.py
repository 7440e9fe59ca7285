"""Test data for the conformance suite, and the expected answers computed from it.

* `generate_ct_corpus` writes a small multi-patient CT/MR corpus with pydicom (64x64 images,
  Explicit VR Little Endian, file meta, realistic attributes, fresh UIDs each run).
* `select_pydicom_corpus` picks pydicom's bundled test files that are storable instances.
* `ArchiveModel` holds the attributes of every instance sent to a node and answers, independently
  of Loupe, which entities a C-FIND identifier must match (PS3.4 C.2.2.2 matching rules) and what
  the computed attributes (counts, ModalitiesInStudy) must be.
"""

from __future__ import annotations

import array
import glob
import os
import re
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
import pydicom.data
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"

# ---- the generated corpus -----------------------------------------------------------------------

PATIENTS = {
    "mueller": dict(PatientID="LOUPE-CF-P1", PatientName="Müller^Jörg", PatientBirthDate="19580412", PatientSex="M"),
    "doejohn": dict(PatientID="LOUPE-CF-P2", PatientName="DOE^JOHN", PatientBirthDate="19700101", PatientSex="M"),
    "doejane": dict(PatientID="LOUPE-CF-P3", PatientName="Doe^Jane", PatientBirthDate="19851224", PatientSex="F"),
}

# One entry per study: its patient, character set, study attributes and series (modality,
# number of images, description). Dates and times sit on range boundaries on purpose.
STUDIES = [
    dict(key="S1", patient="mueller", charset="ISO_IR 192", StudyDate="20230115", StudyTime="083000",
         AccessionNumber="CF-ACC-1001", StudyID="1001", StudyDescription="CT CHEST",
         ReferringPhysicianName="Schäfer^Anna",
         series=[("CT", 3, "THORAX AXIAL"), ("MR", 2, "THORAX T2")]),
    dict(key="S2", patient="mueller", charset="ISO_IR 100", StudyDate="20221120", StudyTime="141500",
         AccessionNumber="CF-ACC-1002", StudyID="1002", StudyDescription="CT ABDOMEN",
         ReferringPhysicianName="Smith^Robert",
         series=[("CT", 2, "ABDOMEN VENOUS")]),
    dict(key="S3", patient="doejohn", charset=None, StudyDate="20230131", StudyTime="235959",
         AccessionNumber="CF-ACC-2001", StudyID="2001", StudyDescription="MR BRAIN",
         ReferringPhysicianName="Garcia^Maria",
         series=[("MR", 2, "BRAIN T1")]),
    dict(key="S4", patient="doejohn", charset=None, StudyDate="20240210", StudyTime="101010.5",
         AccessionNumber="CF-ACC-2002", StudyID="2002", StudyDescription="CT HEAD",
         ReferringPhysicianName="Smith^Robert",
         series=[("CT", 2, "HEAD AXIAL"), ("CT", 1, "HEAD SCOUT")]),
    dict(key="S5", patient="doejane", charset=None, StudyDate="20230101", StudyTime="000000",
         AccessionNumber="CF-ACC-3001", StudyID="3001", StudyDescription="MR KNEE",
         ReferringPhysicianName="Garcia^Maria",
         series=[("MR", 3, "KNEE PD")]),
    dict(key="S6", patient="doejane", charset="ISO_IR 192", StudyDate="20211231", StudyTime="120000",
         AccessionNumber="CF-ACC-3002", StudyID="3002", StudyDescription="CT SPINE",
         ReferringPhysicianName="Schäfer^Anna",
         series=[("CT", 1, "SPINE SAGITTAL")]),
]


def _pixels(seed: int, rows: int = 64, columns: int = 64) -> bytes:
    values = array.array("H", ((seed * 37 + r * 11 + c * 5 + (r * c) % 17) % 4096
                               for r in range(rows) for c in range(columns)))
    if values.itemsize != 2:
        raise RuntimeError("unsigned short is not 16 bits here")
    import sys
    if sys.byteorder != "little":
        values.byteswap()
    return values.tobytes()


@dataclass
class GeneratedCorpus:
    directory: Path
    instances: list                                  # dicts of attributes (str values), with "path"
    studies: dict = field(default_factory=dict)      # key ("S1".."S6") -> StudyInstanceUID

    def files(self, study_keys=None) -> list:
        uids = None if study_keys is None else {self.studies[k] for k in study_keys}
        return [i["path"] for i in self.instances if uids is None or i["StudyInstanceUID"] in uids]

    def study(self, key: str) -> list:
        return [i for i in self.instances if i["StudyInstanceUID"] == self.studies[key]]

    @property
    def sop_classes(self) -> set:
        return {i["SOPClassUID"] for i in self.instances}


def generate_ct_corpus(directory: Path) -> GeneratedCorpus:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    instances = []
    studies = {}
    seed = 0
    for study in STUDIES:
        patient = PATIENTS[study["patient"]]
        study_uid = generate_uid()
        studies[study["key"]] = study_uid
        frame_of_reference = generate_uid()
        for series_number, (modality, count, series_description) in enumerate(study["series"], start=1):
            series_uid = generate_uid()
            series_time = study["StudyTime"].split(".")[0][:4] + f"{series_number:02d}"
            for instance_number in range(1, count + 1):
                seed += 1
                sop_class = CT_IMAGE_STORAGE if modality == "CT" else MR_IMAGE_STORAGE
                sop_uid = generate_uid()
                ds = Dataset()
                if study["charset"]:
                    ds.SpecificCharacterSet = study["charset"]
                ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
                ds.SOPClassUID = sop_class
                ds.SOPInstanceUID = sop_uid
                ds.StudyDate = study["StudyDate"]
                ds.SeriesDate = study["StudyDate"]
                ds.ContentDate = study["StudyDate"]
                ds.StudyTime = study["StudyTime"]
                ds.SeriesTime = series_time
                ds.ContentTime = series_time
                ds.AccessionNumber = study["AccessionNumber"]
                ds.Modality = modality
                ds.Manufacturer = "Loupe Conformance"
                ds.InstitutionName = "Hôpital Général"
                ds.ReferringPhysicianName = study["ReferringPhysicianName"]
                ds.StationName = "CF-STATION"
                ds.StudyDescription = study["StudyDescription"]
                ds.SeriesDescription = series_description
                ds.ManufacturerModelName = "Synthetic"
                ds.PatientName = patient["PatientName"]
                ds.PatientID = patient["PatientID"]
                ds.PatientBirthDate = patient["PatientBirthDate"]
                ds.PatientSex = patient["PatientSex"]
                ds.BodyPartExamined = series_description.split()[0]
                ds.SliceThickness = "1.5"
                if modality == "CT":
                    ds.KVP = "120"
                else:
                    ds.ScanningSequence = "SE"
                    ds.SequenceVariant = "NONE"
                    ds.MagneticFieldStrength = "1.5"
                    ds.EchoTime = "15"
                    ds.RepetitionTime = "500"
                ds.StudyInstanceUID = study_uid
                ds.SeriesInstanceUID = series_uid
                ds.StudyID = study["StudyID"]
                ds.SeriesNumber = series_number
                ds.InstanceNumber = instance_number
                ds.ImagePositionPatient = [-160, -160, -1.5 * instance_number]
                ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
                ds.FrameOfReferenceUID = frame_of_reference
                ds.SliceLocation = f"{-1.5 * instance_number:.1f}"
                ds.SamplesPerPixel = 1
                ds.PhotometricInterpretation = "MONOCHROME2"
                ds.Rows = 64
                ds.Columns = 64
                ds.PixelSpacing = [0.5, 0.5]
                ds.BitsAllocated = 16
                ds.BitsStored = 12
                ds.HighBit = 11
                ds.PixelRepresentation = 0
                if modality == "CT":
                    ds.RescaleIntercept = "-1024"
                    ds.RescaleSlope = "1"
                ds.WindowCenter = "40"
                ds.WindowWidth = "400"
                ds.PixelData = _pixels(seed)

                meta = FileMetaDataset()
                meta.MediaStorageSOPClassUID = sop_class
                meta.MediaStorageSOPInstanceUID = sop_uid
                meta.TransferSyntaxUID = ExplicitVRLittleEndian
                ds.file_meta = meta
                path = directory / study["key"] / f"{modality}{series_number}" / f"IM{instance_number:04d}.dcm"
                path.parent.mkdir(parents=True, exist_ok=True)
                ds.save_as(path, enforce_file_format=True)

                instances.append(dict(
                    path=path,
                    PatientID=patient["PatientID"], PatientName=patient["PatientName"],
                    PatientBirthDate=patient["PatientBirthDate"], PatientSex=patient["PatientSex"],
                    StudyInstanceUID=study_uid, StudyDate=study["StudyDate"], StudyTime=study["StudyTime"],
                    AccessionNumber=study["AccessionNumber"], StudyID=study["StudyID"],
                    StudyDescription=study["StudyDescription"],
                    ReferringPhysicianName=study["ReferringPhysicianName"],
                    SeriesInstanceUID=series_uid, Modality=modality, SeriesNumber=str(series_number),
                    SeriesDescription=series_description,
                    SOPInstanceUID=sop_uid, SOPClassUID=sop_class, InstanceNumber=str(instance_number),
                ))
    return GeneratedCorpus(directory, instances, studies)


# ---- pydicom's bundled files ---------------------------------------------------------------------

@dataclass
class PydicomCorpus:
    candidates: list     # storable files, sorted
    primary: list        # first file of each SOP Instance UID
    duplicates: list     # later files whose SOP Instance UID an earlier one has
    uid_of: dict         # path -> SOP Instance UID
    sop_classes: set


def select_pydicom_corpus(parses_with_dcmtk) -> PydicomCorpus:
    """pydicom's bundled test files (test_files and charset_files, never downloaded) that are
    storable instances: file meta with a transfer syntax and SOP class, SOP/Study/Series Instance
    UIDs, and a body that both pydicom and DCMTK (`parses_with_dcmtk(path)`) read to the end
    (pydicom ships deliberately truncated files)."""
    base = os.path.dirname(pydicom.data.__file__)
    paths = sorted(glob.glob(os.path.join(base, "test_files", "*.dcm"))) + \
        sorted(glob.glob(os.path.join(base, "charset_files", "*.dcm")))
    candidates, uid_of, classes = [], {}, set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in paths:
            try:
                ds = pydicom.dcmread(path)
                meta = ds.file_meta
                if not (meta.get("TransferSyntaxUID") and meta.get("MediaStorageSOPClassUID")):
                    continue
                if not (ds.get("SOPInstanceUID") and ds.get("StudyInstanceUID") and ds.get("SeriesInstanceUID")):
                    continue
            except Exception:
                continue
            if not parses_with_dcmtk(path):
                continue
            candidates.append(Path(path))
            uid_of[Path(path)] = str(ds.SOPInstanceUID)
            classes.add(str(meta.MediaStorageSOPClassUID))
    primary, duplicates, seen = [], [], set()
    for path in candidates:
        (duplicates if uid_of[path] in seen else primary).append(path)
        seen.add(uid_of[path])
    return PydicomCorpus(candidates, primary, duplicates, uid_of, classes)


MODEL_KEYWORDS = [
    "PatientID", "PatientName", "PatientBirthDate", "PatientSex",
    "StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber", "StudyID", "StudyDescription",
    "ReferringPhysicianName",
    "SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription",
    "SOPInstanceUID", "SOPClassUID", "InstanceNumber",
]


def text_value(value) -> str:
    """A pydicom element value as DICOM text: multiple values joined with a backslash."""
    if value is None:
        return ""
    if isinstance(value, (list, MultiValue)):
        return "\\".join(str(v) for v in value)
    return str(value)


def instance_record(path: Path) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    record = {kw: text_value(ds.get(kw)).strip(" \0") for kw in MODEL_KEYWORDS}
    record["path"] = Path(path)
    return record


# ---- matching (PS3.4 C.2.2.2), independent of Loupe's code -------------------------------------

LEVELS = ["PATIENT", "STUDY", "SERIES", "IMAGE"]
ID_KEYWORD = {"PATIENT": "PatientID", "STUDY": "StudyInstanceUID", "SERIES": "SeriesInstanceUID",
              "IMAGE": "SOPInstanceUID"}
ATTRIBUTES = {
    # keyword: (level, VR)
    "PatientName": ("PATIENT", "PN"), "PatientID": ("PATIENT", "LO"), "PatientBirthDate": ("PATIENT", "DA"),
    "PatientSex": ("PATIENT", "CS"),
    "StudyInstanceUID": ("STUDY", "UI"), "StudyDate": ("STUDY", "DA"), "StudyTime": ("STUDY", "TM"),
    "AccessionNumber": ("STUDY", "SH"), "StudyID": ("STUDY", "SH"), "StudyDescription": ("STUDY", "LO"),
    "ReferringPhysicianName": ("STUDY", "PN"), "ModalitiesInStudy": ("STUDY", "CS"),
    "SeriesInstanceUID": ("SERIES", "UI"), "Modality": ("SERIES", "CS"), "SeriesNumber": ("SERIES", "IS"),
    "SeriesDescription": ("SERIES", "LO"),
    "SOPInstanceUID": ("IMAGE", "UI"), "SOPClassUID": ("IMAGE", "UI"), "InstanceNumber": ("IMAGE", "IS"),
}
STRING_VRS = {"AE", "CS", "LO", "PN", "SH", "LT", "ST", "UT", "UC", "AS"}
SINGLE_VALUED_TEXT = {"LT", "ST", "UT"}


def fold(text: str) -> str:
    """Case- and accent-insensitive form of a person name."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _wildcard_regex(pattern: str) -> re.Pattern:
    out = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(out + r"\Z", re.DOTALL)


def _date(value: str, upper: bool) -> str:
    v = value.replace(".", "").strip()
    if len(v) >= 8:
        return v[:8]
    return v + ("99991231" if upper else "00000101")[len(v):]


def _time(value: str, upper: bool) -> str:
    v = value.replace(":", "").strip()
    whole, _, fraction = v.partition(".")
    whole = whole[:6]
    whole += ("235959" if upper else "000000")[len(whole):]
    fraction = (fraction + ("9" if upper else "0") * 6)[:6]
    return whole + "." + fraction


def _normal(value: str, vr: str, upper: bool = False) -> str:
    if vr == "DA":
        return _date(value, upper)
    if vr == "TM":
        return _time(value, upper)
    return value


def matches(query: str, stored: str, vr: str) -> bool:
    """Whether a stored attribute value matches a C-FIND key value."""
    query = query.strip(" ")
    if query == "" or (vr in STRING_VRS and query == "*"):
        return True                                                   # universal matching
    if "\\" in query and vr not in SINGLE_VALUED_TEXT:               # UID list / multiple values
        return any(matches(part, stored, vr) for part in query.split("\\") if part)
    if stored is None or stored.strip(" ") == "":
        return False
    values = [stored] if vr in SINGLE_VALUED_TEXT else [v.strip(" ") for v in stored.split("\\")]
    return any(_matches_one(query, v, vr) for v in values)


def _matches_one(query: str, value: str, vr: str) -> bool:
    if vr in ("DA", "TM") and "-" in query:
        lower, _, upper = query.partition("-")
        v = _normal(value, vr)
        if lower.strip() and v < _normal(lower, vr):
            return False
        if upper.strip() and v > _normal(upper, vr, upper=True):
            return False
        return True
    if vr in ("DA", "TM"):
        return _normal(value, vr) == _normal(query, vr)
    if vr == "PN":
        query, value = fold(query), fold(value)
    if vr in STRING_VRS and ("*" in query or "?" in query):
        return _wildcard_regex(query).match(value) is not None
    if vr == "IS":
        try:
            return int(query) == int(value)
        except ValueError:
            return False
    return query == value


class ArchiveModel:
    """What a node holds, as instance records (the first copy of each SOP Instance UID)."""

    def __init__(self, records):
        self.records = []
        seen = set()
        for r in records:
            if r["SOPInstanceUID"] in seen:
                continue
            seen.add(r["SOPInstanceUID"])
            self.records.append(r)

    def groups(self, level: str) -> dict:
        out = {}
        for r in self.records:
            out.setdefault(r[ID_KEYWORD[level]], []).append(r)
        return out

    def modalities_in_study(self, study_uid: str) -> str:
        return "\\".join(sorted({r["Modality"] for r in self.records
                                 if r["StudyInstanceUID"] == study_uid and r["Modality"]}))

    def _value(self, record: dict, keyword: str) -> str:
        if keyword == "ModalitiesInStudy":
            return self.modalities_in_study(record["StudyInstanceUID"])
        return record.get(keyword, "")

    def expected(self, level: str, query: dict):
        """(ids that must match, ids whose outcome the data leave open). An entity is open when the
        instances it was built from disagree on an attribute the query tests (pydicom's files with
        an empty Patient ID, for instance): which of their values the archive keeps is not
        specified, so such an entity is neither required nor forbidden."""
        depth = LEVELS.index(level)
        keys = {k: v for k, v in query.items()
                if k in ATTRIBUTES and LEVELS.index(ATTRIBUTES[k][0]) <= depth and v not in (None, "")}
        must, open_ = set(), set()
        for entity, records in self.groups(level).items():
            outcomes = {all(matches(v, self._value(r, k), ATTRIBUTES[k][1]) for k, v in keys.items())
                        for r in records}
            if outcomes == {True}:
                must.add(entity)
            elif len(outcomes) > 1:
                open_.add(entity)
        return must, open_

    # counts (PS3.4 C.3.2 / C.6.1.1)
    def count(self, keyword: str, entity: str) -> int:
        if keyword.startswith("NumberOfPatientRelated"):
            records = [r for r in self.records if r["PatientID"] == entity]
        elif keyword.startswith("NumberOfStudyRelated"):
            records = [r for r in self.records if r["StudyInstanceUID"] == entity]
        elif keyword.startswith("NumberOfSeriesRelated"):
            records = [r for r in self.records if r["SeriesInstanceUID"] == entity]
        else:
            raise KeyError(keyword)
        if keyword.endswith("Studies"):
            return len({r["StudyInstanceUID"] for r in records})
        if keyword.endswith("Series"):
            return len({r["SeriesInstanceUID"] for r in records})
        return len(records)
