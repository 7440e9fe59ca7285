import DICOM
import Foundation

/// What the archive does when an instance arrives whose SOP Instance UID it already holds.
public enum DuplicatePolicy: String, Sendable, Codable, CaseIterable {
    /// Keep the stored instance; acknowledge the new copy without storing it.
    case keep
    /// Store the new copy and index it in place of the old one.
    case replace
}

/// Where and how the archive keeps its data.
public struct ArchiveConfiguration: Sendable {
    /// Root of everything: `index.sqlite`, `files/`, `derived/`, `tmp/`.
    public var dataDirectory: URL
    public var duplicatePolicy: DuplicatePolicy
    /// Binary values above this size are referenced, not inlined, in the stored DICOM JSON.
    public var metadataBulkDataThreshold: Int
    /// The derivations every instance gets (jobs enqueued at ingest), and their retries.
    public var derivation: DerivationPolicy
    /// Space kept free on the data directory's file system: an instance that arrives with less left
    /// is refused (C-STORE 0xA700, STOW 507), so that the index keeps room for what reading needs
    /// (sessions, the audit trail) and nothing is half-written. 0: store until the disk is full.
    public var minimumFreeBytes: Int64 = 256 << 20
    /// Largest data set a deflated instance may inflate to at ingest; a larger one is refused. At most
    /// the readers' default (`ReadOptions`), so that whatever ingest accepts every later reader reads.
    public var maximumInflatedBytes = ReadOptions.headerOnly.maximumInflatedBytes

    /// How an arriving instance's header is read: up to its pixel data, deflated ones within the limit.
    public var arrivalReadOptions: ReadOptions {
        var options = ReadOptions.headerOnly
        options.maximumInflatedBytes = maximumInflatedBytes
        return options
    }

    public init(dataDirectory: URL, duplicatePolicy: DuplicatePolicy = .keep, metadataBulkDataThreshold: Int = 1024,
                derivation: DerivationPolicy = DerivationPolicy()) {
        self.dataDirectory = dataDirectory
        self.duplicatePolicy = duplicatePolicy
        self.metadataBulkDataThreshold = metadataBulkDataThreshold
        self.derivation = derivation
    }

    public var indexPath: URL { dataDirectory.appendingPathComponent("index.sqlite") }
    var lockPath: URL { dataDirectory.appendingPathComponent("archive.lock") }
    /// Study directories a file may have been placed in without its row (`PlacementLog`).
    var placementLogPath: URL { dataDirectory.appendingPathComponent("placements.log") }
    public var filesDirectory: URL { dataDirectory.appendingPathComponent("files", isDirectory: true) }
    /// Staging area: files are written here, flushed, then linked into `files/`.
    public var stagingDirectory: URL { dataDirectory.appendingPathComponent("tmp", isDirectory: true) }
}
