import Archive
import DICOM
import Featurizer
import Foundation
import Imaging
import Logging
import Synchronization

/// How the similarity index is kept.
public struct SimilarityConfiguration: Sendable {
    /// The saved FAISS index (`<data>/similarity/<model>.faiss`).
    public var indexURL: URL
    public var index: VectorIndex.Configuration

    public init(dataDirectory: URL, model: String, index: VectorIndex.Configuration) {
        let name = model.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" }
        indexURL = dataDirectory.appendingPathComponent("similarity", isDirectory: true).appendingPathComponent("\(String(name)).faiss")
        self.index = index
    }
}

/// A query's restrictions.
public struct SimilarityFilter: Sendable, Equatable {
    public var archive: EmbeddingFilter
    /// Leave out instances of the query instance's own series.
    public var excludeSameSeries: Bool
    /// Leave out the query instance's patient's instances ("other patients only").
    public var excludeSamePatient: Bool

    public init(archive: EmbeddingFilter = EmbeddingFilter(), excludeSameSeries: Bool = false, excludeSamePatient: Bool = false) {
        self.archive = archive
        self.excludeSameSeries = excludeSameSeries
        self.excludeSamePatient = excludeSamePatient
    }
}

/// One ranked result.
public struct SimilarityMatch: Sendable, Equatable {
    public var instance: EmbeddedInstance
    /// Cosine similarity with the query, in [-1, 1].
    public let score: Float
}

/// Why a similarity query has no answer; carries the HTTP status it maps to.
public struct SimilarityError: Error, Sendable, CustomStringConvertible {
    public let status: Int
    public let description: String
    public init(status: Int, _ description: String) {
        self.status = status
        self.description = description
    }
}

/// The archive's embeddings in a FAISS index, kept in step with the index database: vectors
/// written since the last look are added (`synchronize`, called before every query and every
/// second by the node), vectors of replaced or deleted instances are dropped as soon as a
/// query meets them, and at open the saved index is reconciled with the database, or rebuilt
/// from it when missing, unreadable or stale. Index ids are embedding sequence numbers.
public final class SimilaritySearch: Sendable {
    public let archive: Archive
    public let embedder: Embedder
    public let configuration: SimilarityConfiguration
    let index: VectorIndex
    /// The largest embedding sequence applied to the index; guards synchronisation.
    private let applied: Mutex<Int64>
    /// Whether the index changed since it was last saved.
    private let dirty: Atomic<Bool>
    private let logger: Logger

    /// Loads the saved index and brings it up to date with the archive (may take a while on a
    /// large archive whose index must be rebuilt).
    public init(archive: Archive, embedder: Embedder, configuration: SimilarityConfiguration,
                logger: Logger = Logger(label: "loupe.similarity")) throws {
        // Everything that can throw happens before any stored property is set.
        let loaded = try Self.load(archive: archive, model: embedder.modelID, configuration: configuration, logger: logger)
        let index = try loaded ?? VectorIndex(configuration: configuration.index)
        var through = loaded?.largestID ?? 0
        let added = try Self.catchUp(index, archive: archive, model: embedder.modelID, through: &through)
        self.archive = archive
        self.embedder = embedder
        self.configuration = configuration
        self.logger = logger
        self.index = index
        applied = Mutex(through)
        dirty = Atomic(loaded == nil || added)
        logger.info("similarity index ready", metadata: [
            "vectors": "\(index.count)", "search": "\(index.isApproximate ? "hnsw" : "exact")", "model": "\(embedder.modelID)"])
    }

