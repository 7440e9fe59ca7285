import Archive
import Classifier
import DICOMweb
import DIMSE
import Featurizer
import Foundation
import Yams

/// The node's configuration file (YAML). Every key is optional; flags override the file.
///
/// ```yaml
/// data: ./loupe-data
/// ae_title: LOUPE
/// log_level: info          # trace, debug, info, notice, warning, error
/// log_format: text         # or json
/// dimse:
///   port: 11112
///   max_associations: 16
///   acse_timeout: 30
///   dimse_timeout: 60
///   require_called_ae_title: true
///   case_insensitive_person_names: true
///   allowed_callers:       # absent or empty: any caller
///     - { ae: CT01, host: 10.0.0.5 }
/// http:
///   port: 8080
///   host: 127.0.0.1        # 0.0.0.0 to serve other machines
///   cors_origins: ["*"]     # browsers' origins allowed (OHIF served elsewhere)
///   base_url: https://pacs.example.org/dicom-web   # public URL, when behind a proxy
/// archive:
///   duplicates: keep       # or replace
/// derivation:
///   workers: 2             # threads deriving PNGs etc. after ingest; default: one per core; 0: paused
///   max_attempts: 5        # a failing derivation is retried this often, then recorded as failed
///   retry_delay: 1         # seconds before the first retry; each further one waits 4x longer
/// similarity:
///   model: ./models/efficientnet-lite0.weights   # default: models/ in the working directory or above the binary
///   hnsw_threshold: 20000  # from this many vectors on, search is approximate (HNSW) instead of exact
///   ef_search: 256         # HNSW candidates per query: recall against latency
/// events:
///   retention_days: 30     # /api/events history kept; 0: for ever
/// flush:                   # flush photo levels: erythema-index rise over the patient's baseline
///   mild: 4
///   marked: 10
/// mqtt:                    # alerts (topic flush) also published to a broker, as loupe/alerts/flush/{PatientID}
///   host: 127.0.0.1
///   port: 1883
///   client_id: loupe       # default: loupe-{AE title}
///   username: loupe        # optional, with password
///   password: secret
/// peers:                   # NAME: AE@HOST:PORT (NAME is the move destination users give)
///   STORESCP: STORESCP@127.0.0.1:11113
/// ```
struct ConfigurationFile: Decodable {
    var data: String?
    var ae_title: String?
    var log_level: String?
    var log_format: String?
    var dimse: DIMSESection?
    var http: HTTPSection?
    var archive: ArchiveSection?
    var derivation: DerivationSection?
    var similarity: SimilaritySection?
    var events: EventsSection?
    var flush: FlushSection?
    var mqtt: MQTTSection?
    var peers: [String: String]?

    struct DIMSESection: Decodable {
        var port: UInt16?
        var max_associations: Int?
        var acse_timeout: Int?
        var dimse_timeout: Int?
        var require_called_ae_title: Bool?
        var case_insensitive_person_names: Bool?
        var allowed_callers: [Caller]?
    }

    struct Caller: Decodable {
        var ae: String
        var host: String?
    }

    struct HTTPSection: Decodable {
        var port: UInt16?
        var host: String?
        var cors_origins: [String]?
        var base_url: String?
    }

    struct ArchiveSection: Decodable {
        var duplicates: DuplicatePolicy?
    }

    struct DerivationSection: Decodable {
        var workers: Int?
        var max_attempts: Int?
        var retry_delay: Double?
    }

    struct FlushSection: Decodable {
        var mild: Double?
        var marked: Double?
    }

    struct MQTTSection: Decodable {
        var host: String
        var port: Int?
        var client_id: String?
        var username: String?
        var password: String?
    }

    struct EventsSection: Decodable {
        var retention_days: Int?
    }

    struct SimilaritySection: Decodable {
        var model: String?
        var hnsw_threshold: Int?
        var ef_search: Int?
    }

    static func load(_ path: String) throws -> ConfigurationFile {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try YAMLDecoder().decode(ConfigurationFile.self, from: text)
    }
}

/// Everything `serve` needs, after the file and the flags are merged.
struct NodeConfiguration {
    var dataDirectory: URL
    var archive: ArchiveConfiguration
    var dimse: DIMSEConfiguration
    var web: DICOMwebConfiguration
    /// Derivation worker threads; 0: jobs queue up until a node with workers (or `loupe reprocess`) runs.
    var derivationWorkers: Int
    /// EfficientNet-Lite0 weights (`make model`).
    var modelWeights: URL
    var vectorIndex: VectorIndex.Configuration
    /// Days of event history kept; 0: for ever.
    var eventRetentionDays: Int
    var flushThresholds: FlushThresholds
    /// Where alerts are published besides /api/events; nil: nowhere.
    var mqtt: MQTTConfiguration?
    var logLevel: String
    var logFormat: String
}
