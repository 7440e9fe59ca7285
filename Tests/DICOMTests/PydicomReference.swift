import Foundation

/// What pydicom reads from its bundled test files (Support/pydicom_reference.py), computed once per run.
struct PydicomReference: Decodable {
    struct File: Decodable {
        let path: String
        let transfer_syntax: String?
        let tags: [String]
        let strings: [String: String]
        let sequences: [String: Int]
        let fragments: Int?

        var name: String { URL(fileURLWithPath: path).lastPathComponent }
    }

    let files: [File]

    static let shared: PydicomReference = {
        guard let data = try? runScript([]), let reference = try? JSONDecoder().decode(PydicomReference.self, from: data) else {
            fatalError("pydicom reference script failed (is pydicom installed? run `make test-deps`)")
        }
        return reference
    }()

    /// pydicom's DICOM JSON (PS3.18 F.2) of a file, bulk values over 1024 bytes as BulkDataURI "bulk".
    static func json(of file: URL) throws -> [String: Any] {
        let data = try runScript(["json", file.path])
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    static func runScript(_ arguments: [String]) throws -> Data {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Support/pydicom_reference.py")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return data
    }

    func file(_ name: String) -> File? { files.first { $0.name == name } }

    /// Directory of pydicom's bundled test files.
    static var testFilesDirectory: URL {
        URL(fileURLWithPath: shared.files.first { $0.path.contains("/test_files/") }!.path).deletingLastPathComponent()
    }

    static func testFile(_ name: String) -> URL {
        testFilesDirectory.appendingPathComponent(name)
    }

    static func charsetFile(_ name: String) -> URL {
        testFilesDirectory.deletingLastPathComponent().appendingPathComponent("charset_files").appendingPathComponent(name)
    }
}
