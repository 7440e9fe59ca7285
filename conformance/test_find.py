"""C-FIND, Patient Root and Study Root, at every level: matching (single value, wildcards, case-
and accent-insensitive person names, date and time ranges, UID lists, multiple values), the keys
returned and their values, computed attributes (counts, ModalitiesInStudy), and C-CANCEL.

Expected answers come from ArchiveModel (the attributes of every instance sent, matched with the
rules of PS3.4 C.2.2.2), never from hard-coded lists."""

import pydicom
import pydicom.datadict
import pydicom.multival
import pydicom.uid
import pytest

from loupe_corpus import ID_KEYWORD, PATIENTS


def study_uid(key):
    return lambda a: a.generated.studies[key]


def study_uids(*keys):
    return lambda a: "\\".join(a.generated.studies[k] for k in keys)


def series_of(key, index):
    def value(a):
        uids = []
        for i in a.generated.study(key):
            if i["SeriesInstanceUID"] not in uids:
                uids.append(i["SeriesInstanceUID"])
        return uids[index]
    return value


def sop_uids(*positions):
    return lambda a: "\\".join(a.generated.instances[p]["SOPInstanceUID"] for p in positions)


# (id, model, level, query keys). A value may be a function of the archive (UIDs made at run time).
CASES = [
    # -- Patient Root, PATIENT level
    ("P-exact-name", "P", "PATIENT", {"PatientName": "DOE^JOHN"}),
    ("P-wildcard-star", "P", "PATIENT", {"PatientName": "DOE*"}),
    ("P-wildcard-question", "P", "PATIENT", {"PatientName": "?oe*"}),
    ("P-case-insensitive", "P", "PATIENT", {"PatientName": "doe*"}),
    ("P-accent-insensitive", "P", "PATIENT", {"PatientName": "muller*"}),
    ("P-accent-insensitive-exact", "P", "PATIENT", {"PatientName": "MULLER^JORG"}),
    ("P-inner-wildcard", "P", "PATIENT", {"PatientName": "*^J*"}),
    ("P-question-on-accent", "P", "PATIENT", {"PatientName": "M?ller^J?rg"}),
    ("P-universal-star", "P", "PATIENT", {"PatientName": "*", "PatientID": "LOUPE-CF-*"}),
    ("P-patient-id", "P", "PATIENT", {"PatientID": PATIENTS["doejane"]["PatientID"]}),
    ("P-patient-id-list", "P", "PATIENT",
     {"PatientID": PATIENTS["mueller"]["PatientID"] + "\\" + PATIENTS["doejane"]["PatientID"]}),
    ("P-birth-date-range", "P", "PATIENT", {"PatientBirthDate": "19600101-19751231"}),
    ("P-sex", "P", "PATIENT", {"PatientSex": "F", "PatientName": "*oe*"}),
    ("P-no-match", "P", "PATIENT", {"PatientName": "NOBODY^HERE*"}),
    # names of pydicom's charset files, queried in UTF-8
    ("P-ideographic", "P", "PATIENT", {"SpecificCharacterSet": "ISO_IR 192", "PatientName": "*山田*"}),
    ("P-romaji-group", "P", "PATIENT", {"PatientName": "Yamada*"}),
    ("P-korean-exact", "P", "PATIENT", {"SpecificCharacterSet": "ISO_IR 192", "PatientName": "김희중"}),
    ("P-cyrillic-case", "P", "PATIENT", {"SpecificCharacterSet": "ISO_IR 192", "PatientName": "люк*"}),
    ("P-greek-case", "P", "PATIENT", {"SpecificCharacterSet": "ISO_IR 192", "PatientName": "διον*"}),
    ("P-french-accent", "P", "PATIENT", {"PatientName": "buc^jerome"}),
    # -- Patient Root, STUDY level (under one patient)
    ("P-study-of-patient", "P", "STUDY", {"PatientID": PATIENTS["mueller"]["PatientID"]}),
    ("P-study-date-of-patient", "P", "STUDY", {"PatientID": PATIENTS["doejohn"]["PatientID"], "StudyDate": "2023-"}),
    # -- Study Root, STUDY level
    ("S-date-range", "S", "STUDY", {"StudyDate": "20230101-20230131"}),
    ("S-date-open-start", "S", "STUDY", {"StudyDate": "-20221231"}),
    ("S-date-open-end", "S", "STUDY", {"StudyDate": "20240101-"}),
    ("S-date-single", "S", "STUDY", {"StudyDate": "20230115"}),
    ("S-date-list", "S", "STUDY", {"StudyDate": "20230115\\20211231"}),
    ("S-time-range", "S", "STUDY", {"StudyTime": "080000-120000", "PatientName": "*"}),
    ("S-time-range-inclusive-end", "S", "STUDY", {"StudyTime": "230000-235959"}),
    ("S-time-range-open-start", "S", "STUDY", {"StudyTime": "-0830"}),
    ("S-time-fraction-in-second", "S", "STUDY", {"StudyTime": "101010-101010"}),
    # ACR-NEMA forms stored by an old file (yyyy.mm.dd, hh:mm:ss): PS3.5 6.2 recommends supporting them
    ("S-date-acr-nema-stored", "S", "STUDY", {"StudyDate": "19970424"}),
    ("S-time-acr-nema-stored", "S", "STUDY", {"StudyTime": "140000-141000", "StudyDate": "-19991231"}),
    ("S-date-and-time", "S", "STUDY", {"StudyDate": "20230101-20231231", "StudyTime": "0000-0900"}),
    ("S-uid-list", "S", "STUDY", {"StudyInstanceUID": study_uids("S1", "S4")}),
    ("S-uid-single", "S", "STUDY", {"StudyInstanceUID": study_uid("S3")}),
    ("S-modalities-MR", "S", "STUDY", {"ModalitiesInStudy": "MR"}),
    ("S-modalities-CT-of-patient", "S", "STUDY", {"ModalitiesInStudy": "CT", "PatientName": "*oe*"}),
    ("S-modalities-list", "S", "STUDY", {"ModalitiesInStudy": "MR\\SEG"}),
    ("S-accession", "S", "STUDY", {"AccessionNumber": "CF-ACC-2002"}),
    ("S-accession-wildcard", "S", "STUDY", {"AccessionNumber": "CF-ACC-?00*"}),
    ("S-accession-list", "S", "STUDY", {"AccessionNumber": "CF-ACC-1002\\CF-ACC-3001"}),
    ("S-description-case-sensitive", "S", "STUDY", {"StudyDescription": "CT*"}),
    ("S-description-lowercase", "S", "STUDY", {"StudyDescription": "ct*"}),
    ("S-referring-physician-fuzzy", "S", "STUDY", {"ReferringPhysicianName": "schafer*"}),
    ("S-patient-name-and-date", "S", "STUDY", {"PatientName": "DOE*", "StudyDate": "20230101-20231231"}),
    ("S-patient-name-accent", "S", "STUDY", {"PatientName": "muller*", "StudyDate": "-20221231"}),
    ("S-study-id", "S", "STUDY", {"StudyID": "2001"}),
    # -- SERIES level
    ("S-series-modality", "S", "SERIES", {"StudyInstanceUID": study_uid("S1"), "Modality": "MR"}),
    ("S-series-all-of-study", "S", "SERIES", {"StudyInstanceUID": study_uid("S4")}),
    ("S-series-modality-list", "S", "SERIES", {"StudyInstanceUID": study_uids("S1", "S3", "S6"), "Modality": "CT\\MR"}),
    ("S-series-uid", "S", "SERIES", {"StudyInstanceUID": study_uid("S4"), "SeriesInstanceUID": series_of("S4", 1)}),
    ("S-series-description", "S", "SERIES", {"StudyInstanceUID": study_uid("S1"), "SeriesDescription": "*T2"}),
    ("S-series-number", "S", "SERIES", {"StudyInstanceUID": study_uid("S4"), "SeriesNumber": "2"}),
    # -- IMAGE level
    ("S-image-all-of-series", "S", "IMAGE", {"StudyInstanceUID": study_uid("S1"), "SeriesInstanceUID": series_of("S1", 0)}),
    ("S-image-uid-list", "S", "IMAGE", {"StudyInstanceUID": study_uid("S1"), "SeriesInstanceUID": series_of("S1", 0),
                                        "SOPInstanceUID": sop_uids(0, 2)}),
    ("S-image-instance-number", "S", "IMAGE", {"StudyInstanceUID": study_uid("S5"), "SeriesInstanceUID": series_of("S5", 0),
                                               "InstanceNumber": "2"}),
    # -- Patient Root, SERIES and IMAGE levels
    ("P-series", "P", "SERIES", {"PatientID": PATIENTS["doejohn"]["PatientID"], "StudyInstanceUID": study_uid("S4")}),
    ("P-image", "P", "IMAGE", {"PatientID": PATIENTS["doejane"]["PatientID"], "StudyInstanceUID": study_uid("S5"),
                               "SeriesInstanceUID": series_of("S5", 0)}),
]


