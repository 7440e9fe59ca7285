import Access
import Archive
import Foundation
import Hummingbird

/// What the admin screen shows and does (all `admin`): `GET /api/derivations/failed` (jobs that
/// failed for good), `POST /api/derivations/retry` (`{"instance": UID, "processor": NAME}`, both
/// optional: without an instance every failed job), `GET /api/peers` and
/// `POST /api/peers/{name}/echo` (a C-ECHO), `GET /api/accounts` (users and tokens, no secrets).
extension DICOMwebService {
    func addAdminRoutes(to router: Router<Context>) {
        router.get("api/derivations/failed") { request, _ in
            let limit = try RequestQuery(request.uri.query).integer("limit") ?? 100
            guard (1...1000).contains(limit) else { throw WebError.badRequest("limit must be between 1 and 1000") }
            let archive = self.archive
            return try jsonResponse(try await blocking { () throws -> [FailedDerivation] in
                do throws(DerivationError) { return try archive.failedDerivations(limit: limit) } catch { throw WebError.internalError(error.description) }
            })
        }
        router.post("api/derivations/retry") { request, _ in
            var request = request
            let body = try await request.collectBody(upTo: 16 * 1024)
            let retry = try PostedFields(body: body, contentType: request.headers[.contentType],
                                         example: #"{"instance": "SOP Instance UID", "processor": "png"} (both optional)"#)
            let archive = self.archive
            let requeued = try await blocking { () throws -> Int in
                do throws(DerivationError) {
                    if let instance = retry["instance"] {
                        return try archive.requeueDerivations(.instance(sopInstanceUID: instance), processors: retry["processor"].map { [$0] })
                    }
                    return try archive.requeueDerivations(.failed, processors: retry["processor"].map { [$0] })
                } catch {
                    throw WebError.badRequest(error.description)
                }
            }
            return try jsonResponse(["requeued": requeued])
        }
        router.get("api/peers") { _, _ in try jsonResponse(peers.peers) }
        router.post("api/peers/:name/echo") { _, context in
            let name = try context.parameters.require("name")
            guard let peer = peers.peers.first(where: { $0.name == name }) else { throw WebError.notFound("no peer named \(name)") }
            let echo = peers.echo
            return try jsonResponse(try await blocking { echo(peer) })
        }
        router.get("api/accounts") { _, _ in
            let archive = self.archive
            let (users, tokens) = try await blocking { () throws -> ([AccountRecord], [TokenRecord]) in
                do throws(AccessRecordError) { return (try archive.accounts(), try archive.tokens()) } catch {
                    throw WebError.internalError(error.description)
                }
            }
            return try jsonResponse(Accounts(users: users.map(Accounts.User.init), tokens: tokens.map(Accounts.Token.init)))
        }
    }

    /// Users and API tokens as the admin screen lists them: never a hash.
    struct Accounts: Encodable {
        let users: [User]
        let tokens: [Token]

        struct User: Encodable {
            let name: String
            let roles: [String]
            let patients: [String]?
            let created: String
            let updated: String
            init(_ record: AccountRecord) {
                (name, roles, patients, created, updated) = (record.name, record.roles, record.patients, record.createdAt, record.updatedAt)
            }
        }

        struct Token: Encodable {
            let name: String
            let roles: [String]
            let patients: [String]?
            let createdBy: String
            let created: String
            let expires: String?
            let revoked: String?
            let lastUsed: String?
            init(_ record: TokenRecord) {
                (name, roles, patients, createdBy, created) = (record.name, record.roles, record.patients, record.createdBy, record.createdAt)
                (revoked, lastUsed) = (record.revokedAt, record.lastUsedAt)
                expires = record.expiresAt.map { ISO8601DateFormatter.string(from: $0, timeZone: .gmt, formatOptions: [.withInternetDateTime]) }
            }
        }
    }
}
