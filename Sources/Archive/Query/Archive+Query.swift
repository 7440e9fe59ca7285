import DICOM
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import GRDB

/// An archived instance, as retrieval needs it.
public struct StoredInstance: Sendable, Equatable {
    public let studyInstanceUID: String
    public let seriesInstanceUID: String
    public let sopClassUID: String
    public let sopInstanceUID: String
    public let transferSyntaxUID: String
    public let fileURL: URL
    /// The file's size when it was archived.
    public let fileSize: Int

    /// Whether the file is there at the size it was archived with. A missing or truncated file is
    /// lost (`loupe check` reports it): served, it would be a cut-off or damaged instance.
    public var fileIsIntact: Bool {
        var info = stat()
        return stat(fileURL.path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && Int(info.st_size) == fileSize
    }
}

extension Archive {
    /// Runs a query and returns one data set per match, holding every applicable key: values from
    /// the index columns, other attributes read from a representative instance's file.
    public func find(_ query: ArchiveQuery) throws(QueryError) -> [DataSet] {
        let keys = query.applicableKeys
        let catalogKeys = keys.filter { QueryCatalog.attributes[$0.tag] != nil }
        let fileKeys = keys.filter { QueryCatalog.attributes[$0.tag] == nil }
        // Keys the index cannot match are matched in memory, after SQL; paging must then follow them.
        let filtersInMemory = fileKeys.contains { !$0.constraint.isUniversal }

        let predicate = try predicate(of: query, catalogKeys: catalogKeys)
        let columns = catalogKeys.map { QueryCatalog.attributes[$0.tag]!.column(dialect) }
            + (fileKeys.isEmpty ? [] : [query.level.representativeFile])
        var sql = "SELECT \(columns.isEmpty ? "1" : columns.joined(separator: ", ")) FROM \(query.level.fromClause)"
            + predicate.whereClause + " ORDER BY \(try orderClause(of: query))"
        if !filtersInMemory, query.limit != nil || query.offset > 0 {
            sql += dialect.paging(limit: query.limit, offset: query.offset)
        }
        let rows: [Row]
        do {
            rows = try database.read { db in
                try Row.fetchAll(db, sql: sql, arguments: StatementArguments(predicate.arguments))
            }
        } catch {
            throw QueryError(.database, "index query failed: \(error)")
        }

        var results: [DataSet] = []
        results.reserveCapacity(rows.count)
        for row in rows {
            var ds = DataSet()
            for (index, key) in catalogKeys.enumerated() {
                ds.set(Self.element(for: key, catalog: QueryCatalog.attributes[key.tag]!, value: row[index]))
            }
            if !fileKeys.isEmpty {
                let source = (row[catalogKeys.count] as String?).flatMap { try? readHeader(relativePath: $0) }
                var matched = true
                for key in fileKeys {
                    let element = source.flatMap { Self.utf8Element(key.tag, from: $0) }
                    if !key.constraint.isUniversal {
                        let value = element.flatMap { _ in source?.joinedString(key.tag) }
                        if !key.constraint.matches(value, vr: key.vr, caseInsensitive: query.fuzzyPersonNames) { matched = false; break }
                    }
                    ds.set(element ?? DataElement(tag: key.tag, vr: key.vr, value: key.vr == .SQ ? .sequence([]) : .bytes([])))
                }
                if !matched { continue }
            }
            results.append(ds)
        }
        if filtersInMemory {
            let start = min(query.offset, results.count)
            let end = query.limit.map { min(start + $0, results.count) } ?? results.count
            results = Array(results[start..<end])
        }
        return results
    }

    /// Number of matches of a query, ignoring its limit and offset.
    public func count(_ query: ArchiveQuery) throws(QueryError) -> Int {
        let catalogKeys = query.applicableKeys.filter { QueryCatalog.attributes[$0.tag] != nil }
        if query.applicableKeys.contains(where: { QueryCatalog.attributes[$0.tag] == nil && !$0.constraint.isUniversal }) {
            var unpaged = query
            unpaged.limit = nil
            unpaged.offset = 0
            return try find(unpaged).count
        }
        let predicate = try predicate(of: query, catalogKeys: catalogKeys)
        // Nothing constrains: count the level's own table, without the joins.
        let from = predicate.clauses.isEmpty ? query.level.tableOnly : query.level.fromClause
        let sql = "SELECT count(*) FROM \(from)" + predicate.whereClause
        do {
            return try database.read { db in
                try Int.fetchOne(db, sql: sql, arguments: StatementArguments(predicate.arguments)) ?? 0
            }
        } catch {
            throw QueryError(.database, "index query failed: \(error)")
        }
    }