def resolve(archive, query: dict) -> dict:
    return {k: (v(archive) if callable(v) else v) for k, v in query.items()}


def run_case(archive, model, level, query):
    keys = dict(query)
    id_keyword = ID_KEYWORD[level]
    keys.setdefault(id_keyword, "")
    result = archive.node.find(level, list(keys.items()), model=model)
    return result, id_keyword


@pytest.mark.parametrize("case_id, model, level, query", CASES, ids=[c[0] for c in CASES])
def test_find_matches_expected_entities(archive, case_id, model, level, query):
    query = resolve(archive, query)
    result, id_keyword = run_case(archive, model, level, query)
    assert result.ok, str(result)
    must, open_ = archive.model.expected(level, query)
    returned = result.values(id_keyword)
    assert len(returned) == len(set(returned)), f"duplicate responses: {sorted(returned)}"
    got = set(returned) - open_
    assert got == must, (f"query {query} at {level} (model {model})\n"
                         f"missing: {sorted(must - got)}\nunexpected: {sorted(got - must)}")
    # Every case that names the generated corpus must actually find something (guards the data).
    if case_id not in ("P-no-match", "S-description-lowercase"):
        assert must, f"case {case_id} matches nothing in the corpus: the test data do not exercise it"


def test_every_response_echoes_the_query_level(archive):
    for model, level in (("P", "PATIENT"), ("S", "STUDY"), ("S", "SERIES"), ("S", "IMAGE")):
        keys = [(ID_KEYWORD[level], "")]
        if level in ("SERIES", "IMAGE"):
            keys.append(("StudyInstanceUID", archive.generated.studies["S1"]))
        result = archive.node.find(level, keys, model=model)
        assert result.ok and result.responses, str(result)
        assert {r.QueryRetrieveLevel for r in result.responses} == {level}, str(result)


