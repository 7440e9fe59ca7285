"""Issue 15: who may see what, over real sockets. Users and tokens made with the `loupe` CLI, the first
admin, HTTP Basic and bearer tokens from dicomweb-client and an OHIF-style walk (with CORS), browser
sessions with CSRF, event streams filtered per role and patient, the audit trail of it all, DIMSE
caller rules, DICOM TLS with DCMTK's tools and with Orthanc 1.10 in both directions, HTTPS, and a
node that refuses to expose patient data unprotected."""

from __future__ import annotations

import getpass
import socket
import ssl
import stat
import subprocess
import time

import numpy as np
import pydicom
import pytest
import requests
from pydicom.uid import generate_uid

from conftest import write_yaml
from dicomweb_support import EventStream, client, session, wait_for_derivations
from loupe_support import (ECHOSCU, HOST, STORESCP, STORESCU, Orthanc, final_status, findscu, free_port, run, stop_process,
                           wait_for_port)
from photo_support import encode, post_photo, skin_photo
from tls_support import PKI

DICOM_JSON = {"Accept": "application/dicom+json"}
VIEWER = "https://viewer.example.org"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def plain() -> requests.Session:
    """A session that sends no credentials of its own."""
    return session(auth=False)


def audit(node, **params) -> list:
    r = session().get(f"{node.http_url}/api/audit", params=params, timeout=30, verify=str(node.https_ca) if node.https_ca else True)
    assert r.status_code == 200, r.text
    return r.json()


# ---- users, tokens and the first admin -------------------------------------------------------------

def test_users_and_tokens_from_the_command_line(loupe_factory):
    node = loupe_factory("cli-access", start=False)
    added = node.cli("user", "add", "alice", "--role", "radiologist", "--password-stdin", stdin="alice-password-1\n")
    assert added.returncode == 0, added.stderr
    twice = node.cli("user", "add", "alice", "--role", "radiologist", "--password-stdin", stdin="alice-password-1\n")
    assert twice.returncode != 0 and "exists already" in twice.stderr
    wizard = node.cli("user", "add", "bob", "--role", "wizard", "--password-stdin", stdin="bob-password-1\n")
    assert wizard.returncode != 0 and "unknown role 'wizard'" in wizard.stderr
    short = node.cli("user", "add", "carol", "--role", "nurse", "--password-stdin", stdin="short\n")
    assert short.returncode != 0 and "at least 8 characters" in short.stderr
    listed = node.cli("user", "list")
    assert "alice\troles=radiologist" in listed.stdout and "alice-password" not in listed.stdout

    secret = node.create_token("notebook", "researcher", extra=("--expires", "30d", "--patient", "P1"))
    assert secret.startswith("loupe_") and len(secret) == 49
    tokens = node.cli("token", "list")
    assert "notebook\troles=researcher patients=P1\texpires" in tokens.stdout and secret not in tokens.stdout
    assert node.cli("token", "revoke", "notebook").returncode == 0
    assert "revoked" in node.cli("token", "list").stdout
    assert node.cli("token", "revoke", "notebook").returncode != 0

    assert node.cli("user", "passwd", "alice", "--password-stdin", stdin="alice-password-2\n").returncode == 0
    assert node.cli("user", "roles", "alice", "--role", "researcher", "--role", "nurse").returncode == 0
    assert "alice\troles=researcher,nurse" in node.cli("user", "list").stdout
    assert node.cli("user", "remove", "alice").returncode == 0
    assert "alice" not in node.cli("user", "list").stdout
    # None of it was stored in the clear.
    index = b"".join(p.read_bytes() for p in node.data_dir.glob("index.sqlite*"))
    assert b"alice-password" not in index and secret[6:].encode() not in index


def test_the_first_start_creates_an_admin_with_a_random_password(loupe_factory):
    node = loupe_factory("first-start")
    password_file = node.data_dir / "initial-admin-password"
    password = password_file.read_text().strip()
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600 and len(password) == 24
    assert f"created the user admin with the password\n    {password}" in node.out_path.read_text()
    # What `make run` shows: where to go and how to sign in the first time.
    assert f"Loupe's screens: {node.http_url}/ (sign in as admin, password in {password_file})" in node.out_path.read_text()
    assert password not in node.log_text()
    r = plain().get(f"{node.http_url}/api/session", auth=("admin", password), timeout=30)
    assert r.status_code == 200 and r.json()["user"] == "admin" and r.json()["roles"] == ["admin"]
    node.restart()
    assert node.out_path.read_text().count("created the user admin") == 1


