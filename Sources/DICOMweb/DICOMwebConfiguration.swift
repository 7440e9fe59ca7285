/// HTTPS: a PEM certificate (chain) and its private key.
public struct HTTPTLSConfiguration: Sendable, Equatable {
    public var certificateFile: String
    public var privateKeyFile: String
    public init(certificateFile: String, privateKeyFile: String) {
        self.certificateFile = certificateFile
        self.privateKeyFile = privateKeyFile
    }
}

/// How the HTTP service runs.
public struct DICOMwebConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// HTTPS (TLS 1.2 or newer); nil: plain HTTP.
    public var tls: HTTPTLSConfiguration?
    /// Origins allowed to call from a browser (`*` for any); empty: no CORS headers.
    public var corsOrigins: [String]
    /// The public URL of the DICOMweb root (e.g. behind a proxy); nil: derived from each request.
    public var baseURL: String?
    /// PN matching ignores case and accents even without `fuzzymatching=true`.
    public var caseInsensitivePersonNames: Bool
    /// Largest STOW-RS or similarity upload body accepted (photos have their own, smaller bound).
    public var maxUploadBytes: Int
    /// Most parts a multipart request may have.
    public var maxParts: Int
    /// Connections served at once; more wait in the listen backlog until one closes.
    public var maxConnections: Int
    /// Seconds a connection may go without a whole request head or body part (or, between
    /// requests, without any request) before it is closed: a client sending its headers a byte at a
    /// time (slowloris) holds its connection no longer.
    public var idleTimeoutSeconds: Int
    /// The slowest request body waited for.
    public var bodyRate = BodyRate()

    public init(host: String = "127.0.0.1", port: Int = 8080, tls: HTTPTLSConfiguration? = nil, corsOrigins: [String] = [],
                baseURL: String? = nil, caseInsensitivePersonNames: Bool = true, maxUploadBytes: Int = 2 << 30,
                maxParts: Int = 10_000, maxConnections: Int = 1_000, idleTimeoutSeconds: Int = 30) {
        self.host = host
        self.port = port
        self.tls = tls
        self.corsOrigins = corsOrigins
        self.baseURL = baseURL
        self.caseInsensitivePersonNames = caseInsensitivePersonNames
        self.maxUploadBytes = maxUploadBytes
        self.maxParts = maxParts
        self.maxConnections = maxConnections
        self.idleTimeoutSeconds = idleTimeoutSeconds
    }

    /// Path of the DICOMweb root.
    public static let rootPath = "/dicom-web"
}