STUDY_RETURN_KEYS = ["PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                     "AccessionNumber", "StudyID", "StudyDescription", "ReferringPhysicianName",
                     "ModalitiesInStudy", "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances"]


def test_study_level_returns_requested_keys_with_values(archive):
    generated = archive.generated
    keys = [("StudyInstanceUID", "\\".join(generated.studies.values()))] + [(k, "") for k in STUDY_RETURN_KEYS]
    result = archive.node.find("STUDY", keys)
    assert result.ok and len(result.responses) == len(generated.studies), str(result)
    for response in result.responses:
        uid = str(response.StudyInstanceUID)
        first = next(i for i in generated.instances if i["StudyInstanceUID"] == uid)
        for keyword in STUDY_RETURN_KEYS:
            assert keyword in response, f"{keyword} not returned for study {uid}"
            got = response.get(keyword)
            got = "\\".join(map(str, got)) if isinstance(got, (list, pydicom.multival.MultiValue)) else str(got)
            if keyword.startswith("NumberOf"):
                expected = str(archive.model.count(keyword, uid))
            elif keyword == "ModalitiesInStudy":
                got = "\\".join(sorted(got.split("\\")))
                expected = archive.model.modalities_in_study(uid)
            else:
                expected = first[keyword]
            assert got == expected, f"study {uid}: {keyword} is {got!r}, expected {expected!r}"


