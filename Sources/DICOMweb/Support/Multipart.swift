import Foundation
import Hummingbird
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// multipart/related bodies (RFC 2387), as WADO-RS writes them and STOW-RS reads them.
package enum Multipart {
    /// A fresh boundary (never present in DICOM data by chance: 32 random hex digits).
    static func makeBoundary() -> String {
        "loupe-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    }

    /// The opening of a part: delimiter line and headers.
    static func partHeader(boundary: String, contentType: String, extraHeaders: [(String, String)] = []) -> ByteBuffer {
        var text = "--\(boundary)\r\nContent-Type: \(contentType)\r\n"
        for (name, value) in extraHeaders { text += "\(name): \(value)\r\n" }
        text += "\r\n"
        return ByteBuffer(string: text)
    }

    /// Ends a part (its body is followed by CRLF before the next delimiter).
    static let partEnd = ByteBuffer(string: "\r\n")

    static func closing(boundary: String) -> ByteBuffer { ByteBuffer(string: "--\(boundary)--\r\n") }

    /// A whole body from parts held in memory.
    static func body(boundary: String, parts: [(contentType: String, bytes: [UInt8])]) -> ByteBuffer {
        var buffer = ByteBuffer()
        for part in parts {
            var header = partHeader(boundary: boundary, contentType: part.contentType)
            buffer.writeBuffer(&header)
            buffer.writeBytes(part.bytes)
            buffer.writeString("\r\n")
        }
        buffer.writeString("--\(boundary)--\r\n")
        return buffer
    }

    package struct Part {
        /// Header names lower-cased.
        package let headers: [String: String]
        package let body: ByteBuffer
        var contentType: String? { headers["content-type"] }
    }

    package enum ParseError: Error, Equatable, CustomStringConvertible {
        case noBoundary
        case boundaryTooLong
        case malformed(String)
        case tooManyParts
        package var description: String {
            switch self {
            case .noBoundary: "the Content-Type has no boundary parameter"
            case .boundaryTooLong: "the boundary is longer than the \(maximumBoundaryLength) characters RFC 2046 allows"
            case .malformed(let why): "malformed multipart body: \(why)"
            case .tooManyParts: "too many parts"
            }
        }
    }

    /// RFC 2046's bound, which also keeps the search for delimiters linear in the body's size.
    static let maximumBoundaryLength = 70

    /// The boundary of a request's multipart Content-Type; a 400 when it has none or a longer one than RFC 2046 allows.
    static func requiredBoundary(_ range: MediaRange) throws -> String {
        do {
            return try checkedBoundary(range.parameters["boundary"])
        } catch {
            throw WebError.badRequest("\(error)")
        }
    }

    /// The parts of a request body; a 400 when it is malformed.
    static func requestParts(_ body: ByteBuffer, boundary: String, maximumParts: Int) throws -> [Part] {
        do {
            return try parse(body, boundary: boundary, maximumParts: maximumParts)
        } catch .tooManyParts {
            throw HTTPError(.contentTooLarge, message: "the request has more than the \(maximumParts) parts Loupe takes at once")
        } catch {
            throw WebError.badRequest("\(error)")
        }
    }

    /// The boundary parameter of a multipart Content-Type, checked as `requiredBoundary` checks it.
    package static func boundary(of contentType: String) throws(ParseError) -> String {
        try checkedBoundary(MediaRange.parse(contentType).first?.parameters["boundary"])
    }

    private static func checkedBoundary(_ boundary: String?) throws(ParseError) -> String {
        guard let boundary, !boundary.isEmpty else { throw .noBoundary }
        guard boundary.utf8.count <= maximumBoundaryLength else { throw .boundaryTooLong }
        return boundary
    }

    /// Splits a body into parts. Lenient about a missing final CRLF and about preamble text.
    package static func parse(_ body: ByteBuffer, boundary: String, maximumParts: Int) throws(ParseError) -> [Part] {
        let delimiter = Array("--\(boundary)".utf8)
        let result: Result<[Part], ParseError> = body.withUnsafeReadableBytes { raw in
            var positions: [Int] = []
            var from = 0
            while let found = find(delimiter, in: raw, from: from) {
                // Counted while searching: a body of nothing but delimiters must not fill memory with positions.
                guard positions.count <= maximumParts else { return .failure(.tooManyParts) }
                positions.append(found)
                from = found + delimiter.count
            }
            guard positions.count >= 2 else { return .failure(.malformed("fewer than two boundary delimiters")) }
            var parts: [Part] = []
            for (start, next) in zip(positions, positions.dropFirst()) {
                var cursor = start + delimiter.count
                // "--" right after a delimiter closes the body.
                if cursor + 1 < raw.count, raw[cursor] == UInt8(ascii: "-"), raw[cursor + 1] == UInt8(ascii: "-") { break }
                while cursor < next, raw[cursor] == UInt8(ascii: " ") || raw[cursor] == UInt8(ascii: "\t") { cursor += 1 }
                if cursor + 1 < next, raw[cursor] == 13, raw[cursor + 1] == 10 { cursor += 2 }
                guard let headerEnd = find(Array("\r\n\r\n".utf8), in: raw, from: cursor - 2), headerEnd < next else {
                    return .failure(.malformed("a part without the blank line after its headers"))
                }
                var headers: [String: String] = [:]
                if headerEnd > cursor {
                    let text = String(decoding: UnsafeRawBufferPointer(rebasing: raw[cursor..<headerEnd]), as: UTF8.self)
                    for line in text.split(separator: "\r\n") {
                        guard let colon = line.firstIndex(of: ":") else { continue }
                        headers[line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()] =
                            line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                    }
                }
                let bodyStart = headerEnd + 4
                var bodyEnd = next
                // The CRLF before a delimiter belongs to the delimiter.
                if bodyEnd - 2 >= bodyStart, raw[bodyEnd - 2] == 13, raw[bodyEnd - 1] == 10 { bodyEnd -= 2 }
                guard bodyEnd >= bodyStart else { return .failure(.malformed("a part shorter than its headers")) }
                guard let slice = body.getSlice(at: body.readerIndex + bodyStart, length: bodyEnd - bodyStart) else {
                    return .failure(.malformed("a part beyond the end of the body"))
                }
                parts.append(Part(headers: headers, body: slice))
            }
            return .success(parts)
        }
        return try result.get()
    }

    /// First occurrence of `needle` at or after `from`.
    static func find(_ needle: [UInt8], in haystack: UnsafeRawBufferPointer, from: Int) -> Int? {
        guard let first = needle.first else { return nil }
        var i = max(0, from)
        let last = haystack.count - needle.count
        while i <= last {
            guard let base = haystack.baseAddress, let hit = memchr(base + i, Int32(first), last - i + 1) else { return nil }
            let candidate = base.distance(to: UnsafeRawPointer(hit))
            if memcmp(base + candidate, needle, needle.count) == 0 { return candidate }
            i = candidate + 1
        }
        return nil
    }
}
