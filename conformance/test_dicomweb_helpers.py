"""The comparison and parsing helpers of the DICOMweb tests can fail: each one is shown a
deliberately broken input (no Loupe involved)."""

import copy

import pydicom
import pydicom.data
import pytest

from dicomweb_support import bulk_paths, compare_datasets, encode_multipart, from_json, parse_multipart


@pytest.fixture(scope="module")
def rtplan():
    ds = pydicom.dcmread(pydicom.data.get_testdata_file("rtplan.dcm"))
    return ds, ds.to_json_dict(bulk_data_threshold=1 << 20)


def differences(item, ds):
    return compare_datasets(from_json(item), ds, bulk=set(bulk_paths(item)))


def test_identical_metadata_has_no_differences(rtplan):
    ds, item = rtplan
    assert differences(item, ds) == []


@pytest.mark.parametrize("mutation", ["value", "vr", "missing", "extra", "nested", "items", "pn", "number"])
def test_every_kind_of_difference_is_reported(rtplan, mutation):
    ds, original = rtplan
    item = copy.deepcopy(original)
    if mutation == "value":
        item["00100020"]["Value"] = ["someone-else"]
    elif mutation == "vr":
        item["00100020"]["vr"] = "SH"
    elif mutation == "missing":
        del item["00081070"]
    elif mutation == "extra":
        item["00181030"] = {"vr": "LO", "Value": ["PROTOCOL"]}
    elif mutation == "nested":
        item["300A0010"]["Value"][0]["300A0012"]["Value"] = [99]
    elif mutation == "items":
        item["300A0010"]["Value"].append({})
    elif mutation == "pn":
        item["00100010"]["Value"] = [{"Alphabetic": "Last^First^mid^post"}]
    elif mutation == "number":
        beams = item["300A00B0"]["Value"][0]
        control = beams["300A0111"]["Value"][0]
        control["300A0114"]["Value"] = [control["300A0114"]["Value"][0] + 0.001]
    assert differences(item, ds), f"a {mutation} change went unnoticed"


def test_multipart_reader_rejects_broken_bodies():
    body = encode_multipart([b"one", b"two\r\n--not-the-boundary"], "abc")
    parts = parse_multipart('multipart/related; type="application/dicom"; boundary=abc', body)
    assert [p.body for p in parts] == [b"one", b"two\r\n--not-the-boundary"]
    with pytest.raises(AssertionError):
        parse_multipart('multipart/related; boundary=abc', body[:-9])            # no close delimiter
    with pytest.raises(AssertionError):
        parse_multipart('multipart/related; boundary=xyz', body)                 # another boundary
    with pytest.raises(AssertionError):
        parse_multipart('application/dicom', body)
    with pytest.raises(AssertionError):
        parse_multipart('multipart/related; boundary=abc', b"--abc\r\nContent-Type: x\r\nno blank line--abc--")
