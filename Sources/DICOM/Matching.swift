import Foundation

/// How a query key constrains an attribute (PS3.4 C.2.2.2). Shared by C-FIND and QIDO-RS.
public indirect enum MatchConstraint: Sendable, Equatable {
    /// Zero-length value: every value matches (C.2.2.2.3); the attribute is only returned.
    case universal
    /// Exact value (C.2.2.2.1).
    case single(String)
    /// `*` and `?` wildcards (C.2.2.2.4).
    case wildcard(String)
    /// Inclusive range of DA, TM or DT values; either end may be open (C.2.2.2.5).
    case range(lower: String?, upper: String?)
    /// Any of several values: a UID list (C.2.2.2.2) or multiple value matching (C.2.2.2.8).
    case anyOf([MatchConstraint])

    /// Reads a query value of the given VR.
    public init(query value: String, vr: VR) {
        let trimmed = value.trimmingSpaces()
        if trimmed.isEmpty { self = .universal; return }
        if vr.isSingleValuedText == false, trimmed.unicodeScalars.contains("\\") {
            let parts = trimmed.splitAtBackslashes(omittingEmpty: true).map { MatchConstraint(query: String($0), vr: vr) }
            self = parts.count == 1 ? parts[0] : .anyOf(parts)
            return
        }
        switch vr {
        case .DA, .TM, .DT:
            if let dash = Self.rangeSeparator(in: trimmed, vr: vr) {
                let lower = String(trimmed[..<dash]).trimmingSpaces()
                let upper = String(trimmed[trimmed.index(after: dash)...]).trimmingSpaces()
                self = .range(lower: lower.isEmpty ? nil : lower, upper: upper.isEmpty ? nil : upper)
            } else {
                self = .single(trimmed)
            }
        case .UI:
            self = .single(trimmed)
        case .AE, .CS, .LO, .LT, .PN, .SH, .ST, .UC, .UR, .UT, .AS:
            if trimmed == "*" { self = .universal; return }
            if trimmed.contains(where: { $0 == "*" || $0 == "?" }) {
                self = .wildcard(trimmed)
            } else {
                self = .single(vr == .PN ? PersonNameFolding.normalized(trimmed) : trimmed)
            }
        default:
            self = .single(trimmed)
        }
    }

    /// The `-` that separates a range. A DT value may carry a `-hhmm` UTC offset, so for DT the
    /// separator is the dash whose two sides are both empty or a date-time.
    private static func rangeSeparator(in text: String, vr: VR) -> String.Index? {
        let dashes = text.indices.filter { text[$0] == "-" }
        guard vr == .DT, dashes.count > 1 else { return dashes.first }
        return dashes.first { i in
            let left = text[..<i], right = text[text.index(after: i)...]
            return (left.isEmpty || isDateTime(left)) && (right.isEmpty || isDateTime(right))
        }
    }

    private static func isDateTime(_ s: Substring) -> Bool {
        s.range(of: #"^[0-9]{4,14}(\.[0-9]{1,6})?([+-][0-9]{4})?$"#, options: .regularExpression) != nil
    }

    public var isUniversal: Bool { self == .universal }

    /// Whether a stored value (possibly multi-valued, `\`-separated) matches.
    /// - Parameters:
    ///   - value: the stored attribute value; nil or empty matches only universal keys.
    ///   - vr: the attribute's VR.
    ///   - caseInsensitive: PN matching ignoring case and accents (an SCP option, QIDO fuzzymatching).
    public func matches(_ value: String?, vr: VR, caseInsensitive: Bool = false) -> Bool {
        if case .universal = self { return true }
        guard let value, !value.isEmpty else { return false }
        let values = vr.isSingleValuedText ? [value] : value.splitAtBackslashes(omittingEmpty: true).map { $0.trimmingSpaces() }
        return values.contains { matchesOne($0, vr: vr, caseInsensitive: caseInsensitive) }
    }

    private func matchesOne(_ value: String, vr: VR, caseInsensitive: Bool) -> Bool {
        let fold = caseInsensitive && vr == .PN
        switch self {
        case .universal:
            return true
        case .single(let key):
            switch vr {
            case .DA, .TM, .DT:
                return DateTimeNormalizer.lowerBound(key, vr: vr) == DateTimeNormalizer.lowerBound(value, vr: vr)
                    || DateTimeNormalizer.contains(value: value, key: key, vr: vr)
            case .PN:
                return fold ? PersonNameFolding.fold(key) == PersonNameFolding.fold(value)
                    : PersonNameFolding.normalized(key) == PersonNameFolding.normalized(value)
            default:
                return key == value
            }
        case .wildcard(let pattern):
            return fold
                ? Wildcard.matches(PersonNameFolding.fold(value), pattern: PersonNameFolding.fold(pattern))
                : Wildcard.matches(value, pattern: pattern)
        case .range(let lower, let upper):
            let v = DateTimeNormalizer.lowerBound(value, vr: vr)
            if let lower, v < DateTimeNormalizer.lowerBound(lower, vr: vr) { return false }
            if let upper, v > DateTimeNormalizer.upperBound(upper, vr: vr) { return false }
            return true
        case .anyOf(let options):
            return options.contains { $0.matchesOne(value, vr: vr, caseInsensitive: caseInsensitive) }
        }
    }
}

/// `*` matches any sequence (including none), `?` any single character.
public enum Wildcard {
    public static func matches(_ text: String, pattern: String) -> Bool {
        let t = Array(text), p = Array(pattern)
        var ti = 0, pi = 0, star = -1, mark = 0
        while ti < t.count {
            if pi < p.count, p[pi] == "?" || p[pi] == t[ti] {
                ti += 1; pi += 1
            } else if pi < p.count, p[pi] == "*" {
                star = pi; mark = ti; pi += 1
            } else if star >= 0 {
                pi = star + 1; mark += 1; ti = mark
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}

/// Forms of a person name for matching.
public enum PersonNameFolding {
    /// Case- and accent-insensitive, for the PN matching option; also normalized.
    public static func fold(_ name: String) -> String {
        normalized(name).folding(options: [.caseInsensitive, .diacriticInsensitive, .widthInsensitive],
                                 locale: Locale(identifier: "en_US_POSIX"))
    }

    /// Without trailing empty components and groups, which PS3.5 6.2.1 makes insignificant:
    /// `DOE^JOHN^^` is `DOE^JOHN`, `A^B^^=` is `A^B`.
    public static func normalized(_ name: String) -> String {
        var groups = name.split(separator: "=", omittingEmptySubsequences: false).map { group -> Substring in
            var g = group
            while g.last == "^" || g.last == " " { g.removeLast() }
            return g
        }
        while groups.count > 1, groups.last?.isEmpty == true { groups.removeLast() }
        return groups.joined(separator: "=")
    }
}

/// Normalised forms of DA, TM and DT values that compare correctly as strings.
public enum DateTimeNormalizer {
    /// The earliest instant a (possibly partial) value denotes: `YYYYMMDD`, `HHMMSS.FFFFFF`,
    /// `YYYYMMDDHHMMSS.FFFFFF`; old ACR-NEMA forms (`YYYY.MM.DD`, `HH:MM:SS`) accepted.
    public static func lowerBound(_ value: String, vr: VR) -> String { normalize(value, vr: vr, fill: "0") }

    /// The latest instant a (possibly partial) value denotes: `1200` → `120059.999999`.
    public static func upperBound(_ value: String, vr: VR) -> String { normalize(value, vr: vr, fill: "9") }

    /// Whether a partial key (`2023` for DT, `10` for TM) covers the stored value.
    static func contains(value: String, key: String, vr: VR) -> Bool {
        guard vr != .DA else { return false }
        let v = lowerBound(value, vr: vr)
        return v >= lowerBound(key, vr: vr) && v <= upperBound(key, vr: vr)
    }

    private static func normalize(_ value: String, vr: VR, fill: Character) -> String {
        var s = value.trimmingSpaces()
        switch vr {
        case .DA:
            s.removeAll { $0 == "." }
            return date(String(s.prefix(8)), fill: fill)
        case .TM:
            s.removeAll { $0 == ":" }
            return time(s, fill: fill)
        case .DT:
            // Drop a UTC offset; compare local values.
            if let sign = s.dropFirst(4).firstIndex(where: { $0 == "+" || $0 == "-" }) { s = String(s[..<sign]) }
            let datePart = String(s.prefix(8))
            let timePart = String(s.dropFirst(8))
            let date = self.date(datePart, fill: fill)
            if datePart.count < 8 { return date + time("", fill: fill) }
            return date + time(timePart, fill: fill)
        default:
            return s
        }
    }

    private static func time(_ value: String, fill: Character) -> String {
        var whole = value
        var fraction = ""
        if let dot = value.firstIndex(of: ".") {
            whole = String(value[..<dot])
            fraction = String(value[value.index(after: dot)...])
        }
        whole = String(whole.prefix(6))
        let maxWhole = "235959"
        if whole.count < 6 {
            whole += fill == "0" ? String(repeating: "0", count: 6 - whole.count) : String(maxWhole.suffix(6 - whole.count))
        }
        if fraction.count < 6 { fraction += String(repeating: fill, count: 6 - fraction.count) }
        return whole + "." + fraction.prefix(6)
    }

    /// Partial dates: a year alone covers Jan 1 to Dec 31, a month its first to its "31st" (a safe bound).
    private static func date(_ value: String, fill: Character) -> String {
        guard value.count < 8 else { return value }
        let bound = fill == "0" ? "00000101" : "99991231"
        return value + bound.suffix(8 - value.count)
    }
}
