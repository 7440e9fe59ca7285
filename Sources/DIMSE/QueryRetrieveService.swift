import Archive
import DICOM

/// The Query/Retrieve information models (PS3.4 C.6).
public enum QueryModel: Sendable {
    case patientRoot
    case studyRoot

    var levels: [QueryLevel] {
        switch self {
        case .patientRoot: [.patient, .study, .series, .image]
        case .studyRoot: [.study, .series, .image]
        }
    }
}

/// C-FIND, C-MOVE and C-GET over the archive, in terms of data sets (no networking here).
public struct QueryRetrieveService: Sendable {
    public let archive: Archive
    public let configuration: DIMSEConfiguration

    public init(archive: Archive, configuration: DIMSEConfiguration) {
        self.archive = archive
        self.configuration = configuration
    }

    /// The Query/Retrieve Level of an identifier, checked against the model.
    func level(of identifier: DataSet, model: QueryModel) throws(DIMSEFailure) -> QueryLevel {
        guard let text = identifier.string(.queryRetrieveLevel) else {
            throw DIMSEFailure(.dataSetDoesNotMatchSOPClass, "Query/Retrieve Level (0008,0052) is missing")
        }
        guard let level = QueryLevel(rawValue: text.uppercased()), model.levels.contains(level) else {
            throw DIMSEFailure(.dataSetDoesNotMatchSOPClass, "Query/Retrieve Level '\(text)' is not valid in this model")
        }
        return level
    }

    /// Keys the service answers itself rather than the archive.
    private static let serviceKeys: Set<Tag> = [.retrieveAETitle, .instanceAvailability]

    /// Runs a C-FIND; `respond` receives each match and returns false to stop (C-CANCEL).
    public func find(identifier: DataSet, model: QueryModel, respond: (DataSet) -> Bool) throws(DIMSEFailure) {
        let level = try level(of: identifier, model: model)
        let keys = identifier.filter { !Self.serviceKeys.contains($0.tag) }
        let query = ArchiveQuery(level: level, identifier: keys, fuzzyPersonNames: configuration.caseInsensitivePersonNames)
        let matches: [DataSet]
        do {
            matches = try archive.find(query)
        } catch {
            throw DIMSEFailure(error.dimseStatus, String(error.message.prefix(64)))
        }
        for var match in matches {
            match.set(.queryRetrieveLevel, .CS, level.rawValue)
            if identifier.contains(.retrieveAETitle) { match.set(.retrieveAETitle, .AE, configuration.aeTitle) }
            if identifier.contains(.instanceAvailability) { match.set(.instanceAvailability, .CS, "ONLINE") }
            if Self.hasNonASCIIText(match) { match.set(.specificCharacterSet, .CS, "ISO_IR 192") }
            if !respond(match) { return }
        }
    }

    /// The instances a C-MOVE or C-GET identifier selects.
    public func retrieve(identifier: DataSet, model: QueryModel) throws(DIMSEFailure) -> [StoredInstance] {
        let level = try level(of: identifier, model: model)
        do {
            return try archive.locate(ArchiveQuery(level: level, identifier: identifier))
        } catch {
            throw DIMSEFailure(error.dimseStatus, String(error.message.prefix(64)))
        }
    }

    /// Results are encoded in UTF-8; say so when any text is not plain ASCII.
    static func hasNonASCIIText(_ ds: DataSet) -> Bool {
        ds.elements.contains { element in
            guard element.vr.usesSpecificCharacterSet, case .bytes(let bytes) = element.value else { return false }
            return bytes.contains { $0 >= 0x80 }
        }
    }
}
