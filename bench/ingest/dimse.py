"""A minimal, blocking DICOM upper-layer client for C-ECHO, C-FIND and C-STORE: latency measurements,
and stores whose every acknowledgement is known (the crash checks).

Why not pynetdicom: its association reactor polls its queues with 1 ms sleeps in a background
thread, which adds milliseconds of latency to every round trip and burns client CPU on a small
machine; at the 1-5 ms scale measured here that is the same order as the quantity measured.
This client does one blocking socket round trip per message (TCP_NODELAY), so what it measures is
the server. Command sets are encoded by hand (Implicit VR Little Endian, PS3.7 E); identifiers are
encoded with pydicom, and response identifiers are only counted while timing (decoding them with
pydicom would cost client time proportional to the number of matches).
"""

import collections
import io
import socket
import struct
import time

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
VERIFICATION = "1.2.840.10008.1.1"
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"
APP_CONTEXT = "1.2.840.10008.3.1.1.1"
IMPL_CLASS_UID = "1.2.826.0.1.3680043.8.498.77.1"
IMPL_VERSION = "LOUPE_BENCH"

C_STORE_RQ, C_STORE_RSP = 0x0001, 0x8001
C_FIND_RQ, C_FIND_RSP = 0x0020, 0x8020
C_ECHO_RQ, C_ECHO_RSP = 0x0030, 0x8030
NO_DATA_SET = 0x0101


class DIMSEError(Exception):
    pass


def _ae(title):
    return title.encode("ascii").ljust(16, b" ")[:16]


def _uid(uid):
    b = uid.encode("ascii")
    return b + (b"\0" if len(b) % 2 else b"")


def _item(item_type, payload):
    return struct.pack(">BBH", item_type, 0, len(payload)) + payload


def _element(group, elem, value):
    if len(value) % 2:
        value += b"\0" if isinstance(value, bytes) else b" "
    return struct.pack("<HHI", group, elem, len(value)) + value


def encode_command(fields):
    """fields: list of ((group, elem), bytes) with group 0x0000, in tag order."""
    body = b"".join(_element(g, e, v) for (g, e), v in fields)
    return _element(0x0000, 0x0000, struct.pack("<I", len(body))) + body


def decode_command(data):
    """Implicit VR LE command set -> {(group, elem): raw bytes}."""
    out = {}
    pos = 0
    while pos + 8 <= len(data):
        g, e, length = struct.unpack_from("<HHI", data, pos)
        pos += 8
        out[(g, e)] = data[pos:pos + length]
        pos += length
    return out


def _us(value):
    return struct.pack("<H", value)


def _u16(raw):
    return struct.unpack("<H", raw[:2])[0]


