"""The CT series of the screens' benchmark: N slices of 512x512, 16-bit, each different (a body whose
lungs, heart and spine change from slice to slice, with noise), so that a viewer's canvas changes with
every image. Written with pydicom and numpy, cached under bench/.work/corpus/ by its parameters.

Layout: DIR/NNNN.dcm; DIR.json is the manifest (UIDs)."""

import json
import os

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

import corpus  # bench/ingest/corpus.py (the caller puts bench/ingest on sys.path)

GENERATOR_VERSION = 1
CORPUS_CODE = "41"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
PATIENT_ID = "WEB0000001"
PATIENT_NAME = "SCREENS^BENCH"


def slice_hu(z: float, size: int, rng) -> np.ndarray:
    """Hounsfield units of one axial slice at z in [0, 1] (feet to head)."""
    y, x = (np.mgrid[0:size, 0:size] - (size - 1) / 2) / (size / 2)
    hu = np.full((size, size), -1000.0)
    body = (x / 0.8) ** 2 + (y / 0.6) ** 2 <= 1
    hu[body] = 40
    lung = 0.25 + 0.15 * np.sin(np.pi * z)
    for side in (-1, 1):
        hu[((x - side * 0.38) / lung) ** 2 + ((y + 0.05) / (lung * 1.6)) ** 2 <= 1] = -820
    hu[(x / (0.12 + 0.1 * z)) ** 2 + ((y - 0.1) / 0.14) ** 2 <= 1] = 45          # heart
    hu[(x ** 2 + (y - 0.45) ** 2) <= 0.07 ** 2] = 700                              # spine
    hu += rng.normal(0, 12, hu.shape)
    return hu


def generate(directory, count, size=512, progress=print):
    params = {"generator": GENERATOR_VERSION, "count": count, "size": size}
    manifest_path = directory.rstrip("/") + ".json"
    cached = corpus.cached_manifest(directory, manifest_path, params)
    if cached:
        progress(f"  screens series: cached in {directory} ({count} slices)")
        return cached
    study, series, frame = (corpus.uid(CORPUS_CODE, kind, 0) for kind in (3, 2, 4))
    sops = []
    rng = np.random.default_rng(41)
    for i in range(count):
        sop = corpus.uid(CORPUS_CODE, 1, i)
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = CT_IMAGE_STORAGE, sop
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID, ds.SOPInstanceUID = CT_IMAGE_STORAGE, sop
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = PATIENT_NAME, PATIENT_ID, "19600101", "F"
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20250101"
        ds.StudyTime = ds.SeriesTime = "090000"
        ds.AccessionNumber, ds.StudyID, ds.StudyDescription = "WEB00001", "1", "CT CHEST (screens bench)"
        ds.Modality, ds.SeriesNumber, ds.SeriesDescription, ds.InstanceNumber = "CT", 1, "AXIAL 1.25", i + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.ImagePositionPatient, ds.ImageOrientationPatient = [-250, -250, -1.25 * i], [1, 0, 0, 0, 1, 0]
        ds.SliceLocation, ds.SliceThickness, ds.PixelSpacing = -1.25 * i, 1.25, [0.9765625, 0.9765625]
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.Rows, ds.Columns = 1, "MONOCHROME2", size, size
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope, ds.WindowCenter, ds.WindowWidth = -1024, 1, 40, 400
        stored = np.clip(slice_hu(i / max(1, count - 1), size, rng) + 1024, -32768, 32767).astype("<i2")
        ds.PixelData = stored.tobytes()
        os.makedirs(directory, exist_ok=True)
        ds.save_as(os.path.join(directory, f"{i:04d}.dcm"), enforce_file_format=True)
        sops.append(sop)
    manifest = {"params": params, "study_uid": study, "series_uid": series, "sop_uids": sops, "rows": size, "columns": size}
    with open(manifest_path, "w") as f:
        json.dump(manifest, f)
    progress(f"  screens series: generated {count} slices of {size}x{size} in {directory}")
    return manifest
