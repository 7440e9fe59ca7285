import Access
import Archive
import Foundation
import HTTPTypes
import Hummingbird
import ServiceLifecycle

/// `GET /api/events`: server-sent events (text/event-stream) from the archive's event log, as they
/// are written (by this node's derivations or by `loupe reprocess`). `topic=` (repeatable or
/// comma-separated) filters; a reconnecting client's `Last-Event-ID` (or `since=SEQ`) resumes after
/// that event, else the stream starts with the next one. A subscriber gets only the topics it has
/// `events:<topic>` for, and only events of its patients when it is limited to some.
extension DICOMwebService {
    static let eventPollInterval: Duration = .milliseconds(200)
    /// Also how soon a stream notices a client that left (writing fails).
    static let eventHeartbeat: Duration = .seconds(5)
    /// How often a stream checks its credential again: a revoked token, an ended session or changed
    /// roles end (or narrow) it within this time.
    static let eventReauthentication: Duration = .seconds(10)

    func addEventRoutes(to router: Router<Context>) {
        router.get("api/events") { request, context in
            let identity = try context.requester
            let query = RequestQuery(request.uri.query)
            let asked = Set(query.all("topic").flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty })
            let permitted = Set(Permission.eventTopics.filter { identity.may(.events($0)) })
            if let refused = asked.subtracting(permitted).sorted().first {
                throw HTTPError(.forbidden, message: "\(identity.name) may not subscribe to topic \(refused) (needs events:\(refused))")
            }
            let topics = asked.isEmpty ? permitted : asked
            let resume = request.headers[HTTPField.Name("Last-Event-ID")!] ?? query["since"]
            let archive = self.archive
            let start: Int64
            if let resume {
                guard let sequence = Int64(resume), sequence >= 0 else {
                    throw WebError.badRequest("Last-Event-ID / since must be an event id (a non-negative integer), not '\(resume)'")
                }
                start = sequence
            } else {
                start = try await blocking { () throws -> Int64 in
                    do throws(DerivationError) { return try archive.lastEventSequence() } catch { throw WebError.internalError(error.description) }
                }
            }
            let filter: Set<String>? = identity.may(.events("*")) && asked.isEmpty ? nil : topics
            let credential = context.credential, address = context.peerAddress, access = self.access
            let body = ResponseBody { writer in
                var cursor = start
                var quiet = ContinuousClock.now
                var current = identity
                var checked = ContinuousClock.now
                // Tells the client how long to wait before reconnecting, and that the stream is open.
                try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    if let credential, ContinuousClock.now - checked > Self.eventReauthentication {
                        checked = .now
                        do throws(AccessError) {
                            current = try await access.authenticate(credential, address: address)
                        } catch {
                            break  // the credential no longer holds: the stream ends, the client must sign in again
                        }
                    }
                    let after = cursor
                    let page = try await blocking { () throws -> EventPage in
                        do throws(DerivationError) { return try archive.events(after: after, topics: filter) } catch {
                            throw WebError.internalError(error.description)
                        }
                    }
                    let events = page.events.filter { current.may(.events($0.topic)) && current.mayAccess(patient: $0.patientID) }
                    for event in events {
                        try await writer.write(ByteBuffer(string: Self.serverSentEvent(event)))
                    }
                    cursor = page.through
                    if !events.isEmpty {
                        quiet = .now
                    } else if ContinuousClock.now - quiet > Self.eventHeartbeat {
                        try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                        quiet = .now
                    }
                    if events.isEmpty { try await Task.sleep(for: Self.eventPollInterval) }
                }
                try await writer.finish(nil)
            }
            return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
        }
    }

    /// One event in the text/event-stream format: id, event (the topic), data (one line of JSON).
    static func serverSentEvent(_ event: StoredEvent) -> String {
        "id: \(event.sequence)\nevent: \(event.topic)\ndata: \(event.payload)\n\n"
    }
}
