"""Issue 15: the audit trail forwarded as DICOM Audit Messages (PS3.15 A.5) over syslog with TLS
(RFC 5424 in RFC 5425 frames, mutual TLS), to a real collector: rsyslog with its TLS driver on
loopback, as a hospital's audit record repository would receive them. Every message is validated
against the schema of PS3.15 A.5.1 (conformance/atna)."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

from conftest import write_yaml
from dicomweb_support import session
from loupe_support import free_port, stop_process, wait_for_port, wait_for_port_closed
from tls_support import PKI

SCHEMA = etree.RelaxNG(etree.parse(str(Path(__file__).parent / "atna" / "audit-message.rng")))
END = "=====END====="


@dataclass
class Collector:
    directory: Path
    port: int
    config: Path
    proc: subprocess.Popen | None = None

    def start(self) -> "Collector":
        self.proc = subprocess.Popen(["rsyslogd", "-n", "-f", str(self.config), "-i", str(self.directory / "rsyslogd.pid")],
                                     stdout=subprocess.DEVNULL, stderr=open(self.directory / "rsyslogd.log", "a"))
        wait_for_port(self.port, self.proc)
        return self

    def stop(self) -> None:
        stop_process(self.proc)
        wait_for_port_closed(self.port)

    def messages(self) -> list[tuple[str, bytes]]:
        """(header fields, XML) of every message received so far."""
        fields = (self.directory / "fields.log").read_text().splitlines() if (self.directory / "fields.log").exists() else []
        bodies = (self.directory / "msg.log").read_bytes().split(f"\n{END}\n".encode()) if (self.directory / "msg.log").exists() else []
        return list(zip(fields, [b.removeprefix(b"\xef\xbb\xbf") for b in bodies if b.strip()]))

    def wait_for(self, predicate, timeout: float = 30) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in self.messages() if predicate(m)]
            if found:
                return found
            time.sleep(0.2)
        return []


@pytest.fixture(scope="module")
def collector(tmp_path_factory):
    if shutil.which("rsyslogd") is None:
        pytest.fail("rsyslogd is not installed: scripts/install-deps.sh test installs rsyslog and rsyslog-gnutls")
    directory = tmp_path_factory.mktemp("collector")
    pki = PKI(directory / "pki")
    server, client = pki.issue("localhost"), pki.issue("loupe-audit")
    port = free_port()
    config = directory / "rsyslog.conf"
    config.write_text(f"""
global(workDirectory="{directory}" maxMessageSize="64k" parser.escapeControlCharactersOnReceive="off"
       defaultNetstreamDriver="gtls" defaultNetstreamDriverCAFile="{pki.ca}"
       defaultNetstreamDriverCertFile="{server.certificate}" defaultNetstreamDriverKeyFile="{server.key}")
module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="x509/name" permittedPeer=["loupe-audit"])
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="atna")
template(name="fields" type="list") {{
  constant(value="PRI=") property(name="pri") constant(value=" HOST=") property(name="hostname")
  constant(value=" APP=") property(name="app-name") constant(value=" MSGID=") property(name="msgid") constant(value="\\n")
}}
template(name="message" type="list") {{ property(name="msg" droplastlf="off") constant(value="\\n{END}\\n") }}
ruleset(name="atna") {{
  action(type="omfile" file="{directory}/fields.log" template="fields")
  action(type="omfile" file="{directory}/msg.log" template="message")
}}
""")
    found = Collector(directory, port, config).start()
    found.pki, found.client = pki, client
    yield found
    stop_process(found.proc)


def event_ids(xml: bytes) -> tuple[str, str | None]:
    root = etree.fromstring(xml)
    event = root.find("EventIdentification")
    kind = event.find("EventTypeCode")
    return event.find("EventID").get("csd-code"), (kind.get("csd-code") if kind is not None else None)


def test_the_audit_trail_reaches_a_syslog_collector_as_dicom_audit_messages(loupe_factory, collector, generated, tmp_path):
    config = write_yaml(tmp_path / "loupe.yaml", f"""
