"""Reads a PyTorch checkpoint in the legacy (non-zip) serialization without torch: the pickled state
dict refers to storages by persistent id; their bytes follow the pickle, in the order of a key list.
Tensors are numpy views honouring each tensor's offset, size and strides."""

from __future__ import annotations

import collections
import pickle
import struct

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

STORAGE_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
                  "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
                  "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_}


class _StorageType:
    def __init__(self, name):
        self.dtype = np.dtype(STORAGE_DTYPES[name])


class _Storage:
    """A storage whose bytes are read after the pickle."""
    def __init__(self, dtype):
        self.dtype = dtype
        self.array = None


class _Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def numpy(self) -> np.ndarray:
        itemsize = self.storage.dtype.itemsize
        base = self.storage.array[self.offset:]
        if not self.size:
            return base[:1].reshape(()).copy()
        view = np.lib.stride_tricks.as_strided(base, shape=self.size, strides=[s * itemsize for s in self.stride])
        return np.ascontiguousarray(view)


def _rebuild_tensor(storage, offset, size, stride, *_):
    return _Tensor(storage, offset, size, stride)


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, storages):
        super().__init__(file, encoding="latin-1")
        self.storages = storages

    def find_class(self, module, name):
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"unexpected class {module}.{name} in the checkpoint")

    def persistent_load(self, pid):
        kind, storage_type, key, _location, _size = pid[:5]
        if kind != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        if key not in self.storages:
            self.storages[key] = _Storage(storage_type.dtype)
        return self.storages[key]


def load_legacy(path) -> "collections.OrderedDict[str, np.ndarray]":
    """The state dict of a legacy-format checkpoint as contiguous numpy arrays."""
    with open(path, "rb") as f:
        magic = pickle.load(f)
        if magic != LEGACY_MAGIC:
            raise ValueError(f"{path}: not a legacy PyTorch checkpoint (zip checkpoints need another reader)")
        pickle.load(f)                      # protocol version
        pickle.load(f)                      # system info (endianness, type sizes)
        storages: dict = {}
        state = _Unpickler(f, storages).load()
        keys = pickle.load(f)
        for key in keys:
            (count,) = struct.unpack("<q", f.read(8))
            storage = storages[key]
            data = f.read(count * storage.dtype.itemsize)
            storage.array = np.frombuffer(data, dtype=storage.dtype.newbyteorder("<"), count=count)
    return collections.OrderedDict((name, tensor.numpy()) for name, tensor in state.items())