    /// The saved index reconciled with the stored embeddings; nil when it must be rebuilt.
    private static func load(archive: Archive, model: String, configuration: SimilarityConfiguration,
                             logger: Logger) throws -> VectorIndex? {
        guard FileManager.default.fileExists(atPath: configuration.indexURL.path) else { return nil }
        let saved: VectorIndex
        do {
            saved = try VectorIndex(contentsOf: configuration.indexURL, configuration: configuration.index)
        } catch {
            logger.warning("similarity index unreadable; rebuilding it from the stored embeddings", metadata: ["error": "\(error)"])
            return nil
        }
        // Everything the saved index was built from must still be there or be gone (deleted
        // instances): an embedding it should have but lacks means it is stale.
        let stored = Set(try archive.embeddingSequences(model: model))
        let through = saved.largestID ?? 0
        let held = Set(saved.ids)
        if stored.contains(where: { $0 <= through && !held.contains($0) }) {
            logger.notice("similarity index is stale; rebuilding it from the stored embeddings")
            return nil
        }
        try saved.remove(ids: held.subtracting(stored))
        return saved
    }

    /// Adds the embeddings written after `through` and advances it; true when any was added.
    private static func catchUp(_ index: VectorIndex, archive: Archive, model: String, through: inout Int64) throws -> Bool {
        var added = false
        while true {
            let page = try archive.embeddings(model: model, after: through, limit: 10_000)
            guard let last = page.last else { return added }
            try index.add(ids: page.map(\.sequence), vectors: page.map(\.vector))
            through = last.sequence
            added = true
        }
    }

    /// Vectors in the index.
    public var count: Int { index.count }

    /// Adds the embeddings written since the last call.
    public func synchronize() throws {
        let added = try applied.withLock { through in
            try Self.catchUp(index, archive: archive, model: embedder.modelID, through: &through)
        }
        if added { dirty.store(true, ordering: .relaxed) }
    }

    /// Saves the index if it changed since it was last saved.
    public func saveIfChanged() throws {
        guard dirty.exchange(false, ordering: .relaxed) else { return }
        do {
            try FileManager.default.createDirectory(at: configuration.indexURL.deletingLastPathComponent(), withIntermediateDirectories: true)
            try index.save(to: configuration.indexURL)
        } catch {
            dirty.store(true, ordering: .relaxed)
            throw error
        }
    }

    /// Instances most like an archived one (itself left out).
    public func similar(toInstance uid: String, k: Int, filter: SimilarityFilter) throws(SimilarityError) -> [SimilarityMatch] {
        let found: (model: String, embedding: StoredEmbedding)?
        do { found = try archive.embedding(sopInstanceUID: uid) } catch { throw SimilarityError(status: 500, error.description) }
        guard let (model, embedding) = found else {
            let known = (try? archive.instance(sopInstanceUID: uid)) != nil
            throw SimilarityError(status: 404, known
                ? "instance \(uid) has no embedding yet (see /api/instances/\(uid)/analysis)"
                : "no instance with SOP Instance UID \(uid)")
        }
        guard model == embedder.modelID else {
            throw SimilarityError(status: 409, "instance \(uid) was embedded by \(model), not \(embedder.modelID): `loupe reprocess --all --processor embedding`")
        }
        let query = filter.excludeSameSeries || filter.excludeSamePatient ? try instances([embedding.sequence])[embedding.sequence] : nil
        return try similar(to: embedding.vector, k: k, filter: filter, excluding: embedding.sequence,
                           series: filter.excludeSameSeries ? query?.seriesInstanceUID : nil,
                           patient: filter.excludeSamePatient ? query?.patientID : nil)
    }

    /// Instances most like an image that is not archived: a DICOM file (frame 1, rendered as
    /// stored ones are) or a decoded picture.
    public func similar(toFile url: URL, k: Int, filter: SimilarityFilter) throws(SimilarityError) -> [SimilarityMatch] {
        let vector: [Float]
        do { vector = try embedder.embed(file: url) } catch { throw SimilarityError(status: 422, error.description) }
        return try similar(to: vector, k: k, filter: filter)
    }

    public func similar(toImage image: RGBImage, k: Int, filter: SimilarityFilter) throws(SimilarityError) -> [SimilarityMatch] {
        let vector: [Float]
        do { vector = try embedder.embed(image: image) } catch { throw SimilarityError(status: 422, error.description) }
        return try similar(to: vector, k: k, filter: filter)
    }

