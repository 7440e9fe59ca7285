import Access
import Foundation

/// Who may associate (PS3.8 7.1.1.9: rejection reasons of A-ASSOCIATE-RJ).
public enum AssociationDecision: Sendable, Equatable {
    case accept
    /// Rejected-permanent, service user, "called AE title not recognized".
    case calledAETitleNotRecognized
    /// Rejected-permanent, service user, "calling AE title not recognized".
    case callingAETitleNotRecognized
    /// Rejected-permanent, service user, "no reason given" (a known caller from the wrong host, or
    /// over plain TCP when its rule asks for TLS).
    case callingHostNotAllowed
    /// Rejected-permanent, service user, "calling AE title not recognized": over TLS, the AE title is
    /// not the common name of the caller's certificate.
    case certificateDoesNotNameCaller
}

/// The caller of an association as the policy sees it.
public struct Caller: Sendable, Equatable {
    public var aeTitle: String
    public var host: String
    /// Over TLS: the common name of the certificate the caller presented ("" without one); nil: plain TCP.
    public var certificateCommonName: String?

    public init(aeTitle: String, host: String, certificateCommonName: String? = nil) {
        self.aeTitle = aeTitle.trimmingCharacters(in: .whitespaces)
        self.host = host
        self.certificateCommonName = certificateCommonName
    }
}

public struct AssociationPolicy: Sendable {
    public let configuration: DIMSEConfiguration

    public init(configuration: DIMSEConfiguration) { self.configuration = configuration }

    public func decide(caller: Caller, calledAE: String) -> AssociationDecision {
        let called = calledAE.trimmingCharacters(in: .whitespaces)
        if configuration.requireCalledAETitle && called != configuration.aeTitle {
            return .calledAETitleNotRecognized
        }
        if let commonName = caller.certificateCommonName, configuration.tls?.matchAETitleToCertificate == true,
           commonName != caller.aeTitle {
            return .certificateDoesNotNameCaller
        }
        guard !configuration.allowedCallers.isEmpty else { return .accept }
        let entries = configuration.allowedCallers.filter { $0.aeTitle == caller.aeTitle }
        if entries.isEmpty { return .callingAETitleNotRecognized }
        if entries.contains(where: { $0.matches(caller) }) { return .accept }
        return .callingHostNotAllowed
    }

    /// Whether an (accepted) caller may use a service: any, until a caller rule is configured; then
    /// only what its entry lists (deny by default).
    /// (`caller` is only made when a rule needs it: this runs for every C-STORE.)
    public func permits(_ service: DIMSEService, to caller: @autoclosure () -> Caller) -> Bool {
        guard !configuration.allowedCallers.isEmpty else { return true }
        let caller = caller()
        return configuration.allowedCallers.contains { $0.matches(caller) && $0.services.contains(service) }
    }
}
