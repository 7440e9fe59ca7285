"""Operability: Debian's Prometheus scrapes a node's /metrics with a `monitor` token and reads what the
node did (C-ECHO, C-STORE, C-FIND, C-GET, a refused association, DICOMweb requests by route and status, the
derivation queue, the disk); /readyz answers once the node serves fully."""

import json
import subprocess
import time

import pytest

from loupe_support import HOST, free_port, http_session, stop_process, tail, wait_for_port

PROMETHEUS = "/usr/bin/prometheus"


@pytest.fixture(scope="module")
def node(loupe_factory):
    return loupe_factory("loupe-metrics", extra_args=["--derivation-workers", "1"])


@pytest.fixture(scope="module")
def prometheus(node, work):
    """Prometheus scraping the node every second, as an operator would configure it."""
    directory = work / "prometheus"
    directory.mkdir()
    token = node.create_token("prometheus", "monitor")
    (directory / "prometheus.yml").write_text(json.dumps({  # YAML is a superset of JSON
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [{"job_name": "loupe", "metrics_path": "/metrics",
                            "authorization": {"type": "Bearer", "credentials": token},
                            "static_configs": [{"targets": [f"{HOST}:{node.http_port}"]}]}],
    }))
    port = free_port()
    log = directory / "prometheus.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([PROMETHEUS, f"--config.file={directory / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={directory / 'data'}", f"--web.listen-address={HOST}:{port}"],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc, 60, describe=lambda: tail(log))
        yield f"http://{HOST}:{port}"
    finally:
        stop_process(proc)


def query(prometheus: str, expression: str) -> list:
    r = http_session(auth=False).get(f"{prometheus}/api/v1/query", params={"query": expression}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["data"]["result"]


def value(prometheus: str, expression: str, timeout: float = 30, until=lambda v: True) -> float:
    """The value of a single-series expression, once Prometheus has it (and `until` holds)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        result = query(prometheus, expression)
        if result:
            last = float(result[0]["value"][1])
            if until(last):
                return last
        time.sleep(0.5)
    raise AssertionError(f"{expression}: {last if last is not None else 'no series'} after {timeout} s")


def test_prometheus_scrapes_what_the_node_did(node, prometheus, generated, work):
    files = generated.files()[:6]
    assert node.echo().returncode == 0
    sent = node.send(files)
    assert sent.returncode == 0, str(sent)
    assert node.find("STUDY", {"PatientID": "*"}).ok
    study = generated.instances[0]["StudyInstanceUID"]
    out = work / "metrics-get"
    out.mkdir()
    got = node.get("STUDY", {"StudyInstanceUID": study}, out)
    assert got.returncode == 0 and any(out.iterdir()), str(got)
    assert node.echo(aec="NOT-THIS-NODE").returncode != 0, "an association to another called AE title was accepted"
    http = http_session()
    assert http.get(f"{node.base_url}/studies").status_code == 200
    assert http.get(f"{node.base_url}/studies/1.2.3.4.5/metadata").status_code == 404
    assert http_session(auth=False).get(f"{node.http_url}/readyz").status_code == 200

    # The scrape works: the target is up, its text parsed.
    deadline = time.monotonic() + 30
    while True:
        targets = http_session(auth=False).get(f"{prometheus}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
        if targets and targets[0]["health"] == "up":
            break
        assert time.monotonic() < deadline, f"Prometheus never scraped the node: {targets}"
        time.sleep(0.5)
    assert targets[0]["lastError"] == ""

    stored = value(prometheus, 'loupe_dimse_requests_total{service="C-STORE",status="0x0000"}', until=lambda v: v >= len(files))
    assert stored == len(files)
    assert value(prometheus, 'loupe_dimse_requests_total{service="C-ECHO",status="0x0000"}') >= 1
    assert value(prometheus, 'loupe_dimse_requests_total{service="C-FIND",status="0x0000"}') == 1
    assert value(prometheus, 'sum(loupe_dimse_request_duration_seconds_count{service="C-STORE"})') == len(files)
    # C-GET as the shim reports it: once, at its final response.
    assert value(prometheus, 'loupe_dimse_requests_total{service="C-GET",status="0x0000"}') == 1
    assert value(prometheus, 'sum(loupe_dimse_request_duration_seconds_count{service="C-GET"})') == 1
    assert value(prometheus, 'loupe_dimse_associations_rejected_total{reason="called AE title"}') == 1
    assert value(prometheus, "loupe_dimse_associations_open", until=lambda v: v == 0) == 0
    # DICOMweb by route pattern (never by UID) and status.
    assert value(prometheus, 'sum(hb_requests{http_route="/dicom-web/studies",http_response_status_code="200"})') >= 1
    assert value(prometheus, 'sum(hb_requests{http_route="/dicom-web/studies/{study}/metadata",http_response_status_code="404"})') >= 1
    routes = {s["metric"].get("http_route", "") for s in query(prometheus, "hb_requests")}
    assert not any("1.2.3.4.5" in route for route in routes), routes
    # The queue drains and says so; the disk is there.
    assert value(prometheus, 'sum(loupe_derivation_jobs{state=~"pending|running"})', timeout=120, until=lambda v: v == 0) == 0
    assert value(prometheus, 'sum(loupe_derivation_jobs{state="failed"})') == 0
    assert value(prometheus, "loupe_disk_free_bytes") > 0
    processors = {s["metric"]["processor"] for s in query(prometheus, "loupe_derivation_lag_seconds")}
    assert "png" in processors, processors
