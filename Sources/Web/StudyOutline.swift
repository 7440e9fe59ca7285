import Archive
import DICOM

/// A study's series as its page lists them before any script runs: number, modality, description,
/// image count, and the first image, so the viewer can fetch its pixels at once, beside the series'
/// metadata, instead of one request after another.
struct StudyOutline {
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

    let series: [Series]

    /// Series without pixels (reports, key objects, presentation states) go last: the first one
    /// listed is the one the viewer opens.
    static let withoutImages: Set<String> = ["SR", "KO", "PR", "DOC"]

    init(study: String, archive: Archive) throws(QueryError) {
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
}
