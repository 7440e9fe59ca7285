import DICOM
import Foundation

/// A clinical photo's description, as `POST /api/photos` takes it (the `metadata` part, JSON) and
/// `loupe photo` builds it from its options. Validated before anything is stored.
public struct PhotoSubmission: Sendable, Decodable, Equatable {
    /// What the photo is for: the analysis it gets and the series it joins.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// A face photo of the flush watch during chemotherapy.
        case flush
        /// A skin lesion photo (dermatology).
        case lesion

        /// Protocol Name (0018,1030) of the photos of this kind: how the pipeline recognises them.
        public var protocolName: String { "LOUPE \(rawValue.uppercased()) PHOTO" }
        public var seriesDescription: String { "\(rawValue.prefix(1).uppercased())\(rawValue.dropFirst()) photos" }

        public init?(protocolName: String?) {
            guard let kind = Self.allCases.first(where: { $0.protocolName == protocolName }) else { return nil }
            self = kind
        }
    }

    public var patientID: String
    public var patientName: String
    /// YYYYMMDD or YYYY-MM-DD.
    public var birthDate: String?
    /// M, F or O.
    public var sex: String?
    public var kind: Kind
    /// Stored as Body Part Examined (at most 16 letters, digits, spaces or underscores), a leading
    /// "left" or "right" as Laterality.
    public var bodySite: String?
    /// The camera: Manufacturer's Model Name.
    public var device: String?
    /// Attach to the study of this accession number (of the same patient), or start it.
    public var accessionNumber: String?
    /// Attach to this study (of the same patient).
    public var studyInstanceUID: String?
    /// When the photo was taken (ISO 8601; without a UTC offset it is the node's local time).
    /// Default: when it arrives.
    public var acquisitionDateTime: String?
    /// A flush photo to compare the patient's later photos with.
    public var baseline: Bool
    /// Millimetres per pixel, when the photo has a scale (lesion diameter in mm).
    public var pixelSpacing: Double?

    enum CodingKeys: String, CodingKey {
        case patientID = "PatientID", patientName = "PatientName", birthDate = "BirthDate", sex = "Sex", kind
        case bodySite = "BodySite", device = "Device", accessionNumber = "AccessionNumber"
        case studyInstanceUID = "StudyInstanceUID", acquisitionDateTime = "AcquisitionDateTime"
        case baseline = "Baseline", pixelSpacing = "PixelSpacing"
    }

    public init(patientID: String, patientName: String, kind: Kind, birthDate: String? = nil, sex: String? = nil,
                bodySite: String? = nil, device: String? = nil, accessionNumber: String? = nil, studyInstanceUID: String? = nil,
                acquisitionDateTime: String? = nil, baseline: Bool = false, pixelSpacing: Double? = nil) {
        self.patientID = patientID
        self.patientName = patientName
        self.kind = kind
        self.birthDate = birthDate
        self.sex = sex
        self.bodySite = bodySite
        self.device = device
        self.accessionNumber = accessionNumber
        self.studyInstanceUID = studyInstanceUID
        self.acquisitionDateTime = acquisitionDateTime
        self.baseline = baseline
        self.pixelSpacing = pixelSpacing
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let kindText = try c.decode(String.self, forKey: .kind)
        guard let kind = Kind(rawValue: kindText) else {
            throw DecodingError.dataCorruptedError(forKey: .kind, in: c, debugDescription: "kind must be flush or lesion, not '\(kindText)'")
        }
        self.init(patientID: try c.decode(String.self, forKey: .patientID), patientName: try c.decode(String.self, forKey: .patientName),
                  kind: kind, birthDate: try c.decodeIfPresent(String.self, forKey: .birthDate),
                  sex: try c.decodeIfPresent(String.self, forKey: .sex), bodySite: try c.decodeIfPresent(String.self, forKey: .bodySite),
                  device: try c.decodeIfPresent(String.self, forKey: .device),
                  accessionNumber: try c.decodeIfPresent(String.self, forKey: .accessionNumber),
                  studyInstanceUID: try c.decodeIfPresent(String.self, forKey: .studyInstanceUID),
                  acquisitionDateTime: try c.decodeIfPresent(String.self, forKey: .acquisitionDateTime),
                  baseline: try c.decodeIfPresent(Bool.self, forKey: .baseline) ?? false,
                  pixelSpacing: try c.decodeIfPresent(Double.self, forKey: .pixelSpacing))
    }

    /// Reads the JSON of a `metadata` part; an `invalidAttribute` error says what is wrong.
    public static func decode(json: Data) throws(IngestError) -> PhotoSubmission {
        do {
            return try JSONDecoder().decode(PhotoSubmission.self, from: json)
        } catch let DecodingError.keyNotFound(key, _) {
            throw IngestError(.missingAttribute, "the photo's metadata has no \(key.stringValue)")
        } catch let DecodingError.dataCorrupted(context) where context.codingPath.isEmpty {
            throw IngestError(.invalidAttribute, "the photo's metadata is not a JSON object: \(context.debugDescription)")
        } catch let DecodingError.dataCorrupted(context) {
            throw IngestError(.invalidAttribute, "the photo's metadata has a wrong \(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let key = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw IngestError(.invalidAttribute, "the photo's metadata has a wrong \(key): \(context.debugDescription)")
        } catch {
            throw IngestError(.invalidAttribute, "unreadable photo metadata: \(error)")
        }
    }

    /// The acquisition time, checked.
    func acquired(now: Date) throws(IngestError) -> Date {
        guard let text = acquisitionDateTime?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return now }
        let zoned = ISO8601DateFormatter()
        zoned.formatOptions = [.withInternetDateTime]
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let local = DateFormatter()
        local.locale = Locale(identifier: "en_US_POSIX")
        local.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
        guard let date = zoned.date(from: text) ?? fractional.date(from: text) ?? local.date(from: text) else {
            throw IngestError(.invalidAttribute, "AcquisitionDateTime '\(text)' is not an ISO 8601 date and time (2026-11-23T10:15:00+01:00)")
        }
        // DICOM dates have four-digit years; a photo is not from before 1900 nor from tomorrow.
        guard date >= Date(timeIntervalSince1970: -2_208_988_800), date <= now.addingTimeInterval(86_400) else {
            throw IngestError(.invalidAttribute, "AcquisitionDateTime '\(text)' is not between 1900 and now")
        }
        return date
    }

    /// The attributes, checked against their VRs; nil when absent or empty.
    func checked() throws(IngestError) -> Checked {
        func text(_ value: String?, _ name: String, maximum: Int, required: Bool = false) throws(IngestError) -> String? {
            let trimmed = value?.trimmingCharacters(in: .whitespaces) ?? ""
            if trimmed.isEmpty {
                if required { throw IngestError(.missingAttribute, "the photo's \(name) is empty") }
                return nil
            }
            let scalars = trimmed.unicodeScalars
            guard scalars.count <= maximum, !trimmed.contains("\\"),
                  !scalars.contains(where: { $0.properties.generalCategory == .control || $0.properties.isNoncharacterCodePoint }) else {
                throw IngestError(.invalidAttribute, "\(name) must be at most \(maximum) characters without backslashes or control characters")
            }
            return trimmed
        }
        var checked = Checked()
        checked.patientID = try text(patientID, "PatientID", maximum: 64, required: true) ?? ""
        checked.patientName = try text(patientName, "PatientName", maximum: 64 * 3 + 2, required: true) ?? ""
        // PN: at most three component groups (alphabetic, ideographic, phonetic) of 64 characters each.
        let groups = checked.patientName.split(separator: "=", omittingEmptySubsequences: false)
        guard groups.count <= 3, groups.allSatisfy({ $0.unicodeScalars.count <= 64 }) else {
            throw IngestError(.invalidAttribute, "PatientName must be at most 64 characters (per = group), as Family^Given")
        }
        if let birth = try text(birthDate, "BirthDate", maximum: 10) {
            let digits = birth.replacingOccurrences(of: "-", with: "")
            guard digits.count == 8, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
                  birth.count == 8 || birth.count == 10, Self.isDate(digits) else {
                throw IngestError(.invalidAttribute, "BirthDate '\(birth)' is not a date as YYYYMMDD or YYYY-MM-DD")
            }
            checked.birthDate = digits
        }
        if let sex = try text(sex, "Sex", maximum: 1) {
            guard ["M", "F", "O"].contains(sex.uppercased()) else { throw IngestError(.invalidAttribute, "Sex must be M, F or O, not '\(sex)'") }
            checked.sex = sex.uppercased()
        }
        if let site = try text(bodySite, "BodySite", maximum: 16) {
            let upper = site.uppercased().replacingOccurrences(of: "-", with: " ")
            guard upper.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == " " || $0 == "_") }) else {
                throw IngestError(.invalidAttribute, "BodySite '\(site)' must be letters, digits, spaces or underscores (it is stored as Body Part Examined)")
            }
            // "left forearm": Body Part Examined FOREARM, Laterality L (PS3.3 C.7.3.1).
            var words = upper.split(separator: " ").map(String.init)
            for (word, side) in [("LEFT", "L"), ("RIGHT", "R")] where words.contains(word) {
                checked.laterality = side
                words.removeAll { $0 == word }
            }
            checked.bodyPart = words.isEmpty ? nil : words.joined(separator: " ")
        }
        checked.device = try text(device, "Device", maximum: 64)
        checked.accessionNumber = try text(accessionNumber, "AccessionNumber", maximum: 16)
        if let uid = try text(studyInstanceUID, "StudyInstanceUID", maximum: 64) {
            guard UID.isValid(uid) else { throw IngestError(.invalidUID, "StudyInstanceUID '\(uid)' is not a valid UID") }
            checked.studyInstanceUID = uid
        }
        if let pixelSpacing {
            guard pixelSpacing.isFinite, pixelSpacing > 0, pixelSpacing < 1000 else {
                throw IngestError(.invalidAttribute, "PixelSpacing must be millimetres per pixel, a positive number")
            }
        }
        return checked
    }

    /// A real calendar date, YYYYMMDD, from 1900 on.
    static func isDate(_ digits: String) -> Bool {
        guard let year = Int(digits.prefix(4)), let month = Int(digits.dropFirst(4).prefix(2)), let day = Int(digits.suffix(2)),
              year >= 1900 else { return false }
        let calendar = Calendar(identifier: .gregorian)
        guard let date = calendar.date(from: DateComponents(year: year, month: month, day: day)) else { return false }
        let back = calendar.dateComponents([.year, .month, .day], from: date)
        return back.year == year && back.month == month && back.day == day
    }

    struct Checked {
        var patientID = ""
        var patientName = ""
        var birthDate: String?
        var sex: String?
        var bodyPart: String?
        /// L or R, when the body site says left or right.
        var laterality: String?
        var device: String?
        var accessionNumber: String?
        var studyInstanceUID: String?
    }
}
