import Foundation
import GRDB

/// An embedding as the index holds it. `sequence` identifies this very vector (instance row ids
/// can be reused after a replacement; sequences are not).
public struct StoredEmbedding: Sendable, Equatable {
    public let sequence: Int64
    public let vector: [Float]
}

/// What a similarity result shows of an instance; JSON keys are DICOM keywords.
public struct EmbeddedInstance: Sendable, Equatable, Codable {
    public let sopInstanceUID: String
    public let sopClassUID: String
    public let instanceNumber: Int?
    public let seriesInstanceUID: String
    public let seriesDescription: String?
    public let modality: String?
    public let bodyPartExamined: String?
    public let studyInstanceUID: String
    public let studyDescription: String?
    public let studyDate: String?
    public let patientID: String
    /// Nil when the requester may not see who the patient is.
    public var patientName: String?

    enum CodingKeys: String, CodingKey {
        case sopInstanceUID = "SOPInstanceUID", sopClassUID = "SOPClassUID", instanceNumber = "InstanceNumber"
        case seriesInstanceUID = "SeriesInstanceUID", seriesDescription = "SeriesDescription", modality = "Modality"
        case bodyPartExamined = "BodyPartExamined", studyInstanceUID = "StudyInstanceUID"
        case studyDescription = "StudyDescription", studyDate = "StudyDate", patientID = "PatientID", patientName = "PatientName"
    }
}

/// Restricts which embedded instances a similarity query considers.
public struct EmbeddingFilter: Sendable, Equatable {
    public var modality: String?
    public var patientID: String?
    /// Only clinical photos of this kind (the series `ingestPhoto` makes).
    public var photoKind: PhotoSubmission.Kind?

    public init(modality: String? = nil, patientID: String? = nil, photoKind: PhotoSubmission.Kind? = nil) {
        self.modality = modality
        self.patientID = patientID
        self.photoKind = photoKind
    }

    public var isEmpty: Bool { modality == nil && patientID == nil && photoKind == nil }
}

/// Vectors are stored as little-endian IEEE half floats: half the size of float32, and far more
/// precise than the cosine differences a similarity ranking depends on.
enum EmbeddingCoding {
    static func encode(_ vector: [Float]) -> Data {
        var data = Data(count: vector.count * 2)
        data.withUnsafeMutableBytes { raw in
            for (index, value) in vector.enumerated() {
                raw.storeBytes(of: Float16(value).bitPattern.littleEndian, toByteOffset: index * 2, as: UInt16.self)
            }
        }
        return data
    }

    static func decode(_ data: Data) -> [Float] {
        data.withUnsafeBytes { raw in
            (0..<(raw.count / 2)).map { index in
                Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self))))
            }
        }
    }
}

extension Archive {
    /// Embeddings of `model` written after `sequence`, oldest first, at most `limit`: how a
    /// similarity index catches up.
    public func embeddings(model: String, after sequence: Int64, limit: Int = 10_000) throws(DerivationError) -> [StoredEmbedding] {
        try derivationRead { db in
            try Row.fetchAll(db.cachedStatement(sql: """
                SELECT seq, vector FROM embedding WHERE seq > ? AND model = ? ORDER BY seq LIMIT ?
                """), arguments: [sequence, model, limit]).map(Self.storedEmbedding)
        }
    }

    /// The stored embedding of an instance and its model; nil when the instance has none.
    public func embedding(sopInstanceUID: String) throws(DerivationError) -> (model: String, embedding: StoredEmbedding)? {
        try derivationRead { db in
            try Row.fetchOne(db, sql: """
                SELECT e.seq, e.vector, e.model FROM embedding e JOIN instance i ON i.id = e.instance_pk
                WHERE i.SOPInstanceUID = ?
                """, arguments: [sopInstanceUID]).map { ($0[2], Self.storedEmbedding($0)) }
        }
    }

    /// The instances behind embeddings still current (by sequence number), keyed by sequence;
    /// sequences of replaced or deleted embeddings are absent.
    public func embeddedInstances(sequences: [Int64]) throws(DerivationError) -> [Int64: EmbeddedInstance] {
        guard !sequences.isEmpty else { return [:] }
        return try derivationRead { db in
            var found: [Int64: EmbeddedInstance] = [:]
            for chunk in stride(from: 0, to: sequences.count, by: 500).map({ sequences[$0..<min($0 + 500, sequences.count)] }) {
                let placeholders = Array(repeating: "?", count: chunk.count).joined(separator: ", ")
                for row in try Row.fetchAll(db, sql: Self.embeddedInstanceQuery + " WHERE e.seq IN (\(placeholders))",
                                            arguments: StatementArguments(Array(chunk))) {
                    found[row[0]] = Self.embeddedInstance(row)
                }
            }
            return found
        }
    }

    /// The sequence numbers of the current embeddings of `model` whose instances pass `filter`
    /// (without one: which vectors a similarity index should hold, nothing more).
    public func embeddingSequences(model: String, matching filter: EmbeddingFilter = EmbeddingFilter()) throws(DerivationError) -> [Int64] {
        try derivationRead { db in
            guard !filter.isEmpty else {
                return try Int64.fetchAll(db, sql: "SELECT seq FROM embedding WHERE model = ? ORDER BY seq", arguments: [model])
            }
            var conditions = ["e.model = ?"]
            var arguments: StatementArguments = [model]
            if let modality = filter.modality {
                conditions.append("se.Modality = ?")
                arguments += [modality]
            }
            if let patientID = filter.patientID {
                conditions.append("p.PatientID = ?")
                arguments += [patientID]
            }
            if let kind = filter.photoKind {
                conditions.append("se.Modality = 'XC' AND se.SeriesDescription = ?")
                arguments += [kind.seriesDescription]
            }
            return try Int64.fetchAll(db, sql: """
                SELECT e.seq FROM embedding e JOIN instance i ON i.id = e.instance_pk JOIN series se ON se.id = i.series_pk
                JOIN study st ON st.id = se.study_pk JOIN patient p ON p.id = st.patient_pk
                WHERE \(conditions.joined(separator: " AND ")) ORDER BY e.seq
                """, arguments: arguments)
        }
    }

    private static let embeddedInstanceQuery = """
        SELECT e.seq, i.SOPInstanceUID, i.SOPClassUID, i.InstanceNumber, se.SeriesInstanceUID, se.SeriesDescription,
               se.Modality, se.BodyPartExamined, st.StudyInstanceUID, st.StudyDescription, st.StudyDate, p.PatientID, p.PatientName
        FROM embedding e JOIN instance i ON i.id = e.instance_pk JOIN series se ON se.id = i.series_pk
        JOIN study st ON st.id = se.study_pk JOIN patient p ON p.id = st.patient_pk
        """

    private static func embeddedInstance(_ row: Row) -> EmbeddedInstance {
        EmbeddedInstance(sopInstanceUID: row[1], sopClassUID: row[2], instanceNumber: row[3], seriesInstanceUID: row[4],
                         seriesDescription: row[5], modality: row[6], bodyPartExamined: row[7], studyInstanceUID: row[8],
                         studyDescription: row[9], studyDate: row[10], patientID: row[11], patientName: row[12])
    }

    private static func storedEmbedding(_ row: Row) -> StoredEmbedding {
        StoredEmbedding(sequence: row[0], vector: EmbeddingCoding.decode(row[1]))
    }
}
