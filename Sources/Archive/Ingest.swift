import DICOM
import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// Who sent an instance.
public struct IngestSource: Sendable {
    /// Calling AE title (DIMSE), or a label for other paths (`import`, `stow`).
    public var origin: String
    /// The requester, for the audit trail: a `store` entry with the instance's UIDs is written in
    /// the transaction that indexes it. Nil: not audited (e.g. a local import).
    public var requester: AuditRecord?
    public init(origin: String, requester: AuditRecord? = nil) {
        self.origin = origin
        self.requester = requester
    }
}

/// What ingest did with an instance.
public enum IngestOutcome: String, Sendable {
    case stored
    /// Already archived; kept the stored copy (duplicate policy `keep`).
    case duplicate
    /// Already archived; the new copy replaced it (duplicate policy `replace`).
    case replaced
}

public struct IngestResult: Sendable {
    public let outcome: IngestOutcome
    public let sopClassUID: String
    public let sopInstanceUID: String
    public let studyInstanceUID: String
    public let seriesInstanceUID: String
    public let transferSyntaxUID: String
}

/// Identity announced by the request that carried the data set (C-STORE Affected SOP Class/Instance).
public struct ExpectedIdentity: Sendable {
    public var sopClassUID: String?
    public var sopInstanceUID: String?
    public init(sopClassUID: String?, sopInstanceUID: String?) {
        self.sopClassUID = sopClassUID
        self.sopInstanceUID = sopInstanceUID
    }
}

extension Archive {
    /// Archives a file that a writer put in the staging directory, and takes ownership of it:
    /// validate → flush and place the file → index row committed. Returns only after the commit,
    /// so a caller that acknowledges on return never acknowledges something that can be lost. A file
    /// placed whose row then fails to commit (or a crash comes between) is removed, at once or by the
    /// next open (`reclaimUnindexedFiles`).
    public func ingest(staged: URL, source: IngestSource, expected: ExpectedIdentity? = nil) throws(IngestError) -> IngestResult {
        defer { unlink(staged.path) }
        try ensureFreeSpace()
        let stagedFile = try openStaged(staged)
        let file = stagedFile.file
        if file.meta.string(.mediaStorageSOPClassUID) == Self.mediaStorageDirectoryStorage {
            throw IngestError(.mediaDirectory, "a DICOMDIR indexes the files of a medium; it is not an instance")
        }
        let attributes: InstanceAttributes
        do { attributes = try InstanceAttributes(file.dataSet, meta: file.meta) } catch { throw diskFull() ?? error }
        if let expected {
            if let uid = expected.sopInstanceUID, uid != attributes.sopInstanceUID {
                throw IngestError(.mismatch, "data set SOP Instance UID \(attributes.sopInstanceUID) differs from the request's \(uid)")
            }
            if let uid = expected.sopClassUID, uid != attributes.sopClassUID {
                throw IngestError(.mismatch, "data set SOP Class UID \(attributes.sopClassUID) differs from the request's \(uid)")
            }
        }
        let policy = configuration.duplicatePolicy
        let processors = configuration.derivation.processors

        var stagedPart10 = staged
        var datasetOffset = file.dataSetOffset
        var fileSize = stagedFile.size
        var dataSync: BackgroundSync?
        if file.isPart10 {
            // The data flush overlaps placing the file and preparing its row; the row is committed
            // only once both are durable. (A file placed but not yet flushed when power fails is
            // unindexed, never served, and never overwritten: placement does not replace files.)
            dataSync = stagedFile.synchronizeInBackground()
        } else {
            (stagedPart10, datasetOffset, fileSize) = try wrapInPart10(staged, file: file, attributes: attributes)
        }
        defer { if stagedPart10 != staged { unlink(stagedPart10.path) } }

        let metadata = MetadataDocument.encodeCompressed(file, bulkDataThreshold: configuration.metadataBulkDataThreshold)
        let placed = Result { () throws(IngestError) in
            try blobs.place(staged: stagedPart10, studyInstanceUID: attributes.studyInstanceUID,
                            sopInstanceUID: attributes.sopInstanceUID)
        }
        do {
            try dataSync?.wait()
        } catch {
            if case .success(let path) = placed { blobs.remove(relativePath: path) }
            throw error
        }
        let relativePath = try placed.get()

        let row = IndexWriter.InstanceRow(attributes: attributes, transferSyntaxUID: file.transferSyntax.uid,
                                          filePath: relativePath, fileSize: fileSize, datasetOffset: datasetOffset,
                                          metadata: metadata, sourceAE: source.origin)
        let written: IndexWriter.Outcome
        do {
            let audit = source.requester.map { requester in
                var entry = requester
                entry.action = .store
                entry.patientID = attributes.patientID
                entry.studyInstanceUID = attributes.studyInstanceUID
                entry.seriesInstanceUID = attributes.seriesInstanceUID
                entry.sopInstanceUID = attributes.sopInstanceUID
                return entry
            }
            written = try indexWrites.write { db in
                let outcome = try IndexWriter.store(row, policy: policy, processors: processors, db: db)
                if var audit {
                    if case .keptExisting = outcome { audit.detail = "already archived: the stored copy was kept" }
                    try self.insertAudit(audit, db: db)
                }
                return outcome
            }
        } catch {
            blobs.remove(relativePath: relativePath)
            if let error = error as? DatabaseError, error.resultCode == .SQLITE_FULL {
                throw IngestError(.storage, "the disk is full: the index cannot grow (\(error.message ?? "SQLITE_FULL"))")
            }
            throw IngestError(.index, "index update failed: \(error)")
        }
        switch written {
        case .inserted:
            derivationSignal.signal(all: false)
            return result(.stored, attributes, file)
        case .keptExisting:
            blobs.remove(relativePath: relativePath)
            return result(.duplicate, attributes, file)
        case .replaced(let oldPath, let oldDerived):
            if oldPath != relativePath { blobs.remove(relativePath: oldPath) }
            for path in oldDerived { unlink(derivedURL(relativePath: path).path) }
            // Gone: their records go too (left behind by a crash, the next open removes them).
            _ = try? indexWrites.write { db in
                try db.execute(sql: "DELETE FROM removed_file WHERE path = ? AND kind = 'file'", arguments: [oldPath])
                for path in oldDerived { try db.execute(sql: "DELETE FROM removed_file WHERE path = ? AND kind = 'derived'", arguments: [path]) }
            }
            derivationSignal.signal(all: false)
            return result(.replaced, attributes, file)
        }
    }

