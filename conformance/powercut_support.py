"""Power cuts at every point of ingest, simulated from a record of the node's own system calls.

`loupe serve` runs under strace, which records, in order, every call that changes a file or a
directory (with the bytes written), every flush (fsync, fdatasync, syncfs) and every byte sent on a
socket. Several associations store new instances; then the node is killed. A model of the data
directory replays the record, and at every flush and every C-STORE success (found in the bytes the
node sent) asks: if the power failed here, what would the disk hold? Two answers are checked:

- `strict`: only what was flushed survives. A file holds the bytes it had when it was last flushed
  (nothing if it never was); a directory holds the entries it had when it was last flushed.
- `renames-first`: every change to a directory survives (as on a file system that commits names
  before data), but a file's bytes only as far as they were flushed.

In each, the index (SQLite's database and WAL as they would be on disk, opened by SQLite, which
recovers the WAL) must name every instance acknowledged so far, and its file must hold the bytes
that were sent. At a few crash points the whole directory is written out as it would be on disk and
a real `loupe serve` is started on it: every acknowledged instance must be served bit for bit, and
with the node stopped again, every index row must have its file and every file its row.

Used by conformance/test_crash.py (a short run) and bench/crash/powercut.py. Calls that strace
records but the model does not know (copy_file_range, a shared memory map on a data file, ...)
make the run fail rather than pass unchecked.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import sqlite3
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path


from crash_support import check_files, check_round, data_set_bytes, make_senders
from loupe_support import LoupeNode

STRACE = "/usr/bin/strace"
TRACED_CALLS = ("open,openat,creat,close,dup,dup2,dup3,fcntl,lseek,write,pwrite64,writev,pwritev,pwritev2,"
                "ftruncate,truncate,fallocate,fsync,fdatasync,syncfs,sync,rename,renameat,renameat2,link,linkat,"
                "unlink,unlinkat,mkdir,mkdirat,rmdir,accept,accept4,sendto,sendmsg,copy_file_range,sendfile,mmap")
AT_FDCWD = -100


class UnmodelledCall(Exception):
    """The record holds a call on the data directory that the model cannot replay faithfully."""


# ---- the record -------------------------------------------------------------------------------

@dataclass
class Call:
    """One system call: where it entered and returned in the record, its name, raw arguments, result."""
    entry: int
    exit: int
    name: str
    args: list[str]
    result: int | None


# strace pads the pid column when pids differ in width ("2472  mmap(...)").
_COMPLETE = re.compile(r"^(\d+) +([\w?]+)\((.*)\) += (.*)$")
_UNFINISHED = re.compile(r"^(\d+) +([\w?]+)\((.*) <unfinished \.\.\.>$")
_RESUMED = re.compile(r"^(\d+) +<\.\.\. (\w+) resumed>(.*)\) += (.*)$")
_STRING = re.compile(r'"((?:\\x[0-9a-f]{2})*)"')


def _result(text: str) -> int | None:
    token = text.split(" ", 1)[0]
    try:
        return int(token, 0)
    except ValueError:
        return None   # "?": the call never returned (the process died in it)


def _split_args(text: str) -> list[str]:
    """Top-level arguments of a call: commas inside [...] and {...} do not split (strings are all
    \\x escapes, so they hold no brackets or commas)."""
    args, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c in "[{(":
            depth += 1
        elif c in "]})":
            depth -= 1
        elif c == "," and depth == 0:
            args.append(text[start:i].strip())
            start = i + 1
    if text[start:].strip():
        args.append(text[start:].strip())
    return args


def read_record(path: Path) -> list[Call]:
    """The calls of an strace record (-f -xx), in order of their return; unfinished calls joined."""
    calls, pending = [], {}
    with open(path, errors="strict") as lines:
        for position, line in enumerate(lines):
            line = line.rstrip("\n")
            if m := _COMPLETE.match(line):
                pid, name, args, result = m.groups()
                calls.append(Call(position, position, name, _split_args(args), _result(result)))
            elif m := _UNFINISHED.match(line):
                pid, name, args = m.groups()
                pending[pid] = (position, name, args)
            elif m := _RESUMED.match(line):
                pid, name, rest, result = m.groups()
                entry, first, args = pending.pop(pid)
                assert first == name, f"line {position}: {name} resumed, {first} was pending"
                calls.append(Call(entry, position, name, _split_args(args + rest), _result(result)))
            elif " +++ " in line or " --- " in line or "+++ killed" in line or "+++ exited" in line:
                continue
            else:
                raise UnmodelledCall(f"line {position} of the record not understood: {line[:200]}")
    # Calls still unfinished when the process died never returned: no effect.
    return calls


def string_argument(text: str) -> bytes:
    if '"...' in text:
        raise UnmodelledCall("a string in the record is truncated (strace -s too small)")
    return b"".join(bytes.fromhex(s.replace("\\x", "")) for s in _STRING.findall(text))


def int_argument(text: str) -> int:
    return AT_FDCWD if text == "AT_FDCWD" else int(text, 0)


# ---- the model of the data directory ----------------------------------------------------------

class Node:
    """An inode: a file's bytes or a directory's entries, as they are now and as they are on disk."""
    __slots__ = ("number", "is_dir", "data", "entries", "durable", "durable_since", "version")

    def __init__(self, number: int, is_dir: bool, data: bytes = b"", durable: bool = False):
        self.number, self.is_dir = number, is_dir
        self.data = bytearray(data)
        self.entries: dict[str, Node] = {}
        self.durable = (dict(self.entries) if is_dir else bytes(data)) if durable else ({} if is_dir else b"")
        # Where in the record the flush that made `durable` started: two flushes of one file may end
        # in the other order, and the one that started later holds more.
        self.durable_since = -1
        self.version = 0

    def snapshot(self):
        return dict(self.entries) if self.is_dir else bytes(self.data)


@dataclass
class Description:
    """An open file description: several descriptors may share one (dup), and its offset."""
    node: Node | None
    path: str
    offset: int = 0
    append: bool = False
    socket: bool = False
    stream: bytearray = field(default_factory=bytearray)
    command: bytearray = field(default_factory=bytearray)


class DataDirectory:
    """Replays the calls on the files under `root`, starting from `contents` (the directory as it was
    when the record began, all of it taken as on disk)."""

    def __init__(self, root: Path, cwd: Path, contents: Path | None = None):
        self.root = str(root)
        self.cwd = str(cwd)
        self.numbers = 0
        self.top = self._load(contents or root)
        self.descriptors: dict[int, Description] = {}

    def _node(self, is_dir: bool, data: bytes = b"", durable: bool = False) -> Node:
        self.numbers += 1
        return Node(self.numbers, is_dir, data, durable)

    def _load(self, path: Path) -> Node:
        node = self._node(True, durable=True)
        for child in sorted(path.iterdir()):
            node.entries[child.name] = self._load(child) if child.is_dir() else self._node(False, child.read_bytes(), True)
        node.durable = dict(node.entries)
        return node

    # -- names
    def _absolute(self, directory: int, path: str) -> str:
        if not path.startswith("/"):
            base = self.cwd if directory == AT_FDCWD else self.descriptors[directory].path
            path = base + "/" + path
        return os.path.normpath(path)

    def _inside(self, path: str) -> list[str] | None:
        """The components of a path below the data directory, or None outside it."""
        if path == self.root:
            return []
        if not path.startswith(self.root + "/"):
            return None
        return path[len(self.root) + 1:].split("/")

    def lookup(self, components: list[str]) -> Node | None:
        node = self.top
        for name in components:
            if node is None or not node.is_dir:
                return None
            node = node.entries.get(name)
        return node

    def _parent(self, components: list[str]) -> Node:
        parent = self.lookup(components[:-1])
        if parent is None or not parent.is_dir:
            raise UnmodelledCall(f"a call succeeded on {'/'.join(components)} whose directory the model does not have")
        return parent

    # -- replay
    def entered(self, call: Call, on_sent) -> object:
        """What a call fixes when it starts: a flush takes what it will write; a socket write is sent."""
        if call.name == "close":
            self.descriptors.pop(int_argument(call.args[0]), None)
        elif call.name in ("fsync", "fdatasync"):
            description = self.descriptors.get(int_argument(call.args[0]))
            if description is not None and description.node is not None:
                return [(description.node, description.node.snapshot(), call.entry)]
        elif call.name in ("syncfs", "sync"):
            return [(node, node.snapshot(), call.entry) for node in self._all_nodes()]
        elif call.name in ("write", "sendto", "sendmsg", "writev"):
            description = self.descriptors.get(int_argument(call.args[0]))
            if description is not None and description.socket and call.result and call.result > 0:
                data = string_argument(call.args[1])[:call.result]
                self._sent(description, data, on_sent)
        return None

    def returned(self, call: Call, fixed) -> bool:
        """Applies a call at its return. True when it was a flush that completed (a crash point)."""
        name, args, result = call.name, call.args, call.result
        if result is None or result < 0:
            return False
        if name in FLUSHES:
            for node, snapshot, since in fixed or []:
                if since > node.durable_since:
                    node.durable, node.durable_since = snapshot, since
                    node.version += 1
            return True  # a crash point even when it flushed nothing of the data directory
        if name in ("open", "openat", "creat"):
            directory, path, flags = (AT_FDCWD, args[0], args[1]) if name != "openat" else (int_argument(args[0]), args[1], args[2])
            if name == "creat":
                flags = "O_CREAT|O_WRONLY|O_TRUNC"
            self._open(result, self._absolute(directory, string_argument(path).decode()), flags)
        elif name in ("dup", "dup2", "dup3") or (name == "fcntl" and args[1].startswith("F_DUPFD")):
            if (description := self.descriptors.get(int_argument(args[0]))) is not None:
                self.descriptors[result] = description
        elif name in ("accept", "accept4"):
            self.descriptors[result] = Description(None, "", socket=True)
        elif name == "lseek":
            if (description := self._file(args[0])) is not None:
                description.offset = result
        elif name in ("write", "writev", "pwrite64", "pwritev", "pwritev2"):
            description = self._file(args[0])
            if description is not None:
                data = string_argument(args[1])[:result]
                if len(data) != result:
                    raise UnmodelledCall(f"{name} wrote {result} bytes, the record holds {len(data)}")
                if name in ("write", "writev"):
                    offset = len(description.node.data) if description.append else description.offset
                    description.offset = offset + result
                else:
                    offset = int_argument(args[3])
                self._write(description.node, offset, data)
        elif name == "ftruncate":
            if (description := self._file(args[0])) is not None:
                self._truncate(description.node, int_argument(args[1]))
        elif name == "truncate":
            components = self._inside(self._absolute(AT_FDCWD, string_argument(args[0]).decode()))
            if components is not None:
                self._truncate(self.lookup(components), int_argument(args[1]))
        elif name == "fallocate":
            if (description := self._file(args[0])) is not None:
                mode, offset, length = args[1], int_argument(args[2]), int_argument(args[3])
                if mode == "0" and offset + length > len(description.node.data):
                    self._truncate(description.node, offset + length)
                elif mode not in ("0", "FALLOC_FL_KEEP_SIZE"):
                    raise UnmodelledCall(f"fallocate mode {mode}")
        elif name in ("rename", "renameat", "renameat2"):
            if name == "rename":
                old, new = (AT_FDCWD, args[0]), (AT_FDCWD, args[1])
            else:
                old, new = (int_argument(args[0]), args[1]), (int_argument(args[2]), args[3])
                if name == "renameat2" and "RENAME_EXCHANGE" in args[4]:
                    raise UnmodelledCall("renameat2 RENAME_EXCHANGE")
            self._bind(self._absolute(old[0], string_argument(old[1]).decode()),
                       self._absolute(new[0], string_argument(new[1]).decode()), rename=True)
        elif name in ("link", "linkat"):
            old, new = ((AT_FDCWD, args[0]), (AT_FDCWD, args[1])) if name == "link" else \
                ((int_argument(args[0]), args[1]), (int_argument(args[2]), args[3]))
            self._bind(self._absolute(old[0], string_argument(old[1]).decode()),
                       self._absolute(new[0], string_argument(new[1]).decode()), rename=False)
        elif name in ("unlink", "unlinkat", "rmdir"):
            directory, path = (AT_FDCWD, args[0]) if name != "unlinkat" else (int_argument(args[0]), args[1])
            components = self._inside(self._absolute(directory, string_argument(path).decode()))
            if components:
                self._parent(components).entries.pop(components[-1], None)
        elif name in ("mkdir", "mkdirat"):
            directory, path = (AT_FDCWD, args[0]) if name == "mkdir" else (int_argument(args[0]), args[1])
            components = self._inside(self._absolute(directory, string_argument(path).decode()))
            if components:
                self._parent(components).entries[components[-1]] = self._node(True)
        elif name in ("copy_file_range", "sendfile"):
            target = self._file(args[2] if name == "copy_file_range" else args[0])
            if target is not None:
                raise UnmodelledCall(f"{name} into a file of the data directory")
        elif name == "mmap":
            if "MAP_SHARED" in args[3] and "PROT_WRITE" in args[2]:
                description = self._file(args[4])
                if description is not None and not description.path.endswith("-shm"):
                    raise UnmodelledCall(f"a writable shared map of {description.path}")
        return False

    def _file(self, fd_text: str) -> Description | None:
        description = self.descriptors.get(int_argument(fd_text))
        if description is None or description.node is None or description.node.is_dir:
            return None
        return description

    def _open(self, fd: int, path: str, flags: str):
        components = self._inside(path)
        if components is None:
            self.descriptors[fd] = Description(None, path)
            return
        node = self.lookup(components)
        if node is None:
            if "O_CREAT" not in flags:
                raise UnmodelledCall(f"{path} opened, but the model does not have it")
            node = self._node(False)
            self._parent(components).entries[components[-1]] = node
        elif "O_TRUNC" in flags and not node.is_dir:
            self._truncate(node, 0)
        self.descriptors[fd] = Description(node, path, append="O_APPEND" in flags)

    @staticmethod
    def _write(node: Node, offset: int, data: bytes):
        if offset > len(node.data):
            node.data.extend(bytes(offset - len(node.data)))
        node.data[offset:offset + len(data)] = data

    @staticmethod
    def _truncate(node: Node, size: int):
        if size < len(node.data):
            del node.data[size:]
        else:
            node.data.extend(bytes(size - len(node.data)))

    def _bind(self, old: str, new: str, rename: bool):
        """A second name for a node (link), or its name moved (rename)."""
        old_c, new_c = self._inside(old), self._inside(new)
        if old_c is None and new_c is None:
            return
        if old_c is None or new_c is None:
            raise UnmodelledCall(f"{'rename' if rename else 'link'} across the data directory's edge: {old} -> {new}")
        node = self._parent(old_c).entries.pop(old_c[-1]) if rename else self.lookup(old_c)
        self._parent(new_c).entries[new_c[-1]] = node

    def _all_nodes(self):
        seen, stack = set(), [self.top]
        while stack:
            node = stack.pop()
            if node.number in seen:
                continue
            seen.add(node.number)
            yield node
            if node.is_dir:
                stack.extend(node.entries.values())
                stack.extend(node.durable.values())

    # -- what the node said on its sockets
    @staticmethod
    def _sent(description: Description, data: bytes, on_sent):
        """Follows the PDUs a socket carries; calls on_sent(SOP Instance UID) for each C-STORE-RSP
        with status Success, at the call that sends it."""
        stream = description.stream
        stream.extend(data)
        while len(stream) >= 6:
            pdu_type, length = stream[0], struct.unpack(">I", stream[2:6])[0]
            if len(stream) < 6 + length:
                break
            pdu = bytes(stream[6:6 + length])
            del stream[:6 + length]
            if pdu_type != 0x04:
                continue
            position = 0
            while position + 6 <= len(pdu):
                item_length = struct.unpack(">I", pdu[position:position + 4])[0]
                control = pdu[position + 5]
                fragment = pdu[position + 6:position + 4 + item_length]
                position += 4 + item_length
                if not control & 0x01:
                    continue
                description.command.extend(fragment)
                if control & 0x02:
                    command = _command(bytes(description.command))
                    description.command.clear()
                    status = struct.unpack("<H", command.get((0, 0x0900), b"\xff\xff"))[0]
                    # Success, or a warning (coercion, elements discarded): both tell the sender it is stored.
                    if command.get((0, 0x0100)) == struct.pack("<H", 0x8001) and \
                            (status == 0 or status & 0xF000 == 0xB000 or status in (0x0107, 0x0116)):
                        on_sent(command[(0, 0x1000)].rstrip(b"\0 ").decode())


def _command(data: bytes) -> dict:
    out, position = {}, 0
    while position + 8 <= len(data):
        group, element, length = struct.unpack_from("<HHI", data, position)
        out[(group, element)] = data[position + 8:position + 8 + length]
        position += 8 + length
    return out


# ---- what would be on disk --------------------------------------------------------------------

CUTS = ("strict", "renames-first")
FLUSHES = ("fsync", "fdatasync", "syncfs", "sync")


def on_disk(directory: DataDirectory, cut: str, components: list[str]) -> Node | None:
    """The node a path names after a power cut now."""
    node = directory.top
    for name in components:
        if node is None or not node.is_dir:
            return None
        node = (node.durable if cut == "strict" else node.entries).get(name)
    return node


def write_out(directory: DataDirectory, cut: str, target: Path, only: set[str] | None = None):
    """Writes the data directory as the disk would hold it after the cut (hard links kept; SQLite's
    shared-memory index left out, as the first connection rebuilds it)."""
    linked: dict[int, Path] = {}

    def walk(node: Node, path: Path, depth: int):
        entries = node.durable if cut == "strict" else node.entries
        for name, child in entries.items():
            if depth == 0 and only is not None and name not in only:
                continue
            if name.endswith("-shm"):
                continue
            if child.is_dir:
                (path / name).mkdir()
                walk(child, path / name, depth + 1)
            elif child.number in linked:
                os.link(linked[child.number], path / name)
            else:
                (path / name).write_bytes(child.durable)
                linked[child.number] = path / name

    target.mkdir(parents=True)
    walk(directory.top, target, 0)


class Checker:
    """Checks, at each crash point, that the index as on disk names every acknowledged instance and
    that its file holds the bytes sent."""

    def __init__(self, directory: DataDirectory, sent: dict[str, bytes], scratch: Path):
        self.directory, self.sent, self.scratch = directory, sent, scratch
        # Per cut, the index rows as last read and which database and WAL contents they came from.
        self.rows: dict[str, tuple[tuple, dict[str, str] | str]] = {}
        self.verified: set[tuple] = set()
        self.points = 0
        self.failures: list[str] = []

    def _index(self, cut: str) -> dict[str, str] | str:
        database = on_disk(self.directory, cut, ["index.sqlite"])
        wal = on_disk(self.directory, cut, ["index.sqlite-wal"])
        key = tuple((node.number, node.version) if node else None for node in (database, wal))
        if cut not in self.rows or self.rows[cut][0] != key:
            target = self.scratch / "index"
            shutil.rmtree(target, ignore_errors=True)
            write_out(self.directory, cut, target, only={"index.sqlite", "index.sqlite-wal"})
            try:
                with sqlite3.connect(target / "index.sqlite") as db:
                    self.rows[cut] = (key, dict(db.execute("SELECT SOPInstanceUID, file_path FROM instance")))
            except sqlite3.Error as error:
                self.rows[cut] = (key, f"the index does not open: {error}")
        return self.rows[cut][1]

    def check(self, acknowledged: list[str], where: str):
        self.points += 1
        for cut in CUTS:
            rows = self._index(cut)
            if isinstance(rows, str):
                self.failures.append(f"{where}, {cut}: {rows}")
                continue
            for uid in acknowledged:
                path = rows.get(uid)
                if path is None:
                    self.failures.append(f"{where}, {cut}: acknowledged {uid} has no index row")
                    continue
                node = on_disk(self.directory, cut, ["files", *path.split("/")])
                key = (uid, node.number, node.version) if node else None
                if key in self.verified:
                    continue
                if node is None or node.is_dir:
                    self.failures.append(f"{where}, {cut}: acknowledged {uid}: no file at {path}")
                elif len(node.durable) < 132 or data_set_bytes(node.durable) != self.sent[uid]:
                    self.failures.append(f"{where}, {cut}: acknowledged {uid}: {path} holds {len(node.durable)} bytes, not what was sent")
                else:
                    self.verified.add(key)


# ---- a run ------------------------------------------------------------------------------------

class TracedNode(LoupeNode):
    """A LoupeNode whose `serve` runs under strace when `record` is set."""
    record: Path | None = None

    @property
    def argv(self) -> list:
        argv = super().argv
        if self.record is None:
            return argv
        return [STRACE, "-f", "-qq", "-xx", "-v", "-s", str(64 << 20), "-e", f"trace={TRACED_CALLS}",
                "-o", str(self.record), *argv]

    def kill_traced(self):
        """SIGKILLs `loupe serve` (strace's child); strace then ends."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        for pid in children:
            os.kill(int(pid), signal.SIGKILL)
        self.proc.wait(timeout=60)


@dataclass
class Recording:
    """What a traced ingest left: the record, the data directory as the traced process found it (a
    copy), and what was sent and acknowledged."""
    record: Path
    calls: list[Call]
    data_dir: Path
    base: Path
    study: str
    series: str
    sent: dict[str, bytes]
    acknowledged: set[str]
    token: str


def record_ingest(binary: str, workdir: Path, rng: random.Random, associations: int, per_association: int,
                  large_every: int = 5, log=print) -> Recording:
    """Several associations store new 64x64 and (every `large_every`-th) 512x512 CT instances into a
    node running under strace; then the node is killed."""
    node = TracedNode(binary, workdir / "node", name="powercut", extra_args=["--derivation-workers", "1"])
    node.start()          # creates the index and the directories, untraced
    node.stop()
    base = workdir / "base"
    shutil.copytree(node.data_dir, base, symlinks=True)
    node.record = workdir / "record.strace"
    node.start(timeout=120)
    study, series, sent, senders = make_senders(node, rng, associations, per_association, large_every)
    started = time.monotonic()
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(timeout=600)
    stored = time.monotonic() - started
    time.sleep(0.5)   # derivations running when the record ends
    node.kill_traced()
    acknowledged = {uid for sender in senders for uid in sender.acknowledged}
    log(f"  {len(acknowledged)} of {len(sent)} stores acknowledged in {stored:.1f} s under strace; "
        f"record {node.record.stat().st_size >> 20} MB")
    return Recording(node.record, read_record(node.record), node.data_dir, base, study, series, sent, acknowledged, node.token)


@dataclass
class Replay:
    points: int
    flushes: int
    acknowledged: list[str]
    failures: list[str]
    cuts: list[tuple[Path, str, list[str]]]


def replay(recording: Recording, workdir: Path, ignored: tuple[str, ...] = (), write_out_at: set[int] = frozenset()) -> Replay:
    """Replays the record and checks every crash point: each flush, each C-STORE success, and the end.
    `ignored`: calls taken as never made (to show that the check finds what their absence breaks).
    `write_out_at`: the crash points (by number) at which the disk as a cut would leave it is written
    out for a real node."""
    calls = [c for c in recording.calls if c.name not in ignored]
    directory = DataDirectory(recording.data_dir, Path.cwd(), contents=recording.base)
    events = sorted([(c.entry, 0, i) for i, c in enumerate(calls)] + [(c.exit, 1, i) for i, c in enumerate(calls)])
    scratch = workdir / "scratch"
    scratch.mkdir(exist_ok=True)
    checker = Checker(directory, recording.sent, scratch)
    acknowledged: list[str] = []
    fixed: dict[int, object] = {}
    cuts: list[tuple[Path, str, list[str]]] = []
    flushes = 0

    def crash_point(where: str):
        if checker.points in write_out_at:
            cut = CUTS[len(cuts) % len(CUTS)]
            target = workdir / f"cut-{len(cuts) + 1}"
            write_out(directory, cut, target)
            cuts.append((target, f"{cut} cut at {where}", list(acknowledged)))
        checker.check(acknowledged, where)

    for position, phase, index in events:
        call = calls[index]
        if phase == 0:
            before = len(acknowledged)
            fixed[index] = directory.entered(call, acknowledged.append)
            if len(acknowledged) > before:
                crash_point(f"record line {position} (C-STORE-RSP of {acknowledged[-1]})")
        elif directory.returned(call, fixed.pop(index, None)):
            flushes += 1
            crash_point(f"record line {position} ({call.name} returned)")
    crash_point("the end of the record")
    assert set(acknowledged) == recording.acknowledged, \
        f"the record shows {len(acknowledged)} successes, the client saw {len(recording.acknowledged)}"
    return Replay(checker.points, flushes, acknowledged, checker.failures, cuts)


def start_on_cut(binary: str, recording: Recording, data_dir: Path, where: str, acknowledged: list[str], workdir: Path) -> str | None:
    """Starts a real node on a disk as a cut left it: every acknowledged instance must be served as
    sent and, with the node stopped, rows and files agree. Returns what failed, or None."""
    node = LoupeNode(binary, workdir, name=data_dir.name, data_dir=data_dir, extra_args=["--derivation-workers", "0"])
    node.token = recording.token   # in the index already
    node.start(timeout=60)
    try:
        check_round(node, {"study": recording.study, "series": recording.series, "sent": recording.sent,
                           "acknowledged": acknowledged})
        node.stop()
        check_files(node)
    except AssertionError as failure:
        return f"a node started on the disk after the {where}: {failure}"
    finally:
        node.stop()
    return None


def run_power_cuts(binary: str, workdir: Path, rng: random.Random, associations: int = 2, per_association: int = 20,
                   real_starts: int = 2, log=print) -> dict:
    """Records an ingest, checks every crash point of it, starts real nodes on a few; and shows that
    the check finds the loss that leaving out the file flushes, or the directory flushes, would
    cause. Returns counts and failures."""
    recording = record_ingest(binary, workdir, rng, associations, per_association, log=log)
    # Crash points: each completed flush, each acknowledgement, and the end.
    points = sum(1 for c in recording.calls if c.name in FLUSHES and c.result == 0) + len(recording.acknowledged) + 1
    result = replay(recording, workdir, write_out_at=set(rng.sample(range(points), min(real_starts, points))))
    log(f"  {result.points} crash points ({result.flushes} flushes, {len(result.acknowledged)} acknowledgements) "
        f"x {len(CUTS)} cuts checked in the model: {len(result.failures)} failures")
    failures = list(result.failures)
    for number, (data_dir, where, acknowledged) in enumerate(result.cuts, 1):
        failure = start_on_cut(binary, recording, data_dir, where, acknowledged, workdir / f"replay-{number}")
        failures += [failure] if failure else []
        log(f"  a node started on the disk after the {where}: " +
            (failure or f"{len(acknowledged)} acknowledged instances served as sent; rows and files agree"))
    # The same record without the flushes of files' data (SQLite's too), then without those of
    # directories: each must show losses, or the check proves nothing.
    controls = {}
    for ignored in (("fdatasync",), ("fsync",)):
        control = replay(recording, workdir, ignored=ignored)
        controls[ignored[0]] = len(control.failures)
        log(f"  control, the record without {ignored[0]}: {len(control.failures)} losses found")
    return {"sent": len(recording.sent), "acknowledged": len(result.acknowledged), "points": result.points,
            "flushes": result.flushes, "starts": len(result.cuts), "failures": failures, "controls": controls}
