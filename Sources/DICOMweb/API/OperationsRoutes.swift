import Access
import Archive
import Foundation
import Hummingbird
import Prometheus

/// What an operator's tools read: `/healthz` (alive: the index answers), `/readyz` (serving fully:
/// the index answers and the similarity index is loaded, or known to be unavailable) and `/metrics`
/// (Prometheus text format: what the node counted through swift-metrics, with the queue, the
/// similarity index and the disk read at each scrape).
extension DICOMwebService {
    func addOperationsRoutes(to router: Router<Context>) {
        router.get("healthz") { _, _ in
            try await requireIndex(or: WebError.internalError)
            return Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "ok\n")))
        }
        router.get("readyz") { _, _ in
            try await requireIndex(or: WebError.unavailable)
            if self.similarity.isLoading { throw WebError.unavailable("the similarity index is loading") }
            return Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "ready\n")))
        }
        router.get("metrics") { _, _ in
            let archive = self.archive, registry = self.metrics
            let status = try await blocking { () throws -> QueueStatus in
                do throws(DerivationError) { return try archive.queueStatus() } catch { throw WebError.unavailable(error.description) }
            }
            Self.record(status, disk: archive.diskSpace(), vectors: self.similarity.vectorCount, into: registry)
            var text = [UInt8]()
            registry.emit(into: &text)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: text)))
        }
    }

    /// Throws `error` unless the index answers: a read of its migration table, no counting (unlike
    /// `/api/stats`).
    private func requireIndex(or refusal: @escaping @Sendable (String) -> HTTPError) async throws {
        let archive = self.archive
        _ = try await blocking { () throws -> [String] in
            do { return try archive.appliedMigrations() } catch { throw refusal("the index does not answer: \(error)") }
        }
    }

    /// The values read at each scrape, as gauges.
    static func record(_ status: QueueStatus, disk: (free: Int64, size: Int64)?, vectors: Int?, into registry: PrometheusCollectorRegistry) {
        for processor in status.processors {
            for (state, count) in [("pending", processor.pending), ("running", processor.running), ("failed", processor.failed)] {
                registry.makeGauge(name: "loupe_derivation_jobs", labels: [("processor", processor.name), ("state", state)],
                                   help: "Derivation jobs by processor and state (done jobs are not counted)").set(Double(count))
            }
            registry.makeGauge(name: "loupe_derivation_lag_seconds", labels: [("processor", processor.name)],
                               help: "Age of the oldest derivation job still to do").set(processor.lagSeconds)
        }
        // Every known topic, so a topic whose events all expired reads 0 rather than its last count.
        for topic in Set(Permission.eventTopics).union(status.events.keys) {
            registry.makeGauge(name: "loupe_events", labels: [("topic", topic)],
                               help: "Events (findings, alerts) kept in the event log").set(Double(status.events[topic] ?? 0))
        }
        registry.makeGauge(name: "loupe_similarity_index_vectors", help: "Embeddings in the similarity index (0 while it loads)")
            .set(Double(vectors ?? 0))
        if let disk {
            registry.makeGauge(name: "loupe_disk_free_bytes", help: "Space left to unprivileged writers on the data directory's file system")
                .set(Double(disk.free))
            registry.makeGauge(name: "loupe_disk_size_bytes", help: "Size of the data directory's file system").set(Double(disk.size))
        }
    }
}
