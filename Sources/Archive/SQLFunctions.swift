import DICOM
import GRDB

/// SQL functions registered on every connection, so range matching on TM and DT values compares
/// normalised forms (`1230` and `123000.000000` are the same time).
enum SQLFunctions {
    static let normalizedTime = DatabaseFunction("loupe_tm", argumentCount: 1, pure: true) { values in
        guard let text = String.fromDatabaseValue(values[0]) else { return nil }
        return DateTimeNormalizer.lowerBound(text, vr: .TM)
    }

    static let normalizedDateTime = DatabaseFunction("loupe_dt", argumentCount: 1, pure: true) { values in
        guard let text = String.fromDatabaseValue(values[0]) else { return nil }
        return DateTimeNormalizer.lowerBound(text, vr: .DT)
    }
}
