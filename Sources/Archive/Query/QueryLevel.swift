/// The levels of the DICOM information model (PS3.4 C.6), from top to bottom.
public enum QueryLevel: String, Sendable, CaseIterable, Comparable {
    case patient = "PATIENT"
    case study = "STUDY"
    case series = "SERIES"
    case image = "IMAGE"

    var depth: Int {
        switch self {
        case .patient: 0
        case .study: 1
        case .series: 2
        case .image: 3
        }
    }

    public static func < (lhs: QueryLevel, rhs: QueryLevel) -> Bool { lhs.depth < rhs.depth }

    /// Tables joined from this level up to the patient, with the aliases the catalog uses.
    var fromClause: String {
        switch self {
        case .patient: "patient p"
        case .study: "study st JOIN patient p ON p.id = st.patient_pk"
        case .series: "series se JOIN study st ON st.id = se.study_pk JOIN patient p ON p.id = st.patient_pk"
        case .image: "instance i JOIN series se ON se.id = i.series_pk JOIN study st ON st.id = se.study_pk JOIN patient p ON p.id = st.patient_pk"
        }
    }

    /// The level's table alone, for counting every row.
    var tableOnly: String {
        switch self {
        case .patient: "patient p"
        case .study: "study st"
        case .series: "series se"
        case .image: "instance i"
        }
    }

    /// Primary key of the level's table.
    var idColumn: String {
        switch self {
        case .patient: "p.id"
        case .study: "st.id"
        case .series: "se.id"
        case .image: "i.id"
        }
    }

    /// Result order: arrival order, which keeps paging stable; images in instance-number order.
    var orderClause: String {
        switch self {
        case .image: "i.series_pk, i.InstanceNumber, i.id"
        default: idColumn
        }
    }

    /// SQL giving the relative file path of one instance that represents a row of this level.
    var representativeFile: String {
        switch self {
        case .image: "i.file_path"
        case .series: "(SELECT file_path FROM instance x WHERE x.series_pk = se.id ORDER BY x.id LIMIT 1)"
        case .study: "(SELECT x.file_path FROM instance x JOIN series y ON y.id = x.series_pk WHERE y.study_pk = st.id ORDER BY x.id LIMIT 1)"
        case .patient: "(SELECT x.file_path FROM instance x JOIN series y ON y.id = x.series_pk JOIN study z ON z.id = y.study_pk WHERE z.patient_pk = p.id ORDER BY x.id LIMIT 1)"
        }
    }
}
