import Foundation

enum JSONCheck {
    /// Stops the process when `json` is not a JSON object: a client would fail to read it.
    static func requireValid(_ json: String) {
        let object = try? JSONSerialization.jsonObject(with: Data(json.utf8))
        precondition(object is [String: Any], "the encoder wrote invalid JSON: \(json.prefix(200))")
    }
}
