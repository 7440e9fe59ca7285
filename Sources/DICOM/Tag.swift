/// A DICOM attribute tag: (group, element).
public struct Tag: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// `group << 16 | element`, the order tags sort in a data set.
    public let raw: UInt32

    public init(_ group: UInt16, _ element: UInt16) {
        raw = UInt32(group) << 16 | UInt32(element)
    }

    public init(raw: UInt32) { self.raw = raw }

    /// Parses `GGGGEEEE` or `(GGGG,EEEE)` (hexadecimal); nil otherwise.
    public init?(hex text: some StringProtocol) {
        let digits = String(text.filter { $0.isHexDigit })
        let stripped = String(text.filter { !"(), ".contains($0) })
        guard digits.count == 8, stripped.count == 8, let value = UInt32(digits, radix: 16) else { return nil }
        raw = value
    }

    public var group: UInt16 { UInt16(raw >> 16) }
    public var element: UInt16 { UInt16(raw & 0xFFFF) }

    /// Private tags live in odd groups (except the reserved groups 0001, 0003, 0005, 0007, FFFF).
    public var isPrivate: Bool { group & 1 == 1 && group > 0x0008 && group != 0xFFFF }
    /// Group length elements (gggg,0000) are retired and carry no information of their own.
    public var isGroupLength: Bool { element == 0 }
    /// Private creator elements (gggg,0010-00FF) of an odd group.
    public var isPrivateCreator: Bool { isPrivate && (0x0010...0x00FF).contains(element) }

    /// `GGGGEEEE`, upper-case hexadecimal: the form DICOM JSON uses as object key.
    public var hex: String {
        let digits = String(raw, radix: 16, uppercase: true)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }

    public var description: String {
        let h = hex
        return "(\(h.prefix(4)),\(h.suffix(4)))"
    }

    public static func < (lhs: Tag, rhs: Tag) -> Bool { lhs.raw < rhs.raw }
}

extension Tag {
    // Delimiters (PS3.5 7.5)
    public static let item = Tag(0xFFFE, 0xE000)
    public static let itemDelimitation = Tag(0xFFFE, 0xE00D)
    public static let sequenceDelimitation = Tag(0xFFFE, 0xE0DD)

    // File meta information (PS3.10 7.1)
    public static let fileMetaInformationGroupLength = Tag(0x0002, 0x0000)
    public static let fileMetaInformationVersion = Tag(0x0002, 0x0001)
    public static let mediaStorageSOPClassUID = Tag(0x0002, 0x0002)
    public static let mediaStorageSOPInstanceUID = Tag(0x0002, 0x0003)
    public static let transferSyntaxUID = Tag(0x0002, 0x0010)
    public static let implementationClassUID = Tag(0x0002, 0x0012)
    public static let implementationVersionName = Tag(0x0002, 0x0013)
    public static let sourceApplicationEntityTitle = Tag(0x0002, 0x0016)

    // Identification and hierarchy
    public static let specificCharacterSet = Tag(0x0008, 0x0005)
    public static let imageType = Tag(0x0008, 0x0008)
    public static let sopClassUID = Tag(0x0008, 0x0016)
    public static let sopInstanceUID = Tag(0x0008, 0x0018)
    public static let studyDate = Tag(0x0008, 0x0020)
    public static let seriesDate = Tag(0x0008, 0x0021)
    public static let acquisitionDate = Tag(0x0008, 0x0022)
    public static let contentDate = Tag(0x0008, 0x0023)
    public static let acquisitionDateTime = Tag(0x0008, 0x002A)
    public static let studyTime = Tag(0x0008, 0x0030)
    public static let seriesTime = Tag(0x0008, 0x0031)
    public static let acquisitionTime = Tag(0x0008, 0x0032)
    public static let contentTime = Tag(0x0008, 0x0033)
    public static let accessionNumber = Tag(0x0008, 0x0050)
    public static let conversionType = Tag(0x0008, 0x0064)
    public static let queryRetrieveLevel = Tag(0x0008, 0x0052)
    public static let retrieveAETitle = Tag(0x0008, 0x0054)
    public static let instanceAvailability = Tag(0x0008, 0x0056)
    public static let failedSOPInstanceUIDList = Tag(0x0008, 0x0058)
    public static let modality = Tag(0x0008, 0x0060)
    public static let modalitiesInStudy = Tag(0x0008, 0x0061)
    public static let sopClassesInStudy = Tag(0x0008, 0x0062)
    public static let institutionName = Tag(0x0008, 0x0080)
    public static let referringPhysicianName = Tag(0x0008, 0x0090)
    public static let timezoneOffsetFromUTC = Tag(0x0008, 0x0201)
    public static let stationName = Tag(0x0008, 0x1010)
    public static let studyDescription = Tag(0x0008, 0x1030)
    public static let seriesDescription = Tag(0x0008, 0x103E)
    public static let institutionalDepartmentName = Tag(0x0008, 0x1040)
    public static let performingPhysicianName = Tag(0x0008, 0x1050)
    public static let manufacturerModelName = Tag(0x0008, 0x1090)
    public static let manufacturer = Tag(0x0008, 0x0070)

