import Access
import ArgumentParser
import Archive
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `loupe user add|passwd|roles|list|remove`: the node's local users, kept in the archive.
struct Users: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Manage local users (passwords are stored as Argon2id hashes).",
        subcommands: [Add.self, Passwd.self, SetRoles.self, List.self, Remove.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user.")
        @OptionGroup var options: CommonOptions
        @Argument(help: "User name.") var name: String
        @Option(name: .customLong("role"), help: "A role (repeatable): admin, radiologist, clinician, nurse, researcher, camera, modality, or one the configuration defines.")
        var roles: [String] = []
        @Option(name: .customLong("patient"), help: "Limit the user to this Patient ID (repeatable).") var patients: [String] = []
        @Flag(help: "Read the password from the first line of standard input instead of asking.") var passwordStdin = false

        func run() throws {
            let access = try AccessCommand.open(options)
            let password = try AccessCommand.newPassword(fromStandardInput: passwordStdin)
            try AccessCommand.perform { () throws(AccessError) in
                try access.addUser(name: name, password: password, roles: roles, patients: patients.isEmpty ? nil : patients,
                                   actor: AccessCommand.localOperator)
            }
            print("user \(name) added with roles \(roles.joined(separator: ", "))")
        }
    }

    struct Passwd: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a user's password (ends the user's sessions).")
        @OptionGroup var options: CommonOptions
        @Argument(help: "User name.") var name: String
        @Flag(help: "Read the password from the first line of standard input instead of asking.") var passwordStdin = false

        func run() throws {
            let access = try AccessCommand.open(options)
            let password = try AccessCommand.newPassword(fromStandardInput: passwordStdin)
            try AccessCommand.perform { () throws(AccessError) in
                try access.setPassword(name: name, password: password, actor: AccessCommand.localOperator)
            }
            print("password of \(name) changed")
        }
    }

    struct SetRoles: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "roles", abstract: "Set a user's roles.")
        @OptionGroup var options: CommonOptions
        @Argument(help: "User name.") var name: String
        @Option(name: .customLong("role"), help: "A role (repeatable).") var roles: [String] = []

        func run() throws {
            let access = try AccessCommand.open(options)
            try AccessCommand.perform { () throws(AccessError) in
                try access.setRoles(name: name, roles: roles, actor: AccessCommand.localOperator)
            }
            print("roles of \(name): \(roles.joined(separator: ", "))")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users and their roles.")
        @OptionGroup var options: CommonOptions

        func run() throws {
            let access = try AccessCommand.open(options)
            let users = try AccessCommand.perform { () throws(AccessError) in try access.users() }
            for user in users {
                let patients = user.patients.map { " patients=\($0.joined(separator: ","))" } ?? ""
                print("\(user.name)\troles=\(user.roles.joined(separator: ","))\(patients)\tcreated=\(user.createdAt)")
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a user (and end its sessions).")
        @OptionGroup var options: CommonOptions
        @Argument(help: "User name.") var name: String

        func run() throws {
            let access = try AccessCommand.open(options)
            try AccessCommand.perform { () throws(AccessError) in try access.removeUser(name: name, actor: AccessCommand.localOperator) }
            print("user \(name) removed")
        }
    }
}

/// What the user and token commands share.
enum AccessCommand {
    static func open(_ options: CommonOptions) throws -> AccessControl {
        let config = try options.resolve()
        LogSetup.bootstrap(level: "warning", format: config.logFormat)
        let archive = try Archive(configuration: config.archive)
        return AccessControl(archive: archive, configuration: config.access)
    }

    /// The person at the command line, as the audit trail records changes made there.
    static var localOperator: AuditRecord {
        let account = getpwuid(getuid()).map { String(cString: $0.pointee.pw_name) } ?? "uid \(getuid())"
        // sudo says who asked; the environment can claim anything, so it is only a detail.
        let via = ProcessInfo.processInfo.environment["SUDO_USER"].map { " (sudo by \($0))" } ?? ""
        return AuditRecord(actor: "cli:\(account)", actorKind: .system, address: nil, action: .userChanged, detail: via.isEmpty ? nil : via)
    }

    static func perform<T>(_ work: () throws(AccessError) -> T) throws -> T {
        do { return try work() } catch { throw ValidationError(error.message) }
    }

    /// A new password: the first line of standard input, or asked twice at the terminal.
    static func newPassword(fromStandardInput: Bool) throws -> String {
        if fromStandardInput {
            guard let line = readLine(strippingNewline: true), !line.isEmpty else { throw ValidationError("no password on standard input") }
            return line
        }
        guard isatty(STDIN_FILENO) == 1 else { throw ValidationError("not at a terminal: give --password-stdin and the password on standard input") }
        guard let first = getpass("New password: ").map({ String(cString: $0) }),
              let second = getpass("Again: ").map({ String(cString: $0) }) else { throw ValidationError("no password given") }
        guard first == second else { throw ValidationError("the passwords differ") }
        return first
    }
}
