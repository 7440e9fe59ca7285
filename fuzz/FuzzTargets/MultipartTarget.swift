import DICOMweb
import NIOCore

/// A STOW-RS request: the first line is its Content-Type, the rest its body. The parts found must fit
/// in the body, together.
enum MultipartTarget {
    static func run(_ bytes: [UInt8]) -> FuzzOutcome {
        let newline = bytes.firstIndex(of: 10) ?? bytes.endIndex
        let contentType = String(decoding: bytes[..<newline], as: UTF8.self)
        let body = ByteBuffer(bytes: bytes[min(newline + 1, bytes.endIndex)...])
        let parts: [Multipart.Part]
        do {
            let boundary = try Multipart.boundary(of: contentType)
            parts = try Multipart.parse(body, boundary: boundary, maximumParts: DICOMwebConfiguration().maxParts)
        } catch {
            return FuzzOutcome(error)
        }
        let total = parts.reduce(0) { $0 + $1.body.readableBytes }
        precondition(total <= body.readableBytes, "parts longer together than the body")
        return .accepted
    }
}
