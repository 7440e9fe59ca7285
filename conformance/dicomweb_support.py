"""Helpers of the DICOMweb conformance tests: HTTP sessions and clients for a node, an RFC 2046
multipart/related reader that is stricter than the clients' own, DICOM JSON helpers, the
comparison of WADO-RS metadata with pydicom's reading of a file, and pixel data as numpy arrays.

Nothing here knows how Loupe is built: every expectation comes from PS3.18/PS3.5 or from the
files that were sent.
"""

from __future__ import annotations

import base64
import io
import json
import math
import queue
import re
import threading
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pydicom
import requests
from loupe_support import http_session
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import Tag

EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
IMPLICIT_VR_LE = "1.2.840.10008.1.2"
EXPLICIT_VR_BE = "1.2.840.10008.1.2.2"
DEFLATED_LE = "1.2.840.10008.1.2.1.99"
RLE_LOSSLESS = "1.2.840.10008.1.2.5"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_EXTENDED = "1.2.840.10008.1.2.4.51"
JPEG_LOSSLESS = "1.2.840.10008.1.2.4.57"
JPEG_LOSSLESS_SV1 = "1.2.840.10008.1.2.4.70"
JPEG_LS = {"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"}
JPEG_2000 = {"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.92", "1.2.840.10008.1.2.4.93"}
NATIVE = {EXPLICIT_VR_LE, IMPLICIT_VR_LE, EXPLICIT_VR_BE, DEFLATED_LE}

RETRIEVE_URL = "00081190"
INSTANCE_AVAILABILITY = "00080056"


# ---- HTTP ----------------------------------------------------------------------------------------

def decodable(ds) -> bool:
    """False for JPEG 2000 pixel data that pylibjpeg-openjpeg (the OpenJPEG Loupe uses) cannot
    decode either: corrupt, not renderable. Other syntaxes: DCMTK is the reference (pydicom's
    plugins here lack 12-bit JPEG and JPEG-LS), and a malformed Number of Frames (badVR.dcm) is
    no reason to refuse rendering."""
    if str(ds.file_meta.TransferSyntaxUID) not in JPEG_2000:
        return True
    try:
        ds.pixel_array
    except RuntimeError:
        return False
    return True


def wait_for_derivations(base: str, timeout: float = 600, headers=None) -> dict:
    """Polls /api/stats until no derivation is pending or running; returns the counts. `headers`:
    credentials of a node the suite did not start (a bench's)."""
    deadline = time.monotonic() + timeout
    while True:
        counts = session().get(f"{base}/api/stats", headers=headers, timeout=10).json()["derivations"]
        if counts["pending"] == 0 and counts["running"] == 0:
            return counts
        assert time.monotonic() < deadline, f"derivations not drained after {timeout} s: {counts}"
        time.sleep(0.5)


