"""WADO-RS frames and bulk data (PS3.18 10.4.1.1.3), against the STOW-RS node whose every byte is
known: frames as stored (transfer-syntax=*), frames decoded to Explicit VR Little Endian compared
with pydicom's decoding (RLE, deflated, big endian, implicit VR natively; JPEG baseline through
Pillow) or, where pydicom has no decoder installed, with DCMTK's command-line decoders
(dcmdjpeg, dcmdjpls); compressed frames in their own media type (image/jpeg); frame lists."""

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from dicomweb_support import (DEFLATED_LE, EXPLICIT_VR_BE, EXPLICIT_VR_LE, IMPLICIT_VR_LE, JPEG_2000, JPEG_BASELINE,
                              JPEG_EXTENDED, JPEG_LOSSLESS, JPEG_LOSSLESS_SV1, JPEG_LS, NATIVE, RLE_LOSSLESS, client,
                              describe,
                              encapsulated_frames, media_type, multipart_response, native_frame_array,
                              native_frame_bytes, number_of_frames, pixel_frames, read_dicom, session)

ANY = "multipart/related; type=application/octet-stream; transfer-syntax=*"
UNCOMPRESSED = 'multipart/related; type="application/octet-stream"'


def frames_url(node, ds, numbers) -> str:
    return (f"{node.base_url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
            f"/instances/{ds.SOPInstanceUID}/frames/{','.join(str(n) for n in numbers)}")


# The stored transfer syntaxes, one test per family, so that a defect in one shows as such.
FAMILIES = {
    "explicit-le": {EXPLICIT_VR_LE}, "implicit-le": {IMPLICIT_VR_LE}, "big-endian": {EXPLICIT_VR_BE},
    "deflated": {DEFLATED_LE}, "rle": {RLE_LOSSLESS}, "jpeg-baseline": {JPEG_BASELINE},
    "jpeg-extended": {JPEG_EXTENDED}, "jpeg-lossless": {JPEG_LOSSLESS, JPEG_LOSSLESS_SV1}, "jpeg-ls": JPEG_LS,
    "jpeg-2000": JPEG_2000,
}


def image_instances(stow, family=None):
    out = []
    for uid in sorted(stow.sent, key=lambda u: stow.names[u]):
        ds = stow.dataset(uid)
        if "PixelData" in ds and "Rows" in ds and (family is None or syntax(ds) in FAMILIES[family]):
            out.append((uid, ds))
    return out


def syntax(ds) -> str:
    return str(ds.file_meta.TransferSyntaxUID)


