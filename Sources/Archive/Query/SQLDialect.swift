/// What the index's SQL says differently in its two databases. Everything else is written once, in
/// the subset that SQLite 3.40 and PostgreSQL 15 share (docs/design/postgres-index.md). Statements
/// are written with `?` placeholders; `statement(_:)` gives each database its own.
enum SQLDialect: Sendable, CaseIterable {
    case sqlite
    case postgres

    /// `expression` matches, case-sensitively, the DICOM wildcard pattern bound next as `wildcardArgument`.
    func wildcardMatch(_ expression: String) -> String {
        switch self {
        case .sqlite: "\(expression) GLOB ?"
        case .postgres: "\(expression) LIKE ? ESCAPE '\\'"
        }
    }

    /// A DICOM wildcard pattern (`*` any run of characters, `?` one character) as `wildcardMatch` binds it.
    func wildcardArgument(_ pattern: String) -> String {
        var out = ""
        for character in pattern {
            switch (self, character) {
            case (.sqlite, "["): out += "[[]"  // GLOB's only other special character
            case (.postgres, "*"): out += "%"
            case (.postgres, "?"): out += "_"
            case (.postgres, "%"), (.postgres, "_"), (.postgres, "\\"): out += "\\" + String(character)
            default: out.append(character)
            }
        }
        return out
    }

    /// `expression` starts with the text bound next (escaped by `likeArgument`), ignoring ASCII case.
    func caseInsensitiveLike(_ expression: String) -> String {
        switch self {
        case .sqlite: "\(expression) LIKE ? ESCAPE '\\'"  // SQLite's LIKE ignores ASCII case
        case .postgres: "\(expression) ILIKE ? ESCAPE '\\'"
        }
    }

    /// Text matched literally inside a LIKE pattern (both databases escape alike).
    static func likeArgument(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
    }

    /// `expression` is one of the values of the JSON array bound next: one parameter for a list of
    /// any length (a study's thousand UIDs), with no limit on expression depth or parameter count.
    func inJSONArray(_ expression: String, integers: Bool) -> String {
        switch self {
        case .sqlite: "\(expression) IN (SELECT value FROM json_each(?))"
        case .postgres where integers: "\(expression) IN (SELECT jsonb_array_elements_text(?::jsonb)::bigint)"
        case .postgres: "\(expression) IN (SELECT jsonb_array_elements_text(?::jsonb))"
        }
    }

    /// LIMIT and OFFSET: SQLite has no OFFSET without a LIMIT (-1 means none), PostgreSQL no negative LIMIT.
    func paging(limit: Int?, offset: Int) -> String {
        switch (self, limit) {
        case (_, let limit?): " LIMIT \(limit) OFFSET \(offset)"
        case (.sqlite, nil): " LIMIT -1 OFFSET \(offset)"
        case (.postgres, nil): " OFFSET \(offset)"
        }
    }

    /// The distinct values of `expression` over the rows of `source` (what follows FROM: tables and a
    /// condition), in ascending order, joined by `separator`.
    func orderedConcatenation(_ expression: String, separator: Character, from source: String) -> String {
        switch self {
        // SQLite keeps the order of the subquery it aggregates.
        case .sqlite: "(SELECT group_concat(c, '\(separator)') FROM (SELECT DISTINCT \(expression) c FROM \(source) ORDER BY c))"
        case .postgres: "(SELECT string_agg(DISTINCT \(expression), '\(separator)' ORDER BY \(expression)) FROM \(source))"
        }
    }

    /// The index's timestamp text (ISO 8601 in UTC, milliseconds) of the statement's time.
    var now: String {
        switch self {
        case .sqlite: "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
        case .postgres: #"to_char(statement_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"#
        }
    }

    /// The same text for a Unix time bound next.
    var timestamp: String {
        switch self {
        case .sqlite: "strftime('%Y-%m-%dT%H:%M:%fZ', ?, 'unixepoch')"
        case .postgres: #"to_char(to_timestamp(?) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"#
        }
    }

    /// The value at `path` (member names) in the JSON text of `column`. PostgreSQL gives it as text.
    func jsonValue(_ column: String, _ path: String...) -> String {
        switch self {
        case .sqlite: "json_extract(\(column), '$.\(path.joined(separator: "."))')"
        case .postgres: "(\(column)::jsonb #>> '{\(path.joined(separator: ","))}')"
        }
    }

    /// A query of the sequence number last assigned to `table`'s `column` (its AUTOINCREMENT or identity),
    /// rows deleted since or not; 0 before the first.
    func lastAssignedSequence(table: String, column: String) -> String {
        switch self {
        case .sqlite: "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = '\(table)'), 0)"
        case .postgres: "SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence('\(table)', '\(column)')), 0)"
        }
    }

    /// `table` read through `index`. SQLite's planner, without statistics, prefers an index with an
    /// equality (`state = ?`) even when it then sorts every row it found; PostgreSQL plans by statistics
    /// and has no such hint.
    func table(_ table: String, indexedBy index: String) -> String {
        switch self {
        case .sqlite: "\(table) INDEXED BY \(index)"
        case .postgres: table
        }
    }

    /// A statement written with `?` placeholders in this database's syntax: PostgreSQL numbers them
    /// (`$1`, `$2`, …). A `?` inside a quoted literal or identifier is text, not a placeholder. For the
    /// index's execution interface to apply to every statement (design step 3), not for call sites.
    func statement(_ sql: String) -> String {
        guard self == .postgres else { return sql }
        var out = ""
        var quote: Character?
        var number = 0
        for character in sql {
            if let open = quote {
                if character == open { quote = nil }  // a doubled quote closes and reopens: same result
            } else if character == "'" || character == "\"" {
                quote = character
            } else if character == "?" {
                number += 1
                out += "$\(number)"
                continue
            }
            out.append(character)
        }
        return out
    }
}
