import Archive
import Foundation

/// An audit trail entry as a DICOM Audit Message (PS3.15 A.5, the IHE ATNA schema): what hospital
/// audit repositories ingest.
///
/// | entry | EventID (DCM) | action | type |
/// |---|---|---|---|
/// | login, logout | 110114 User Authentication | E | 110122 Login / 110123 Logout |
/// | query | 110112 Query | E | |
/// | retrieve | 110103 DICOM Instances Accessed | R | |
/// | store | 110104 DICOM Instances Transferred | C | |
/// | export (C-MOVE) | 110102 Begin Transferring DICOM Instances | E | |
/// | delete | 110105 DICOM Study Deleted | D | |
/// | alert acknowledged | 110110 Patient Record | U | |
/// | user/token changed | 110113 Security Alert | E | 110137 User security Attributes Changed |
/// | access denied | 110113 Security Alert | E | 110132 Use of Restricted Function (110126 Node Authentication for a refused TLS peer) |
/// | start, stop | 110100 Application Activity | E | 110120 / 110121 |
///
/// Queries are described as non-DICOM queries (participant object 2/24, the request or the C-FIND
/// keys as text): the trail keeps the query's text, not the identifier data set.
public struct AuditMessage: Sendable {
    /// This node as an audit source and as a participant.
    public struct Source: Sendable, Equatable {
        public var aeTitle: String
        public var host: String
        /// AuditEnterpriseSiteID.
        public var site: String?
        public init(aeTitle: String, host: String, site: String? = nil) {
            self.aeTitle = aeTitle
            self.host = host
            self.site = site
        }
    }

    public let record: AuditRecord
    public let source: Source

    public init(_ record: AuditRecord, source: Source) {
        self.record = record
        self.source = source
    }

    struct Code {
        let code: String
        let meaning: String
        var system = "DCM"
        var xml: String { #"csd-code="\#(code)" codeSystemName="\#(system)" originalText="\#(escape(meaning))""# }
    }

    /// EventID, EventActionCode and EventTypeCode of the entry.
    var event: (id: Code, action: String, type: Code?) {
        switch record.action {
        case .login: (Code(code: "110114", meaning: "User Authentication"), "E", Code(code: "110122", meaning: "Login"))
        case .logout: (Code(code: "110114", meaning: "User Authentication"), "E", Code(code: "110123", meaning: "Logout"))
        case .query: (Code(code: "110112", meaning: "Query"), "E", nil)
        case .retrieve: (Code(code: "110103", meaning: "DICOM Instances Accessed"), "R", nil)
        case .store: (Code(code: "110104", meaning: "DICOM Instances Transferred"), "C", nil)
        case .export: (Code(code: "110102", meaning: "Begin Transferring DICOM Instances"), "E", nil)
        case .delete: (Code(code: "110105", meaning: "DICOM Study Deleted"), "D", nil)
        case .alertAcknowledged, .findingReviewed: (Code(code: "110110", meaning: "Patient Record"), "U", nil)
        case .userChanged, .tokenChanged:
            (Code(code: "110113", meaning: "Security Alert"), "E", Code(code: "110137", meaning: "User security Attributes Changed"))
        case .accessDenied:
            (Code(code: "110113", meaning: "Security Alert"), "E",
             record.actorKind == .ae && record.detail?.contains("TLS") == true
                ? Code(code: "110126", meaning: "Node Authentication") : Code(code: "110132", meaning: "Use of Restricted Function"))
        case .applicationStart: (Code(code: "110100", meaning: "Application Activity"), "E", Code(code: "110120", meaning: "Application Start"))
        case .applicationStop: (Code(code: "110100", meaning: "Application Activity"), "E", Code(code: "110121", meaning: "Application Stop"))
        }
    }

    /// EventOutcomeIndicator: 0 success, 4 minor failure (refused), 8 serious failure (the node failed).
    public var outcome: Int {
        switch record.outcome {
        case .success: 0
        case .failure: 4
        case .error: 8
        }
    }

