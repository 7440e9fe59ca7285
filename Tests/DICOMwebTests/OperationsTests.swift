import Access
import Archive
@testable import DICOMweb
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Prometheus
import Testing

/// `/readyz` and `/metrics`: readiness follows the similarity index; the metrics carry the queue
/// as the index has it, the disk, and what was counted into the registry; only `metrics` reads them.
@Suite struct OperationsTests {
    @Test func metricsShowTheQueueAndTheDiskToThoseAllowed() async throws {
        let fixture = try WebFixture()
        let registry = PrometheusCollectorRegistry()
        registry.makeCounter(name: "loupe_dimse_requests_total", labels: [("service", "C-STORE"), ("status", "0x0000")]).increment(by: Int64(3))
        let service = DICOMwebService(archive: fixture.store.archive, access: fixture.access, configuration: DICOMwebConfiguration(),
                                      metrics: registry)
        let actor = AuditRecord(actor: "test", actorKind: .system, address: nil, action: .tokenChanged)
        let (_, monitor) = try fixture.access.createToken(name: "prometheus", roles: ["monitor"], actor: actor)
        let (_, researcher) = try fixture.access.createToken(name: "researcher", roles: ["researcher"], actor: actor)
        let app = Application(router: service.router())
        try await app.test(.router) { client in
            let response = try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer \(monitor)"])
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
            let text = String(buffer: response.body)
            // Six instances, each with its PNG job pending (no worker runs here).
            #expect(text.contains(#"loupe_derivation_jobs{processor="png",state="pending"} 6"#), "\(text)")
            #expect(text.contains(#"loupe_derivation_jobs{processor="png",state="failed"} 0"#))
            #expect(text.contains(#"loupe_dimse_requests_total{service="C-STORE",status="0x0000"} 3"#))
            let free = try #require(text.split(separator: "\n").first { $0.hasPrefix("loupe_disk_free_bytes ") })
            #expect((Double(free.split(separator: " ")[1]) ?? 0) > 0)
            #expect(text.contains("loupe_derivation_lag_seconds{processor=\"png\"}"))
            let refused = try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer \(researcher)"])
            #expect(refused.status == .forbidden)
            let anonymous = try await client.execute(uri: "/metrics", method: .get)
            #expect(anonymous.status == .unauthorized)
        }
    }

    @Test func readyOnceTheSimilarityIndexIsLoadedOrKnownUnavailable() async throws {
        let fixture = try WebFixture()
        let similarity = SimilarityProvider()  // loading
        let service = DICOMwebService(archive: fixture.store.archive, access: fixture.access, configuration: DICOMwebConfiguration(),
                                      similarity: similarity)
        let app = Application(router: service.router())
        try await app.test(.router) { client in
            #expect(try await client.execute(uri: "/readyz", method: .get).status == .serviceUnavailable)
            #expect(try await client.execute(uri: "/healthz", method: .get).status == .ok)
            similarity.unavailable("no model")
            let ready = try await client.execute(uri: "/readyz", method: .get)
            #expect(ready.status == .ok && String(buffer: ready.body) == "ready\n")
        }
    }
}
