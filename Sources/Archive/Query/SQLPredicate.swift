import DICOM
import Foundation
import GRDB

/// Translates match constraints on catalog attributes to SQL (PS3.4 C.2.2.2 semantics).
struct SQLPredicate {
    let dialect: SQLDialect
    var clauses: [String] = []
    var arguments: [DatabaseValueConvertible?] = []

    init(_ dialect: SQLDialect) { self.dialect = dialect }

    mutating func add(_ key: QueryKey, _ attribute: CatalogAttribute, fuzzy: Bool) {
        guard !key.constraint.isUniversal else { return }
        if let (template, column) = attribute.existsTemplate {
            var inner = SQLPredicate(dialect)
            inner.addConstraint(key.constraint, column: column, vr: attribute.vr, folded: nil, normalized: nil)
            guard let predicate = inner.clauses.first else { return }
            clauses.append(template.replacingOccurrences(of: "{pred}", with: predicate))
            arguments += inner.arguments
            return
        }
        let folded = fuzzy && attribute.vr == .PN ? attribute.foldedColumn : nil
        addConstraint(key.constraint, column: attribute.column(dialect), vr: attribute.vr, folded: folded,
                      normalized: attribute.normalizedColumn, integer: attribute.isInteger)
    }

    /// Entries of `level` with an instance that has the finding (through the finding table's primary
    /// key, instance by instance). For an `exclusive` label (anomaly `valid`) above image level, also
    /// without an instance that has another label of that kind: a series is valid when all its
    /// classified images are.
    mutating func add(_ finding: FindingMatch, level: QueryLevel) {
        addExists(finding, level: level, match: "f.kind = ? AND f.label = ?", negated: false)
        if finding.exclusive && level != .image {
            addExists(finding, level: level, match: "f.kind = ? AND f.label <> ?", negated: true)
        }
    }

    private mutating func addExists(_ finding: FindingMatch, level: QueryLevel, match: String, negated: Bool) {
        let before = clauses.count
        switch level {
        case .image:
            clauses.append("EXISTS (SELECT 1 FROM finding f WHERE f.instance_pk = i.id AND \(match))")
        case .series:
            clauses.append("EXISTS (SELECT 1 FROM instance fi JOIN finding f ON f.instance_pk = fi.id WHERE fi.series_pk = se.id AND \(match))")
        case .study:
            clauses.append("""
                EXISTS (SELECT 1 FROM series fs JOIN instance fi ON fi.series_pk = fs.id JOIN finding f ON f.instance_pk = fi.id \
                WHERE fs.study_pk = st.id AND \(match))
                """)
        case .patient:
            clauses.append("""
                EXISTS (SELECT 1 FROM study fst JOIN series fs ON fs.study_pk = fst.id JOIN instance fi ON fi.series_pk = fs.id \
                JOIN finding f ON f.instance_pk = fi.id WHERE fst.patient_pk = p.id AND \(match))
                """)
        }
        if negated { clauses[before] = "NOT " + clauses[before] }
        arguments += [finding.kind, finding.label]
    }

    /// `folded`: the case- and accent-folded column, for fuzzy person-name matching; `normalized`: the
    /// column of normalized times or person names that exact matching compares.
    private mutating func addConstraint(_ constraint: MatchConstraint, column: String, vr: VR, folded: String?, normalized: String?,
                                        integer: Bool = false) {
        if let sql = sql(constraint, column: column, vr: vr, folded: folded, normalized: normalized ?? column, integer: integer) {
            clauses.append(sql)
        }
    }

    private mutating func sql(_ constraint: MatchConstraint, column: String, vr: VR, folded: String?, normalized: String,
                              integer: Bool) -> String? {
        switch constraint {
        case .universal:
            return nil
        case .single(let value):
            if integer {
                arguments.append(Int(value) ?? Int.min)
                return "\(column) = ?"
            }
            switch vr {
            case .DA:
                arguments.append(DateTimeNormalizer.lowerBound(value, vr: .DA))
                return "\(column) = ?"
            case .TM, .DT:
                arguments.append(DateTimeNormalizer.lowerBound(value, vr: vr))
                arguments.append(DateTimeNormalizer.upperBound(value, vr: vr))
                return "\(normalized) BETWEEN ? AND ?"
            case .PN:
                if let folded {
                    arguments.append(PersonNameFolding.fold(value))
                    return "\(folded) = ?"
                }
                arguments.append(PersonNameFolding.normalized(value))
                return "\(normalized) = ?"
            default:
                arguments.append(value)
                return "\(column) = ?"
            }
        case .wildcard(let pattern):
            let target = folded ?? column
            arguments.append(dialect.wildcardArgument(folded != nil ? PersonNameFolding.fold(pattern) : pattern))
            return dialect.wildcardMatch(target)
        case .range(let lower, let upper):
            var parts: [String] = []
            let expression = vr == .TM || vr == .DT ? normalized : column
            if let lower {
                parts.append("\(expression) >= ?")
                arguments.append(DateTimeNormalizer.lowerBound(lower, vr: vr))
            }
            if let upper {
                parts.append("\(expression) <= ?")
                arguments.append(DateTimeNormalizer.upperBound(upper, vr: vr))
            }
            return parts.isEmpty ? nil : "(" + parts.joined(separator: " AND ") + ")"
        case .anyOf(let options):
            let singles = options.compactMap { option -> String? in
                if case .single(let value) = option { return value }
                return nil
            }
            if singles.count == options.count, vr != .TM, vr != .DT {
                // One JSON array parameter: a UID list of any length, no expression-depth limit.
                let values: [Any] = integer
                    ? singles.map { Int($0) ?? Int.min }
                    : singles.map { value in
                        if folded != nil { return PersonNameFolding.fold(value) }
                        if vr == .PN { return PersonNameFolding.normalized(value) }
                        return vr == .DA ? DateTimeNormalizer.lowerBound(value, vr: .DA) : value
                    }
                let json = (try? JSONSerialization.data(withJSONObject: values)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
                arguments.append(json)
                let target = folded ?? (vr == .PN ? normalized : column)
                return dialect.inJSONArray(target, integers: integer)
            }
            let parts = options.compactMap { sql($0, column: column, vr: vr, folded: folded, normalized: normalized, integer: integer) }
            return parts.isEmpty ? nil : "(" + parts.joined(separator: " OR ") + ")"
        }
    }

    /// Patients whose folded name has a component starting with `text`, or whose ID starts with it.
    mutating func addPatientText(_ text: String) {
        let folded = SQLDialect.likeArgument(PersonNameFolding.fold(text))
        // Folded names are lower-case, as the folded text is: LIKE matches them alike in both databases.
        clauses.append("""
            (p.PatientName_folded LIKE ? ESCAPE '\\' OR p.PatientName_folded LIKE ? ESCAPE '\\' OR p.PatientName_folded LIKE ? ESCAPE '\\' \
            OR \(dialect.caseInsensitiveLike("p.PatientID")))
            """)
        arguments += ["\(folded)%", "%^\(folded)%", "% \(folded)%", "\(SQLDialect.likeArgument(text))%"]
    }

    var whereClause: String { clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND ") }
}
