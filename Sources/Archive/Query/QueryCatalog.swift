import DICOM

/// The attributes the index answers from columns: where each lives, its VR, how it matches.
/// These are the keys of PS3.4 C.6.1.1 (C-FIND) and PS3.18 10.6.1.2 (QIDO-RS), plus the computed
/// counts and ModalitiesInStudy.
struct CatalogAttribute: Sendable {
    let tag: Tag
    let vr: VR
    let level: QueryLevel
    /// Where the stored value comes from.
    private let source: Source
    /// Case- and accent-folded column for PN matching.
    let foldedColumn: String?
    /// For multi-valued attributes derived from lower levels: an EXISTS template matching `{pred}` on `{col}`.
    let existsTemplate: (sql: String, column: String)?
    /// Integer column (count or number) rather than text.
    let isInteger: Bool

    enum Source {
        case column(String)
        /// The distinct values of an expression over rows of lower levels, in order, backslash-joined.
        case concatenation(String, from: String)
    }

    init(_ tag: Tag, _ vr: VR, _ level: QueryLevel, _ source: Source, folded: String? = nil,
         exists: (String, String)? = nil, integer: Bool = false) {
        self.tag = tag
        self.vr = vr
        self.level = level
        self.source = source
        self.foldedColumn = folded
        self.existsTemplate = exists
        self.isInteger = integer
    }

    init(_ tag: Tag, _ vr: VR, _ level: QueryLevel, _ column: String, folded: String? = nil, integer: Bool = false) {
        self.init(tag, vr, level, .column(column), folded: folded, integer: integer)
    }

    /// The column of normalized values (`Schema.normalizedColumns`) that exact matching of a time or
    /// a person name compares.
    var normalizedColumn: String? {
        guard vr == .TM || vr == .DT || vr == .PN, case .column(let column) = source else { return nil }
        return column + "_norm"
    }

    /// SQL expression giving the stored value.
    func column(_ dialect: SQLDialect) -> String {
        switch source {
        case .column(let column): column
        case .concatenation(let expression, let from): dialect.orderedConcatenation(expression, separator: "\\", from: from)
        }
    }
}

enum QueryCatalog {
    static let attributes: [Tag: CatalogAttribute] = {
        let list: [CatalogAttribute] = [
            .init(.patientName, .PN, .patient, "p.PatientName", folded: "p.PatientName_folded"),
            .init(.patientID, .LO, .patient, "p.PatientID"),
            .init(.issuerOfPatientID, .LO, .patient, "p.IssuerOfPatientID"),
            .init(.patientBirthDate, .DA, .patient, "p.PatientBirthDate"),
            .init(.patientBirthTime, .TM, .patient, "p.PatientBirthTime"),
            .init(.patientSex, .CS, .patient, "p.PatientSex"),
            .init(.otherPatientIDs, .LO, .patient, "p.OtherPatientIDs"),
            .init(.numberOfPatientRelatedStudies, .IS, .patient, "p.num_studies", integer: true),
            .init(.numberOfPatientRelatedSeries, .IS, .patient, "p.num_series", integer: true),
            .init(.numberOfPatientRelatedInstances, .IS, .patient, "p.num_instances", integer: true),

            .init(.studyInstanceUID, .UI, .study, "st.StudyInstanceUID"),
            .init(.studyDate, .DA, .study, "st.StudyDate"),
            .init(.studyTime, .TM, .study, "st.StudyTime"),
            .init(.accessionNumber, .SH, .study, "st.AccessionNumber"),
            .init(.studyID, .SH, .study, "st.StudyID"),
            .init(.referringPhysicianName, .PN, .study, "st.ReferringPhysicianName", folded: "st.ReferringPhysicianName_folded"),
            .init(.studyDescription, .LO, .study, "st.StudyDescription"),
            .init(.patientAge, .AS, .study, "st.PatientAge"),
            .init(.modalitiesInStudy, .CS, .study, .column("st.ModalitiesInStudy"),
                  exists: ("EXISTS (SELECT 1 FROM series m WHERE m.study_pk = st.id AND {pred})", "m.Modality")),
            .init(.sopClassesInStudy, .UI, .study,
                  .concatenation("x.SOPClassUID", from: "instance x JOIN series y ON y.id = x.series_pk WHERE y.study_pk = st.id"),
                  exists: ("EXISTS (SELECT 1 FROM instance x JOIN series y ON y.id = x.series_pk WHERE y.study_pk = st.id AND {pred})", "x.SOPClassUID")),
            .init(.numberOfStudyRelatedSeries, .IS, .study, "st.num_series", integer: true),
            .init(.numberOfStudyRelatedInstances, .IS, .study, "st.num_instances", integer: true),

            .init(.seriesInstanceUID, .UI, .series, "se.SeriesInstanceUID"),
            .init(.modality, .CS, .series, "se.Modality"),
            .init(.seriesNumber, .IS, .series, "se.SeriesNumber", integer: true),
            .init(.seriesDescription, .LO, .series, "se.SeriesDescription"),
            .init(.bodyPartExamined, .CS, .series, "se.BodyPartExamined"),
            .init(.seriesDate, .DA, .series, "se.SeriesDate"),
            .init(.seriesTime, .TM, .series, "se.SeriesTime"),
            .init(.performedProcedureStepStartDate, .DA, .series, "se.PerformedProcedureStepStartDate"),
            .init(.performedProcedureStepStartTime, .TM, .series, "se.PerformedProcedureStepStartTime"),
            .init(.institutionName, .LO, .series, "se.InstitutionName"),
            .init(.stationName, .SH, .series, "se.StationName"),
            .init(.numberOfSeriesRelatedInstances, .IS, .series, "se.num_instances", integer: true),

            .init(.sopInstanceUID, .UI, .image, "i.SOPInstanceUID"),
            .init(.sopClassUID, .UI, .image, "i.SOPClassUID"),
            .init(.instanceNumber, .IS, .image, "i.InstanceNumber", integer: true),
            .init(.contentDate, .DA, .image, "i.ContentDate"),
            .init(.contentTime, .TM, .image, "i.ContentTime"),
            .init(.rows, .US, .image, "i.Rows", integer: true),
            .init(.columns, .US, .image, "i.Columns", integer: true),
            .init(.bitsAllocated, .US, .image, "i.BitsAllocated", integer: true),
            .init(.numberOfFrames, .IS, .image, "i.NumberOfFrames", integer: true),
            .init(Tag(0x0008, 0x3002), .UI, .image, "i.TransferSyntaxUID"),  // Available Transfer Syntax UID
        ]
        return Dictionary(uniqueKeysWithValues: list.map { ($0.tag, $0) })
    }()

    /// The unique key of each level (PS3.4 C.6.1.1.1).
    static func uniqueKey(of level: QueryLevel) -> Tag {
        switch level {
        case .patient: .patientID
        case .study: .studyInstanceUID
        case .series: .seriesInstanceUID
        case .image: .sopInstanceUID
        }
    }
}

extension ArchiveQuery {
    /// Universal keys for every attribute the index holds at `level` and the levels above it, for
    /// "return everything you know" requests (QIDO `includefield=all`).
    public static func indexedKeys(through level: QueryLevel) -> [QueryKey] {
        QueryCatalog.attributes.values
            .filter { $0.level <= level }
            .sorted { $0.tag < $1.tag }
            .map { QueryKey(tag: $0.tag, vr: $0.vr, constraint: .universal) }
    }

    /// The VR the index matches an attribute with, if it holds it.
    public static func indexedVR(of tag: Tag) -> VR? { QueryCatalog.attributes[tag]?.vr }
}