class Association:
    """One association with one presentation context per requested abstract syntax."""

    def __init__(self, host, port, called_ae, calling_ae="BENCHSCU", abstract_syntaxes=(VERIFICATION,),
                 transfer_syntaxes=(EXPLICIT_LE, IMPLICIT_LE), timeout=60.0, max_pdu=65536):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.max_pdu = max_pdu
        self.peer_max_pdu = 16384
        self.contexts = {}  # abstract syntax -> (context id, accepted transfer syntax)
        self.message_id = 0
        self._buffer = b""
        self._pdvs = collections.deque()
        self._associate(called_ae, calling_ae, list(abstract_syntaxes), list(transfer_syntaxes))

    # ---- PDU framing ----------------------------------------------------------------------

    def _recv_exact(self, n):
        while len(self._buffer) < n:
            chunk = self.sock.recv(max(65536, n - len(self._buffer)))
            if not chunk:
                raise DIMSEError("connection closed by peer")
            self._buffer += chunk
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def _recv_pdu(self):
        header = self._recv_exact(6)
        pdu_type, _, length = struct.unpack(">BBI", header)
        return pdu_type, self._recv_exact(length)

    def _associate(self, called, calling, abstracts, transfers):
        items = _item(0x10, APP_CONTEXT.encode())
        ids = {}
        for index, abstract in enumerate(abstracts):
            pc_id = 2 * index + 1
            ids[pc_id] = abstract
            sub = _item(0x30, abstract.encode()) + b"".join(_item(0x40, ts.encode()) for ts in transfers)
            items += _item(0x20, struct.pack(">BBBB", pc_id, 0, 0, 0) + sub)
        user = (_item(0x51, struct.pack(">I", self.max_pdu)) + _item(0x52, IMPL_CLASS_UID.encode())
                + _item(0x55, IMPL_VERSION.encode()))
        items += _item(0x50, user)
        body = struct.pack(">HH", 1, 0) + _ae(called) + _ae(calling) + b"\0" * 32 + items
        self.sock.sendall(struct.pack(">BBI", 0x01, 0, len(body)) + body)
        pdu_type, data = self._recv_pdu()
        if pdu_type == 0x03:
            result, source, reason = data[1], data[2], data[3]
            raise DIMSEError(f"association rejected (result {result}, source {source}, reason {reason})")
        if pdu_type != 0x02:
            raise DIMSEError(f"unexpected PDU type {pdu_type:#x} in answer to A-ASSOCIATE-RQ")
        pos = 68
        while pos + 4 <= len(data):
            item_type, _, length = struct.unpack_from(">BBH", data, pos)
            payload = data[pos + 4:pos + 4 + length]
            pos += 4 + length
            if item_type == 0x21:
                pc_id, result = payload[0], payload[2]
                ts = None
                p = 4
                while p + 4 <= len(payload):
                    st, _, sl = struct.unpack_from(">BBH", payload, p)
                    if st == 0x40:
                        ts = payload[p + 4:p + 4 + sl].rstrip(b"\0 ").decode()
                    p += 4 + sl
                if result == 0 and pc_id in ids:
                    self.contexts[ids[pc_id]] = (pc_id, ts)
            elif item_type == 0x50:
                p = 0
                while p + 4 <= len(payload):
                    st, _, sl = struct.unpack_from(">BBH", payload, p)
                    if st == 0x51 and sl == 4:
                        value = struct.unpack_from(">I", payload, p + 4)[0]
                        self.peer_max_pdu = value or (1 << 31)
                    p += 4 + sl
        if not self.contexts:
            self.abort()
            raise DIMSEError("no presentation context accepted")

    # ---- messages ---------------------------------------------------------------------------

    def _send_pdvs(self, pc_id, command, dataset):
        chunk = max(1024, self.peer_max_pdu - 6)  # PDV header: 4 length + 1 id + 1 control
        out = []
        for is_command, payload in ((True, command), (False, dataset)):
            if payload is None:
                continue
            for start in range(0, max(1, len(payload)), chunk):
                part = payload[start:start + chunk]
                last = start + chunk >= len(payload)
                control = (1 if is_command else 0) | (2 if last else 0)
                pdv = struct.pack(">IBB", len(part) + 2, pc_id, control) + part
                out.append(struct.pack(">BBI", 0x04, 0, len(pdv)) + pdv)
        self.sock.sendall(b"".join(out))

    def _next_pdv(self):
        """Next (control, payload) PDV, reading P-DATA-TF PDUs as needed."""
        while not self._pdvs:
            pdu_type, data = self._recv_pdu()
            if pdu_type == 0x07:
                raise DIMSEError("association aborted by peer")
            if pdu_type != 0x04:
                raise DIMSEError(f"unexpected PDU type {pdu_type:#x}")
            pos = 0
            while pos + 6 <= len(data):
                length, _pc, control = struct.unpack_from(">IBB", data, pos)
                self._pdvs.append((control, data[pos + 6:pos + 4 + length]))
                pos += 4 + length
        return self._pdvs.popleft()

    def _recv_message(self):
        """Returns (command dict, data set bytes or None)."""
        command = []
        while True:
            control, part = self._next_pdv()
            if not control & 1:
                raise DIMSEError("data set fragment where a command was expected")
            command.append(part)
            if control & 2:
                break
        fields = decode_command(b"".join(command))
        if _u16(fields.get((0x0000, 0x0800), _us(NO_DATA_SET))) == NO_DATA_SET:
            return fields, None
        dataset = []
        while True:
            control, part = self._next_pdv()
            if control & 1:
                raise DIMSEError("command fragment where a data set was expected")
            dataset.append(part)
            if control & 2:
                return fields, b"".join(dataset)

    def _context(self, abstract):
        if abstract not in self.contexts:
            raise DIMSEError(f"no accepted presentation context for {abstract}")
        return self.contexts[abstract]

    def echo(self):
        pc_id, _ = self._context(VERIFICATION)
        self.message_id += 1
        cmd = encode_command([((0, 0x0002), _uid(VERIFICATION)), ((0, 0x0100), _us(C_ECHO_RQ)),
                              ((0, 0x0110), _us(self.message_id)), ((0, 0x0800), _us(NO_DATA_SET))])
        self._send_pdvs(pc_id, cmd, None)
        fields, _ = self._recv_message()
        status = _u16(fields[(0, 0x0900)])
        if status != 0:
            raise DIMSEError(f"C-ECHO status {status:#06x}")

    def find(self, identifier, model=STUDY_ROOT_FIND, decode=False):
        """Sends one C-FIND; returns the list of matches (pydicom Datasets if decode, else raw
        bytes). Raises on a final status other than success."""
        pc_id, ts = self._context(model)
        self.message_id += 1
        cmd = encode_command([((0, 0x0002), _uid(model)), ((0, 0x0100), _us(C_FIND_RQ)),
                              ((0, 0x0110), _us(self.message_id)), ((0, 0x0700), _us(0)),
                              ((0, 0x0800), _us(0x0001))])
        self._send_pdvs(pc_id, cmd, encode_dataset(identifier, ts))
        matches = []
        while True:
            fields, data = self._recv_message()
            if _u16(fields[(0, 0x0100)]) != C_FIND_RSP:
                raise DIMSEError("unexpected response command")
            status = _u16(fields[(0, 0x0900)])
            if status in (0xFF00, 0xFF01):
                if data is not None:
                    matches.append(decode_dataset(data, ts) if decode else data)
                continue
            if status != 0:
                comment = fields.get((0, 0x0902), b"").rstrip(b"\0 ").decode(errors="replace")
                raise DIMSEError(f"C-FIND status {status:#06x} {comment}")
            return matches

    def _store_command(self, sop_class, sop_instance):
        """(presentation context ID, encoded C-STORE-RQ command announcing a data set)."""
        pc_id, _ = self._context(sop_class)
        self.message_id += 1
        return pc_id, encode_command([((0, 0x0002), _uid(sop_class)), ((0, 0x0100), _us(C_STORE_RQ)),
                                      ((0, 0x0110), _us(self.message_id)), ((0, 0x0700), _us(0)),
                                      ((0, 0x0800), _us(0x0001)), ((0, 0x1000), _uid(sop_instance))])

    def send_store_command(self, sop_class, sop_instance):
        """Sends only the C-STORE-RQ command and returns its presentation context ID: the data set
        is for the caller to send, as it likes (a test that sends it slowly)."""
        pc_id, cmd = self._store_command(sop_class, sop_instance)
        self._send_pdvs(pc_id, cmd, None)
        return pc_id

    def store(self, sop_class, sop_instance, dataset):
        """Sends one C-STORE of a data set already encoded in the context's transfer syntax; returns
        the response status (0 is success)."""
        pc_id, cmd = self._store_command(sop_class, sop_instance)
        self._send_pdvs(pc_id, cmd, dataset)
        fields, _ = self._recv_message()
        if _u16(fields[(0, 0x0100)]) != C_STORE_RSP:
            raise DIMSEError("unexpected response command")
        return _u16(fields[(0, 0x0900)])

    def release(self):
        try:
            self.sock.sendall(struct.pack(">BBI", 0x05, 0, 4) + b"\0" * 4)
            self.sock.settimeout(10)
            pdu_type, _ = self._recv_pdu()
        except (OSError, DIMSEError):
            pass
        finally:
            self.sock.close()

    def abort(self):
        try:
            self.sock.sendall(struct.pack(">BBI", 0x07, 0, 4) + b"\0\0\0\0")
        except OSError:
            pass
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def encode_dataset(ds, transfer_syntax):
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = transfer_syntax == IMPLICIT_LE
    write_dataset(fp, ds)
    return fp.getvalue()


def decode_dataset(data, transfer_syntax):
    from pydicom.filereader import read_dataset
    return read_dataset(io.BytesIO(data), transfer_syntax == IMPLICIT_LE, True)


def wait_for_echo(host, port, called_ae, timeout=60.0, process=None):
    """Waits until the peer answers C-ECHO (or the process dies / time runs out)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise DIMSEError(f"process exited with {process.returncode} while waiting for C-ECHO")
        try:
            with Association(host, port, called_ae, timeout=5) as assoc:
                assoc.echo()
                return
        except (OSError, DIMSEError) as exc:
            last = exc
            time.sleep(0.1)
    raise DIMSEError(f"no C-ECHO answer from {called_ae}@{host}:{port} within {timeout:.0f} s: {last}")
