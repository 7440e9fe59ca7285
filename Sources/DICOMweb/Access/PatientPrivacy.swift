import Access
import Archive
import DICOM
import Hummingbird

/// What a search shows of who a patient is, and which patients it may cover: identities without
/// `phi` get results without names and birth dates (and may not match on them); identities limited
/// to some patients search only theirs.
public enum PatientPrivacy {
    /// Attributes that say who a patient is (PS3.15 E.1-1's direct identifiers of the Patient module
    /// that search results carry). Patient ID stays: it is how results are told apart.
    static let identifyingTags: [DICOM.Tag] = [
        .patientName, .patientBirthDate, .patientBirthTime,
        DICOM.Tag(0x0010, 0x1001),  // Other Patient Names
        DICOM.Tag(0x0010, 0x1005),  // Patient's Birth Name
        DICOM.Tag(0x0010, 0x1040),  // Patient's Address
        DICOM.Tag(0x0010, 0x1060),  // Patient's Mother's Birth Name
        DICOM.Tag(0x0010, 0x2154),  // Patient's Telephone Numbers
    ]
    /// The same as DICOM JSON keys (`00100010`), for the screens, which hide them without `phi`.
    public static let identifyingKeys = Set(identifyingTags.map(\.hex))

    /// Removes the identifying attributes of a result.
    static func redact(_ dataSet: inout DataSet) {
        for tag in identifyingTags { _ = dataSet.remove(tag) }
    }

    /// Checks a search's keys against the identity and limits it to the identity's patients.
    static func restrict(_ query: inout ArchiveQuery, for identity: Identity) throws {
        if !identity.may(.phi), let key = query.keys.first(where: { identifyingTags.contains($0.tag) && !$0.constraint.isUniversal }) {
            throw HTTPError(.forbidden, message: "matching on \(DataDictionary.shared.keyword(for: key.tag) ?? key.tag.hex) needs the phi permission")
        }
        // An order reveals what it sorts by (who comes before whom), as a match would.
        if !identity.may(.phi), let order = query.order, identifyingTags.contains(order.tag) {
            throw HTTPError(.forbidden, message: "ordering by \(DataDictionary.shared.keyword(for: order.tag) ?? order.tag.hex) needs the phi permission")
        }
        if !identity.may(.phi), let text = query.patientText {
            // Without phi a patient search box finds IDs, never names.
            query.patientText = nil
            if !text.isEmpty, !query.keys.contains(where: { $0.tag == .patientID && !$0.constraint.isUniversal }) {
                query.keys.removeAll { $0.tag == .patientID }
                query.keys.append(QueryKey(tag: .patientID, vr: .LO, constraint: MatchConstraint(query: text.replacingOccurrences(of: "*", with: "") + "*", vr: .LO)))
            }
        }
        if identity.searchesPhotosOnly { try restrictToPhotographs(&query) }
        guard let patients = identity.patients else { return }
        if let index = query.keys.firstIndex(where: { $0.tag == .patientID }), !query.keys[index].constraint.isUniversal {
            guard case .single(let id) = query.keys[index].constraint, patients.contains(id) else {
                throw HTTPError(.forbidden, message: "\(identity.name) is limited to other patients")
            }
            return
        }
        let scope = QueryKey(tag: .patientID, vr: .LO, constraint: patients.count == 1 ? .single(patients.first!)
                             : .anyOf(patients.sorted().map { .single($0) }))
        query.keys.removeAll { $0.tag == .patientID }
        query.keys.append(scope)
    }

    /// Narrows a search to clinical photographs: their series and instances, and studies that hold some.
    static func restrictToPhotographs(_ query: inout ArchiveQuery) throws {
        let tag: DICOM.Tag = query.level == .study || query.level == .patient ? .modalitiesInStudy : .modality
        let allowed = Archive.clinicalPhotographModalities.sorted()
        if let given = query.keys.first(where: { ($0.tag == .modality || $0.tag == .modalitiesInStudy) && !$0.constraint.isUniversal }) {
            guard case .single(let modality) = given.constraint, allowed.contains(modality) else {
                throw HTTPError(.forbidden, message: "searches are limited to clinical photographs (\(allowed.joined(separator: ", ")))")
            }
            return
        }
        query.keys.removeAll { $0.tag == tag }
        query.keys.append(QueryKey(tag: tag, vr: .CS, constraint: .anyOf(allowed.map { .single($0) })))
    }
}
