import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Whether other processes have the archive open. Every process holds a shared `flock` on
/// `archive.lock` while its archive is open; one that can take the lock exclusively at open is
/// alone, and only then may it clean up after an earlier run (staged files, jobs left running).
/// With a node serving, those belong to the node: `loupe import` or `loupe similar` must not
/// touch them. The lock goes with the process, however it ends.
final class ArchiveLock: Sendable {
    private let descriptor: Int32
    /// No other process had the archive open: the exclusive lock is held until `share()`.
    let isExclusive: Bool

    /// Takes the lock exclusively when no one else holds it, else shared (waiting while another
    /// opener is still recovering).
    init(url: URL) throws {
        let descriptor = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        if flock(descriptor, LOCK_EX | LOCK_NB) == 0 {
            isExclusive = true
        } else if errno == EWOULDBLOCK {
            isExclusive = false
            do { try Self.lock(descriptor, LOCK_SH) } catch { close(descriptor); throw error }
        } else {
            let error = POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
            close(descriptor)
            throw error
        }
        self.descriptor = descriptor
    }

    /// Lets other processes open the archive beside this one. (Linux converts a flock in two steps:
    /// another opener may take it exclusively in between; it then finds nothing of this process to
    /// recover, since the archive is not in use before `init` returns.)
    func share() throws {
        if isExclusive { try Self.lock(descriptor, LOCK_SH) }
    }

    /// Takes the lock exclusively if no other process holds it now. Linux converts a flock by
    /// releasing it first, so on failure the shared lock is taken again: this process never goes
    /// unseen by another one's open while it still has the archive.
    func takeIfAlone() -> Bool {
        if flock(descriptor, LOCK_EX | LOCK_NB) == 0 { return true }
        try? Self.lock(descriptor, LOCK_SH)
        return false
    }

    private static func lock(_ descriptor: Int32, _ operation: Int32) throws {
        while flock(descriptor, operation) != 0 {
            guard errno == EINTR else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        }
    }

    deinit { close(descriptor) }
}