    /// The message, UTF-8 XML.
    public var xml: String {
        let event = self.event
        var xml = #"<?xml version="1.0" encoding="UTF-8"?>"# + "\n<AuditMessage>"
        xml += #"<EventIdentification EventActionCode="\#(event.action)" EventDateTime="\#(Self.timestamp(record.time))" EventOutcomeIndicator="\#(outcome)">"#
        xml += "<EventID \(event.id.xml)/>"
        if let type = event.type { xml += "<EventTypeCode \(type.xml)/>" }
        if record.outcome != .success, let detail = record.detail { xml += "<EventOutcomeDescription>\(escape(detail))</EventOutcomeDescription>" }
        xml += "</EventIdentification>"
        xml += participants()
        xml += #"<AuditSourceIdentification"# + (source.site.map { #" AuditEnterpriseSiteID="\#(escape($0))""# } ?? "")
            + #" AuditSourceID="\#(escape(source.aeTitle))@\#(escape(source.host))"><AuditSourceTypeCode csd-code="4"/></AuditSourceIdentification>"#
        xml += objects()
        xml += "</AuditMessage>"
        return xml
    }

    /// The requester and this node, with the roles the event calls for.
    private func participants() -> String {
        let role: (requester: Code?, node: Code?)
        switch record.action {
        case .query, .store: role = (Code(code: "110153", meaning: "Source Role ID"), Code(code: "110152", meaning: "Destination Role ID"))
        case .export: role = (nil, Code(code: "110153", meaning: "Source Role ID"))
        case .applicationStart, .applicationStop: role = (nil, Code(code: "110150", meaning: "Application"))
        default: role = (nil, nil)
        }
        var xml = ""
        if record.actorKind != .system {
            let alternative = record.actorKind == .ae ? #" AlternativeUserID="AETITLES=\#(escape(record.actor))""# : ""
            let address = record.address.map { #" NetworkAccessPointID="\#(escape($0))" NetworkAccessPointTypeCode="2""# } ?? ""
            xml += #"<ActiveParticipant UserID="\#(escape(record.actor))"\#(alternative) UserIsRequestor="true"\#(address)>"#
            if let requester = role.requester { xml += "<RoleIDCode \(requester.xml)/>" }
            xml += "</ActiveParticipant>"
        }
        xml += #"<ActiveParticipant UserID="\#(escape(source.aeTitle))" AlternativeUserID="AETITLES=\#(escape(source.aeTitle))""#
            + #" UserIsRequestor="\#(record.actorKind == .system)" NetworkAccessPointID="\#(escape(source.host))" NetworkAccessPointTypeCode="1">"#
        if let node = role.node { xml += "<RoleIDCode \(node.xml)/>" }
        xml += "</ActiveParticipant>"
        return xml
    }

    /// The study, the patient, the query or the changed account the entry is about.
    private func objects() -> String {
        var xml = ""
        switch record.action {
        case .query:
            xml += #"<ParticipantObjectIdentification ParticipantObjectID="\#(escape(queryName))" ParticipantObjectTypeCode="2" ParticipantObjectTypeCodeRole="24">"#
            xml += #"<ParticipantObjectIDTypeCode csd-code="12" codeSystemName="RFC-3881" originalText="URI"/>"#
            xml += "<ParticipantObjectQuery>\(Data((record.detail ?? "").utf8).base64EncodedString())</ParticipantObjectQuery>"
            xml += #"<ParticipantObjectDetail type="QueryEncoding" value="\#(Data("UTF-8".utf8).base64EncodedString())"/>"#
            xml += "</ParticipantObjectIdentification>"
        case .userChanged, .tokenChanged, .accessDenied:
            let subject = record.action == .accessDenied ? (record.address ?? record.actor) : record.actor
            xml += #"<ParticipantObjectIdentification ParticipantObjectID="\#(escape(subject))" ParticipantObjectTypeCode="2" ParticipantObjectTypeCodeRole="13">"#
            xml += record.action == .accessDenied && record.actorKind == .ae
                ? #"<ParticipantObjectIDTypeCode csd-code="110182" codeSystemName="DCM" originalText="Node ID"/>"#
                : #"<ParticipantObjectIDTypeCode csd-code="11" codeSystemName="RFC-3881" originalText="User Identifier"/>"#
            xml += "<ParticipantObjectName>\(escape(subject))</ParticipantObjectName>"
            xml += #"<ParticipantObjectDetail type="Alert Description" value="\#(Data((record.detail ?? "").utf8).base64EncodedString())"/>"#
            xml += "</ParticipantObjectIdentification>"
        default:
            break
        }
        if let study = record.studyInstanceUID {
            xml += #"<ParticipantObjectIdentification ParticipantObjectID="\#(escape(study))" ParticipantObjectTypeCode="2" ParticipantObjectTypeCodeRole="3">"#
            xml += #"<ParticipantObjectIDTypeCode csd-code="110180" codeSystemName="DCM" originalText="Study Instance UID"/>"#
            if let instance = record.sopInstanceUID {
                xml += #"<ParticipantObjectDescription><SOPClass NumberOfInstances="1"><Instance UID="\#(escape(instance))"/></SOPClass></ParticipantObjectDescription>"#
            }
            xml += "</ParticipantObjectIdentification>"
        }
        if let patient = record.patientID {
            xml += #"<ParticipantObjectIdentification ParticipantObjectID="\#(escape(patient))" ParticipantObjectTypeCode="1" ParticipantObjectTypeCodeRole="1">"#
            xml += #"<ParticipantObjectIDTypeCode csd-code="2" codeSystemName="RFC-3881" originalText="Patient Number"/>"#
            xml += "</ParticipantObjectIdentification>"
        }
        return xml
    }

    /// What was queried, without its keys: `GET /dicom-web/studies`, `C-FIND STUDY`.
    var queryName: String {
        let words = (record.detail ?? "query").split(separator: " ", maxSplits: 2)
        return words.prefix(2).joined(separator: " ").split(separator: "?").first.map(String.init) ?? "query"
    }

    /// The message as RFC 5424 syslog in RFC 5425's octet-counting frame: facility authpriv (10),
    /// severity notice, warning or error by outcome, MSGID `IHE+RFC-3881`, the XML after a BOM.
    public func syslogFrame(appName: String = "loupe", processID: Int32 = getpid()) -> [UInt8] {
        let severity = record.outcome == .success ? 5 : (record.outcome == .failure ? 4 : 3)
        let header = "<\(10 * 8 + severity)>1 \(Self.timestamp(record.time)) \(Self.syslogField(source.host, 255)) "
            + "\(Self.syslogField(appName, 48)) \(processID) IHE+RFC-3881 - "
        let message = Array(header.utf8) + [0xEF, 0xBB, 0xBF] + Array(xml.utf8)
        return Array("\(message.count) ".utf8) + message
    }

    /// A header field: printable US-ASCII without spaces, at most `limit` characters, `-` when empty.
    static func syslogField(_ text: String, _ limit: Int) -> String {
        let printable = String(String.UnicodeScalarView(text.unicodeScalars.filter { $0.value > 0x20 && $0.value < 0x7F }).prefix(limit))
        return printable.isEmpty ? "-" : printable
    }

    static func timestamp(_ date: Date) -> String {
        ISO8601DateFormatter.string(from: date, timeZone: .gmt, formatOptions: [.withInternetDateTime, .withFractionalSeconds])
    }
}

/// XML text and attribute escaping; characters XML 1.0 cannot carry at all become U+FFFD.
func escape(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&apos;"
        case "\t", "\n", "\r": out += "&#\(scalar.value);"
        default: out.unicodeScalars.append(scalar.value < 0x20 || (0xFFFE...0xFFFF).contains(scalar.value) ? "\u{FFFD}" : scalar)
        }
    }
    return out
}