audit:
  site: CONFORMANCE
  syslog:
    host: 127.0.0.1
    port: {collector.port}
    ca: {collector.pki.ca}
    certificate: {collector.client.certificate}
    private_key: {collector.client.key}
""")
    node = loupe_factory("audited", config=config)
    assert node.cli("user", "add", "auditee", "--role", "radiologist", "--password-stdin", stdin="auditee-password\n").returncode == 0
    http = session(auth=False)
    assert http.post(f"{node.http_url}/login", json={"user": "auditee", "password": "auditee-password"}, timeout=30).status_code == 200
    assert http.post(f"{node.http_url}/login", json={"user": "auditee", "password": "wrong-password"}, timeout=30).status_code == 401
    study = generated.study("S2")
    assert node.send([r["path"] for r in study]).returncode == 0
    qido = http.get(f"{node.base_url}/studies", params={"PatientID": study[0]["PatientID"]},
                    headers={"Accept": "application/dicom+json"}, timeout=30)
    assert qido.status_code == 200
    record = study[0]
    wado = http.get(f"{node.base_url}/studies/{record['StudyInstanceUID']}/series/{record['SeriesInstanceUID']}/metadata", timeout=30)
    assert wado.status_code == 200
    assert http.get(f"{node.http_url}/api/audit", timeout=30).status_code == 403  # a radiologist is no admin

    expected = {("110100", "110120"), ("110113", "110137"), ("110114", "110122"), ("110104", None), ("110112", None),
                ("110103", None), ("110113", "110132")}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not expected <= {event_ids(xml) for _, xml in collector.messages()}:
        time.sleep(0.2)
    received = collector.messages()
    assert expected <= {event_ids(xml) for _, xml in received}, sorted({event_ids(xml) for _, xml in received})
    for fields, xml in received:
        document = etree.fromstring(xml)
        assert SCHEMA.validate(etree.ElementTree(document)), (xml, [str(e) for e in SCHEMA.error_log])
        assert " MSGID=IHE+RFC-3881" in fields and " APP=loupe" in fields, fields
        outcome = document.find("EventIdentification").get("EventOutcomeIndicator")
        assert fields.startswith({"0": "PRI=85", "4": "PRI=84", "8": "PRI=83"}[outcome]), fields
        assert document.find("AuditSourceIdentification").get("AuditEnterpriseSiteID") == "CONFORMANCE"

    stores = [etree.fromstring(xml) for _, xml in received if event_ids(xml) == ("110104", None)]
    assert len(stores) == len(study)
    objects = {o.get("ParticipantObjectTypeCode"): o.get("ParticipantObjectID") for o in stores[0].iter("ParticipantObjectIdentification")}
    assert objects == {"2": record["StudyInstanceUID"], "1": record["PatientID"]}
    requester = stores[0].find("ActiveParticipant")
    assert requester.get("UserID") == "DCMSEND" and requester.get("AlternativeUserID") == "AETITLES=DCMSEND"
    failed = [etree.fromstring(xml) for _, xml in received if event_ids(xml) == ("110114", "110122")
              and etree.fromstring(xml).find("EventIdentification").get("EventOutcomeIndicator") == "4"]
    assert failed and failed[0].find("EventIdentification/EventOutcomeDescription").text == "wrong user name or password"

    # The collector goes away; what happens meanwhile is sent when it is back, once.
    collector.stop()
    assert http.get(f"{node.base_url}/studies", params={"PatientID": "WHILE-AWAY"},
                    headers={"Accept": "application/dicom+json"}, timeout=30).status_code == 200
    time.sleep(1.5)
    collector.start()
    away = collector.wait_for(lambda m: b'ParticipantObjectID="WHILE-AWAY"' in m[1], timeout=60)
    assert len(away) == 1, [m[1][:200] for m in collector.messages()[-5:]]