def dcmtk_decoded(data: bytes, ts: str):
    """The instance decoded by DCMTK's command-line tools, read by pydicom (reference for the
    JPEG flavours pydicom cannot decode without extra packages)."""
    tool = "/usr/bin/dcmdjpls" if ts in JPEG_LS else "/usr/bin/dcmdjpeg"
    with tempfile.TemporaryDirectory(prefix="dcmd-") as tmp:
        src, dst = Path(tmp) / "in.dcm", Path(tmp) / "out.dcm"
        src.write_bytes(data)
        done = subprocess.run([tool, str(src), str(dst)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        assert done.returncode == 0, done.stdout.decode(errors="replace")
        return read_dicom(dst.read_bytes())


@pytest.mark.parametrize("family", list(FAMILIES))
def test_frames_as_stored_with_any_transfer_syntax(stow, family):
    """Accept transfer-syntax=*: native frames come as Explicit VR Little Endian octets (byte for
    byte the stored frame when the file is little endian; the same pixel values when it is big
    endian), compressed frames exactly as encapsulated in the file, each part labelled with its
    transfer syntax."""
    http = session()
    problems = []
    checked = 0
    instances = image_instances(stow, family)
    assert instances, f"no {family} instance in the corpus"
    for uid, ds in instances:
        name, ts, count = stow.names[uid], syntax(ds), number_of_frames(ds)
        numbers = list(range(1, count + 1))
        r = http.get(frames_url(stow.node, ds, numbers), headers={"Accept": ANY}, timeout=60)
        if r.status_code != 200:
            problems.append(f"{name} ({ts}): HTTP {r.status_code} {r.text[:200]}")
            continue
        parts = multipart_response(r)
        if len(parts) != count:
            problems.append(f"{name}: {len(parts)} parts for {count} frames")
            continue
        for n, part in zip(numbers, parts):
            kind, params = media_type(part.content_type)
            if ts in NATIVE:
                if kind != "application/octet-stream" or params.get("transfer-syntax", EXPLICIT_VR_LE) != EXPLICIT_VR_LE:
                    problems.append(f"{name} frame {n}: part {part.content_type}")
                if ds.is_little_endian:
                    if part.body != native_frame_bytes(ds, n - 1):
                        problems.append(f"{name} frame {n}: {len(part.body)} bytes differ from the stored frame")
                else:
                    got = native_frame_array(part.body, ds)
                    want = pixel_frames(ds)[n - 1]
                    if got.shape != want.shape or not np.array_equal(got, want):
                        problems.append(f"{name} frame {n} (big endian file): the octets are not the pixel values "
                                        f"in little endian (first {part.body[:8].hex()}, expected "
                                        f"{want.astype(want.dtype.newbyteorder('<')).tobytes()[:8].hex()})")
            else:
                if params.get("transfer-syntax") != ts:
                    problems.append(f"{name} frame {n}: part {part.content_type}, stored as {ts}")
                if part.body != encapsulated_frames(ds)[n - 1]:
                    problems.append(f"{name} frame {n}: {len(part.body)} bytes differ from the encapsulated frame "
                                    f"({len(encapsulated_frames(ds)[n - 1])} bytes)")
            checked += 1
    assert not problems, "\n".join(problems)
    assert checked >= len(instances)


def reference_frames(ds, data: bytes):
    """Decoded frames to compare with, and whether the comparison is exact."""
    ts = syntax(ds)
    if ts in (JPEG_LOSSLESS, JPEG_LOSSLESS_SV1, JPEG_EXTENDED) or ts in JPEG_LS:
        return pixel_frames(dcmtk_decoded(data, ts)), True
    return pixel_frames(ds), ts != JPEG_BASELINE


@pytest.mark.parametrize("family", list(FAMILIES))
def test_frames_decoded_to_explicit_vr_little_endian(stow, family):
    """Accept application/octet-stream without transfer syntax: Explicit VR Little Endian
    (PS3.18 8.7.3.5.2), i.e. native frames; compressed ones decoded. Interpreted with the
    instance's own Image Pixel attributes, they must equal the reference decoding (JPEG baseline
    within ±2 for decoder rounding; JPEG 2000, decoded by OpenJPEG in Loupe and by
    pylibjpeg-openjpeg for pydicom, exactly)."""
    http = session()
    problems = []
    decoded = 0
    instances = image_instances(stow, family)
    assert instances, f"no {family} instance in the corpus"
    for uid, ds in instances:
        name, ts, count = stow.names[uid], syntax(ds), number_of_frames(ds)
        numbers = list(range(1, count + 1))
        r = http.get(frames_url(stow.node, ds, numbers), headers={"Accept": UNCOMPRESSED}, timeout=60)
        try:
            reference, exact = reference_frames(ds, stow.sent[uid])
        except ValueError:
            continue      # badVR.dcm: Number of Frames "1A" leaves the reference undefined
        except RuntimeError:
            # Pixel data no decoder can read (JPEG2000-embedded-sequence-delimiter.dcm): an error
            # with a message, not frames.
            if r.status_code == 200 or not r.json().get("error", {}).get("message"):
                problems.append(f"{name} ({ts}): undecodable, answered {r.status_code} {r.text[:200]}")
            continue
        if r.status_code != 200:
            problems.append(f"{name} ({ts}): HTTP {r.status_code} {r.text[:200]}")
            continue
        parts = multipart_response(r)
        if len(parts) != count:
            problems.append(f"{name}: {len(parts)} parts for {count} frames")
            continue
        for n, part in zip(numbers, parts):
            kind, params = media_type(part.content_type)
            if kind != "application/octet-stream" or params.get("transfer-syntax", EXPLICIT_VR_LE) != EXPLICIT_VR_LE:
                problems.append(f"{name} frame {n}: part {part.content_type}")
            bits = int(ds.BitsAllocated)
            expected_size = int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1)) * bits // 8
            if len(part.body) not in (expected_size, expected_size + 1):
                problems.append(f"{name} frame {n}: {len(part.body)} bytes, {expected_size} expected")
                continue
            want = reference[n - 1]
            as_stored = ds
            if ts not in NATIVE and ds.get("PhotometricInterpretation", "").startswith("YBR") and want.ndim == 3:
                # Decoded colour frames are RGB, as pydicom's reference (PS3.5 8.2.1 Note).
                as_stored = ds.copy()
                as_stored.PhotometricInterpretation = "RGB"
            got = native_frame_array(part.body, as_stored)
            if got.shape != want.shape:
                problems.append(f"{name} frame {n}: shape {got.shape}, reference {want.shape}")
                continue
            difference = np.abs(got.astype(np.int64) - want.astype(np.int64)).max() if got.size else 0
            if (exact and difference != 0) or difference > 2:
                problems.append(f"{name} ({ts}) frame {n}: pixel values differ from the reference by up to "
                                f"{difference} (PlanarConfiguration {ds.get('PlanarConfiguration')}, "
                                f"{ds.get('PhotometricInterpretation')})")
            decoded += 1
    assert not problems, "\n".join(problems)
    assert decoded >= 1