    /// Instances most like an uploaded image: a DICOM file, PNG or JPEG (told by `mediaType`,
    /// or by its bytes when that is `application/octet-stream`).
    public func similar(toUpload bytes: [UInt8], mediaType type: String, k: Int,
                        filter: SimilarityFilter) throws(SimilarityError) -> [SimilarityMatch] {
        if type == "application/dicom" || DICOMReader.isPart10(bytes) {
            let file = archive.stagingURL(prefix: "similar")
            defer { try? FileManager.default.removeItem(at: file) }
            do { try Data(bytes).write(to: file) } catch { throw SimilarityError(status: 500, "cannot stage the upload: \(error)") }
            return try similar(toFile: file, k: k, filter: filter)
        }
        guard ["image/png", "image/jpeg", "application/octet-stream"].contains(type) else {
            throw SimilarityError(status: 415, "\(type) is not an image this takes: application/dicom, image/png or image/jpeg")
        }
        let image: RGBImage
        do { image = try PhotoDecoder.decode(bytes) } catch { throw SimilarityError(status: 422, error.description) }
        return try similar(toImage: image, k: k, filter: filter)
    }

    /// Instances most like the image in a file: a DICOM file is rendered where it is, a PNG or
    /// JPEG decoded.
    public func similar(toFileAt url: URL, k: Int, filter: SimilarityFilter) throws(SimilarityError) -> [SimilarityMatch] {
        guard let bytes = FileManager.default.contents(atPath: url.path) else {
            throw SimilarityError(status: 404, "cannot read \(url.path)")
        }
        if DICOMReader.isPart10(bytes) { return try similar(toFile: url, k: k, filter: filter) }
        return try similar(toUpload: [UInt8](bytes), mediaType: "application/octet-stream", k: k, filter: filter)
    }

    /// The ranked matches of a unit vector: exact over the instances a modality/patient filter
    /// allows, else from the index, asking for more candidates until `k` pass the filters (and are
    /// not of `series` or `patient`).
    func similar(to vector: [Float], k: Int, filter: SimilarityFilter, excluding own: Int64? = nil,
                 series: String? = nil, patient: String? = nil) throws(SimilarityError) -> [SimilarityMatch] {
        guard k >= 1 else { throw SimilarityError(status: 400, "k must be at least 1") }
        do { try synchronize() } catch { throw SimilarityError(status: 500, "similarity index update failed: \(error)") }
        let allowed: [Int64]?
        do {
            allowed = filter.archive.isEmpty ? nil : try archive.embeddingSequences(model: embedder.modelID, matching: filter.archive)
        } catch {
            throw SimilarityError(status: 500, error.description)
        }
        var wanted = k + (own == nil ? 0 : 1)
        while true {
            let candidates: [VectorIndex.Match]
            do throws(FeaturizerError) {
                if let allowed {
                    candidates = try index.search(vector, k: wanted, among: allowed)
                } else {
                    candidates = try index.search(vector, k: wanted)
                }
            } catch {
                throw SimilarityError(status: 500, error.description)
            }
            let found = try instances(candidates.map(\.id))
            let gone = candidates.map(\.id).filter { found[$0] == nil }
            if !gone.isEmpty { try? index.remove(ids: gone) }  // replaced or deleted meanwhile
            let matches = candidates.compactMap { candidate -> SimilarityMatch? in
                guard candidate.id != own, let instance = found[candidate.id], series == nil || instance.seriesInstanceUID != series,
                      patient == nil || instance.patientID != patient else {
                    return nil
                }
                return SimilarityMatch(instance: instance, score: candidate.score)
            }
            // Fewer candidates than asked for means there are no more.
            if matches.count >= k || candidates.count < wanted { return Array(matches.prefix(k)) }
            wanted *= 2
        }
    }

    private func instances(_ sequences: [Int64]) throws(SimilarityError) -> [Int64: EmbeddedInstance] {
        do { return try archive.embeddedInstances(sequences: sequences) } catch { throw SimilarityError(status: 500, error.description) }
    }
}
