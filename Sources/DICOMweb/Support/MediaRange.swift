/// One media range of an Accept header: `multipart/related; type="application/dicom"; transfer-syntax=*`.
struct MediaRange: Sendable, Equatable {
    /// `type/subtype`, lower-cased (`*/*` and `type/*` are wildcards).
    let mediaType: String
    /// Parameters with lower-cased names and unquoted values (`q` taken out).
    let parameters: [String: String]
    let quality: Double

    /// Parses an Accept header leniently: commas inside quotes are not separators, parameters may
    /// be quoted or not, spaces anywhere (OHIF and dicomweb-client each write it their own way).
    static func parse(_ header: String?) -> [MediaRange] {
        guard let header, !header[...].trimmingOWS.isEmpty else { return [] }
        var ranges: [MediaRange] = []
        for item in split(header, on: UInt8(ascii: ",")) {
            let parts = split(item, on: UInt8(ascii: ";")).map(\.trimmingOWS)
            guard let type = parts.first?.lowercased(), !type.isEmpty else { continue }
            var parameters: [String: String] = [:]
            var quality = 1.0
            for parameter in parts.dropFirst() {
                guard let eq = parameter.firstIndex(of: "=") else { continue }
                let name = parameter[..<eq].trimmingOWS.lowercased()
                var value = String(parameter[parameter.index(after: eq)...].trimmingOWS)
                if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
                if name == "q" { quality = Double(value) ?? 1 } else { parameters[name] = value }
            }
            ranges.append(MediaRange(mediaType: type, parameters: parameters, quality: quality))
        }
        // Highest quality first; order kept among equals.
        return ranges.enumerated().sorted { ($0.element.quality, -$0.offset) > ($1.element.quality, -$1.offset) }.map(\.element)
    }

    /// Splits on a separator outside double quotes. Header syntax is ASCII, so the split walks bytes:
    /// a separator is one even where Swift would join it with a following combining mark.
    private static func split(_ text: some StringProtocol, on separator: UInt8) -> [Substring] {
        let text = Substring(text)
        var pieces: [Substring] = []
        var start = text.startIndex
        var quoted = false
        var index = text.utf8.startIndex
        while index != text.utf8.endIndex {
            let byte = text.utf8[index]
            let next = text.utf8.index(after: index)
            if byte == UInt8(ascii: "\"") {
                quoted.toggle()
            } else if byte == separator && !quoted {
                pieces.append(text[start..<index])
                start = next
            }
            index = next
        }
        pieces.append(text[start...])
        return pieces.filter { !$0.trimmingOWS.isEmpty }
    }

    /// Whether this range accepts `type/subtype`.
    func matches(_ type: String) -> Bool {
        if mediaType == "*/*" || mediaType == "*" { return true }
        if mediaType.hasSuffix("/*") { return type.hasPrefix(mediaType.dropLast()) }
        return mediaType == type.lowercased()
    }

    /// For `multipart/related`: the part type asked for (`type` parameter).
    var partType: String? { parameters["type"]?.lowercased() }
    var transferSyntax: String? { parameters["transfer-syntax"] }
}

extension Substring {
    /// Without HTTP's optional white space (spaces and tabs) at either end. Both are single bytes,
    /// so the ends found in UTF-8 are scalar boundaries.
    var trimmingOWS: Substring {
        let isOWS = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        guard let first = utf8.firstIndex(where: { !isOWS($0) }), let last = utf8.lastIndex(where: { !isOWS($0) }) else {
            return self[endIndex...]
        }
        return self[first..<utf8.index(after: last)]
    }
}

/// An Accept header reduced to what a resource can produce.
struct Accept: Sendable {
    let ranges: [MediaRange]

    init(_ header: String?) { ranges = MediaRange.parse(header) }

    /// Nothing said: anything goes.
    var isEmpty: Bool { ranges.isEmpty }

    /// The first acceptable range for a single-part representation of `type`.
    func single(_ type: String) -> MediaRange? {
        if ranges.isEmpty { return MediaRange(mediaType: type, parameters: [:], quality: 1) }
        return ranges.first { $0.quality > 0 && $0.matches(type) && !$0.mediaType.hasPrefix("multipart/") }
    }

    /// The first acceptable `multipart/related` range whose part type is one of `partTypes`
    /// (a missing part type means the first of them). `*/*` accepts the default.
    func multipart(_ partTypes: [String]) -> (range: MediaRange, partType: String)? {
        if ranges.isEmpty { return (MediaRange(mediaType: "multipart/related", parameters: [:], quality: 1), partTypes[0]) }
        for range in ranges where range.quality > 0 {
            if range.mediaType == "multipart/related" {
                let asked = range.partType ?? partTypes[0]
                if let match = partTypes.first(where: { MediaRange(mediaType: asked, parameters: [:], quality: 1).matches($0) }) {
                    return (range, match)
                }
            } else if range.mediaType == "*/*" || range.mediaType == "multipart/*" {
                return (range, partTypes[0])
            }
        }
        return nil
    }
}
