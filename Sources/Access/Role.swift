/// A named set of permissions, from the clinical workflows Loupe serves.
public struct Role: Sendable, Equatable {
    public let name: String
    public let permissions: PermissionSet

    public init(name: String, permissions: PermissionSet) {
        self.name = name
        self.permissions = permissions
    }

    /// The roles every node has (each can be redefined in the configuration file).
    public static let builtIn: [Role] = [
        Role(name: "admin", permissions: PermissionSet(["*"])),
        Role(name: "radiologist", permissions: PermissionSet([Permission.read, .search, .similar, .phi, .reviewFindings,
                                                              .events("anomaly")])),
        // Compares a lesion with the archive's (similar) as well.
        Role(name: "clinician", permissions: PermissionSet([Permission.read, .search, .similar, .phi, .photos, .acknowledgeAlerts,
                                                            .events("flush")])),
        // Flush watch on a ward: posts photos, sees the patients' photos (not their other images) and alerts.
        Role(name: "nurse", permissions: PermissionSet([Permission.photos, .readPhotos, .phi, .events("flush"), .acknowledgeAlerts])),
        // Searches and compares images; sees no patient names unless also given `phi`.
        Role(name: "researcher", permissions: PermissionSet([Permission.read, .search, .similar])),
        Role(name: "camera", permissions: PermissionSet([Permission.photos])),
        Role(name: "modality", permissions: PermissionSet([Permission.store])),
        // What Prometheus scrapes with.
        Role(name: "monitor", permissions: PermissionSet([Permission.metrics])),
    ]
}

/// The roles in force: the built-in ones, with those the configuration redefines or adds.
public struct RoleCatalog: Sendable {
    public let roles: [String: Role]

    /// `definitions` maps a role name to permission names; an unknown permission is an error.
    public init(definitions: [String: [String]] = [:]) throws(AccessError) {
        var roles = Dictionary(uniqueKeysWithValues: Role.builtIn.map { ($0.name, $0) })
        for (name, permissions) in definitions {
            guard Self.isValidName(name) else { throw AccessError.configuration("role name '\(name)' is not a word (letters, digits, - and _)") }
            if let unknown = permissions.first(where: { !Permission.isValid($0) }) {
                throw AccessError.configuration("role \(name): unknown permission '\(unknown)' (known: *, events:*, "
                    + (Permission.known.map(\.rawValue) + Permission.eventTopics.map { "events:\($0)" }).joined(separator: ", ") + ")")
            }
            roles[name] = Role(name: name, permissions: PermissionSet(permissions))
        }
        self.roles = roles
    }

    /// The union of the named roles' permissions; an unknown role is an error.
    public func permissions(of names: [String]) throws(AccessError) -> PermissionSet {
        var set = PermissionSet([String]())
        for name in names {
            guard let role = roles[name] else { throw AccessError.unknownRole(name, known: roles.keys.sorted()) }
            set.formUnion(role.permissions)
        }
        return set
    }

    /// Checks role names given on the command line.
    public func validate(_ names: [String]) throws(AccessError) {
        guard !names.isEmpty else { throw AccessError.configuration("give at least one role (known: \(roles.keys.sorted().joined(separator: ", ")))") }
        _ = try permissions(of: names)
    }

    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64 && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
    }
}
