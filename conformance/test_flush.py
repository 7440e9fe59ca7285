"""Issue 7: flush watch. Flush photos of a patient are measured against the patient's baseline of the
episode (the first photo of the day, or the latest one marked as baseline): more redness scores
higher, a change of light alone does not alert. A flush at or above the mild threshold raises an alert
in real time on /api/events (topic flush) and on a real mosquitto broker started here on loopback, as
loupe/alerts/flush/{PatientID}."""

import getpass
import json
import queue
import subprocess
import threading
import time

import numpy as np
import pytest
import requests

from conftest import write_yaml
from dicomweb_support import EventStream, analysis, wait_for_derivations
from loupe_support import free_port, http_session, run, wait_for_port
from photo_support import encode, post_photo, skin_photo


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """mosquitto on a free loopback port, and a mosquitto_sub on loupe/alerts/# collecting (topic, payload)."""
    port = free_port()
    directory = tmp_path_factory.mktemp("mosquitto")
    config = directory / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    server = subprocess.Popen(["mosquitto", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=open(directory / "log", "w"))
    wait_for_port(port, server)
    subscriber = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", "loupe/alerts/#", "-q", "1", "-v"],
                                  stdout=subprocess.PIPE, text=True)
    messages = queue.Queue()

    def read():
        for line in subscriber.stdout:
            topic, _, payload = line.rstrip("\n").partition(" ")
            messages.put((topic, json.loads(payload)))

    threading.Thread(target=read, daemon=True).start()
    time.sleep(0.5)  # the subscription is in place
    yield port, messages
    subscriber.terminate()
    server.terminate()
    subscriber.wait(10)
    server.wait(10)


def take(messages: queue.Queue, count: int, timeout: float) -> list:
    out, deadline = [], time.monotonic() + timeout
    while len(out) < count and time.monotonic() < deadline:
        try:
            out.append(messages.get(timeout=max(0.01, deadline - time.monotonic())))
        except queue.Empty:
            break
    return out


def flush_finding(base: str, uid: str) -> dict:
    (finding,) = [f for f in analysis(base, uid)["findings"] if f["kind"] == "flush"]
    return finding


def test_flush_scores_levels_and_real_time_alerts(loupe_factory, broker, tmp_path):
    port, messages = broker
    config = write_yaml(tmp_path / "loupe.yaml", f"flush:\n  mild: 4\n  marked: 10\nmqtt:\n  host: 127.0.0.1\n  port: {port}\n")
    node = loupe_factory("flush", config=config)
    base = f"http://127.0.0.1:{node.http_port}"
    stream = EventStream(f"{base}/api/events", params={"topic": "flush"})

    def post(patient, minute, redness=0.0, brightness=1.0, baseline=False, seed=11, pixels=None):
        photo = pixels if pixels is not None else skin_photo(redness=redness, brightness=brightness, seed=seed)
        r = post_photo(base, encode(photo, "JPEG", quality=92),
                       {"PatientID": patient, "PatientName": "Verdi^Anna", "kind": "flush", "Baseline": baseline,
                        "AcquisitionDateTime": f"2026-11-23T10:{minute:02d}:00+01:00"})
        assert r.status_code == 201, r.text
        return r.json()["SOPInstanceUID"]

    # Patient 1: the first photo of the day is the baseline; then light changes, then a growing flush.
    first = post("CHEMO-7", 0)
    light = [post("CHEMO-7", 5, brightness=0.75, seed=12), post("CHEMO-7", 10, brightness=1.15, seed=13)]
    flushing = [post("CHEMO-7", 15 + 5 * i, redness=r, seed=14 + i) for i, r in enumerate((0.2, 0.5, 0.8))]
    # Patient 2 (an ID with a slash): flushed in the first photo, then a photo marked as baseline, then flushed again.
    early = post("CHEMO/8", 0, redness=0.6, seed=21)
    marked = post("CHEMO/8", 5, baseline=True, seed=22)
    again = post("CHEMO/8", 10, redness=0.6, seed=23)
    wall = post("CHEMO/8", 15, pixels=np.full((240, 320, 3), (120, 135, 150), np.uint8))
    # Patient 3: the first photo shows no skin, so the next one is the baseline.
    missed = post("CHEMO-9", 0, pixels=np.full((240, 320, 3), (120, 135, 150), np.uint8))
    usable = post("CHEMO-9", 5, seed=31)
    flushed9 = post("CHEMO-9", 10, redness=0.6, seed=32)
    wait_for_derivations(base)

    baseline = flush_finding(base, first)
    assert baseline["label"] == "none" and baseline["details"]["isBaseline"] is True and baseline["details"]["score"] == 0
    assert baseline["details"]["photo"]["faceFound"] is True and baseline["details"]["photo"]["skinFraction"] > 0.2
    for uid in light:
        finding = flush_finding(base, uid)
        assert finding["label"] == "none" and abs(finding["details"]["score"]) < 2, finding
        assert finding["details"]["baselineSOPInstanceUID"] == first
    scores = [flush_finding(base, uid)["details"]["score"] for uid in flushing]
    assert scores == sorted(scores) and scores[0] >= 4, scores
    assert [flush_finding(base, uid)["label"] for uid in flushing] == ["mild", "marked", "marked"]
    details = flush_finding(base, flushing[-1])["details"]
    assert details["thresholds"] == {"mild": 4, "marked": 10} and details["photo"]["erythemaIndex"] > details["baseline"]["erythemaIndex"]
    assert details["photo"]["aStar"] > details["baseline"]["aStar"] and "erythema index" in details["method"]

    assert flush_finding(base, early)["details"]["isBaseline"] is True  # before the marked one: its own baseline
    assert flush_finding(base, marked)["details"]["isBaseline"] is True
    later = flush_finding(base, again)
    assert later["details"]["baselineSOPInstanceUID"] == marked and later["label"] == "marked"
    unmeasured = flush_finding(base, wall)
    assert unmeasured["label"] == "unmeasured" and "no skin" in unmeasured["reason"]
    assert flush_finding(base, missed)["label"] == "unmeasured"
    nine = flush_finding(base, flushed9)
    assert nine["label"] == "marked" and nine["details"]["baselineSOPInstanceUID"] == usable, nine
    assert nine["details"]["unmeasurableBaselines"] == [missed]

    # Alerts: the three flushes of patient 1 and the later flushes of patients 2 and 3, on SSE and MQTT.
    alerted = set(flushing) | {again, flushed9}
    events = stream.take(5, timeout=10)
    assert {e[2]["SOPInstanceUID"] for e in events} == alerted, events
    assert all(e[1] == "flush" and e[2]["details"]["level"] in ("mild", "marked") for e in events)
    assert stream.take(1, timeout=0.5) == []
    stream.close()
    received = take(messages, 5, timeout=10)
    assert {payload["SOPInstanceUID"] for _, payload in received} == alerted, received
    topics = {payload["SOPInstanceUID"]: topic for topic, payload in received}
    assert {topics[uid] for uid in flushing} == {"loupe/alerts/flush/CHEMO-7"}
    assert topics[again] == "loupe/alerts/flush/CHEMO%2F8"
    assert all(payload["kind"] == "flush" and payload["details"]["score"] >= 4 for _, payload in received)
    assert take(messages, 1, timeout=0.5) == []

    # A restarted node does not send the same alerts again, and sends a new one.
    node.stop()
    node.start()
    newer = post("CHEMO-7", 40, redness=0.9, seed=30)
    (topic, payload), = take(messages, 1, timeout=60)
    assert topic == "loupe/alerts/flush/CHEMO-7" and payload["SOPInstanceUID"] == newer
    assert take(messages, 1, timeout=0.5) == []