    public static let patientName = Tag(0x0010, 0x0010)
    public static let patientID = Tag(0x0010, 0x0020)
    public static let issuerOfPatientID = Tag(0x0010, 0x0021)
    public static let patientBirthDate = Tag(0x0010, 0x0030)
    public static let patientBirthTime = Tag(0x0010, 0x0032)
    public static let patientSex = Tag(0x0010, 0x0040)
    public static let otherPatientIDs = Tag(0x0010, 0x1000)
    public static let patientAge = Tag(0x0010, 0x1010)

    public static let bodyPartExamined = Tag(0x0018, 0x0015)
    public static let secondaryCaptureDeviceManufacturer = Tag(0x0018, 0x1016)
    public static let secondaryCaptureDeviceModelName = Tag(0x0018, 0x1018)
    public static let dateOfSecondaryCapture = Tag(0x0018, 0x1012)
    public static let timeOfSecondaryCapture = Tag(0x0018, 0x1014)
    public static let protocolName = Tag(0x0018, 0x1030)
    public static let nominalScannedPixelSpacing = Tag(0x0018, 0x2010)

    public static let studyInstanceUID = Tag(0x0020, 0x000D)
    public static let seriesInstanceUID = Tag(0x0020, 0x000E)
    public static let studyID = Tag(0x0020, 0x0010)
    public static let seriesNumber = Tag(0x0020, 0x0011)
    public static let instanceNumber = Tag(0x0020, 0x0013)
    public static let patientOrientation = Tag(0x0020, 0x0020)
    public static let laterality = Tag(0x0020, 0x0060)
    public static let numberOfPatientRelatedStudies = Tag(0x0020, 0x1200)
    public static let numberOfPatientRelatedSeries = Tag(0x0020, 0x1202)
    public static let numberOfPatientRelatedInstances = Tag(0x0020, 0x1204)
    public static let numberOfStudyRelatedSeries = Tag(0x0020, 0x1206)
    public static let numberOfStudyRelatedInstances = Tag(0x0020, 0x1208)
    public static let numberOfSeriesRelatedInstances = Tag(0x0020, 0x1209)

    public static let samplesPerPixel = Tag(0x0028, 0x0002)
    public static let photometricInterpretation = Tag(0x0028, 0x0004)
    public static let planarConfiguration = Tag(0x0028, 0x0006)
    public static let numberOfFrames = Tag(0x0028, 0x0008)
    public static let rows = Tag(0x0028, 0x0010)
    public static let columns = Tag(0x0028, 0x0011)
    public static let bitsAllocated = Tag(0x0028, 0x0100)
    public static let bitsStored = Tag(0x0028, 0x0101)
    public static let highBit = Tag(0x0028, 0x0102)
    public static let pixelRepresentation = Tag(0x0028, 0x0103)
    public static let rescaleIntercept = Tag(0x0028, 0x1052)
    public static let rescaleSlope = Tag(0x0028, 0x1053)
    public static let lossyImageCompression = Tag(0x0028, 0x2110)
    public static let lossyImageCompressionRatio = Tag(0x0028, 0x2112)
    public static let lossyImageCompressionMethod = Tag(0x0028, 0x2114)

    public static let performedProcedureStepStartDate = Tag(0x0040, 0x0244)
    public static let performedProcedureStepStartTime = Tag(0x0040, 0x0245)

    public static let pixelData = Tag(0x7FE0, 0x0010)
    public static let floatPixelData = Tag(0x7FE0, 0x0008)
    public static let doubleFloatPixelData = Tag(0x7FE0, 0x0009)
    public static let dataSetTrailingPadding = Tag(0xFFFC, 0xFFFC)
}
