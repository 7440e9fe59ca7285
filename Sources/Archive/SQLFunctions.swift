import DICOM
import GRDB

/// SQL functions registered on every connection, so matching compares normalised forms: TM and DT
/// ranges (`1230` and `123000.000000` are the same time), person names (`DOE^JOHN^^` is `DOE^JOHN`).
enum SQLFunctions {
    static let normalizedPersonName = DatabaseFunction("loupe_pn", argumentCount: 1, pure: true) { values in
        guard let text = String.fromDatabaseValue(values[0]) else { return nil }
        return PersonNameFolding.normalized(text)
    }

    static let normalizedTime = DatabaseFunction("loupe_tm", argumentCount: 1, pure: true) { values in
        guard let text = String.fromDatabaseValue(values[0]) else { return nil }
        return DateTimeNormalizer.lowerBound(text, vr: .TM)
    }

    static let normalizedDateTime = DatabaseFunction("loupe_dt", argumentCount: 1, pure: true) { values in
        guard let text = String.fromDatabaseValue(values[0]) else { return nil }
        return DateTimeNormalizer.lowerBound(text, vr: .DT)
    }
}