def test_non_ascii_values_come_back_with_their_character_set(archive):
    """Müller^Jörg is stored from a UTF-8 (ISO_IR 192) study and a Latin-1 (ISO_IR 100) study; the
    response must declare a character set in which the name decodes to the same text."""
    for key in ("S1", "S2"):
        result = archive.node.find("STUDY", [("StudyInstanceUID", archive.generated.studies[key]),
                                             ("PatientName", ""), ("ReferringPhysicianName", "")])
        assert result.ok and len(result.responses) == 1, str(result)
        response = result.responses[0]
        assert str(response.PatientName) == PATIENTS["mueller"]["PatientName"], \
            f"{key}: {response.PatientName!r} (Specific Character Set {response.get('SpecificCharacterSet')!r})"
        expected_ref = archive.generated.study(key)[0]["ReferringPhysicianName"]
        assert str(response.ReferringPhysicianName) == expected_ref


def test_exact_non_ascii_person_name_query(archive):
    """A query in UTF-8 (Specific Character Set ISO_IR 192) for the exact accented name."""
    result = archive.node.find("PATIENT", [("SpecificCharacterSet", "ISO_IR 192"),
                                           ("PatientName", "Müller^Jörg"), ("PatientID", "")], model="P")
    assert result.ok, str(result)
    assert result.values("PatientID") == [PATIENTS["mueller"]["PatientID"]], str(result)


def test_patient_level_counts(archive):
    keys = [("PatientID", "\\".join(p["PatientID"] for p in PATIENTS.values())), ("PatientName", ""),
            ("PatientBirthDate", ""), ("PatientSex", ""), ("NumberOfPatientRelatedStudies", ""),
            ("NumberOfPatientRelatedSeries", ""), ("NumberOfPatientRelatedInstances", "")]
    result = archive.node.find("PATIENT", keys, model="P")
    assert result.ok and len(result.responses) == len(PATIENTS), str(result)
    by_id = {p["PatientID"]: p for p in PATIENTS.values()}
    for response in result.responses:
        pid = str(response.PatientID)
        patient = by_id[pid]
        assert str(response.PatientName) == patient["PatientName"]
        assert response.PatientBirthDate == patient["PatientBirthDate"]
        assert response.PatientSex == patient["PatientSex"]
        for keyword in ("NumberOfPatientRelatedStudies", "NumberOfPatientRelatedSeries",
                        "NumberOfPatientRelatedInstances"):
            assert int(response[keyword].value) == archive.model.count(keyword, pid), \
                f"{pid}: {keyword} = {response[keyword].value}"


def test_series_level_values_and_counts(archive):
    generated = archive.generated
    keys = [("StudyInstanceUID", "\\".join(generated.studies.values())), ("SeriesInstanceUID", ""),
            ("Modality", ""), ("SeriesNumber", ""), ("SeriesDescription", ""), ("NumberOfSeriesRelatedInstances", "")]
    result = archive.node.find("SERIES", keys)
    series = archive.model.groups("SERIES")
    expected_uids = {i["SeriesInstanceUID"] for i in generated.instances}
    assert result.ok, str(result)
    assert set(result.values("SeriesInstanceUID")) == expected_uids
    for response in result.responses:
        uid = str(response.SeriesInstanceUID)
        first = series[uid][0]
        assert response.Modality == first["Modality"]
        assert str(response.SeriesNumber) == first["SeriesNumber"]
        assert response.SeriesDescription == first["SeriesDescription"]
        assert str(response.StudyInstanceUID) == first["StudyInstanceUID"]
        assert int(response.NumberOfSeriesRelatedInstances) == len(series[uid])


def test_image_level_values(archive):
    study = archive.generated.study("S1")
    series_uid = study[0]["SeriesInstanceUID"]
    keys = [("StudyInstanceUID", archive.generated.studies["S1"]), ("SeriesInstanceUID", series_uid),
            ("SOPInstanceUID", ""), ("SOPClassUID", ""), ("InstanceNumber", "")]
    result = archive.node.find("IMAGE", keys)
    assert result.ok, str(result)
    expected = {i["SOPInstanceUID"]: i for i in study if i["SeriesInstanceUID"] == series_uid}
    assert set(result.values("SOPInstanceUID")) == set(expected)
    for response in result.responses:
        instance = expected[str(response.SOPInstanceUID)]
        assert response.SOPClassUID == instance["SOPClassUID"]
        assert str(response.InstanceNumber) == instance["InstanceNumber"]


ALLOWED_EXTRA = {(0x0008, 0x0005), (0x0008, 0x0052), (0x0008, 0x0054), (0x0008, 0x0056)}


