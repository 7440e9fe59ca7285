/// A right to do something on the node. Roles are sets of them; routes and DIMSE services each
/// need one (`AccessTable`).
public struct Permission: RawRepresentable, Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }

    /// Retrieve instances, metadata, frames, rendered and derived images, analyses.
    public static let read = Permission("read")
    /// Archive instances (STOW-RS, C-STORE).
    public static let store = Permission("store")
    /// Post clinical photographs (`/api/photos`).
    public static let photos = Permission("photos")
    /// Read and search clinical photographs only (series of modality XC or DMS), and their analyses:
    /// the flush watch of a ward, without the rest of the archive.
    public static let readPhotos = Permission("photos:read")
    /// Remove instances (no route removes any yet: reserved, so roles can already be defined with it).
    public static let delete = Permission("delete")
    /// Search the archive (QIDO-RS, C-FIND, patients, counts).
    public static let search = Permission("search")
    /// "Images like this one" (`/api/similar`).
    public static let similar = Permission("similar")
    /// See who a patient is (names, birth dates) in search results; without it they are removed.
    public static let phi = Permission("phi")
    /// Give verdicts on what the models found (the anomaly review queue).
    public static let reviewFindings = Permission("findings:review")
    /// Mark an alert as seen to.
    public static let acknowledgeAlerts = Permission("alerts:acknowledge")
    /// Administer the node: the audit trail, failed derivations (and their retry), peers (C-ECHO), the
    /// list of users and tokens (they are managed at the command line, on the archive).
    public static let admin = Permission("admin")
    /// Read the node's operational metrics (`/metrics`: counts, latencies, queue depths; no patient data).
    public static let metrics = Permission("metrics")

    /// Subscribe to the events of one topic (`anomaly`, `flush`).
    public static func events(_ topic: String) -> Permission { Permission("events:\(topic)") }

    /// Every permission the node knows by name (topics aside); used to check configured roles.
    public static let known: [Permission] = [.read, .store, .photos, .readPhotos, .delete, .search, .similar, .phi, .reviewFindings,
                                             .acknowledgeAlerts, .admin, .metrics]
    /// Event topics the node publishes.
    public static let eventTopics = ["anomaly", "flush"]

    /// Whether a permission name is one the node knows, or a wildcard (`*`, `events:*`).
    public static func isValid(_ name: String) -> Bool {
        name == "*" || name == "events:*" || known.contains(Permission(name))
            || eventTopics.contains { "events:\($0)" == name }
    }

    public var description: String { rawValue }
    public static func < (a: Permission, b: Permission) -> Bool { a.rawValue < b.rawValue }
}

/// The permissions of an identity: the union of its roles'. `*` grants everything and `events:*`
/// every topic.
public struct PermissionSet: Sendable, Equatable, CustomStringConvertible {
    public private(set) var names: Set<String>

    public init(_ names: some Sequence<String>) { self.names = Set(names) }
    public init(_ permissions: [Permission]) { self.names = Set(permissions.map(\.rawValue)) }

    public func contains(_ permission: Permission) -> Bool {
        if names.contains("*") || names.contains(permission.rawValue) { return true }
        return permission.rawValue.hasPrefix("events:") && names.contains("events:*")
    }

    public mutating func formUnion(_ other: PermissionSet) { names.formUnion(other.names) }

    public var description: String { names.sorted().joined(separator: ",") }
}
