import Foundation
import Metrics
import Synchronization

/// What the DIMSE service counts, through swift-metrics (`loupe serve` exports it at `/metrics`).
/// Labels are bounded: service names, status codes, a few rejection reasons; never AE titles or UIDs.
enum DIMSEMetrics {
    private static let associationsOpen = Meter(label: "loupe_dimse_associations_open")
    /// The associations counted open, by id: one accepted by the policy may still end in a
    /// rejection (no acceptable presentation context), and must leave the count all the same.
    private static let open = Mutex(Set<UInt64>())

    static func accepted(_ id: UInt64) {
        if open.withLock({ $0.insert(id).inserted }) { associationsOpen.increment() }
    }

    static func ended(_ id: UInt64) {
        if open.withLock({ $0.remove(id) != nil }) { associationsOpen.decrement() }
    }

    static func rejected(_ reason: String) {
        let kind = ["too many associations", "called AE title", "calling AE title", "calling host", "certificate"]
            .first { reason.contains($0) } ?? "connection"
        Counter(label: "loupe_dimse_associations_rejected_total", dimensions: [("reason", kind)]).increment()
    }

    static func answered(_ service: String, status: UInt16, since start: ContinuousClock.Instant) {
        answered(service, status: status, seconds: (ContinuousClock.now - start) / .seconds(1))
    }

    /// One request answered (`service`: C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET) with its final status,
    /// `seconds` after it arrived (for a C-STORE, after its data set was received).
    static func answered(_ service: String, status: UInt16, seconds: Double) {
        let digits = Array("0123456789ABCDEF".utf8)
        let code = "0x" + String(decoding: [12, 8, 4, 0].map { digits[Int(status >> $0) & 15] }, as: UTF8.self)
        Counter(label: "loupe_dimse_requests_total", dimensions: [("service", service), ("status", code)]).increment()
        Timer(label: "loupe_dimse_request_duration_seconds", dimensions: [("service", service)], preferredDisplayUnit: .seconds)
            .recordSeconds(seconds)
    }
}
