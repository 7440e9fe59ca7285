import Foundation

/// Who may associate (PS3.8 7.1.1.9: rejection reasons of A-ASSOCIATE-RJ).
public enum AssociationDecision: Sendable, Equatable {
    case accept
    /// Rejected-permanent, service user, "called AE title not recognized".
    case calledAETitleNotRecognized
    /// Rejected-permanent, service user, "calling AE title not recognized".
    case callingAETitleNotRecognized
    /// Rejected-permanent, service user, "no reason given" (a known caller from the wrong host).
    case callingHostNotAllowed
}

public struct AssociationPolicy: Sendable {
    public let configuration: DIMSEConfiguration

    public init(configuration: DIMSEConfiguration) { self.configuration = configuration }

    public func decide(callingAE: String, calledAE: String, peerHost: String) -> AssociationDecision {
        let calling = callingAE.trimmingCharacters(in: .whitespaces)
        let called = calledAE.trimmingCharacters(in: .whitespaces)
        if configuration.requireCalledAETitle && called != configuration.aeTitle {
            return .calledAETitleNotRecognized
        }
        guard !configuration.allowedCallers.isEmpty else { return .accept }
        let entries = configuration.allowedCallers.filter { $0.aeTitle == calling }
        if entries.isEmpty { return .callingAETitleNotRecognized }
        if entries.contains(where: { $0.host == nil || $0.host == peerHost }) { return .accept }
        return .callingHostNotAllowed
    }
}