def test_a_node_refuses_to_expose_patient_data_unprotected(loupe_factory):
    node = loupe_factory("exposed", start=False)
    base = [node.binary, "serve", "--data", node.data_dir, "--dimse-port", node.port, "--http-port", node.http_port]
    http = run(base + ["--http-host", "0.0.0.0"], timeout=60)
    assert http.returncode != 0 and "HTTP on 0.0.0.0 without TLS: set http.tls" in http.output, str(http)
    dimse = run(base + ["--dimse-host", "0.0.0.0"], timeout=60)
    assert dimse.returncode != 0 and "DIMSE on 0.0.0.0 open to every caller: list dimse.allowed_callers" in dimse.output, str(dimse)
    # Explicitly accepted: it serves, and says so at every start.
    node.extra_args += ["--http-host", "0.0.0.0", "--insecure"]
    node.start()
    assert "insecure: HTTP on 0.0.0.0 without TLS" in node.log_text()


# ---- HTTP: Basic, bearer, OHIF with CORS, revocation, sessions --------------------------------------------

def test_dicomweb_client_with_basic_and_bearer(web):
    node = web.node
    assert node.cli("user", "add", "rad1", "--role", "radiologist", "--password-stdin", stdin="rad1-password\n").returncode == 0
    from dicomweb_client.api import DICOMwebClient
    basic = plain()
    basic.auth = ("rad1", "rad1-password")
    studies = DICOMwebClient(url=node.base_url, session=basic).search_for_studies(search_filters={"PatientID": "LOUPE-CF-P1"})
    assert studies and all(s["00100020"]["Value"] == ["LOUPE-CF-P1"] for s in studies)

    token = node.create_token("dwc-bearer", "researcher")
    with_token = DICOMwebClient(url=node.base_url, session=plain(), headers=bearer(token))
    series = with_token.search_for_series(search_filters={"PatientID": "LOUPE-CF-P1"})
    assert series
    found = with_token.search_for_studies(search_filters={"PatientID": "LOUPE-CF-P1"})
    assert found and all("00100010" not in s for s in found), "a researcher sees no patient names"

    anonymous = DICOMwebClient(url=node.base_url, session=plain())
    with pytest.raises(requests.HTTPError) as refused:
        anonymous.search_for_studies()
    assert refused.value.response.status_code == 401
    assert "Bearer" in refused.value.response.headers["WWW-Authenticate"]