def test_only_requested_keys_are_returned(archive):
    """PS3.4 C.4.1.1.3.2: a response holds the keys of the request (plus Specific Character Set,
    Query/Retrieve Level and the SCP-added Retrieve AE Title / Instance Availability)."""
    for level, keys in [("STUDY", [("StudyInstanceUID", ""), ("StudyDate", "")]),
                        ("SERIES", [("StudyInstanceUID", archive.generated.studies["S4"]), ("SeriesInstanceUID", ""),
                                    ("Modality", "")])]:
        result = archive.node.find(level, keys)
        assert result.ok and result.responses, str(result)
        requested = {pydicom.datadict.tag_for_keyword(k) for k, _ in keys} | {pydicom.datadict.tag_for_keyword("QueryRetrieveLevel")}
        for response in result.responses:
            extra = {(e.tag.group, e.tag.element) for e in response if e.tag not in requested
                     and e.tag.element != 0} - ALLOWED_EXTRA
            assert not extra, f"{level}: unrequested attributes returned: {sorted(extra)}"


def test_retrieve_ae_title_and_availability_are_returned_when_asked(archive):
    result = archive.node.find("STUDY", [("StudyInstanceUID", archive.generated.studies["S2"]), ("RetrieveAETitle", ""),
                                         ("InstanceAvailability", "")])
    assert result.ok and len(result.responses) == 1, str(result)
    assert result.responses[0].RetrieveAETitle == archive.node.ae
    assert result.responses[0].InstanceAvailability == "ONLINE"


def test_query_level_not_in_model_is_refused(archive):
    """PATIENT is not a level of the Study Root model: the SCP answers with a failure status."""
    result = archive.node.find("PATIENT", [("PatientID", "")], model="S")
    assert not result.responses, str(result)
    assert result.final is not None and result.final != "Success", str(result)


def test_c_cancel_stops_a_find(crowded):
    """findscu --cancel 1 sends C-CANCEL after the first response. Loupe stops matching and ends
    with status Cancel (FE00). Responses already on the wire when the cancel arrives may still come
    (PS3.7 9.3.2.3), so the test requires fewer responses than matches, not exactly one."""
    node, study, total = crowded
    keys = [("StudyInstanceUID", study), ("SeriesInstanceUID", ""), ("SOPInstanceUID", ""), ("InstanceNumber", "")]
    complete = node.find("IMAGE", keys)
    assert complete.ok and len(complete.responses) == total, f"{len(complete.responses)} responses"

    cancelled = node.find("IMAGE", keys, extra=["--cancel", "1"])
    assert "Sending Cancel Request" in cancelled.run.output, str(cancelled.run)
    assert cancelled.final is not None and cancelled.final.startswith("Cancel"), \
        f"final status {cancelled.final!r} after C-CANCEL ({len(cancelled.responses)} responses)"
    assert 1 <= len(cancelled.responses) < total, f"{len(cancelled.responses)} responses after C-CANCEL"
    # The association is still usable afterwards, and so is the node.
    assert node.echo().returncode == 0



def test_query_in_latin1_character_set(archive):
    """The identifier's Specific Character Set (ISO_IR 100) governs how its values are read."""
    keys = [("SpecificCharacterSet", "ISO_IR 100"), ("PatientName", "Müller*".encode("latin-1")), ("PatientID", "")]
    result = archive.node.find("PATIENT", keys, model="P")
    assert result.ok, str(result)
    assert result.values("PatientID") == [PATIENTS["mueller"]["PatientID"]], str(result)


