@testable import Archive
import DICOM
import GRDB
import Testing

/// The SQL each index database is given. SQLite's runs in every archive test; PostgreSQL's is checked
/// here for its syntax and, where SQLite can run the same construct, for its meaning.
@Suite struct SQLDialectTests {
    @Test func postgresNumbersPlaceholdersOutsideQuotes() {
        let sql = #"SELECT a FROM t WHERE x = ? AND y LIKE ? ESCAPE '\' AND z = 'why?' AND "odd?" = ? AND w IN (SELECT 1 WHERE ?)"#
        #expect(SQLDialect.postgres.statement(sql)
                == #"SELECT a FROM t WHERE x = $1 AND y LIKE $2 ESCAPE '\' AND z = 'why?' AND "odd?" = $3 AND w IN (SELECT 1 WHERE $4)"#)
        #expect(SQLDialect.sqlite.statement(sql) == sql)
        #expect(SQLDialect.postgres.statement("SELECT 'it''s ?', ?") == "SELECT 'it''s ?', $1")
    }

    @Test func wildcardPatterns() {
        #expect(SQLDialect.sqlite.wildcardArgument("DOE*^J?HN") == "DOE*^J?HN")
        #expect(SQLDialect.postgres.wildcardArgument("DOE*^J?HN") == "DOE%^J_HN")
        // Characters special to one database only are literal in DICOM.
        #expect(SQLDialect.sqlite.wildcardArgument(#"50%_a\b[c"#) == #"50%_a\b[[]c"#)
        #expect(SQLDialect.postgres.wildcardArgument(#"50%_a\b[c"#) == #"50\%\_a\\b[c"#)
        #expect(SQLDialect.sqlite.wildcardMatch("p.PatientName") == "p.PatientName GLOB ?")
        #expect(SQLDialect.postgres.wildcardMatch("p.PatientName") == #"p.PatientName LIKE ? ESCAPE '\'"#)
    }

    /// PostgreSQL's LIKE (with the C collation the index uses) is SQLite's LIKE with case-sensitive
    /// matching: both translations, run, select what DICOM matching selects in memory.
    @Test func bothWildcardTranslationsMatchAsDICOMDoes() throws {
        // No backslash: to DICOM it separates values, in a value and in a pattern.
        let values = ["DOE^JOHN", "DOE^JOAN", "doe^john", "DOE", "50%_OFF", "50X_OFF", "5%", "A[1]", "MÜLLER^JÖRG", ""]
        let patterns = ["DOE*", "DOE^JO?N", "*JOHN", "50%_*", "50?_OFF", "5%*", "A[1]*", "A[*", "M?LLER*", "*", "?", "*O*O*"]
        let database = try DatabaseQueue()
        try database.write { db in
            try db.execute(sql: "PRAGMA case_sensitive_like = ON")
            try db.execute(sql: "CREATE TABLE v (s TEXT)")
            for value in values { try db.execute(sql: "INSERT INTO v VALUES (?)", arguments: [value]) }
        }
        for pattern in patterns {
            let expected = Set(values.filter { MatchConstraint(query: pattern, vr: .LO).matches($0, vr: .LO) })
            for dialect in SQLDialect.allCases {
                let found = try database.read { db in
                    try String.fetchSet(db, sql: "SELECT s FROM v WHERE \(dialect.wildcardMatch("s"))",
                                        arguments: [dialect.wildcardArgument(pattern)])
                }
                #expect(found == expected, "\(dialect) \(pattern)")
            }
        }
    }

    @Test func listsPagingAndConcatenation() {
        #expect(SQLDialect.sqlite.inJSONArray("i.SOPInstanceUID", integers: false) == "i.SOPInstanceUID IN (SELECT value FROM json_each(?))")
        #expect(SQLDialect.postgres.inJSONArray("i.SOPInstanceUID", integers: false)
                == "i.SOPInstanceUID IN (SELECT jsonb_array_elements_text(?::jsonb))")
        #expect(SQLDialect.postgres.inJSONArray("se.SeriesNumber", integers: true)
                == "se.SeriesNumber IN (SELECT jsonb_array_elements_text(?::jsonb)::bigint)")
        #expect(SQLDialect.sqlite.paging(limit: nil, offset: 10) == " LIMIT -1 OFFSET 10")
        #expect(SQLDialect.postgres.paging(limit: nil, offset: 10) == " OFFSET 10")
        #expect(SQLDialect.postgres.paging(limit: 5, offset: 0) == " LIMIT 5 OFFSET 0")
        #expect(SQLDialect.postgres.orderedConcatenation("x.c", separator: "\\", from: "t x WHERE x.k = 1")
                == #"(SELECT string_agg(DISTINCT x.c, '\' ORDER BY x.c) FROM t x WHERE x.k = 1)"#)
        #expect(SQLDialect.sqlite.caseInsensitiveLike("p.PatientID") == #"p.PatientID LIKE ? ESCAPE '\'"#)
        #expect(SQLDialect.postgres.caseInsensitiveLike("p.PatientID") == #"p.PatientID ILIKE ? ESCAPE '\'"#)
        #expect(SQLDialect.likeArgument(#"5%_\"#) == #"5\%\_\\"#)
    }

    @Test func timestampsJSONAndSequences() throws {
        #expect(SQLDialect.postgres.jsonValue("e.payload", "details", "score") == "(e.payload::jsonb #>> '{details,score}')")
        #expect(SQLDialect.sqlite.jsonValue("e.payload", "details", "score") == "json_extract(e.payload, '$.details.score')")
        // The format's double quotes are inside a literal: no placeholder there, one after it.
        #expect(SQLDialect.postgres.statement("UPDATE t SET at = \(SQLDialect.postgres.timestamp) WHERE id = ?")
                == #"UPDATE t SET at = to_char(to_timestamp($1) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') WHERE id = $2"#)
        // SQLite's renderings give the index's text for a known instant.
        let database = try DatabaseQueue()
        let text = try database.read { db in try String.fetchOne(db, sql: "SELECT \(SQLDialect.sqlite.timestamp)", arguments: [1_700_000_000.25]) }
        #expect(text == "2023-11-14T22:13:20.250Z")
        let now = try database.read { db in try String.fetchOne(db, sql: "SELECT \(SQLDialect.sqlite.now)") } ?? ""
        #expect(now.count == text?.count && now.hasSuffix("Z"))
    }
}