def test_an_ohif_walk_with_a_bearer_token_and_cors(loupe_factory, generated):
    node = loupe_factory("ohif-bearer", start=False)
    node.extra_args += ["--cors-origin", VIEWER]
    node.start()
    assert node.send(generated.files(["S2"])).returncode == 0
    token = node.create_token("ohif", "radiologist")
    record = generated.study("S2")[0]
    study, series, instance = record["StudyInstanceUID"], record["SeriesInstanceUID"], record["SOPInstanceUID"]
    http = plain()
    frame = f"{node.base_url}/studies/{study}/series/{series}/instances/{instance}/frames/1"
    # The browser asks first whether it may send Authorization at all.
    preflight = http.options(frame, headers={"Origin": VIEWER, "Access-Control-Request-Method": "GET",
                                             "Access-Control-Request-Headers": "authorization,accept"}, timeout=30)
    assert preflight.status_code == 204 and preflight.headers["Access-Control-Allow-Origin"] == VIEWER
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
    headers = {"Origin": VIEWER, **bearer(token)}
    walk = [
        (f"{node.base_url}/studies?limit=101&offset=0&fuzzymatching=false&includefield=00081030,00080060", DICOM_JSON),
        (f"{node.base_url}/studies/{study}/series", DICOM_JSON),
        (f"{node.base_url}/studies/{study}/series/{series}/metadata", DICOM_JSON),
        (frame, {"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=*'}),
    ]
    for url, accept in walk:
        r = http.get(url, headers={**headers, **accept}, timeout=60)
        assert r.status_code == 200, f"{url}: {r.status_code} {r.text[:300]}"
        assert r.headers["Access-Control-Allow-Origin"] == VIEWER
        refused = http.get(url, headers={"Origin": VIEWER, **accept}, timeout=60)
        assert refused.status_code == 401 and refused.headers["Access-Control-Allow-Origin"] == VIEWER
    trail = audit(node, user="ohif")
    assert [e["action"] for e in trail] == ["query", "query", "retrieve", "retrieve"]
    assert trail[2]["seriesInstanceUID"] == series and trail[3]["sopInstanceUID"] == instance
    assert all(e["patientID"] == record["PatientID"] and e["actorKind"] == "token" and e["address"] == HOST for e in trail[1:])
    assert "limit=101" in trail[0]["detail"]


def test_a_revoked_token_is_refused_at_once(web):
    node = web.node
    token = node.create_token("short-lived", "researcher")
    url = f"{node.base_url}/studies?limit=1"
    assert plain().get(url, headers={**DICOM_JSON, **bearer(token)}, timeout=30).status_code == 200
    assert node.cli("token", "revoke", "short-lived").returncode == 0
    refused = plain().get(url, headers={**DICOM_JSON, **bearer(token)}, timeout=30)
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]
    denied = audit(node, user="unknown", action="access-denied")
    assert any("short-lived was revoked" in (e["detail"] or "") for e in denied)


def test_an_event_stream_ends_when_its_token_is_revoked(web):
    node = web.node
    token = node.create_token("stream-revoked", "nurse")
    stream = EventStream(f"{node.http_url}/api/events", headers=bearer(token))
    assert not stream.closed.wait(1)
    assert node.cli("token", "revoke", "stream-revoked").returncode == 0
    assert stream.closed.wait(30), "the stream outlived its token"


def test_an_anonymous_role_answers_only_requests_that_name_the_node(loupe_factory, tmp_path):
    """access.anonymous on loopback: a page whose own name was made to resolve to 127.0.0.1 (DNS
    rebinding) names its host, and gets 401."""
    import http.client
    config = write_yaml(tmp_path / "anonymous.yaml", "access:\n  anonymous: researcher\n")
    node = loupe_factory("anonymous", config=config)
    assert "served as role researcher (access.anonymous)" in node.log_text()

    def status(host):
        connection = http.client.HTTPConnection(HOST, node.http_port, timeout=30)
        connection.request("GET", "/dicom-web/studies", headers={"Host": host, **DICOM_JSON})
        answer = connection.getresponse().status
        connection.close()
        return answer
    assert status(f"127.0.0.1:{node.http_port}") == 200 and status(f"localhost:{node.http_port}") == 200
    assert status(f"evil.example:{node.http_port}") == 401
    admin = write_yaml(tmp_path / "anonymous-admin.yaml", "access:\n  anonymous: admin\n")
    refused = run([node.binary, "serve", "--data", tmp_path / "other", "--config", admin], timeout=60)
    assert refused.returncode != 0 and "a role with the admin permission cannot serve requests without credentials" in refused.output


def test_a_browser_session_with_csrf_and_logout(web):
    node = web.node
    assert node.cli("user", "add", "nurse7", "--role", "nurse", "--password-stdin", stdin="nurse7-password\n").returncode == 0
    browser = plain()
    page = browser.get(f"{node.http_url}/login", timeout=30)
    assert page.status_code == 200 and 'name="password"' in page.text and "script" not in page.text
    wrong = browser.post(f"{node.http_url}/login", data={"user": "nurse7", "password": "nope-nope"}, allow_redirects=False, timeout=30)
    assert wrong.status_code == 401 and "wrong user name or password" in wrong.text
    login = browser.post(f"{node.http_url}/login", data={"user": "nurse7", "password": "nurse7-password", "next": "/api/session"},
                         allow_redirects=False, timeout=30)
    assert login.status_code == 303 and login.headers["Location"] == "/api/session"
    cookie = login.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    me = browser.get(f"{node.http_url}/api/session", timeout=30).json()
    assert me["user"] == "nurse7" and me["kind"] == "session" and me["csrfToken"]
    # A state-changing request without the CSRF token is refused; with it, it goes through.
    assert browser.post(f"{node.http_url}/api/alerts/999999/acknowledge", timeout=30).status_code == 403
    through = browser.post(f"{node.http_url}/api/alerts/999999/acknowledge", headers={"X-CSRF-Token": me["csrfToken"]}, timeout=30)
    assert through.status_code == 404
    out = browser.post(f"{node.http_url}/logout", data={"csrf": me["csrfToken"]}, allow_redirects=False, timeout=30)
    assert out.status_code == 303
    assert browser.get(f"{node.http_url}/api/session", timeout=30).status_code == 401
    trail = audit(node, user="nurse7")
    assert sorted((e["action"], e["outcome"]) for e in trail) == [("login", "failure"), ("login", "success"), ("logout", "success")]


def test_failed_logins_are_throttled(web):
    node = web.node
    assert node.cli("user", "add", "guessme", "--role", "nurse", "--password-stdin", stdin="the-right-one\n").returncode == 0
    http = plain()
    statuses = [http.get(f"{node.base_url}/studies", auth=("guessme", f"guess-{n}"), timeout=30).status_code for n in range(6)]
    assert statuses == [401] * 5 + [429]
    assert http.get(f"{node.base_url}/studies", auth=("guessme", "the-right-one"), timeout=30).status_code == 429


# ---- events filtered per role and patient -------------------------------------------------------------

def blank_ct(generated) -> pydicom.Dataset:
    """A CT whose pixels are all one value: the anomaly screen flags it (blank)."""
    ds = pydicom.dcmread(generated.instances[0]["path"])
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid(), generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientID = "BLANK-1"
    ds.PixelData = np.zeros((ds.Rows, ds.Columns), np.uint16).tobytes()
    return ds


def flush_alerts(base, patients=("WARD-A", "WARD-B")):
    """A baseline photo, then a marked flush, for each patient: one alert each."""
    for patient in patients:
        for minute, redness in ((0, 0.0), (5, 0.8)):
            r = post_photo(base, encode(skin_photo(redness=redness, seed=minute + len(patient)), "JPEG", quality=92),
                           {"PatientID": patient, "PatientName": "Bianchi^Luca", "kind": "flush",
                            "AcquisitionDateTime": f"2026-11-23T09:{minute:02d}:00+01:00"})
            assert r.status_code == 201, r.text


def test_event_streams_carry_only_what_the_subscriber_may_see(loupe_factory, generated):
    node = loupe_factory("events-access")
    base = node.http_url
    flush_alerts(base)
    client(node.base_url).store_instances([blank_ct(generated)])
    wait_for_derivations(base)

    def events(token, **params):
        stream = EventStream(f"{base}/api/events", params={"since": 0, **params}, headers=bearer(token))
        got = stream.take(10, timeout=3)
        stream.close()
        return [(topic, data["PatientID"]) for _, topic, data in got]

    nurse = node.create_token("ward-nurse", "nurse")
    bedside = node.create_token("bed-a", "nurse", extra=("--patient", "WARD-A"))
    radiologist = node.create_token("reading-room", "radiologist")
    assert sorted(events(nurse)) == [("flush", "WARD-A"), ("flush", "WARD-B")]
    assert events(bedside) == [("flush", "WARD-A")]
    assert events(radiologist) == [("anomaly", "BLANK-1")]
    assert sorted(events(node.token)) == [("anomaly", "BLANK-1"), ("flush", "WARD-A"), ("flush", "WARD-B")]
    refused = plain().get(f"{base}/api/events", params={"topic": "anomaly"}, headers=bearer(nurse), timeout=30)
    assert refused.status_code == 403 and "events:anomaly" in refused.text
    camera = node.create_token("camera-a", "camera", extra=("--patient", "WARD-A"))
    assert plain().get(f"{base}/api/events", headers=bearer(camera), timeout=30).status_code == 403
    # The camera may post photos of its patient only; nothing else is stored.
    other = post_photo_as(base, camera, "WARD-B")
    assert other.status_code == 403
    assert post_photo_as(base, camera, "WARD-A").status_code == 201
    stores = audit(node, user="camera-a", action="store")
    assert len(stores) == 1 and stores[0]["patientID"] == "WARD-A" and stores[0]["sopInstanceUID"]


def post_photo_as(base, token, patient):
    files = {"image": ("photo", encode(skin_photo(seed=3), "JPEG", quality=90), "image/jpeg"),
             "metadata": ("metadata.json", f'{{"PatientID": "{patient}", "PatientName": "X^Y", "kind": "flush"}}', "application/json")}
    return plain().post(f"{base}/api/photos", files=files, headers=bearer(token), timeout=60)


# ---- DIMSE: caller rules ------------------------------------------------------------------------------

def test_dimse_callers_use_only_the_services_their_rule_grants(loupe_factory, generated, tmp_path):
    config = write_yaml(tmp_path / "rules.yaml", """
dimse:
  allowed_callers:
    - { ae: STORE1, services: [echo, store] }
    - { ae: FIND1, services: [find] }
""")
    node = loupe_factory("dimse-rules", config=config)
    one = generated.files(["S1"])[:1]
    assert node.echo(aet="STORE1").returncode == 0
    stored = run([STORESCU, "-v", "-aet", "STORE1", "-aec", node.ae, HOST, node.port, *one], timeout=60)
    assert stored.returncode == 0 and "Received Store Response (Success)" in stored.output, str(stored)
    found = node.find("STUDY", {"PatientID": ""}, aet="FIND1")
    assert found.ok and len(found.responses) == 1, str(found)
    # Outside the rules: refused with status 0124 (not authorized), or not associated at all.
    refused_find = node.find("STUDY", {"PatientID": ""}, aet="STORE1", extra=["-d"])
    assert final_status(refused_find.run.output) == 0x0124 and refused_find.responses == [], str(refused_find)
    refused_store = run([STORESCU, "-d", "-aet", "FIND1", "-aec", node.ae, HOST, node.port, *one], timeout=60)
    assert final_status(refused_store.output) == 0x0124, str(refused_store)
    refused_echo = run([ECHOSCU, "-v", "-aet", "FIND1", "-aec", node.ae, HOST, node.port], timeout=60)
    assert "Received Echo Response (Unknown Status: 0x124)" in refused_echo.output, str(refused_echo)
    assert node.echo(aet="NOBODY").returncode != 0
    denied = audit(node, action="access-denied")
    assert {e["actor"] for e in denied} >= {"STORE1", "FIND1", "NOBODY"}
    assert all(e["actorKind"] == "ae" and e["address"] == HOST for e in denied)
    stores = audit(node, user="STORE1", action="store")
    assert len(stores) == 1 and stores[0]["sopInstanceUID"] == str(pydicom.dcmread(one[0]).SOPInstanceUID)
    queries = audit(node, user="FIND1", action="query")
    assert len(queries) == 1 and queries[0]["detail"].startswith("C-FIND STUDY") and "1 matches" in queries[0]["detail"]


# ---- DICOM TLS ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    pki = PKI(tmp_path_factory.mktemp("pki"))
    return {"ca": pki.ca, "loupe": pki.issue("LOUPE"), "modality": pki.issue("MODALITY1"), "orthanc": pki.issue("ORTHANC"),
            "storescp": pki.issue("TLSSCP"), "rogue": PKI(tmp_path_factory.mktemp("rogue"), "Rogue CA").issue("MODALITY1")}


@pytest.fixture(scope="module")
def tls_node(loupe_factory, pki, tmp_path_factory):
    """A node with DICOM TLS (mutual, AE title = certificate CN) beside its plain port, and HTTPS."""
    directory = tmp_path_factory.mktemp("tls-node")
    loupe = pki["loupe"]
    tls_port = free_port()
    config = write_yaml(directory / "loupe.yaml", f"""
dimse:
  tls:
    port: {tls_port}
    certificate: {loupe.certificate}
    private_key: {loupe.key}
    ca: {pki["ca"]}
    require_client_certificate: true
    match_ae_title_to_certificate: true
http:
  tls: {{ certificate: {loupe.certificate}, private_key: {loupe.key} }}
""")
    node = loupe_factory("tls", start=False, config=config, https_ca=pki["ca"])
    node.tls_port = tls_port
    node.start()
    return node


def tls_args(identity, ca, aet):
    return ["+tls", identity.key, identity.certificate, "+cf", ca, "-aet", aet]


def test_dcmtk_tools_over_dicom_tls(tls_node, pki, generated):
    node, ca = tls_node, pki["ca"]
    modality = tls_args(pki["modality"], ca, "MODALITY1")
    echo = run([ECHOSCU, "-v", *modality, "-aec", node.ae, HOST, node.tls_port], timeout=60)
    assert echo.returncode == 0, str(echo)
    files = generated.files(["S3"])
    stored = run([STORESCU, "-v", *modality, "-aec", node.ae, HOST, node.tls_port, *files], timeout=120)
    assert stored.returncode == 0 and stored.output.count("Received Store Response (Success)") == len(files), str(stored)
    study = generated.studies["S3"]
    identity = pki["modality"]
    found = findscu(HOST, node.tls_port, node.ae, "STUDY", {"StudyInstanceUID": study, "NumberOfStudyRelatedInstances": ""},
                    aet="MODALITY1", extra=["+tls", identity.key, identity.certificate, "+cf", ca])
    assert found.ok and [int(r.NumberOfStudyRelatedInstances) for r in found.responses] == [len(files)], str(found)
    assert node.find("STUDY", {"StudyInstanceUID": study}).ok  # the plain port serves too
    # TLS 1.2 alone is enough (BCP 195).
    assert run([ECHOSCU, "+pz", *modality, "-aec", node.ae, HOST, node.tls_port], timeout=60).returncode == 0
    stores = audit(node, user="MODALITY1", action="store")
    assert len(stores) == len(files) and all(e["studyInstanceUID"] == study for e in stores)


def test_dicom_tls_refuses_what_it_cannot_trust(tls_node, pki):
    node, ca = tls_node, pki["ca"]
    log_start = len(node.log_text())
    attempts = {
        "no client certificate": [ECHOSCU, "+tla", "+cf", ca, "-aet", "MODALITY1", "-aec", node.ae, HOST, node.tls_port],
        "a certificate of another CA": [ECHOSCU, *tls_args(pki["rogue"], ca, "MODALITY1"), "-aec", node.ae, HOST, node.tls_port],
        "an AE title that is not its certificate's": [ECHOSCU, *tls_args(pki["modality"], ca, "CT99"), "-aec", node.ae, HOST, node.tls_port],
        "plain DICOM on the TLS port": [ECHOSCU, "-aet", "MODALITY1", "-aec", node.ae, HOST, node.tls_port],
    }
    for what, argv in attempts.items():
        assert run(argv, timeout=60).returncode != 0, what
    log = node.log_text()[log_start:]
    assert "TLS handshake failed" in log and "the calling AE title is not the certificate's common name (MODALITY1)" in log
    assert node.running and run([ECHOSCU, *tls_args(pki["modality"], ca, "MODALITY1"), "-aec", node.ae, HOST, node.tls_port]).returncode == 0
    # A client that connects and says nothing holds up nobody.
    silent = socket.create_connection((HOST, node.tls_port))
    start = time.monotonic()
    assert run([ECHOSCU, *tls_args(pki["modality"], ca, "MODALITY1"), "-aec", node.ae, HOST, node.tls_port]).returncode == 0
    assert time.monotonic() - start < 5
    silent.close()
    assert any("TLS handshake failed" in (e["detail"] or "") for e in audit(node, action="access-denied"))


def test_loupe_moves_to_a_tls_peer(loupe_factory, pki, generated, tmp_path, sop_classes):
    """C-MOVE sub-operations to a storescp that speaks only TLS, its certificate checked against the CA
    and against its host."""
    from loupe_support import write_storescp_config
    received = tmp_path / "received"
    received.mkdir()
    port = free_port()
    scp_config = write_storescp_config(tmp_path / "storescp.cfg", sop_classes)
    scp_identity = pki["storescp"]
    scp = subprocess.Popen([STORESCP, "-v", "+tls", scp_identity.key, scp_identity.certificate, "+cf", pki["ca"],
                            "-xf", scp_config, "Default", "-aet", "TLSSCP", "-od", received, str(port)],
                           stdout=open(tmp_path / "storescp.log", "w"), stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, scp)
        loupe = pki["loupe"]
        config = write_yaml(tmp_path / "loupe.yaml", f"""
dimse:
  tls: {{ port: {free_port()}, certificate: {loupe.certificate}, private_key: {loupe.key}, ca: {pki["ca"]} }}
peers:
  TLSSCP: TLSSCP@127.0.0.1:{port}+tls
  WRONGHOST: TLSSCP@localhost:{port}+tls
""")
        node = loupe_factory("tls-mover", config=config)
        assert node.send(generated.files(["S4"])).returncode == 0
        study = generated.studies["S4"]
        moved = node.move("TLSSCP", "STUDY", {"StudyInstanceUID": study})
        assert final_status(moved.output) == 0, str(moved)
        assert len(list(received.iterdir())) == len(generated.study("S4"))
        echoed = run([node.binary, "echo", "TLSSCP", "--data", node.data_dir, "--config", config], timeout=60)
        assert echoed.returncode == 0 and "status 0x0000" in echoed.output, str(echoed)
    finally:
        stop_process(scp)


@pytest.fixture(scope="module")
def tls_orthanc(tls_node, pki, work):
    orthanc_identity = pki["orthanc"]
    orthanc = Orthanc(work / "orthanc-tls", {"loupe": {"AET": tls_node.ae, "Host": HOST, "Port": tls_node.tls_port, "UseDicomTls": True}},
                      extra_config={"DicomTlsEnabled": True, "DicomTlsCertificate": str(orthanc_identity.certificate),
                                    "DicomTlsPrivateKey": str(orthanc_identity.key), "DicomTlsTrustedCertificates": str(pki["ca"]),
                                    "DicomTlsRemoteCertificateRequired": True})
    orthanc.start()
    yield orthanc
    orthanc.stop()


def test_orthanc_over_dicom_tls(tls_node, tls_orthanc, pki, generated, tmp_path):
    node, orthanc = tls_node, tls_orthanc
    assert orthanc.post("/modalities/loupe/echo", {}) == {}
    study = generated.study("S5")
    uploaded = None
    for instance in study:
        uploaded = orthanc.post("/instances", data=instance["path"].read_bytes())
    job = orthanc.post("/modalities/loupe/store", {"Resources": [uploaded["ParentStudy"]], "Synchronous": True})
    assert int(job.get("FailedInstancesCount", 0)) == 0, job
    found = node.find("IMAGE", [("StudyInstanceUID", generated.studies["S5"]), ("SOPInstanceUID", "")])
    assert sorted(found.values("SOPInstanceUID")) == sorted(i["SOPInstanceUID"] for i in study)
    assert {e["actor"] for e in audit(node, action="store", patient=study[0]["PatientID"])} == {"ORTHANC"}

    # And the other way: Loupe calls Orthanc over TLS (C-ECHO, and C-MOVE into Orthanc).
    config = tmp_path / "with-orthanc.yaml"
    config.write_text(node.config.read_text() + f"peers:\n  ORTHANC: ORTHANC@127.0.0.1:{orthanc.dicom_port}+tls\n")
    echoed = run([node.binary, "echo", "ORTHANC", "--data", node.data_dir, "--config", config], timeout=60)
    assert echoed.returncode == 0, str(echoed)
    node.stop()
    node.config = config
    node.start()
    other = generated.studies["S3"]
    moved = node.move("ORTHANC", "STUDY", {"StudyInstanceUID": other})
    assert final_status(moved.output) == 0, str(moved)
    in_orthanc = orthanc.post("/tools/find", {"Level": "Instance", "Query": {"StudyInstanceUID": other}})
    assert len(in_orthanc) == len(generated.study("S3"))
    exports = audit(node, action="export")
    assert exports and exports[-1]["detail"].endswith(f"to ORTHANC: {len(generated.study('S3'))} instances")


# ---- HTTPS --------------------------------------------------------------------------------------------

def test_https_serves_tls_1_2_and_newer_only(tls_node, pki):
    node, ca = tls_node, str(pki["ca"])
    assert node.http_url.startswith("https://")
    r = plain().get(f"{node.http_url}/healthz", verify=ca, timeout=30)
    assert r.status_code == 200
    studies = plain().get(f"{node.base_url}/studies", headers={**DICOM_JSON, **bearer(node.token)}, verify=ca, timeout=30)
    assert studies.status_code == 200
    for version, accepted in ((ssl.TLSVersion.TLSv1_1, False), (ssl.TLSVersion.TLSv1_2, True), (ssl.TLSVersion.TLSv1_3, True)):
        context = ssl.create_default_context(cafile=ca)
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        context.minimum_version = context.maximum_version = version
        try:
            with socket.create_connection((HOST, node.http_port), timeout=10) as raw, \
                    context.wrap_socket(raw, server_hostname="localhost") as tls:
                assert accepted, f"{version} was accepted"
                assert tls.version() in ("TLSv1.2", "TLSv1.3")
        except ssl.SSLError:
            assert not accepted, f"{version} was refused"
    assert node.cli("user", "add", "https-user", "--role", "clinician", "--password-stdin", stdin="https-password\n").returncode == 0
    login = plain().post(f"{node.http_url}/login", json={"user": "https-user", "password": "https-password"}, verify=ca, timeout=30)
    assert login.status_code == 200 and "Secure" in login.headers["Set-Cookie"]


# ---- MQTT alerts per permission -----------------------------------------------------------------------

def test_mqtt_alerts_reach_only_who_may_see_them(loupe_factory, tmp_path):
    """A mosquitto broker with the ACL `loupe mqtt-acl` makes: each subscriber reads the alerts of its
    patients only, or none without events:flush. The broker's own passwords authenticate."""
    port = free_port()
    config = write_yaml(tmp_path / "loupe.yaml", f"mqtt:\n  host: 127.0.0.1\n  port: {port}\n  username: loupe-node\n  password: node-secret\n")
    node = loupe_factory("mqtt-acl", start=False, config=config)
    node.create_token("bed-a", "nurse", extra=("--patient", "WARD-A"))
    node.create_token("reader", "researcher")
    assert node.cli("user", "add", "nurse-b", "--role", "nurse", "--password-stdin", stdin="nurse-b-password\n").returncode == 0
    acl = node.cli("mqtt-acl")
    assert acl.returncode == 0, acl.stderr
    assert "user loupe-node\ntopic write loupe/alerts/#" in acl.stdout
    assert "user bed-a\ntopic read loupe/alerts/flush/WARD-A\n" in acl.stdout
    assert "user nurse-b\ntopic read loupe/alerts/flush/#\n" in acl.stdout
    assert "user reader" not in acl.stdout
    (tmp_path / "acl").write_text(acl.stdout)
    passwords = tmp_path / "passwords"
    for user, password in (("loupe-node", "node-secret"), ("bed-a", "bed-secret"), ("nurse-b", "nurse-secret"), ("reader", "read-secret")):
        assert subprocess.run(["mosquitto_passwd", *(["-c"] if user == "loupe-node" else []), "-b", passwords, user, password]).returncode == 0
    # `user`: started as root, mosquitto would drop to its own user, which cannot read the test's files.
    (tmp_path / "mosquitto.conf").write_text(f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\nallow_anonymous false\n"
                                             f"password_file {passwords}\nacl_file {tmp_path / 'acl'}\npersistence false\n")
    broker = subprocess.Popen(["mosquitto", "-c", tmp_path / "mosquitto.conf"], stdout=subprocess.DEVNULL,
                              stderr=open(tmp_path / "mosquitto.log", "w"))
    subscribers = {}
    try:
        wait_for_port(port, broker)
        for user, password in (("bed-a", "bed-secret"), ("nurse-b", "nurse-secret"), ("reader", "read-secret")):
            subscribers[user] = subprocess.Popen(["mosquitto_sub", "-h", HOST, "-p", str(port), "-u", user, "-P", password,
                                                  "-t", "loupe/alerts/#", "-q", "1", "-v"], stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        node.start()
        flush_alerts(node.http_url)
        wait_for_derivations(node.http_url)
        time.sleep(2)
    finally:
        node.stop()
        for sub in subscribers.values():
            sub.terminate()
        stop_process(broker)
    received = {user: sorted(line.split(" ", 1)[0] for line in sub.communicate(timeout=10)[0].splitlines())
                for user, sub in subscribers.items()}
    assert received == {"bed-a": ["loupe/alerts/flush/WARD-A"], "nurse-b": ["loupe/alerts/flush/WARD-A", "loupe/alerts/flush/WARD-B"],
                        "reader": []}, received
