import ArgumentParser
import DIMSE
import Foundation

/// Resolves a peer given as a configured NAME or as AE@HOST:PORT (`+tls`: over DICOM TLS, with the
/// certificate and trusted CAs of `dimse.tls`).
private func resolvePeer(_ text: String, _ options: CommonOptions) throws -> DICOMPeer {
    let config = try options.resolve()
    let peer = try config.dimse.peer(named: text) ?? DICOMPeer(parsing: text)
    if peer.tls {
        guard let tls = config.dimse.tls else { throw ValidationError("\(peer.name) is a TLS peer: configure dimse.tls (certificate, key, ca)") }
        try DIMSEClient.configureTLS(tls)
    }
    return peer
}

/// `loupe echo PEER`: C-ECHO a peer.
struct Echo: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Verify a peer with C-ECHO.")

    @OptionGroup var options: CommonOptions

    @Argument(help: "A configured peer NAME, or AE@HOST:PORT.")
    var peer: String

    func run() throws {
        let config = try options.resolve()
        let target = try resolvePeer(peer, options)
        let outcome = try DIMSEClient(callingAETitle: config.dimse.aeTitle).echo(target)
        print("C-ECHO \(target.aeTitle)@\(target.host):\(target.port): status \(outcome.status)")
        if !outcome.status.isSuccess { throw ExitCode(1) }
    }
}

/// `loupe send PEER FILE…`: C-STORE files (or directories) to a peer, as stored.
struct Send: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Send DICOM files to a peer with C-STORE.")

    @OptionGroup var options: CommonOptions

    @Argument(help: "A configured peer NAME, or AE@HOST:PORT.")
    var peer: String

    @Argument(help: "Files or directories to send.")
    var paths: [String]

    func run() throws {
        let config = try options.resolve()
        let target = try resolvePeer(peer, options)
        var items: [DIMSEClient.StoreItem] = []
        var skipped = 0
        for file in try ImportScan.files(under: paths) {
            if let item = try? DIMSEClient.StoreItem(file: file) { items.append(item) } else { skipped += 1 }
        }
        let results = try DIMSEClient(callingAETitle: config.dimse.aeTitle).store(items, to: target)
        let failed = results.filter { $0.status.map { !$0.isSuccess && !$0.isWarning } ?? true }
        for item in failed {
            print("  failed \(item.fileURL.path): \(item.status.map(\.description) ?? "no response")")
        }
        print("Sent \(results.count - failed.count) of \(results.count) instances to \(target.aeTitle); \(skipped) files skipped (not DICOM).")
        if !failed.isEmpty { throw ExitCode(1) }
    }
}
