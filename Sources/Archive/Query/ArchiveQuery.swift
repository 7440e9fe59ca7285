import DICOM

/// One key of a query: the attribute, its VR and how it constrains matches. Every key is also
/// returned in the results (with its value, or empty when the archive has none).
public struct QueryKey: Sendable, Equatable {
    public let tag: Tag
    public let vr: VR
    public let constraint: MatchConstraint

    public init(tag: Tag, vr: VR, constraint: MatchConstraint) {
        self.tag = tag
        self.vr = vr
        self.constraint = constraint
    }
}

/// A finding an instance must have: its kind (`anomaly`) and label (`invalid`). `exclusive`: above
/// image level, no instance may have another label of the kind (a series is `valid` only when none
/// of its images is flagged).
public struct FindingMatch: Sendable, Equatable {
    public let kind: String
    public let label: String
    public let exclusive: Bool

    public init(kind: String, label: String, exclusive: Bool = false) {
        self.kind = kind
        self.label = label
        self.exclusive = exclusive
    }
}

/// An order of results: an indexed attribute of the query's level or above, ascending or descending
/// (ties: arrival order, which keeps paging stable).
public struct QueryOrder: Sendable, Equatable {
    public let tag: Tag
    public let descending: Bool
    public init(tag: Tag, descending: Bool) {
        self.tag = tag
        self.descending = descending
    }
}

/// A query against the index, as C-FIND and QIDO-RS express it.
public struct ArchiveQuery: Sendable {
    public var level: QueryLevel
    public var keys: [QueryKey]
    /// PN keys match ignoring case and accents (C-FIND option, QIDO `fuzzymatching=true`).
    public var fuzzyPersonNames: Bool
    public var limit: Int?
    public var offset: Int
    /// Only entries with an instance that has these findings (e.g. anomaly `invalid`).
    public var findings: [FindingMatch]
    /// Result order; nil: arrival order (images: instance number).
    public var order: QueryOrder?
    /// Only patients whose name (any component, ignoring case and accents) or ID starts with this
    /// text: what a person types to find someone.
    public var patientText: String?

    public init(level: QueryLevel, keys: [QueryKey], fuzzyPersonNames: Bool = false, limit: Int? = nil, offset: Int = 0,
                findings: [FindingMatch] = []) {
        self.level = level
        self.keys = keys
        self.fuzzyPersonNames = fuzzyPersonNames
        self.limit = limit
        self.offset = offset
        self.findings = findings
    }

    /// Reads a C-FIND/C-MOVE/C-GET identifier. Query Retrieve Level, Specific Character Set and
    /// group lengths are protocol elements, not keys; sequence keys are returned but not matched.
    public init(level: QueryLevel, identifier: DataSet, fuzzyPersonNames: Bool = false) {
        var keys: [QueryKey] = []
        for element in identifier.elements {
            let tag = element.tag
            if tag == .queryRetrieveLevel || tag == .specificCharacterSet || tag.isGroupLength { continue }
            let vr = QueryCatalog.attributes[tag]?.vr ?? element.vr
            switch element.value {
            case .bytes(let bytes):
                let text = vr.isString
                    ? (identifier.strings(tag)?.joined(separator: "\\") ?? "")
                    : (bytes.isEmpty ? "" : (identifier.integers(tag)?.map(String.init).joined(separator: "\\") ?? ""))
                keys.append(QueryKey(tag: tag, vr: vr, constraint: MatchConstraint(query: text, vr: vr)))
            case .sequence, .fragments:
                keys.append(QueryKey(tag: tag, vr: element.vr, constraint: .universal))
            }
        }
        self.init(level: level, keys: keys, fuzzyPersonNames: fuzzyPersonNames)
    }

    /// Keys that apply at this level: those of the level and the levels above it. Keys of lower
    /// levels are meaningless here and are neither matched nor returned.
    var applicableKeys: [QueryKey] {
        keys.filter { key in
            guard let attribute = QueryCatalog.attributes[key.tag] else { return true }
            return attribute.level <= level
        }
    }
}

/// Why a query could not be answered.
public struct QueryError: Error, Sendable, CustomStringConvertible {
    public enum Reason: String, Sendable { case invalidQuery, database }
    public let reason: Reason
    public let message: String

    public init(_ reason: Reason, _ message: String) {
        self.reason = reason
        self.message = message
    }

    /// C-FIND/C-MOVE/C-GET failure status.
    public var dimseStatus: DIMSEStatus { reason == .invalidQuery ? .dataSetDoesNotMatchSOPClass : .unableToProcess }
    public var httpStatus: Int { reason == .invalidQuery ? 400 : 500 }
    public var description: String { message }
}