def test_alerts_raised_while_the_broker_is_away_arrive_when_it_is_back(loupe_factory, tmp_path):
    """Nothing is lost to a broker that is down: the node keeps its cursor and sends what was missed.
    The subscriber has a persistent session (made before the broker went down), so the broker queues
    the alert for it whenever the node gets through."""
    port = free_port()
    config = tmp_path / "mosquitto.conf"
    # As root, mosquitto would switch to its own user, which cannot write the persistence file here.
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {tmp_path}/\n"
                      f"user {getpass.getuser()}\n")

    def broker():
        process = subprocess.Popen(["mosquitto", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(port, process)
        return process

    def subscribe(count, timeout):
        return subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", "loupe/alerts/#", "-q", "1", "-c",
                               "-i", "flush-watch", "-v", "-C", str(count), "-W", str(timeout)], capture_output=True, text=True)

    server = broker()
    subscribe(1, 1)  # makes the persistent session and its subscription; times out without a message
    server.terminate()
    server.wait(10)

    node = loupe_factory("flush-away", config=write_yaml(tmp_path / "loupe.yaml", f"mqtt:\n  host: 127.0.0.1\n  port: {port}\n"))
    base = f"http://127.0.0.1:{node.http_port}"
    for minute, redness in ((0, 0.0), (5, 0.7)):
        r = post_photo(base, encode(skin_photo(redness=redness, seed=40 + minute), "JPEG"),
                       {"PatientID": "AWAY-1", "PatientName": "Neri^Ugo", "kind": "flush",
                        "AcquisitionDateTime": f"2026-11-23T11:{minute:02d}:00Z"})
        assert r.status_code == 201, r.text
        flushed = r.json()["SOPInstanceUID"]
    wait_for_derivations(base)
    time.sleep(1)
    # /metrics tells the broker is away and nothing was published yet.
    assert mqtt_metrics(base) == (0, 0)
    server = broker()
    try:
        got = subscribe(1, 60)
        assert got.returncode == 0, got.stderr
        topic, _, payload = got.stdout.strip().partition(" ")
        assert topic == "loupe/alerts/flush/AWAY-1" and json.loads(payload)["SOPInstanceUID"] == flushed
        # Once: the node did not queue a copy for every retry while the broker was away.
        again = subscribe(1, 3)
        assert again.returncode != 0 and again.stdout == "", again.stdout
        assert mqtt_metrics(base) == (1, 1)
    finally:
        server.terminate()
        server.wait(10)


def mqtt_metrics(base: str) -> tuple[float, float]:
    """(loupe_mqtt_connected, loupe_mqtt_alerts_published_total) as /metrics reports them."""
    text = http_session().get(f"{base}/metrics", timeout=30).text
    values = dict(line.rsplit(" ", 1) for line in text.splitlines() if line.startswith("loupe_mqtt_"))
    return float(values.get("loupe_mqtt_connected", "nan")), float(values.get("loupe_mqtt_alerts_published_total", "nan"))


def test_bad_flush_configuration_is_refused(loupe_bin, tmp_path):
    config = write_yaml(tmp_path / "bad.yaml", "flush:\n  mild: 10\n  marked: 4\n")
    result = run([loupe_bin, "serve", "--config", config, "--data", tmp_path / "data"], timeout=60)
    assert result.returncode != 0 and "flush" in result.output
