import DICOM
import GRDB

/// The index schema. DICOM attributes that queries match on are real columns named by their DICOM
/// keyword (`StudyDate`); bookkeeping columns are snake_case (`num_instances`, `file_path`).
/// Each schema change is a new migration; applied migrations are recorded by GRDB.
enum Schema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: patient, study, series, instance") { db in
            try db.execute(sql: """
                CREATE TABLE patient (
                    id INTEGER PRIMARY KEY,
                    PatientID TEXT NOT NULL,
                    IssuerOfPatientID TEXT NOT NULL DEFAULT '',
                    PatientName TEXT,
                    PatientName_folded TEXT,
                    PatientBirthDate TEXT,
                    PatientBirthTime TEXT,
                    PatientSex TEXT,
                    OtherPatientIDs TEXT,
                    num_studies INTEGER NOT NULL DEFAULT 0,
                    num_series INTEGER NOT NULL DEFAULT 0,
                    num_instances INTEGER NOT NULL DEFAULT 0,
                    UNIQUE (PatientID, IssuerOfPatientID)
                );
                CREATE INDEX patient_name ON patient (PatientName_folded);

                CREATE TABLE study (
                    id INTEGER PRIMARY KEY,
                    patient_pk INTEGER NOT NULL REFERENCES patient (id),
                    StudyInstanceUID TEXT NOT NULL UNIQUE,
                    StudyDate TEXT,
                    StudyTime TEXT,
                    AccessionNumber TEXT,
                    StudyID TEXT,
                    ReferringPhysicianName TEXT,
                    ReferringPhysicianName_folded TEXT,
                    StudyDescription TEXT,
                    PatientAge TEXT,
                    ModalitiesInStudy TEXT NOT NULL DEFAULT '',
                    num_series INTEGER NOT NULL DEFAULT 0,
                    num_instances INTEGER NOT NULL DEFAULT 0,
                    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                );
                CREATE INDEX study_patient ON study (patient_pk);
                CREATE INDEX study_date ON study (StudyDate);
                CREATE INDEX study_accession ON study (AccessionNumber);

                CREATE TABLE series (
                    id INTEGER PRIMARY KEY,
                    study_pk INTEGER NOT NULL REFERENCES study (id),
                    SeriesInstanceUID TEXT NOT NULL UNIQUE,
                    Modality TEXT,
                    SeriesNumber INTEGER,
                    SeriesDescription TEXT,
                    BodyPartExamined TEXT,
                    SeriesDate TEXT,
                    SeriesTime TEXT,
                    PerformedProcedureStepStartDate TEXT,
                    PerformedProcedureStepStartTime TEXT,
                    InstitutionName TEXT,
                    StationName TEXT,
                    num_instances INTEGER NOT NULL DEFAULT 0
                );
                CREATE INDEX series_study ON series (study_pk);
                CREATE INDEX series_modality ON series (Modality);

                CREATE TABLE instance (
                    id INTEGER PRIMARY KEY,
                    series_pk INTEGER NOT NULL REFERENCES series (id),
                    SOPInstanceUID TEXT NOT NULL UNIQUE,
                    SOPClassUID TEXT NOT NULL,
                    InstanceNumber INTEGER,
                    ContentDate TEXT,
                    ContentTime TEXT,
                    Rows INTEGER,
                    Columns INTEGER,
                    BitsAllocated INTEGER,
                    NumberOfFrames INTEGER,
                    TransferSyntaxUID TEXT NOT NULL,
                    file_path TEXT NOT NULL,
                    file_size INTEGER NOT NULL,
                    dataset_offset INTEGER NOT NULL,
                    source_ae TEXT,
                    received_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                );
                CREATE INDEX instance_series ON instance (series_pk, InstanceNumber);
                CREATE INDEX instance_class ON instance (SOPClassUID);

                -- The DICOM JSON of each instance (raw DEFLATE), apart so that the instance table
                -- stays compact for queries.
                CREATE TABLE instance_metadata (
                    instance_pk INTEGER PRIMARY KEY REFERENCES instance (id) ON DELETE CASCADE,
                    document BLOB NOT NULL
                );
                """)
        }
        migrator.registerMigration("v2: derivation jobs and derived files") { db in
            try db.execute(sql: """
                -- One row per instance and registered processor, inserted in the transaction that
                -- indexes the instance. Only this table says what is left to derive.
                CREATE TABLE derivation_job (
                    instance_pk INTEGER NOT NULL REFERENCES instance (id) ON DELETE CASCADE,
                    processor TEXT NOT NULL,
                    state TEXT NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'running', 'done', 'failed', 'skipped')),
                    attempts INTEGER NOT NULL DEFAULT 0,
                    not_before REAL NOT NULL DEFAULT 0,     -- Unix time; a retry waits until then
                    last_error TEXT,
                    claim_token INTEGER,                    -- set by each claim; a stale claim cannot complete
                    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
                    PRIMARY KEY (instance_pk, processor)
                ) WITHOUT ROWID;
                CREATE INDEX derivation_job_due ON derivation_job (not_before, instance_pk) WHERE state = 'pending';
                CREATE INDEX derivation_job_state ON derivation_job (state);

                -- Files derived from an instance, kept under derived/ (`path`); `name` is unique
                -- across the archive and is how clients refer to them.
                CREATE TABLE derived_file (
                    instance_pk INTEGER NOT NULL REFERENCES instance (id) ON DELETE CASCADE,
                    kind TEXT NOT NULL,
                    name TEXT NOT NULL UNIQUE,
                    path TEXT NOT NULL,
                    parameters TEXT NOT NULL,               -- JSON: what produced it
                    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
                    PRIMARY KEY (instance_pk, kind)
                );
                """)
        }
        migrator.registerMigration("v3: registered derivation processors") { db in
            // The processors whose jobs every instance has: at open, only a processor missing here
            // makes the archive look for instances without its jobs (a scan of every instance).
            try db.execute(sql: """
                CREATE TABLE derivation_processor (name TEXT PRIMARY KEY) WITHOUT ROWID;
                INSERT INTO derivation_processor (name) SELECT DISTINCT processor FROM derivation_job;
                """)
        }
        migrator.registerMigration("v4: embeddings") { db in
            // One embedding per instance (the latest), as little-endian float16. `seq` grows with
            // every write and is never reused, so a similarity index can catch up with
            // `seq > last seen` and tell a replaced vector from the one it holds.
            try db.execute(sql: """
                CREATE TABLE embedding (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    instance_pk INTEGER NOT NULL UNIQUE REFERENCES instance (id) ON DELETE CASCADE,
                    model TEXT NOT NULL,
                    vector BLOB NOT NULL,
                    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                );
                """)
        }
        migrator.registerMigration("v5: findings and events") { db in
            // What a model concluded about an instance: one finding per instance and kind (the
            // latest), e.g. kind 'anomaly', label 'invalid', reason 'overlay'. `details` is a JSON
            // object with the measurements behind it.
            try db.execute(sql: """
                CREATE TABLE finding (
                    instance_pk INTEGER NOT NULL REFERENCES instance (id) ON DELETE CASCADE,
                    kind TEXT NOT NULL,
                    label TEXT NOT NULL,
                    probability REAL,
                    reason TEXT,
                    model TEXT NOT NULL,
                    details TEXT NOT NULL,
                    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
                    PRIMARY KEY (instance_pk, kind)
                ) WITHOUT ROWID;
                CREATE INDEX finding_by_label ON finding (kind, label);
                """)
            // Events (an image flagged, an alert), written in the transaction of what they report:
            // subscribers (`/api/events`) follow `seq`, which is never reused, and can resume.
            try db.execute(sql: """
                CREATE TABLE event (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    topic TEXT NOT NULL,
                    payload TEXT NOT NULL,
                    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                );
                """)
        }
        migrator.registerMigration("v6: accounts, tokens, sessions, audit trail") { db in
            // Who may use the node. Secrets are stored only as hashes (Argon2id for passwords,
            // SHA-256 for random token and session secrets). `roles` is a comma-separated list;
            // `patients` a JSON array of Patient IDs the holder is limited to, NULL for all.
            try db.execute(sql: """
                CREATE TABLE account (
                    id INTEGER PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    password_hash TEXT NOT NULL,
                    roles TEXT NOT NULL,
                    patients TEXT,
                    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
                    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                );
                CREATE TABLE api_token (
                    id INTEGER PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    secret_hash TEXT NOT NULL UNIQUE,
                    roles TEXT NOT NULL,
                    patients TEXT,
                    created_by TEXT NOT NULL,
                    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
                    expires_at REAL,                        -- Unix time; NULL: never
                    revoked_at TEXT,
                    last_used_at TEXT
                );
                CREATE TABLE login_session (
                    secret_hash TEXT PRIMARY KEY,
                    account_id INTEGER NOT NULL REFERENCES account (id) ON DELETE CASCADE,
                    csrf_token TEXT NOT NULL,
                    address TEXT,
                    created_at REAL NOT NULL,               -- Unix time
                    last_seen_at REAL NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX login_session_account ON login_session (account_id);
                """)
            // The audit trail: append-only (the triggers refuse changes), one row per access to
            // patient data and per security event.
            try db.execute(sql: """
                CREATE TABLE audit (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    at TEXT NOT NULL,
                    actor TEXT NOT NULL,
                    actor_kind TEXT NOT NULL,
                    address TEXT,
                    action TEXT NOT NULL,
                    outcome TEXT NOT NULL,
                    patient_id TEXT,
                    study_uid TEXT,
                    series_uid TEXT,
                    instance_uid TEXT,
                    detail TEXT
                );
                CREATE INDEX audit_at ON audit (at);
                CREATE INDEX audit_actor ON audit (actor, at);
                CREATE INDEX audit_patient ON audit (patient_id, at);
                CREATE INDEX audit_action ON audit (action, at);
                CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
                CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
                """)
            // Alerts (flush events) a clinician has seen to.
            try db.execute(sql: """
                CREATE TABLE alert_acknowledgement (
                    event_seq INTEGER PRIMARY KEY REFERENCES event (seq) ON DELETE CASCADE,
                    actor TEXT NOT NULL,
                    note TEXT,
                    at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                );
                """)
        }
        migrator.registerMigration("v7: finding reviews") { db in
            // A reviewer's verdict on a finding (one per instance and kind, the latest), kept apart
            // from the finding so that a re-run of the model does not erase it; `model` and `label`
            // say what was judged, for training the next model on it.
            try db.execute(sql: """
                CREATE TABLE finding_review (
                    instance_pk INTEGER NOT NULL REFERENCES instance (id) ON DELETE CASCADE,
                    kind TEXT NOT NULL,
                    verdict TEXT NOT NULL CHECK (verdict IN ('confirmed', 'false-alarm')),
                    reviewer TEXT NOT NULL,
                    note TEXT,
                    model TEXT NOT NULL,
                    label TEXT NOT NULL,
                    at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
                    PRIMARY KEY (instance_pk, kind)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v8: files to remove") { db in
            // Files an index change made obsolete (a replaced instance's file and derived files),
            // written in that change's transaction and dropped once the files are gone: after a
            // crash in between, the next open removes them (Archive+Recovery.swift).
            try db.execute(sql: """
                CREATE TABLE removed_file (
                    path TEXT NOT NULL,
                    kind TEXT NOT NULL CHECK (kind IN ('file', 'derived')),
                    PRIMARY KEY (path, kind)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v9: normalized person names and times") { db in
            // Matching compares normalized forms (`1230` is `123000.000000`, `DOE^JOHN^^` is
            // `DOE^JOHN`). Columns filled at ingest, where SQL functions written in Swift normalized
            // every row at every query: PostgreSQL has no such functions, and a column can be indexed.
            for (table, column, vr) in normalizedColumns {
                try db.execute(sql: "ALTER TABLE \(table) ADD COLUMN \(column)_norm TEXT")
                let update = try db.makeStatement(sql: "UPDATE \(table) SET \(column)_norm = ? WHERE id = ?")
                var after: Int64 = 0
                while true {
                    let rows = try Row.fetchAll(db, sql: """
                        SELECT id, \(column) FROM \(table) WHERE id > ? AND \(column) IS NOT NULL ORDER BY id LIMIT 10000
                        """, arguments: [after])
                    guard let last = rows.last else { break }
                    for row in rows { try update.execute(arguments: [IndexWriter.normalized(row[1], vr), row[0]]) }
                    after = last[0]
                }
            }
        }
        return migrator
    }

    /// The attributes matched through a normalized twin column (`StudyTime_norm`), by table.
    static let normalizedColumns: [(table: String, column: String, vr: VR)] = [
        ("patient", "PatientName", .PN), ("patient", "PatientBirthTime", .TM),
        ("study", "StudyTime", .TM), ("study", "ReferringPhysicianName", .PN),
        ("series", "SeriesTime", .TM), ("series", "PerformedProcedureStepStartTime", .TM),
        ("instance", "ContentTime", .TM),
    ]
}