    /// The WHERE clause of a query's index keys, findings and patient text.
    private func predicate(of query: ArchiveQuery, catalogKeys: [QueryKey]) throws(QueryError) -> SQLPredicate {
        var predicate = SQLPredicate(dialect)
        for key in catalogKeys { predicate.add(key, QueryCatalog.attributes[key.tag]!, fuzzy: query.fuzzyPersonNames) }
        for finding in query.findings { predicate.add(finding, level: query.level) }
        if let text = query.patientText?.trimmingCharacters(in: .whitespaces), !text.isEmpty { predicate.addPatientText(text) }
        return predicate
    }

    /// ORDER BY: the requested attribute's column (it must be indexed at the query's level or above), then arrival.
    private func orderClause(of query: ArchiveQuery) throws(QueryError) -> String {
        guard let order = query.order else { return query.level.orderClause }
        guard let attribute = QueryCatalog.attributes[order.tag], attribute.level <= query.level else {
            throw QueryError(.invalidQuery, "results can be ordered by an indexed attribute of the query's level or above, not \(order.tag)")
        }
        let column = attribute.foldedColumn ?? attribute.column(dialect)
        return "\(column) IS NULL, \(column) \(order.descending ? "DESC" : "ASC"), \(query.level.orderClause)"
    }

    /// The instances a C-MOVE or C-GET identifier selects (keys of the level and above are matched).
    public func locate(_ query: ArchiveQuery) throws(QueryError) -> [StoredInstance] {
        var predicate = SQLPredicate(dialect)
        for key in query.applicableKeys {
            guard let attribute = QueryCatalog.attributes[key.tag] else { continue }
            if attribute.vr == .UI, !key.constraint.isUIDValueOrList {
                throw QueryError(.invalidQuery, "\(key.tag) must be a UID or a list of UIDs in a retrieve")
            }
            predicate.add(key, attribute, fuzzy: query.fuzzyPersonNames)
        }
        guard !predicate.clauses.isEmpty else {
            throw QueryError(.invalidQuery, "a retrieve needs at least one unique key (e.g. StudyInstanceUID)")
        }
        let sql = """
            SELECT st.StudyInstanceUID, se.SeriesInstanceUID, i.SOPClassUID, i.SOPInstanceUID, i.TransferSyntaxUID, i.file_path,
                i.file_size
            FROM \(QueryLevel.image.fromClause)
            """ + predicate.whereClause + " ORDER BY \(QueryLevel.image.orderClause)"
        do {
            return try database.read { db in
                try Row.fetchAll(db, sql: sql, arguments: StatementArguments(predicate.arguments)).map { row in
                    StoredInstance(studyInstanceUID: row[0], seriesInstanceUID: row[1], sopClassUID: row[2],
                                   sopInstanceUID: row[3], transferSyntaxUID: row[4], fileURL: fileURL(relativePath: row[5]),
                                   fileSize: row[6])
                }
            }
        } catch {
            throw QueryError(.database, "index query failed: \(error)")
        }
    }

    /// The stored instance with this SOP Instance UID, if any.
    public func instance(sopInstanceUID: String) throws(QueryError) -> StoredInstance? {
        try locate(ArchiveQuery(level: .image, keys: [QueryKey(tag: .sopInstanceUID, vr: .UI, constraint: .single(sopInstanceUID))])).first
    }

    func readHeader(relativePath: String) throws -> DataSet {
        try DICOMReader.read(contentsOf: fileURL(relativePath: relativePath), options: ReadOptions(stopAt: .pixelData)).dataSet
    }

    /// An element copied from a file, its text re-encoded as UTF-8 so that one response never
    /// mixes character sets.
    static func utf8Element(_ tag: Tag, from source: DataSet) -> DataElement? {
        guard let element = source[tag] else { return nil }
        guard element.vr.usesSpecificCharacterSet, let values = source.strings(tag) else { return element }
        return DataElement(tag: tag, vr: element.vr, strings: values)
    }

    /// An element for a catalog value, encoded in the attribute's VR.
    static func element(for key: QueryKey, catalog: CatalogAttribute, value: DatabaseValue) -> DataElement {
        let vr = catalog.vr
        if value.isNull { return DataElement(tag: key.tag, vr: vr, value: .bytes([])) }
        if catalog.isInteger, let number = Int.fromDatabaseValue(value) {
            switch vr {
            case .US: return DataElement(tag: key.tag, uint16: [UInt16(clamping: number)])
            default: return DataElement(tag: key.tag, vr: vr, string: String(number))
            }
        }
        return DataElement(tag: key.tag, vr: vr, string: String.fromDatabaseValue(value) ?? "")
    }
}

extension MatchConstraint {
    /// A retrieve names instances by unique keys: single UIDs or lists of them, never patterns.
    var isUIDValueOrList: Bool {
        switch self {
        case .universal: return true
        case .single(let uid): return UIDSyntax.isPlausible(uid)
        case .anyOf(let options): return options.allSatisfy(\.isUIDValueOrList)
        case .wildcard, .range: return false
        }
    }
}