    /// Refuses a store while the data directory's file system has less than the configured space left.
    func ensureFreeSpace() throws(IngestError) {
        let minimum = configuration.minimumFreeBytes
        guard minimum > 0, let free = diskSpace()?.free else { return }
        if free < minimum {
            throw IngestError(.storage, "out of storage: \(free >> 20) MB free on the archive's disk, "
                + "\(minimum >> 20) MB are kept free (archive.min_free_mb)")
        }
    }

    /// A staged file that does not read whole on a disk with (almost) nothing left was cut short by
    /// the full disk, not sent so: that is the refusal (0xA700, 507), not "cannot understand".
    private func diskFull() -> IngestError? {
        guard let free = diskSpace()?.free, free < 1 << 20 else { return nil }
        return IngestError(.storage, "out of storage: the archive's disk is full (\(free >> 10) kB left); the data set could not be written")
    }

    private func openStaged(_ url: URL) throws(IngestError) -> StagedFile {
        do { return try StagedFile(url, options: configuration.arrivalReadOptions) } catch { throw diskFull() ?? error }
    }

    /// Media Storage Directory Storage (DICOMDIR), PS3.4 Annex F.
    static let mediaStorageDirectoryStorage = "1.2.840.10008.1.3.10"

    /// Archives a copy of an existing file (the original is left alone).
    public func importFile(at url: URL, source: IngestSource) throws(IngestError) -> IngestResult {
        let staged = stagingURL(prefix: "import")
        do {
            try FileManager.default.copyItem(at: url, to: staged)
        } catch {
            throw IngestError(.storage, "cannot copy \(url.path): \(error.localizedDescription)")
        }
        return try ingest(staged: staged, source: source)
    }

    /// Archives an instance held in memory (e.g. one part of an upload).
    public func ingest(bytes: Data, source: IngestSource) throws(IngestError) -> IngestResult {
        let staged = stagingURL(prefix: "upload")
        do {
            try bytes.write(to: staged)
        } catch {
            throw IngestError(.storage, "cannot stage upload: \(error.localizedDescription)")
        }
        return try ingest(staged: staged, source: source)
    }

    /// A data set without Part-10 header (old ACR-NEMA-style files) is archived with a proper
    /// preamble and meta information in front of its unchanged bytes. Returns the new staged file
    /// (already durable), the data set offset and the size.
    private func wrapInPart10(_ staged: URL, file: DICOMFile, attributes: InstanceAttributes) throws(IngestError) -> (URL, Int, Int) {
        let wrapped = stagingURL(prefix: "wrapped")
        do {
            let data = try Data(contentsOf: staged, options: .alwaysMapped)
            let prefix = try DICOMWriter.filePrefix(sopClassUID: attributes.sopClassUID,
                                                    sopInstanceUID: attributes.sopInstanceUID,
                                                    transferSyntax: file.transferSyntax, sourceAE: nil)
            var out = Data(prefix)
            out.append(data[(data.startIndex + file.dataSetOffset)...])
            try out.write(to: wrapped)
            try openStaged(wrapped).synchronize()
            return (wrapped, prefix.count, out.count)
        } catch let error as IngestError {
            throw error
        } catch {
            throw IngestError(.storage, "cannot add file meta information: \(error)")
        }
    }

    private func result(_ outcome: IngestOutcome, _ a: InstanceAttributes, _ file: DICOMFile) -> IngestResult {
        IngestResult(outcome: outcome, sopClassUID: a.sopClassUID, sopInstanceUID: a.sopInstanceUID,
                     studyInstanceUID: a.studyInstanceUID, seriesInstanceUID: a.seriesInstanceUID,
                     transferSyntaxUID: file.transferSyntax.uid)
    }
}
