"""Small CT instances written exactly as a test gives them (odd UIDs included), and the two ways to
store one: a C-STORE whose status is returned as it came, and a STOW-RS of its Part-10 bytes."""

import random
import sys
from io import BytesIO
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench" / "ingest"))
import dimse  # noqa: E402

from dicomweb_support import encode_multipart  # noqa: E402
from loupe_corpus import CT_IMAGE_STORAGE  # noqa: E402
from loupe_support import http_session  # noqa: E402


def instance(study_uid: str, rng: random.Random) -> tuple[pydicom.Dataset, bytes]:
    """A small CT whose Study Instance UID is written exactly as given; (data set, its bytes in
    Explicit VR Little Endian)."""
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.SOPClassUID, ds.SOPInstanceUID = CT_IMAGE_STORAGE, generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, generate_uid()
    ds.PatientID, ds.PatientName, ds.Modality = "UIDS-1", "UID^TEST", "CT"
    ds.Rows = ds.Columns = 16
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.random.default_rng(rng.getrandbits(32)).integers(0, 4096, (16, 16), dtype=np.uint16).tobytes()
    return ds, dimse.encode_dataset(ds, dimse.EXPLICIT_LE)


def part10(ds: pydicom.Dataset) -> bytes:
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def c_store(node, ds: pydicom.Dataset, data: bytes) -> int:
    with dimse.Association("127.0.0.1", int(node.port), node.ae, "UIDSCU", abstract_syntaxes=(CT_IMAGE_STORAGE,),
                           transfer_syntaxes=(dimse.EXPLICIT_LE,)) as association:
        return association.store(CT_IMAGE_STORAGE, ds.SOPInstanceUID, data)


def stow(node, ds: pydicom.Dataset):
    body = encode_multipart([part10(ds)], "uids-boundary")
    return http_session().post(f"{node.base_url}/studies", data=body, timeout=30, headers={
        "Content-Type": 'multipart/related; type="application/dicom"; boundary=uids-boundary',
        "Accept": "application/dicom+json"})