def analysis(base: str, uid: str) -> dict:
    """/api/instances/{uid}/analysis of a stored instance."""
    r = session().get(f"{base}/api/instances/{uid}/analysis", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def session(auth=True) -> requests.Session:
    """A requests session that never uses a proxy from the environment (the nodes are on loopback)
    and, unless `auth` is False, authenticates as each node's admin (loupe_support.NodeAuth)."""
    return http_session(auth)


def client(base_url: str):
    """dicomweb-client's DICOMwebClient on a node's DICOMweb root."""
    from dicomweb_client.api import DICOMwebClient
    return DICOMwebClient(url=base_url, session=session())


def describe(response: requests.Response, limit: int = 600) -> str:
    """A response for assertion messages: request line, status, headers, the start of the body."""
    body = response.content[:limit]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = repr(body)
    request = response.request
    accept = request.headers.get("Accept")
    return (f"{request.method} {request.url}" + (f" (Accept: {accept})" if accept else "")
            + f"\n-> HTTP {response.status_code} {dict(response.headers)}\n{text}")


# ---- media types -----------------------------------------------------------------------------------

_TOKEN_PARAM = re.compile(r';\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*)')


def media_type(value: str | None) -> tuple[str, dict]:
    """(type/subtype lower-cased, parameters with lower-cased names and unquoted values) of an
    RFC 7231 media type."""
    if not value:
        return "", {}
    head, _, rest = value.partition(";")
    params = {}
    for name, raw in _TOKEN_PARAM.findall(";" + rest):
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params[name.lower()] = raw
    return head.strip().lower(), params


@dataclass
class Part:
    headers: dict       # lower-cased names
    body: bytes

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")


def parse_multipart(content_type: str, body: bytes, check_type: bool = True) -> list[Part]:
    """Parts of a multipart/related body, read by RFC 2046 §5.1.1 and RFC 2387: the boundary from
    the Content-Type; every delimiter is CRLF "--" boundary at the start of a line (the first may
    open the body), followed by optional whitespace and CRLF; a part is header lines, an empty
    line, then the body up to the CRLF that belongs to the next delimiter; the close delimiter is
    "--" boundary "--". Raises AssertionError on anything malformed."""
    kind, params = media_type(content_type)
    assert kind == "multipart/related", f"not multipart/related: {content_type!r}"
    boundary = params.get("boundary")
    assert boundary, f"no boundary parameter: {content_type!r}"
    assert 1 <= len(boundary) <= 70, f"RFC 2046 boundaries are 1 to 70 characters: {boundary!r}"
    if check_type and "type" in params:
        assert "/" in params["type"], f"the type parameter is not a media type: {content_type!r}"
    dash = b"--" + boundary.encode("ascii")
    positions = []
    if body.startswith(dash):
        positions.append(0)
    start = 0
    while True:
        hit = body.find(b"\r\n" + dash, start)
        if hit < 0:
            break
        positions.append(hit + 2)
        start = hit + 2 + len(dash)
    assert positions, f"no delimiter --{boundary} in the body ({len(body)} bytes)"
    parts = []
    closed = False
    for i, pos in enumerate(positions):
        after = pos + len(dash)
        if body[after:after + 2] == b"--":
            closed = True
            assert i == len(positions) - 1, "a delimiter after the close delimiter"
            break
        line_end = body.find(b"\r\n", after)
        assert line_end >= 0 and body[after:line_end].strip(b" \t") == b"", \
            f"delimiter line --{boundary} followed by {body[after:after + 20]!r}"
        assert i + 1 < len(positions), "the body ends without a close delimiter"
        part_end = positions[i + 1] - 2            # the CRLF before the next delimiter
        raw = body[line_end + 2:part_end]
        if raw.startswith(b"\r\n"):
            head, content = b"", raw[2:]
        else:
            split = raw.find(b"\r\n\r\n")
            assert split >= 0, f"part {len(parts) + 1} has no empty line after its headers: {raw[:120]!r}"
            head, content = raw[:split], raw[split + 4:]
        headers = {}
        for line in head.decode("latin-1").split("\r\n"):
            if not line:
                continue
            name, colon, value = line.partition(":")
            assert colon, f"malformed header line in part {len(parts) + 1}: {line!r}"
            headers[name.strip().lower()] = value.strip()
        parts.append(Part(headers, content))
    assert closed, f"no close delimiter --{boundary}--"
    return parts


def multipart_response(response: requests.Response) -> list[Part]:
    return parse_multipart(response.headers.get("Content-Type", ""), response.content)


def encode_multipart(parts, boundary: str, part_type: str = "application/dicom") -> bytes:
    """A multipart/related body (RFC 2046) with one part per bytes object."""
    out = io.BytesIO()
    for data in parts:
        out.write(b"--" + boundary.encode() + b"\r\n")
        out.write(f"Content-Type: {part_type}\r\n\r\n".encode())
        out.write(data)
        out.write(b"\r\n")
    out.write(b"--" + boundary.encode() + b"--\r\n")
    return out.getvalue()


# ---- DICOM JSON ------------------------------------------------------------------------------------

def tag_key(keyword_or_tag) -> str:
    """"00100010" for PatientName, (0x0010,0x0010) or "00100010"."""
    if isinstance(keyword_or_tag, str) and re.fullmatch(r"[0-9A-Fa-f]{8}", keyword_or_tag):
        return keyword_or_tag.upper()
    return f"{int(Tag(keyword_or_tag)):08X}"


def values(item: dict, keyword_or_tag) -> list:
    """The Value array of an attribute in a DICOM JSON object ([] when absent or empty)."""
    element = item.get(tag_key(keyword_or_tag))
    if not element:
        return []
    return list(element.get("Value") or [])


def first(item: dict, keyword_or_tag, default=None):
    found = values(item, keyword_or_tag)
    return found[0] if found else default


def text(item: dict, keyword_or_tag) -> str:
    """A single string value (PN: the Alphabetic group), '' when absent."""
    value = first(item, keyword_or_tag)
    if value is None:
        return ""
    if isinstance(value, dict):
        return value.get("Alphabetic", "")
    return str(value)


def bulk_paths(item: dict, prefix: tuple = ()) -> dict:
    """{tag path (tuple of "GGGGEEEE" and item indexes): BulkDataURI} of a DICOM JSON object."""
    found = {}
    for key, element in item.items():
        if "BulkDataURI" in element:
            found[prefix + (key,)] = element["BulkDataURI"]
        if element.get("vr") == "SQ":
            for i, sub in enumerate(element.get("Value") or []):
                if sub:
                    found.update(bulk_paths(sub, prefix + (key, i)))
    return found


def from_json(item: dict) -> Dataset:
    """pydicom's reading of a DICOM JSON object; bulk data values stay empty (they are compared
    separately through their BulkDataURI)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Dataset.from_json(item, bulk_data_uri_handler=lambda tag, vr, uri: None)


# ---- comparing metadata with a file --------------------------------------------------------------

_BINARY = {"OB", "OW", "OF", "OD", "OL", "OV", "UN"}
_INTS = {"US", "SS", "UL", "SL", "UV", "SV"}
_FLOATS = {"FL", "FD"}
_WORD = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


def _empty(value) -> bool:
    if value is None:
        return True
    if isinstance(value, (bytes, str)):
        return len(value.rstrip(b" \0" if isinstance(value, bytes) else " \0")) == 0
    if isinstance(value, (list, MultiValue)):
        return all(_empty(v) for v in value)
    return False


def _as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, (list, MultiValue)):
        return list(value)
    return [value]


def _text(v) -> str:
    return "" if v is None else str(v).rstrip(" \0")


def _pn(v) -> str:
    # "Alphabetic=Ideographic=Phonetic": trailing empty groups carry nothing.
    return "=".join(g.rstrip(" ") for g in _text(v).split("=")).rstrip("=")


def _vr_compatible(json_vr: str, file_vr: str) -> bool:
    if json_vr == file_vr:
        return True
    if " or " in file_vr:                       # pydicom's ambiguous VRs: "US or SS", "OB or OW"
        return json_vr in file_vr.split(" or ")
    return False


def _short(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"… ({len(value) if hasattr(value, '__len__') else '?'} long)"


def _unknown_to_dictionary(tag: int) -> bool:
    from pydicom.datadict import dictionary_has_tag
    return (tag >> 16) % 2 == 1 or not dictionary_has_tag(tag)


def compare_element(path: str, json_elem, file_elem, raw, big_endian: bool, bulk: set, key: tuple) -> list[str]:
    """Differences between one element of the metadata (pydicom DataElement from from_json) and
    the same element read from the file (`raw`: the element as pydicom found it in the file,
    before any conversion, or None)."""
    vr = json_elem.VR
    raw_vr = getattr(raw, "VR", None) if raw is not None else None
    raw_bytes = getattr(raw, "value", None) if raw is not None else None
    if vr == "UN" and isinstance(raw_bytes, (bytes, bytearray)) and \
            (raw_vr == "UN" or (raw_vr is None and _unknown_to_dictionary(int(json_elem.tag)))):
        # The file holds the value as UN (or implicit VR for an attribute no dictionary knows):
        # the metadata keeps it as UN, the bytes as they are.
        ba = json_elem.value or b""
        ba = ba.encode("latin-1") if isinstance(ba, str) else bytes(ba)
        if ba.rstrip(b" \0") == bytes(raw_bytes).rstrip(b" \0"):
            return []
        return [f"{path} (UN): {_short(ba)} in the metadata, {_short(bytes(raw_bytes))} in the file"]
    if not _vr_compatible(vr, file_elem.VR):
        return [f"{path}: VR {vr} in the metadata, {file_elem.VR} in the file"]
    a, b = json_elem.value, file_elem.value
    if vr == "SQ":
        items_a, items_b = list(a or []), list(b or [])
        if len(items_a) != len(items_b):
            return [f"{path}: {len(items_a)} items in the metadata, {len(items_b)} in the file"]
        out = []
        for i, (x, y) in enumerate(zip(items_a, items_b)):
            out += compare_datasets(x, y, f"{path}[{i}]", big_endian=big_endian, bulk=bulk, _key=key + (i,))
        return out
    if _empty(a) and _empty(b):
        return []
    if _empty(a) != _empty(b):
        if vr in ("IS", "DS") and _empty(a) and not _valid_number(vr, b):
            return []       # a value the file has but that is no IS/DS cannot be a JSON number
        return [f"{path} ({vr}): {_short(a)} in the metadata, {_short(b)} in the file"]
    if vr in _BINARY:
        if not (isinstance(a, (bytes, bytearray)) and isinstance(b, (bytes, bytearray))):
            return [f"{path}: {vr} {_short(a)} in the metadata, {file_elem.VR} {_short(b)} in the file"]
        ba, bb = bytes(a), bytes(b)
        if ba == bb or ba.rstrip(b"\0") == bb.rstrip(b"\0"):
            return []
        word = _WORD.get(vr)
        if big_endian and word and len(bb) % word == 0:
            # DICOM JSON binary values are little endian (PS3.18 F.2.7); a big endian file is swapped.
            swapped = b"".join(bb[i:i + word][::-1] for i in range(0, len(bb), word))
            if ba == swapped:
                return []
        return [f"{path} ({vr}): {len(ba)} bytes {ba[:24].hex()}… in the metadata, "
                f"{len(bb)} bytes {bb[:24].hex()}… in the file"]
    la, lb = _as_list(a), _as_list(b)
    if len(la) != len(lb):
        return [f"{path} ({vr}): {len(la)} values {_short(la)} in the metadata, {len(lb)} values {_short(lb)} in the file"]
    out = []
    for i, (x, y) in enumerate(zip(la, lb)):
        if vr == "PN":
            same = _pn(x) == _pn(y)
        elif vr == "DS":
            try:
                same = math.isclose(float(x), float(y), rel_tol=1e-12, abs_tol=1e-12)
            except (TypeError, ValueError):
                same = _text(x) == _text(y) or (x is None and not _valid_number(vr, y))
        elif vr == "IS":
            try:
                same = int(float(x)) == int(float(y))
            except (TypeError, ValueError):
                same = _text(x) == _text(y) or (x is None and not _valid_number(vr, y))
        elif vr in _INTS or vr == "AT":
            same = x is not None and y is not None and int(x) == int(y)
        elif vr in _FLOATS:
            same = (x is not None and y is not None and
                    (math.isclose(float(x), float(y), rel_tol=1e-6 if vr == "FL" else 1e-12)
                     or (math.isnan(float(x)) and math.isnan(float(y)))))
        else:
            same = _text(x) == _text(y)
        if not same:
            out.append(f"{path} ({vr}) value {i + 1}: {_short(x)} in the metadata, {_short(y)} in the file")
    return out


def _valid_number(vr: str, value) -> bool:
    try:
        for v in _as_list(value):
            (int if vr == "IS" else float)(str(v).strip())
        return True
    except ValueError:
        return False


def compare_datasets(json_ds: Dataset, file_ds: Dataset, path: str = "", *, big_endian: bool = False,
                     bulk=None, _key: tuple = ()) -> list[str]:
    """Differences between the metadata of an instance (from_json) and pydicom's reading of the
    file, element by element: every element of the file is in the metadata with the same VR and
    value, and the metadata has nothing else. Left out: group lengths (gggg,0000: retired, not
    part of the JSON model), Data Set Trailing Padding (FFFC,FFFC), which PS3.10 7.2 says to
    ignore, and bulk data (`bulk`: tag paths from bulk_paths(), compared through their
    BulkDataURI). Specific Character Set is compared like any other element; an IS or DS value
    of the file that is no number may be left out of the metadata (JSON numbers cannot carry it)."""
    bulk = bulk or set()
    out = []
    tags_json = {int(t) for t in json_ds.keys()}
    tags_file = {int(t) for t in file_ds.keys()}
    for t in sorted(tags_json | tags_file):
        if t & 0xFFFF == 0 or (t >> 16) == 0x0002 or t == 0xFFFCFFFC:
            continue
        key = _key + (f"{t:08X}",)
        if key in bulk:
            continue
        where = f"{path}({t >> 16:04X},{t & 0xFFFF:04X})"
        raw = file_ds.get_item(t) if t in tags_file else None     # before pydicom converts it
        if t not in tags_file:
            out.append(f"{where}: in the metadata ({json_ds[t].VR} {_short(json_ds[t].value)}) but not in the file")
            continue
        if t not in tags_json:
            out.append(f"{where}: in the file ({file_ds[t].VR} {_short(file_ds[t].value)}) but not in the metadata")
            continue
        out += compare_element(where, json_ds[t], file_ds[t], raw, big_endian, bulk, key)
    return out


# ---- pixel data ------------------------------------------------------------------------------------

def native_frame_array(data: bytes, ds: Dataset) -> np.ndarray:
    """One native (uncompressed, little endian) frame as the array pydicom's pixel_array gives
    for one frame: (rows, columns) or (rows, columns, samples), planar configuration applied."""
    rows, columns = int(ds.Rows), int(ds.Columns)
    samples = int(ds.get("SamplesPerPixel", 1))
    bits = int(ds.BitsAllocated)
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    if bits == 1:
        bits_array = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")
        return bits_array[:rows * columns * samples].reshape(rows, columns)
    dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
    count = rows * columns * samples
    array = np.frombuffer(data[:count * dtype.itemsize], dtype=dtype)
    assert array.size == count, f"frame of {len(data)} bytes is too short for {rows}x{columns}x{samples}x{bits} bits"
    if samples == 1:
        return array.reshape(rows, columns)
    if int(ds.get("PlanarConfiguration", 0)) == 1:
        return array.reshape(samples, rows, columns).transpose(1, 2, 0)
    return array.reshape(rows, columns, samples)


def native_frame_bytes(ds: Dataset, index: int) -> bytes:
    """Frame `index` (0-based) of native pixel data exactly as stored (byte order of the file)."""
    rows, columns = int(ds.Rows), int(ds.Columns)
    samples = int(ds.get("SamplesPerPixel", 1))
    bits = int(ds.BitsAllocated)
    size = rows * columns * samples * bits // 8
    return bytes(ds.PixelData[index * size:(index + 1) * size])


def number_of_frames(ds: Dataset) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames") or 1))
    except (TypeError, ValueError):
        return 1


def encapsulated_frames(ds: Dataset) -> list[bytes]:
    """The compressed frames of encapsulated pixel data (PS3.5 A.4), by pydicom."""
    from pydicom.encaps import generate_frames
    return list(generate_frames(ds.PixelData, number_of_frames=number_of_frames(ds)))


def pixel_frames(ds: Dataset) -> np.ndarray:
    """pydicom's decoded pixel data with a leading frame axis."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        array = ds.pixel_array
    if number_of_frames(ds) == 1:
        array = array[np.newaxis, ...]
    return array


def read_dicom(data: bytes) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(io.BytesIO(data), force=True)


def inline_binary(element: dict) -> bytes:
    return base64.b64decode(element["InlineBinary"])


class EventStream:
    """Reads /api/events in a thread: (id, event, data) tuples on a queue."""

    def __init__(self, url: str, params=None, headers=None):
        self.events = queue.Queue()
        self.closed = threading.Event()  # set when the server ends the stream
        self.response = session().get(url, params=params, headers=headers, stream=True, timeout=(10, 120))
        assert self.response.status_code == 200, self.response.text
        assert self.response.headers["Content-Type"].startswith("text/event-stream")
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        event = {}
        try:
            for line in self.response.iter_lines(decode_unicode=True):
                if line == "":
                    if "data" in event:
                        self.events.put((int(event["id"]), event["event"], json.loads(event["data"])))
                    event = {}
                elif not line.startswith(":") and ":" in line:
                    key, _, value = line.partition(":")
                    event[key] = value.lstrip(" ")
        except Exception:  # the stream closed
            pass
        finally:
            self.closed.set()

    def take(self, count: int, timeout: float) -> list:
        out, deadline = [], time.monotonic() + timeout
        while len(out) < count and time.monotonic() < deadline:
            try:
                out.append(self.events.get(timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                break
        return out

    def close(self):
        self.response.close()
