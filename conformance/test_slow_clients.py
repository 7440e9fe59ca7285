"""Slow clients: a DIMSE peer that sends its data set a byte at a time, and an HTTP client that
sends its headers a byte at a time (slowloris), are cut off after their timeout, and while they
hold their connections the node keeps serving others within its association and connection limits."""

import random
import socket
import struct
import sys
import threading
import time
from pathlib import Path

from conftest import write_yaml
from instance_support import instance
from loupe_corpus import CT_IMAGE_STORAGE
from loupe_support import HOST, http_session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench" / "ingest"))
import dimse  # noqa: E402


def trickle(sock: socket.socket, data: bytes, interval: float, limit: float) -> float | None:
    """Sends `data` a byte every `interval` seconds; the seconds until the peer closed the
    connection, or None if it was still open after `limit` seconds."""
    started = time.monotonic()
    for byte in data:
        if time.monotonic() - started > limit:
            return None
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            return time.monotonic() - started
        # A closed connection shows as readable at end of file (or an A-ABORT before it).
        sock.settimeout(interval)
        try:
            if not sock.recv(4096, socket.MSG_PEEK):
                return time.monotonic() - started
            if sock.recv(4096)[:1] == b"\x07":  # A-ABORT
                return time.monotonic() - started
        except socket.timeout:
            pass
        except OSError:
            return time.monotonic() - started
    return None


def slow_store(node, held: list, results: list):
    """Opens an association, sends a C-STORE command, then its data set a byte a second."""
    ds, data = instance("1.2.826.0.1.3680043.10.1.1", random.Random(3))
    association = dimse.Association(HOST, int(node.port), node.ae, "SLOWSCU", abstract_syntaxes=(CT_IMAGE_STORAGE,),
                                     transfer_syntaxes=(dimse.EXPLICIT_LE,))
    pc_id = association.send_store_command(CT_IMAGE_STORAGE, ds.SOPInstanceUID)
    pdv = struct.pack(">IBB", len(data) + 2, pc_id, 2) + data
    held.append(association)
    results.append(trickle(association.sock, struct.pack(">BBI", 0x04, 0, len(pdv)) + pdv, 1.0, 30))


def test_data_set_sent_a_byte_a_second_is_cut_off(loupe_factory, work):
    """dimse_timeout 3 s: each PDU must arrive whole within it. Two peers that trickle their data sets
    fill max_associations 2; they are aborted within a few seconds, and a normal store then succeeds."""
    config = write_yaml(work / "slow-dimse.yaml", "dimse:\n  dimse_timeout: 3\n  max_associations: 2\n")
    node = loupe_factory("loupe-slow-dimse", config=config)
    held, results = [], []
    threads = [threading.Thread(target=slow_store, args=(node, held, results)) for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    assert node.echo().returncode != 0, "a third association was accepted beside two: the limit was not reached"
    for thread in threads:
        thread.join(60)
    assert len(results) == 2 and all(r is not None for r in results), f"slow peers still connected after 30 s: {results}"
    assert 1 < min(results) and max(results) < 12, f"slow peers cut off after {results} s, not after the 3 s timeout"
    ds, data = instance("1.2.826.0.1.3680043.10.1.2", random.Random(4))
    with dimse.Association(HOST, int(node.port), node.ae, "FASTSCU", abstract_syntaxes=(CT_IMAGE_STORAGE,),
                           transfer_syntaxes=(dimse.EXPLICIT_LE,)) as association:
        assert association.store(CT_IMAGE_STORAGE, ds.SOPInstanceUID, data) == 0
    for association in held:
        association.sock.close()


def test_headers_sent_a_byte_a_second_are_cut_off(loupe_factory, work):
    """idle_timeout 2 s: a client that sends its request head a byte a second is disconnected
    before it completes it, while a normal request is answered at once."""
    config = write_yaml(work / "slow-http.yaml", "http:\n  idle_timeout: 2\n")
    node = loupe_factory("loupe-slowloris", config=config)
    with socket.create_connection((HOST, node.http_port), timeout=10) as sock:
        head = f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\nX-Padding: {'a' * 40}\r\n\r\n".encode()
        closed = trickle(sock, head, 1.0, 30)
    assert closed is not None, "the slowloris connection was still open after 30 s"
    assert 1 < closed < 6, f"cut off after {closed:.1f} s, not after the 2 s idle timeout"
    assert http_session().get(f"{node.http_url}/healthz", timeout=10).status_code == 200


def test_connection_limit_holds(loupe_factory, work):
    """max_connections 4: four idle connections fill the node; a fifth request waits until the
    idle timeout frees one, then is answered."""
    config = write_yaml(work / "few-connections.yaml", "http:\n  idle_timeout: 3\n  max_connections: 4\n")
    node = loupe_factory("loupe-connections", config=config)
    idle = [socket.create_connection((HOST, node.http_port), timeout=10) for _ in range(4)]
    try:
        time.sleep(0.3)
        started = time.monotonic()
        response = http_session().get(f"{node.http_url}/healthz", timeout=20)
        waited = time.monotonic() - started
        assert response.status_code == 200
        assert waited > 1.5, f"answered after {waited:.2f} s: a fifth connection was served beside four"
    finally:
        for sock in idle:
            sock.close()
