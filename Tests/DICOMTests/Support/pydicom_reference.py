"""What pydicom reads from its own bundled test files: the reference the DICOM reader is checked against.

With arguments `json FILE`, prints pydicom's DICOM JSON of FILE instead. Otherwise prints one JSON object: {"files": [{"path", "transfer_syntax", "sop_instance_uid", "tags", "strings",
"sequences", "fragments"}]}. Only files pydicom ships are used; nothing is downloaded.
"""
import json
import os
import sys
import warnings

import pydicom
from pydicom.valuerep import PersonName

warnings.simplefilter("ignore")
base = os.path.join(os.path.dirname(pydicom.__file__), "data")
TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}


def text(value):
    if isinstance(value, (list, pydicom.multival.MultiValue)):
        return "\\".join(text(v) for v in value)
    if isinstance(value, PersonName):
        return str(value)
    return str(value)


def describe(path):
    ds = pydicom.dcmread(path, force=True)
    ds.decode()
    meta = getattr(ds, "file_meta", None)
    entry = {
        "path": path,
        "transfer_syntax": str(meta.TransferSyntaxUID) if meta is not None and "TransferSyntaxUID" in meta else None,
        "tags": [f"{int(e.tag):08X}" for e in ds],
        "strings": {},
        "sequences": {},
        "fragments": None,
    }
    for e in ds:
        if e.VR in TEXT_VRS and e.value not in (None, "") and e.VM > 0:
            entry["strings"][f"{int(e.tag):08X}"] = text(e.value)
        if e.VR == "SQ":
            entry["sequences"][f"{int(e.tag):08X}"] = len(e.value)
    if "PixelData" in ds and meta is not None and "TransferSyntaxUID" in meta and meta.TransferSyntaxUID.is_compressed:
        from pydicom.encaps import generate_fragments
        entry["fragments"] = sum(1 for _ in generate_fragments(ds.PixelData)) - 1
    return entry


if len(sys.argv) == 3 and sys.argv[1] == "json":
    # pydicom's DICOM JSON of one file; bulk values above 1024 bytes become the URI "bulk".
    ds = pydicom.dcmread(sys.argv[2], force=True)
    print(json.dumps(ds.to_json_dict(bulk_data_threshold=1024, bulk_data_element_handler=lambda e: "bulk")))
    sys.exit(0)

files = []
for folder in ("test_files", "charset_files"):
    for name in sorted(os.listdir(os.path.join(base, folder))):
        path = os.path.join(base, folder, name)
        if not name.endswith(".dcm") or not os.path.isfile(path):
            continue
        try:
            files.append(describe(path))
        except Exception as error:  # pydicom itself cannot read it: not a reference
            print(f"skipping {name}: {error}", file=sys.stderr)
print(json.dumps({"files": files}))
