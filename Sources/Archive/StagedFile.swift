import DICOM
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A staged file opened once: its header parsed through a memory map, its data made durable
/// (fdatasync) through the same descriptor, its size from fstat. Ingest costs one open per file.
struct StagedFile: ~Copyable {
    let url: URL
    let size: Int
    let file: DICOMFile
    private let descriptor: Int32

    init(_ url: URL, options: ReadOptions) throws(IngestError) {
        self.url = url
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else { throw IngestError(.storage, "cannot open \(url.path): \(String(cString: strerror(errno)))") }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            close(fd)
            throw IngestError(.storage, "cannot stat \(url.path): \(String(cString: strerror(errno)))")
        }
        let size = Int(info.st_size)
        guard size > 0 else {
            close(fd)
            throw IngestError(.notDICOM, "not DICOM: the file is empty")
        }
        guard let map = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else {
            close(fd)
            throw IngestError(.storage, "cannot map \(url.path): \(String(cString: strerror(errno)))")
        }
        defer { munmap(map, size) }
        do {
            file = try DICOMReader.read(buffer: UnsafeRawBufferPointer(start: map, count: size), options: options)
        } catch {
            close(fd)
            throw IngestError(.notDICOM, "\(error)")
        }
        self.size = size
        self.descriptor = fd
    }

    /// Flushes the file's data (and size) to the device.
    func synchronize() throws(IngestError) {
        guard fdatasync(descriptor) == 0 else {
            throw IngestError(.storage, "fdatasync failed for \(url.path): \(String(cString: strerror(errno)))")
        }
    }

    /// Starts flushing the file's data on another thread, so the caller can place the file and
    /// prepare its index row meanwhile. The file must stay open until `wait` returns.
    func synchronizeInBackground() -> BackgroundSync { BackgroundSync(descriptor: descriptor, path: url.path) }

    deinit { close(descriptor) }
}

/// An fdatasync running on a global queue; `wait` returns its outcome.
final class BackgroundSync: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var failure: String?

    fileprivate init(descriptor: Int32, path: String) {
        DispatchQueue.global(qos: .userInitiated).async {
            if fdatasync(descriptor) != 0 {
                self.failure = "fdatasync failed for \(path): \(String(cString: strerror(errno)))"
            }
            self.done.signal()
        }
    }

    func wait() throws(IngestError) {
        done.wait()
        if let failure { throw IngestError(.storage, failure) }
    }
}
