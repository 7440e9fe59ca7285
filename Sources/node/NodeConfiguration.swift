import Access
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
///   host: 127.0.0.1        # the address listened on; 0.0.0.0 for every one (then allowed_callers is required)
///   port: 11112
///   max_associations: 16
///   acse_timeout: 30
///   dimse_timeout: 60
///   require_called_ae_title: true
///   case_insensitive_person_names: true
///   allowed_callers:       # absent or empty: any caller; else only these, for their services
///     - { ae: CT01, host: 10.0.0.5, services: [echo, store] }
///     - { ae: WORKSTATION }  # every service: echo, store, find, move, get
///     - { ae: MR01, tls: true }   # only over DICOM TLS
///   tls:                   # DICOM TLS (TLS 1.2+, BCP 195) on a port of its own
///     port: 2762
///     certificate: /etc/loupe/dicom.pem
///     private_key: /etc/loupe/dicom.key
///     ca: /etc/loupe/hospital-ca.pem          # trusted to sign callers' and peers' certificates
///     require_client_certificate: true        # mutual TLS
///     match_ae_title_to_certificate: true     # a caller's AE title must be its certificate's CN
///     plain_port: true                        # also serve the plain port
/// http:
///   port: 8080
///   host: 127.0.0.1        # 0.0.0.0 to serve other machines (then tls is required)
///   tls: { certificate: /etc/loupe/https.pem, private_key: /etc/loupe/https.key }   # HTTPS, TLS 1.2+
///   cors_origins: ["*"]     # browsers' origins allowed (OHIF served elsewhere)
///   base_url: https://pacs.example.org/dicom-web   # public URL, when behind a proxy
///   max_upload_mb: 2048    # largest STOW-RS or similarity upload body; larger: 413
///   max_parts: 10000       # most parts in a multipart request; more: 413
///   max_connections: 1000  # connections served at once; more wait until one closes
///   idle_timeout: 30       # seconds without a whole request head or body part (slowloris) or between requests
///   body_timeout: 20       # seconds a request body may take, plus one for every min_body_rate bytes received
///   min_body_rate: 500     # bytes a second; a slower body is answered 408 and closed (0: no minimum)
/// archive:
///   duplicates: keep       # or replace
///   min_free_mb: 256       # refuse stores (0xA700, 507) with less free on the data directory's disk; 0: never
///   max_inflated_mb: 1024  # largest data set a deflated instance may inflate to; larger ones are refused
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
/// audit:                   # forward the audit trail as DICOM Audit Messages (RFC 5424 over TLS, RFC 5425)
///   site: HOSPITAL-A       # AuditEnterpriseSiteID
///   syslog:
///     host: audit.example.org
///     port: 6514
///     ca: /etc/loupe/audit-ca.pem             # trusted to sign the collector's certificate
///     certificate: /etc/loupe/loupe.pem       # Loupe's client certificate (mutual TLS)
///     private_key: /etc/loupe/loupe.key
/// access:
///   roles:                 # redefine a built-in role or add one: name -> permissions
///     triage: [read, search, "events:anomaly"]
///   session: { idle_minutes: 30, absolute_hours: 12 }
///   anonymous: researcher  # the role of HTTP requests without credentials (default: none, they get 401)
///   login_throttle: { max_failures_per_user: 5, max_failures_per_address: 20, window_minutes: 15 }
///   oidc:                  # accept bearer JWTs of the site's OpenID Connect provider
///     issuer: https://sso.example.org/realms/hospital
///     audience: loupe      # this node's client ID (aud, or azp)
///     jwks_url: https://sso.example.org/realms/hospital/protocol/openid-connect/certs   # default: discovered
///     roles_claim: realm_access.roles
///     username_claim: preferred_username
///     role_mapping: { pacs-admins: admin }
///     leeway_seconds: 60
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
    var access: AccessSection?
    var audit: AuditSection?

    struct AuditSection: Decodable {
        var site: String?
        var syslog: SyslogSection?
    }

    struct SyslogSection: Decodable {
        var host: String
        var port: Int?
        var ca: String
        var certificate: String
        var private_key: String
    }

    struct AccessSection: Decodable {
        var roles: [String: [String]]?
        var anonymous: String?
        var session: SessionSection?
        var login_throttle: ThrottleSection?
        var oidc: OIDCSection?
    }

    struct SessionSection: Decodable {
        var idle_minutes: Double?
        var absolute_hours: Double?
    }

    struct ThrottleSection: Decodable {
        var max_failures_per_user: Int?
        var max_failures_per_address: Int?
        var window_minutes: Double?
    }

    struct OIDCSection: Decodable {
        var issuer: String
        var audience: String
        var jwks_url: String?
        var roles_claim: String?
        var username_claim: String?
        var role_mapping: [String: String]?
        var leeway_seconds: Double?
    }

    struct DIMSESection: Decodable {
        var host: String?
        var port: UInt16?
        var tls: DIMSETLSSection?
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
        var services: [String]?
        var tls: Bool?
    }

    struct DIMSETLSSection: Decodable {
        var port: UInt16?
        var certificate: String
        var private_key: String
        var ca: String?
        var require_client_certificate: Bool?
        var match_ae_title_to_certificate: Bool?
        var plain_port: Bool?
    }

    struct HTTPTLSSection: Decodable {
        var certificate: String
        var private_key: String
    }

    struct HTTPSection: Decodable {
        var port: UInt16?
        var host: String?
        var tls: HTTPTLSSection?
        var cors_origins: [String]?
        var base_url: String?
        var max_upload_mb: Int?
        var max_parts: Int?
        var max_connections: Int?
        var idle_timeout: Int?
        var body_timeout: Int?
        var min_body_rate: Int?
    }

    struct ArchiveSection: Decodable {
        var duplicates: DuplicatePolicy?
        var min_free_mb: Int64?
        var max_inflated_mb: Int?
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
    var access: AccessConfiguration
    /// Where the audit trail is forwarded besides the index; nil: nowhere.
    var syslog: SyslogConfiguration?
    var logLevel: String
    var logFormat: String
}
