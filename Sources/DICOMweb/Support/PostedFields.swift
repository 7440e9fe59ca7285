import Foundation
import Hummingbird

/// The fields of a small posted body: a form (a page's buttons) or a JSON object (a script). Values
/// are trimmed text; an empty body has no fields.
struct PostedFields {
    private let values: [String: String]

    /// - Parameter example: what a JSON body should look like, for the error message.
    init(body: ByteBuffer, contentType: String?, example: String) throws {
        guard body.readableBytes > 0 else {
            values = [:]
            return
        }
        if contentType?.lowercased().hasPrefix("application/x-www-form-urlencoded") == true {
            values = Dictionary(RequestQuery(String(buffer: body)).pairs.map { ($0.name, $0.value) }) { $1 }
            return
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any] else {
            throw WebError.badRequest("send a form or a JSON object: \(example)")
        }
        values = object.compactMapValues { value in
            switch value {
            case let text as String: text
            case let number as NSNumber: number.stringValue
            default: nil
            }
        }
    }

    /// The field's value, nil when missing or blank.
    subscript(_ name: String) -> String? {
        values[name].map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.flatMap { $0.isEmpty ? nil : $0 }
    }
}
