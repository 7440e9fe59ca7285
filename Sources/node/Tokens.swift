import Access
import ArgumentParser
import Archive
import Foundation

/// `loupe token create|list|revoke`: API tokens for devices and scripts (a bedside camera, a
/// modality's STOW, a research notebook), sent as `Authorization: Bearer …`.
struct Tokens: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Manage API tokens (secrets are shown once and stored hashed).",
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a token and print its secret (once).")
        @OptionGroup var options: CommonOptions
        @Option(help: "The token's name (e.g. bed-12).") var name: String
        @Option(name: .customLong("role"), help: "A role (repeatable), e.g. camera, modality, researcher.") var roles: [String] = []
        @Option(help: "Lifetime (90d, 12h, 30m) or an ISO 8601 date. Default: no expiry.") var expires: String?
        @Option(name: .customLong("patient"), help: "Limit the token to this Patient ID (repeatable).") var patients: [String] = []

        func run() throws {
            let access = try AccessCommand.open(options)
            let expiry = try expires.map(Self.expiry)
            let (token, secret) = try AccessCommand.perform { () throws(AccessError) in
                try access.createToken(name: name, roles: roles, expires: expiry, patients: patients.isEmpty ? nil : patients,
                                       actor: AccessCommand.localOperator)
            }
            print(secret)
            var note = "token \(token.name) (roles \(token.roles.joined(separator: ",")))"
            if let expiry { note += ", expires \(ISO8601DateFormatter().string(from: expiry))" }
            FileHandle.standardError.write(Data("\(note): the secret above is shown only now\n".utf8))
        }

        /// `90d`, `12h`, `30m` from now, or an ISO 8601 date (`2027-03-01`) or date-time.
        static func expiry(_ text: String) throws -> Date {
            let units: [Character: Double] = ["d": 86_400, "h": 3600, "m": 60]
            if let unit = text.last.flatMap({ units[$0] }), let count = Double(text.dropLast()), count > 0 {
                return Date(timeIntervalSinceNow: count * unit)
            }
            let day = ISO8601DateFormatter()
            day.formatOptions = [.withFullDate]
            if let date = ISO8601DateFormatter().date(from: text) ?? day.date(from: text) { return date }
            throw ValidationError("--expires takes 90d, 12h, 30m or an ISO 8601 date, not '\(text)'")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (never their secrets).")
        @OptionGroup var options: CommonOptions

        func run() throws {
            let access = try AccessCommand.open(options)
            let tokens = try AccessCommand.perform { () throws(AccessError) in try access.tokens() }
            let now = Date()
            for token in tokens {
                let state = token.revokedAt.map { "revoked \($0)" }
                    ?? token.expiresAt.map { $0 <= now ? "expired" : "expires \(ISO8601DateFormatter().string(from: $0))" } ?? "active"
                let patients = token.patients.map { " patients=\($0.joined(separator: ","))" } ?? ""
                print("\(token.name)\troles=\(token.roles.joined(separator: ","))\(patients)\t\(state)\tcreated=\(token.createdAt) by \(token.createdBy)"
                      + "\tlast used=\(token.lastUsedAt ?? "never")")
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token (refused at once, by every node).")
        @OptionGroup var options: CommonOptions
        @Argument(help: "The token's name.") var name: String

        func run() throws {
            let access = try AccessCommand.open(options)
            try AccessCommand.perform { () throws(AccessError) in try access.revokeToken(name: name, actor: AccessCommand.localOperator) }
            print("token \(name) revoked")
        }
    }
}
