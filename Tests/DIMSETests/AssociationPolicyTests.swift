import DIMSE
import Foundation
import Testing

/// Association acceptance: the A-ASSOCIATE-RJ reasons of PS3.8 Table 9-21, read off the wire.
@Suite(.serialized) struct AssociationPolicyTests {
    @Test func wrongCalledAETitleIsRejected() throws {
        let node = try Node()
        #expect(try RawAssociation(port: node.port).request(calling: "ANY", called: "LOUPE") == .accepted)
        // Rejected-permanent (1), service user (1), called AE title not recognized (7).
        #expect(try RawAssociation(port: node.port).request(calling: "ANY", called: "OTHER") == .rejected(result: 1, source: 1, reason: 7))
    }

    @Test func callersOutsideTheAllowlistAreRejected() throws {
        let node = try Node {
            $0.allowedCallers = [AllowedCaller(aeTitle: "CT01"), AllowedCaller(aeTitle: "MR01", host: "10.9.9.9")]
        }
        #expect(try RawAssociation(port: node.port).request(calling: "CT01", called: "LOUPE") == .accepted)
        // Calling AE title not recognized (3).
        #expect(try RawAssociation(port: node.port).request(calling: "XR99", called: "LOUPE") == .rejected(result: 1, source: 1, reason: 3))
        // A known AE from another host: no reason given (1).
        #expect(try RawAssociation(port: node.port).request(calling: "MR01", called: "LOUPE") == .rejected(result: 1, source: 1, reason: 1))
    }

    @Test func aFullNodeRejectsTransiently() throws {
        let node = try Node { $0.maxAssociations = 1 }
        let first = try RawAssociation(port: node.port)
        #expect(try first.request(calling: "A", called: "LOUPE") == .accepted)
        // Rejected-transient (2), service provider presentation related (3), local limit exceeded (2).
        #expect(try RawAssociation(port: node.port).request(calling: "B", called: "LOUPE") == .rejected(result: 2, source: 3, reason: 2))
    }

    @Test func silentConnectionsDoNotHoldUpOthers() throws {
        let node = try Node()
        // Port scanners and health checks connect and say nothing.
        let silent = try (0..<3).map { _ in try RawAssociation(port: node.port) }
        let start = Date()
        #expect(try DIMSEClient(callingAETitle: "TEST").echo(node.peer).status == .success)
        #expect(Date().timeIntervalSince(start) < 2)
        _ = silent
    }

    @Test func stopAbortsIdleAssociationsPromptly() throws {
        let node = try Node()
        let held = try RawAssociation(port: node.port)
        #expect(try held.request(calling: "A", called: "LOUPE") == .accepted)
        let start = Date()
        node.stop(grace: 20)
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test func policyDecisions() {
        let policy = AssociationPolicy(configuration: DIMSEConfiguration(aeTitle: "LOUPE", requireCalledAETitle: false))
        #expect(policy.decide(caller: Caller(aeTitle: "X", host: "1.2.3.4"), calledAE: "ANYTHING") == .accept)
        #expect(policy.permits(.move, to: Caller(aeTitle: "X", host: "1.2.3.4")))  // no rules: every service
        let strict = AssociationPolicy(configuration: DIMSEConfiguration(aeTitle: "LOUPE", allowedCallers: [AllowedCaller(aeTitle: "X", host: "1.2.3.4")]))
        #expect(strict.decide(caller: Caller(aeTitle: "X ", host: "1.2.3.4"), calledAE: "LOUPE") == .accept)
        #expect(strict.decide(caller: Caller(aeTitle: "X", host: "5.6.7.8"), calledAE: "LOUPE") == .callingHostNotAllowed)
    }

    @Test func rulesGrantServicesAndDenyTheRest() {
        let policy = AssociationPolicy(configuration: DIMSEConfiguration(allowedCallers: [
            AllowedCaller(aeTitle: "CT01", services: [.echo, .store]), AllowedCaller(aeTitle: "WS", host: "10.0.0.7", services: [.find, .move]),
        ]))
        let ct = Caller(aeTitle: "CT01", host: "10.0.0.5"), ws = Caller(aeTitle: "WS", host: "10.0.0.7")
        #expect(policy.permits(.store, to: ct) && policy.permits(.echo, to: ct))
        #expect(!policy.permits(.find, to: ct) && !policy.permits(.get, to: ct) && !policy.permits(.move, to: ct))
        #expect(policy.permits(.find, to: ws) && policy.permits(.move, to: ws) && !policy.permits(.store, to: ws) && !policy.permits(.echo, to: ws))
        #expect(!policy.permits(.find, to: Caller(aeTitle: "WS", host: "10.0.0.8")))
        #expect(!policy.permits(.echo, to: Caller(aeTitle: "OTHER", host: "10.0.0.5")))
    }

    @Test func overTLSTheCallerMustBeItsCertificate() {
        let tls = DIMSETLSConfiguration(certificateFile: "c.pem", privateKeyFile: "k.pem", matchAETitleToCertificate: true)
        let policy = AssociationPolicy(configuration: DIMSEConfiguration(tls: tls))
        #expect(policy.decide(caller: Caller(aeTitle: "CT01", host: "h", certificateCommonName: "CT01"), calledAE: "LOUPE") == .accept)
        #expect(policy.decide(caller: Caller(aeTitle: "CT01", host: "h", certificateCommonName: "MR01"), calledAE: "LOUPE") == .certificateDoesNotNameCaller)
        #expect(policy.decide(caller: Caller(aeTitle: "CT01", host: "h", certificateCommonName: ""), calledAE: "LOUPE") == .certificateDoesNotNameCaller)
        #expect(policy.decide(caller: Caller(aeTitle: "CT01", host: "h"), calledAE: "LOUPE") == .accept)  // the plain port
        // A rule can insist on TLS: the same AE title over plain TCP is refused.
        let strict = AssociationPolicy(configuration: DIMSEConfiguration(tls: tls, allowedCallers: [AllowedCaller(aeTitle: "CT01", tlsOnly: true)]))
        #expect(strict.decide(caller: Caller(aeTitle: "CT01", host: "h", certificateCommonName: "CT01"), calledAE: "LOUPE") == .accept)
        #expect(strict.decide(caller: Caller(aeTitle: "CT01", host: "h"), calledAE: "LOUPE") == .callingHostNotAllowed)
        #expect(!strict.permits(.store, to: Caller(aeTitle: "CT01", host: "h")))
    }

    @Test func peersParse() throws {
        #expect(try DICOMPeer(parsing: "PACS=ORTHANC@10.0.0.2:4242") == DICOMPeer(name: "PACS", aeTitle: "ORTHANC", host: "10.0.0.2", port: 4242))
        #expect(try DICOMPeer(parsing: "STORESCP@localhost:104").name == "STORESCP")
        let secure = try DICOMPeer(parsing: "PACS=ORTHANC@pacs.example:2762+tls")
        #expect(secure.tls && secure.port == 2762 && secure.host == "pacs.example" && secure.description == "PACS=ORTHANC@pacs.example:2762+tls")
        #expect(try !DICOMPeer(parsing: "A@h:1").tls)
        #expect(throws: DIMSEConfigurationError.self) { try DICOMPeer(parsing: "nohost") }
        #expect(throws: DIMSEConfigurationError.self) { try DICOMPeer(parsing: "A@h:0") }
        #expect(throws: DIMSEConfigurationError.self) { try DICOMPeer(parsing: "WAY_TOO_LONG_AE_TITLE_X@h:1") }
    }
}