def test_dicomweb_client_retrieve_instance_frames(stow):
    """dicomweb-client's retrieve_instance_frames on multi-frame RLE and native instances: the
    frames asked for, in the order asked for, decoded to native pixel data."""
    web = client(stow.node.base_url)
    by_name = {stow.names[u]: stow.dataset(u) for u in stow.variants}
    for name, numbers in [("rtdose.dcm", [3, 1, 15]), ("SC_rgb_rle_2frame.dcm", [2, 1]),
                          ("rtdose_expb.dcm", [7])]:
        ds = by_name[name]
        frames = web.retrieve_instance_frames(str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID),
                                              str(ds.SOPInstanceUID), numbers,
                                              media_types=(("application/octet-stream", EXPLICIT_VR_LE),))
        assert len(frames) == len(numbers), name
        reference = pixel_frames(ds)
        for n, data in zip(numbers, frames):
            got = native_frame_array(data, ds)
            assert np.array_equal(got, reference[n - 1]), f"{name}: frame {n} is not frame {n}"


def test_jpeg_frames_in_their_own_media_type(stow):
    """Accept multipart/related; type="image/jpeg": JPEG baseline frames as stored, each part
    image/jpeg, and Pillow decodes them to the instance's size."""
    from PIL import Image
    import io
    http = session()
    jpegs = [(u, ds) for u, ds in image_instances(stow) if syntax(ds) == JPEG_BASELINE]
    assert len(jpegs) >= 5
    for uid, ds in jpegs:
        count = number_of_frames(ds)
        r = http.get(frames_url(stow.node, ds, [1]), headers={"Accept": 'multipart/related; type="image/jpeg"'},
                     timeout=60)
        assert r.status_code == 200, describe(r)
        parts = multipart_response(r)
        assert len(parts) == 1
        kind, params = media_type(parts[0].content_type)
        assert kind == "image/jpeg", f"{stow.names[uid]}: {parts[0].content_type}"
        assert parts[0].body == encapsulated_frames(ds)[0], stow.names[uid]
        image = Image.open(io.BytesIO(parts[0].body))
        image.load()
        assert image.size == (int(ds.Columns), int(ds.Rows)), stow.names[uid]
        assert count >= 1


def test_native_frames_refuse_a_compressed_media_type(stow):
    """Native frames asked for only as image/jpeg: there is no such representation, 406."""
    uid, ds = next((u, d) for u, d in image_instances(stow) if syntax(d) in NATIVE)
    r = session().get(frames_url(stow.node, ds, [1]), headers={"Accept": 'multipart/related; type="image/jpeg"'},
                      timeout=30)
    assert r.status_code == 406, describe(r)


@pytest.mark.parametrize("frames,status", [("16", 404), ("1,16", 404), ("0", 400), ("x", 400)])
def test_frame_numbers_out_of_range_or_malformed(stow, frames, status):
    ds = next(stow.dataset(u) for u in stow.variants if stow.names[u] == "rtdose.dcm")
    assert number_of_frames(ds) == 15
    url = frames_url(stow.node, ds, []) + frames
    r = session().get(url, headers={"Accept": ANY}, timeout=30)
    assert r.status_code == status, describe(r)
    assert r.json().get("error", {}).get("message"), describe(r)


def test_pixel_data_bulk_data_uri_gives_every_frame(stow):
    """The BulkDataURI of Pixel Data in the metadata of a multi-frame RLE instance resolves to its
    frames (decoded, since no transfer syntax is asked for)."""
    ds = next(stow.dataset(u) for u in stow.variants if stow.names[u] == "SC_rgb_rle_2frame.dcm")
    base = f"{stow.node.base_url}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
    metadata = session().get(base + "/metadata", headers={"Accept": "application/dicom+json"}, timeout=30).json()[0]
    uri = metadata["7FE00010"].get("BulkDataURI")
    assert uri == base + "/bulkdata/7FE00010", metadata["7FE00010"]
    r = session().get(uri, headers={"Accept": UNCOMPRESSED}, timeout=30)
    assert r.status_code == 200, describe(r)
    parts = multipart_response(r)
    reference = pixel_frames(ds)
    assert len(parts) == 2
    for i, part in enumerate(parts):
        assert np.array_equal(native_frame_array(part.body, ds), reference[i]), f"frame {i + 1}"