def test_names_in_other_character_sets_come_back_as_stored(archive):
    """pydicom's charset files (Latin-1, Cyrillic, Greek, Arabic, Hebrew, ISO 2022 Japanese and
    Korean, GB18030, UTF-8): the returned PatientName decodes, with the response's Specific
    Character Set, to the text of the file."""
    model = archive.model
    studies = model.groups("STUDY")
    patients = model.groups("PATIENT")
    wanted = {}
    for uid, records in studies.items():
        names = {r["PatientName"] for r in patients[records[0]["PatientID"]]}
        if len(names) == 1 and not records[0]["PatientID"].startswith("LOUPE-CF"):
            wanted[uid] = records[0]["PatientName"]
    assert any(not n.isascii() for n in wanted.values()), "no non-ASCII names in the pydicom corpus"
    result = archive.node.find("STUDY", [("StudyInstanceUID", "\\".join(sorted(wanted))), ("PatientName", "")])
    assert result.ok and len(result.responses) == len(wanted), str(result)
    wrong = []
    for response in result.responses:
        uid = str(response.StudyInstanceUID)
        got = str(response.PatientName)
        if got != wanted[uid]:
            wrong.append(f"{uid}: {got!r} (charset {response.get('SpecificCharacterSet')!r}), expected {wanted[uid]!r}")
    assert not wrong, "\n".join(wrong)


def test_attributes_outside_the_index_are_returned_and_matched(archive):
    """Keys the index has no column for are answered from the stored instance (optional keys,
    PS3.4 C.6.1.1.3.1): values decoded right even from a Latin-1 (ISO_IR 100) study."""
    import pydicom as _pydicom
    study = archive.generated.study("S2")
    keys = [("StudyInstanceUID", archive.generated.studies["S2"]), ("SeriesInstanceUID", study[0]["SeriesInstanceUID"]),
            ("SOPInstanceUID", ""), ("InstitutionName", ""), ("Manufacturer", ""), ("ImageType", ""),
            ("SliceLocation", ""), ("Rows", ""), ("Columns", "")]
    result = archive.node.find("IMAGE", keys)
    assert result.ok and len(result.responses) == len(study), str(result)
    for response in result.responses:
        source = _pydicom.dcmread(next(i["path"] for i in study if i["SOPInstanceUID"] == response.SOPInstanceUID))
        for keyword in ("InstitutionName", "Manufacturer", "ImageType", "SliceLocation", "Rows", "Columns"):
            assert keyword in response, f"{keyword} not returned"
            assert response[keyword].value == source[keyword].value, \
                f"{keyword}: {response[keyword].value!r} != {source[keyword].value!r}"

    matched = archive.node.find("IMAGE", keys[:3] + [("Manufacturer", "Loupe*"), ("SliceLocation", "")])
    assert matched.ok and len(matched.responses) == len(study), str(matched)
    none = archive.node.find("IMAGE", keys[:3] + [("Manufacturer", "Nobody*")])
    assert none.ok and none.responses == [], str(none)


def test_long_uid_list(crowded):
    """A UID list of 1600 values (more than SQLite's historical 999 bound parameters), 600 of them
    stored: exactly those 600 match."""
    node, study, total = crowded
    everything = node.find("IMAGE", [("StudyInstanceUID", study), ("SOPInstanceUID", "")])
    assert everything.ok and len(everything.responses) == total, str(everything)
    stored = everything.values("SOPInstanceUID")
    unknown = [f"2.25.{n}" for n in range(1000)]
    keys = [("StudyInstanceUID", study), ("SOPInstanceUID", "\\".join(stored + unknown))]
    result = node.find("IMAGE", keys)
    assert result.ok, str(result)[:3000]
    assert sorted(result.values("SOPInstanceUID")) == sorted(stored)


def test_person_name_trailing_empty_components_are_insignificant(archive):
    """PS3.5 6.2: trailing empty components of a PN, with their delimiters, may be omitted, so
    "OB" and "OB^^^^" (pydicom's examples_palette.dcm) are the same name, as are "DOE^JOHN" and
    "DOE^JOHN^^". Single value matching must treat them alike."""
    palette = [r for r in archive.model.records if r["PatientName"] == "OB^^^^"]
    assert palette, "examples_palette.dcm (PatientName OB^^^^) is not in the corpus"
    result = archive.node.find("PATIENT", [("PatientName", "OB"), ("PatientID", "")], model="P")
    assert result.ok, str(result)
    assert result.values("PatientID") == [palette[0]["PatientID"]], "query OB does not find OB^^^^"
    result = archive.node.find("PATIENT", [("PatientName", "DOE^JOHN^^"), ("PatientID", "")], model="P")
    assert result.ok, str(result)
    assert result.values("PatientID") == [PATIENTS["doejohn"]["PatientID"]], "query DOE^JOHN^^ does not find DOE^JOHN"
