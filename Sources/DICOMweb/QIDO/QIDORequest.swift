import Archive
import DICOM
import Foundation

/// A QIDO-RS search (PS3.18 10.6) read from its URL: matching keys by keyword or tag,
/// `includefield`, `fuzzymatching`, `limit`, `offset`, and the study/series scope of the path.
package struct QIDORequest: Sendable {
    package var query: ArchiveQuery
    let level: QueryLevel
    /// `includefield=all`: at instance level, every attribute of the stored documents too.
    private(set) var includesAll = false
    /// Whether limit/offset were given (the total is then counted separately).
    package var isPaged: Bool { query.limit != nil || query.offset > 0 }

    /// Attributes returned when not asked for (PS3.18 Tables 10.6.3-3 to -5), plus what viewers need.
    static func defaultKeys(_ level: QueryLevel) -> [Tag] {
        let study: [Tag] = [.studyDate, .studyTime, .accessionNumber, .modalitiesInStudy, .referringPhysicianName,
                            .patientName, .patientID, .patientBirthDate, .patientSex, .studyInstanceUID, .studyID,
                            .studyDescription, .numberOfStudyRelatedSeries, .numberOfStudyRelatedInstances]
        let series: [Tag] = [.studyInstanceUID, .modality, .seriesDescription, .seriesInstanceUID, .seriesNumber,
                             .numberOfSeriesRelatedInstances, .performedProcedureStepStartDate,
                             .performedProcedureStepStartTime, .bodyPartExamined]
        let instance: [Tag] = [.studyInstanceUID, .seriesInstanceUID, .sopClassUID, .sopInstanceUID, .instanceNumber,
                               .rows, .columns, .bitsAllocated, .numberOfFrames]
        switch level {
        case .patient, .study: return study
        case .series: return series
        case .image: return instance
        }
    }

    /// Parameters that are not attribute keys.
    private static let controls: Set<String> = ["includefield", "limit", "offset", "fuzzymatching", anomalyParameter, patientParameter,
                                                orderParameter]

    /// Loupe's patient search: `loupe-patient=ross` finds patients whose name has a component starting
    /// with the text (any case, any accents) or whose ID starts with it: what a search box needs.
    static let patientParameter = "loupe-patient"
    /// Loupe's result order: `loupe-orderby=StudyDate` (ascending) or `-StudyDate` (descending), an
    /// indexed attribute of the level or above; ties and the default: arrival order.
    static let orderParameter = "loupe-orderby"

    /// Loupe's filter on the anomaly finding: `loupe-anomaly=invalid` lists the flagged images (at
    /// series and study level: those with a flagged image); `valid` the images called valid (series
    /// and studies with classified images, none flagged).
    static let anomalyParameter = "loupe-anomaly"

    /// VRs whose query values may list alternatives with commas (`a,b` = `a\b`); text VRs keep commas.
    private static let commaLists: Set<VR> = [.UI, .CS, .DA, .TM, .DT, .AE, .IS, .DS, .AS, .US, .UL, .SS, .SL]

    package init(level: QueryLevel, parameters: RequestQuery, study: String? = nil, series: String? = nil,
         caseInsensitiveNames: Bool) throws {
        self.level = level
        var keys: [Tag: QueryKey] = [:]
        var order: [Tag] = []
        func add(_ key: QueryKey) {
            if keys[key.tag] == nil { order.append(key.tag) }
            // A constraint wins over a plain return key for the same attribute.
            if keys[key.tag].map({ $0.constraint.isUniversal }) ?? true { keys[key.tag] = key }
        }
        func vr(_ tag: Tag) -> VR { ArchiveQuery.indexedVR(of: tag) ?? DataDictionary.shared.vr(for: tag) }

        for (name, value) in parameters.pairs where !Self.controls.contains(name.lowercased()) {
            guard !name.contains(".") else {
                throw WebError.badRequest("nested attribute keys (\(name)) are not supported")
            }
            guard let tag = DataDictionary.shared.tag(forKeywordOrHex: name) else {
                throw WebError.badRequest("unknown attribute '\(name)': give a keyword (PatientName) or a tag (00100010)")
            }
            let attributeVR = vr(tag)
            let text = Self.commaLists.contains(attributeVR) ? value.replacingOccurrences(of: ",", with: "\\") : value
            add(QueryKey(tag: tag, vr: attributeVR, constraint: MatchConstraint(query: text, vr: attributeVR)))
        }
        if let study { add(QueryKey(tag: .studyInstanceUID, vr: .UI, constraint: .single(study))) }
        if let series { add(QueryKey(tag: .seriesInstanceUID, vr: .UI, constraint: .single(series))) }

        for tag in Self.defaultKeys(level) { add(QueryKey(tag: tag, vr: vr(tag), constraint: .universal)) }
        for field in parameters.all("includefield").flatMap({ $0.split(separator: ",") }).map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if field.lowercased() == "all" {
                ArchiveQuery.indexedKeys(through: level).forEach(add)
                includesAll = true
                continue
            }
            guard let tag = DataDictionary.shared.tag(forKeywordOrHex: field) else {
                throw WebError.badRequest("unknown includefield '\(field)'")
            }
            add(QueryKey(tag: tag, vr: vr(tag), constraint: .universal))
        }

        let fuzzy = parameters["fuzzymatching"].map { $0.lowercased() == "true" } ?? false
        query = ArchiveQuery(level: level, keys: order.compactMap { keys[$0] },
                             fuzzyPersonNames: fuzzy || caseInsensitiveNames,
                             limit: try parameters.integer("limit"), offset: try parameters.integer("offset") ?? 0,
                             findings: try Self.findings(parameters))
        query.patientText = parameters[Self.patientParameter]
        if let text = parameters[Self.orderParameter], !text.isEmpty {
            let descending = text.hasPrefix("-")
            guard let tag = DataDictionary.shared.tag(forKeywordOrHex: descending ? String(text.dropFirst()) : text) else {
                throw WebError.badRequest("\(Self.orderParameter): unknown attribute '\(text)'")
            }
            query.order = QueryOrder(tag: tag, descending: descending)
        }
    }

    private static func findings(_ parameters: RequestQuery) throws -> [FindingMatch] {
        guard let value = parameters[anomalyParameter] else { return [] }
        let label = value.lowercased()
        guard label == "valid" || label == "invalid" else {
            throw WebError.badRequest("\(anomalyParameter) is valid or invalid, not '\(value)'")
        }
        return [FindingMatch(kind: "anomaly", label: label, exclusive: label == "valid")]
    }
}
