@testable import Archive
import DICOM
import GRDB
import LoupeTestSupport
import Testing

/// Times and person names are matched through normalized twin columns, filled at ingest and, for an
/// index from before them, by migration v9.
@Suite struct NormalizedColumnTests {
    @Test func everyNormalizedCatalogAttributeHasItsColumn() throws {
        let store = try TemporaryArchive()
        let withTwins = QueryCatalog.attributes.values.filter { $0.normalizedColumn != nil }
        #expect(withTwins.count == Schema.normalizedColumns.count)
        for attribute in withTwins {
            let value = attribute.vr == .PN ? "DOE^JOHN^^" : "1015"
            // An exact match and a range each compare the twin column: SQLite would refuse a missing one.
            let keys = [QueryKey(tag: attribute.tag, vr: attribute.vr, constraint: MatchConstraint(query: value, vr: attribute.vr))]
            _ = try store.archive.find(ArchiveQuery(level: .image, keys: keys))
            if attribute.vr == .TM {
                let range = [QueryKey(tag: attribute.tag, vr: .TM, constraint: MatchConstraint(query: "1000-1100", vr: .TM))]
                _ = try store.archive.find(ArchiveQuery(level: .image, keys: range))
            }
        }
    }

    @Test func anIndexFromBeforeTheColumnsIsFilledByTheMigration() throws {
        let store = try TemporaryArchive()
        let doe = Instance(patientName: "DOE^JOHN", studyTime: "101500", accession: "A1")
        let muller = Instance(patientID: "P2", patientName: "MULLER^JORG", studyTime: "2359", accession: "B7")
        for instance in [doe, muller] { try store.store(instance.bytes) }
        // The index as version 8 left it: no twin columns, migration v9 not applied.
        let index = try DatabaseQueue(path: store.archive.configuration.indexPath.path)
        try index.write { db in
            for (table, column, _) in Schema.normalizedColumns {
                try db.execute(sql: "ALTER TABLE \(table) DROP COLUMN \(column)_norm")
            }
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier LIKE 'v9:%'")
        }
        try index.close()
        try store.reopen()
        func accessions(_ tag: Tag, _ value: String) throws -> [String] {
            try store.archive.find(.keys(.study, [(.accessionNumber, ""), (tag, value)])).compactMap { $0.string(.accessionNumber) }.sorted()
        }
        #expect(try accessions(.studyTime, "2300-") == ["B7"])
        #expect(try accessions(.studyTime, "1015") == ["A1"])
        #expect(try accessions(.patientName, "DOE^JOHN^^") == ["A1"])
        #expect(try accessions(.referringPhysicianName, "HOUSE^GREGORY^") == ["A1", "B7"])
    }
}
