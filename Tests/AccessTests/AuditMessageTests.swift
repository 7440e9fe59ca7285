@testable import Access
import Archive
import Foundation
import Testing

/// Audit entries as DICOM Audit Messages (PS3.15 A.5) in RFC 5424/5425 syslog frames. The
/// conformance suite validates real messages against the schema; here, the codes and the framing.
@Suite struct AuditMessageTests {
    let source = AuditMessage.Source(aeTitle: "LOUPE", host: "pacs.example", site: "HOSPITAL-A")
    let time = Date(timeIntervalSince1970: 1_780_000_000.25)

    func message(_ action: AuditRecord.Action, _ kind: AuditRecord.ActorKind = .user, outcome: AuditRecord.Outcome = .success,
                 detail: String? = nil, study: String? = nil, patient: String? = nil) -> AuditMessage {
        AuditMessage(AuditRecord(time: time, actor: "dr<rossi>", actorKind: kind, address: "10.1.2.3", action: action, outcome: outcome,
                                 patientID: patient, studyInstanceUID: study, detail: detail), source: source)
    }

    @Test func eventCodesFollowPS3_15() {
        let cases: [(AuditRecord.Action, String, String, String?)] = [
            (.login, "110114", "E", "110122"), (.logout, "110114", "E", "110123"), (.query, "110112", "E", nil),
            (.retrieve, "110103", "R", nil), (.store, "110104", "C", nil), (.export, "110102", "E", nil),
            (.delete, "110105", "D", nil), (.alertAcknowledged, "110110", "U", nil), (.findingReviewed, "110110", "U", nil),
            (.userChanged, "110113", "E", "110137"),
            (.tokenChanged, "110113", "E", "110137"), (.accessDenied, "110113", "E", "110132"),
            (.applicationStart, "110100", "E", "110120"), (.applicationStop, "110100", "E", "110121"),
        ]
        for (action, id, code, type) in cases {
            let xml = message(action).xml
            #expect(xml.contains(#"EventActionCode="\#(code)""#), "\(action)")
            #expect(xml.contains(#"<EventID csd-code="\#(id)" codeSystemName="DCM""#), "\(action)")
            if let type { #expect(xml.contains(#"<EventTypeCode csd-code="\#(type)""#), "\(action)") } else { #expect(!xml.contains("EventTypeCode")) }
        }
        #expect(message(.accessDenied, .ae, outcome: .failure, detail: "rejected: TLS handshake failed").xml
            .contains(#"<EventTypeCode csd-code="110126" codeSystemName="DCM" originalText="Node Authentication"/>"#))
    }

    @Test func participantsObjectsAndEscaping() {
        let xml = message(.retrieve, study: "1.2.3", patient: "P&1").xml
        #expect(xml.hasPrefix(#"<?xml version="1.0" encoding="UTF-8"?>"#))
        #expect(xml.contains(#"EventDateTime="2026-05-28T20:26:40.250Z" EventOutcomeIndicator="0""#))
        #expect(xml.contains(#"<ActiveParticipant UserID="dr&lt;rossi&gt;" UserIsRequestor="true" NetworkAccessPointID="10.1.2.3" NetworkAccessPointTypeCode="2">"#))
        #expect(xml.contains(#"AuditEnterpriseSiteID="HOSPITAL-A" AuditSourceID="LOUPE@pacs.example""#))
        #expect(xml.contains(#"ParticipantObjectID="1.2.3" ParticipantObjectTypeCode="2" ParticipantObjectTypeCodeRole="3"><ParticipantObjectIDTypeCode csd-code="110180""#))
        #expect(xml.contains(#"ParticipantObjectID="P&amp;1" ParticipantObjectTypeCode="1" ParticipantObjectTypeCodeRole="1"><ParticipantObjectIDTypeCode csd-code="2" codeSystemName="RFC-3881""#))
        let query = message(.query, .ae, detail: "C-FIND STUDY PatientID=P1: 2 matches").xml
        #expect(query.contains(#"ParticipantObjectID="C-FIND STUDY" ParticipantObjectTypeCode="2" ParticipantObjectTypeCodeRole="24""#))
        #expect(query.contains("<ParticipantObjectQuery>\(Data("C-FIND STUDY PatientID=P1: 2 matches".utf8).base64EncodedString())</ParticipantObjectQuery>"))
        #expect(query.contains(#"AlternativeUserID="AETITLES=dr&lt;rossi&gt;""#))
        let failed = message(.login, outcome: .failure, detail: "wrong user name or password").xml
        #expect(failed.contains(#"EventOutcomeIndicator="4""#) && failed.contains("<EventOutcomeDescription>wrong user name or password</EventOutcomeDescription>"))
        #expect(escape("a\u{1}b\tc") == "a\u{FFFD}b&#9;c")
    }

    @Test func syslogFramesCountOctetsAndCarryTheBOM() throws {
        let frame = message(.login, outcome: .failure).syslogFrame(appName: "loupe", processID: 42)
        let space = try #require(frame.firstIndex(of: 0x20))
        let length = try #require(Int(String(decoding: frame[..<space], as: UTF8.self)))
        let body = Array(frame[(space + 1)...])
        #expect(length == body.count)
        let header = String(decoding: body.prefix { $0 != 0xEF }, as: UTF8.self)
        #expect(header == "<84>1 2026-05-28T20:26:40.250Z pacs.example loupe 42 IHE+RFC-3881 - ")
        let bom = body.firstIndex(of: 0xEF)!
        #expect(Array(body[bom..<bom + 3]) == [0xEF, 0xBB, 0xBF])
        #expect(String(decoding: body[(bom + 3)...], as: UTF8.self) == message(.login, outcome: .failure).xml)
        #expect(String(decoding: message(.store).syslogFrame(), as: UTF8.self).contains(" <85>1 "))
        #expect(AuditMessage.syslogField("my host name é", 6) == "myhost")
    }
}
