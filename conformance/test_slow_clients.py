"""Slow clients: a DIMSE peer that sends its data set a byte at a time, an HTTP client that sends
its headers a byte at a time (slowloris), and one that trickles its body are cut off after their
timeout, and while they hold their connections the node keeps serving others within its association
and connection limits."""

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


def test_body_sent_slower_than_min_body_rate_is_408(loupe_factory, work):
    """body_timeout 2 s, min_body_rate 100: a STOW-RS body trickled at 10 bytes a second (its head
    complete, so the idle timeout never fires) is answered 408 with a message and closed after about
    2 s; a body that keeps the rate is read to its end, however long it takes."""
    config = write_yaml(work / "slow-body.yaml", "http:\n  idle_timeout: 30\n  body_timeout: 2\n  min_body_rate: 100\n")
    node = loupe_factory("loupe-slow-body", config=config)
    with socket.create_connection((HOST, node.http_port), timeout=10) as sock:
        head = (f"POST /dicom-web/studies HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {node.token}\r\n"
                "Content-Type: multipart/related; type=\"application/dicom\"; boundary=slow\r\n"
                "Content-Length: 100000\r\n\r\n").encode()
        sock.sendall(head)
        started = time.monotonic()
        answer = b""
        sock.settimeout(1.0)
        while time.monotonic() - started < 20:
            try:
                sock.sendall(b"x" * 10)
            except OSError:
                break
            try:
                chunk = sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                break
            if not chunk:
                break
            answer += chunk
        closed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
    assert b"slower than 100 bytes a second" in answer, answer[:300]
    assert 1.5 < closed < 8, f"closed after {closed:.1f} s, not after the 2 s body timeout"

    # 400 bytes a second over 5 s keeps ahead of 2 s + 1 s per 100 bytes: read to its end (a 400 for
    # a body that is not multipart, not a 408).
    with socket.create_connection((HOST, node.http_port), timeout=10) as sock:
        body = b"y" * 2000
        sock.sendall(head.replace(b"Content-Length: 100000", f"Content-Length: {len(body)}".encode()))
        for offset in range(0, len(body), 200):
            sock.sendall(body[offset:offset + 200])
            time.sleep(0.5)
        sock.settimeout(10)
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 4") and not answer.startswith(b"HTTP/1.1 408"), answer[:300]
