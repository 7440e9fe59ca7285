import Archive
import DICOM

/// A study as its page shows it before any script runs: the header (patient, date, description,
/// modalities, accession) and the series (number, modality, description, image count, first image),
/// so the viewer fetches the first image's pixels at once instead of after a search or two.
struct StudyOutline {
    /// Who and what the study is; the patient's name only for a reader with `phi`.
    struct Header {
        let patientName: String?
        let patientID: String
        let date: String
        let description: String
        let modalities: String
        let accession: String

        var values: [String: Any] {
            ["patient": patientName ?? patientID, "patientID": patientID, "date": date, "title": description.isEmpty ? "Study" : description,
             "modalities": modalities, "accession": accession.isEmpty ? "—" : accession,
             "patientPath": patientID.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-._~"))) ?? ""]
        }
    }

    struct Series {
        let uid: String
        let modality: String
        let number: Int?
        let description: String
        let count: Int
        let firstInstance: String?

        var values: [String: Any] {
            ["uid": uid, "modality": modality, "number": number.map(String.init) ?? "", "description": description, "count": count,
             "first": firstInstance ?? "", "label": [modality, number.map(String.init) ?? "", description].filter { !$0.isEmpty }.joined(separator: " ")]
        }
    }

    let header: Header?
    let series: [Series]

    /// Series without pixels (reports, key objects, presentation states) go last: the first one
    /// listed is the one the viewer opens.
    static let withoutImages: Set<String> = ["SR", "KO", "PR", "DOC"]

    init(study: String, archive: Archive, identified: Bool) throws(QueryError) {
        header = try archive.find(ArchiveQuery(level: .study, keys: [
            QueryKey(tag: .studyInstanceUID, vr: .UI, constraint: .single(study)), QueryKey(tag: .patientName, vr: .PN, constraint: .universal),
            QueryKey(tag: .patientID, vr: .LO, constraint: .universal), QueryKey(tag: .studyDate, vr: .DA, constraint: .universal),
            QueryKey(tag: .studyDescription, vr: .LO, constraint: .universal), QueryKey(tag: .modalitiesInStudy, vr: .CS, constraint: .universal),
            QueryKey(tag: .accessionNumber, vr: .SH, constraint: .universal),
        ])).first.map { item in
            Header(patientName: identified ? item.string(.patientName) : nil, patientID: item.string(.patientID) ?? "",
                   date: Self.isoDate(item.string(.studyDate)), description: item.string(.studyDescription) ?? "",
                   modalities: item.strings(.modalitiesInStudy)?.joined(separator: " ") ?? "", accession: item.string(.accessionNumber) ?? "")
        }
        let found = try archive.find(ArchiveQuery(level: .series, keys: [
            QueryKey(tag: .studyInstanceUID, vr: .UI, constraint: .single(study)), QueryKey(tag: .seriesInstanceUID, vr: .UI, constraint: .universal),
            QueryKey(tag: .modality, vr: .CS, constraint: .universal), QueryKey(tag: .seriesNumber, vr: .IS, constraint: .universal),
            QueryKey(tag: .seriesDescription, vr: .LO, constraint: .universal),
            QueryKey(tag: .numberOfSeriesRelatedInstances, vr: .IS, constraint: .universal),
        ]))
        var series: [Series] = []
        for item in found {
            guard let uid = item.string(.seriesInstanceUID) else { continue }
            // Image level answers in instance-number order.
            let first = try archive.find(ArchiveQuery(level: .image, keys: [
                QueryKey(tag: .seriesInstanceUID, vr: .UI, constraint: .single(uid)), QueryKey(tag: .sopInstanceUID, vr: .UI, constraint: .universal),
            ], limit: 1)).first?.string(.sopInstanceUID)
            series.append(Series(uid: uid, modality: item.string(.modality) ?? "", number: item.integer(.seriesNumber),
                                 description: item.string(.seriesDescription) ?? "", count: item.integer(.numberOfSeriesRelatedInstances) ?? 0,
                                 firstInstance: first))
        }
        func key(_ s: Series) -> (Int, Int) { (Self.withoutImages.contains(s.modality) ? 1 : 0, s.number ?? Int.max) }
        self.series = series.sorted { key($0) < key($1) }
    }

    /// A DICOM date (YYYYMMDD) as YYYY-MM-DD; anything else as it is.
    static func isoDate(_ value: String?) -> String {
        guard let value, value.count == 8, value.allSatisfy(\.isNumber) else { return value ?? "" }
        return "\(value.prefix(4))-\(value.dropFirst(4).prefix(2))-\(value.suffix(2))"
    }
}
