import ArgumentParser
import Archive
import Foundation
import Logging
import Synchronization

/// `loupe import DIR…`: archive every DICOM file under the given paths.
struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import DICOM files (recursively) into the archive. Non-DICOM files are skipped.")

    @OptionGroup var options: CommonOptions

    @Argument(help: "Files or directories to import.")
    var paths: [String]

    @Option(name: .long, help: "Parallel import workers. Default: number of cores.")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    func run() throws {
        let config = try options.resolve()
        LogSetup.bootstrap(level: "warning", format: config.logFormat)
        let archive = try Archive(configuration: config.archive, logger: Logger(label: "loupe.archive"))
        let files = try ImportScan.files(under: paths)
        let summary = ImportSummary(total: files.count)
        let progress = ProgressBar(total: files.count)
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: max(1, min(jobs, files.count))) { _ in
            while true {
                let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard index < files.count else { return }
                summary.record(files[index], Result { () throws(IngestError) in
                    try archive.importFile(at: files[index], source: IngestSource(origin: "import"))
                })
                progress.advance()
            }
        }
        progress.finish()
        archive.close()
        print(summary.report())
        if summary.rejectedCount > 0 { throw ExitCode(2) }
    }
}

enum ImportScan {
    /// Regular files under the paths, in a stable order; a missing path is an error.
    static func files(under paths: [String]) throws -> [URL] {
        var result: [URL] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw ValidationError("no such file or directory: \(path)")
            }
            let url = URL(fileURLWithPath: path)
            guard isDirectory.boolValue else { result.append(url); continue }
            let enumerator = FileManager.default.enumerator(at: url, includingPropertiesForKeys: [.isRegularFileKey])
            while let item = enumerator?.nextObject() as? URL {
                if (try? item.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true { result.append(item) }
            }
        }
        return result.sorted { $0.path < $1.path }
    }
}

/// Tallies of an import: stored, duplicates, skipped (not DICOM) and rejected with reasons.
final class ImportSummary: Sendable {
    private struct Counts {
        var imported = 0, replaced = 0, duplicates = 0, notDICOM = 0, directories = 0
        var rejected: [(file: String, reason: String)] = []
    }
    private let counts = Mutex(Counts())
    let total: Int

    init(total: Int) { self.total = total }

    func record(_ file: URL, _ result: Result<IngestResult, IngestError>) {
        counts.withLock { c in
            switch result {
            case .success(let r):
                switch r.outcome {
                case .stored: c.imported += 1
                case .replaced: c.replaced += 1
                case .duplicate: c.duplicates += 1
                }
            case .failure(let error) where error.reason == .notDICOM:
                c.notDICOM += 1
            case .failure(let error) where error.reason == .mediaDirectory:
                c.directories += 1
            case .failure(let error):
                c.rejected.append((file.path, error.description))
            }
        }
    }

    var rejectedCount: Int { counts.withLock { $0.rejected.count } }

    func report() -> String {
        counts.withLock { c in
            var lines = ["Imported \(c.imported) of \(total) files: \(c.duplicates) duplicates, \(c.replaced) replaced, "
                         + "\(c.notDICOM + c.directories) skipped (\(c.notDICOM) not DICOM, \(c.directories) DICOMDIR), "
                         + "\(c.rejected.count) rejected."]
            for (file, reason) in c.rejected.sorted(by: { $0.file < $1.file }) {
                lines.append("  rejected \(file): \(reason)")
            }
            return lines.joined(separator: "\n")
        }
    }
}

/// A one-line progress bar on stderr (redrawn in place on a terminal, every 10% otherwise).
final class ProgressBar: Sendable {
    private let total: Int
    private let done = Atomic<Int>(0)
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private let start = Date()

    init(total: Int) { self.total = total }

    func advance() {
        let n = done.wrappingAdd(1, ordering: .relaxed).newValue
        if isTerminal {
            if n % 16 == 0 || n == total { draw(n) }
        } else if total >= 10, n % (total / 10) == 0 {
            draw(n)
        }
    }

    func finish() {
        if isTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    private func draw(_ n: Int) {
        let width = 30
        let filled = total == 0 ? width : width * n / total
        let rate = Double(n) / max(Date().timeIntervalSince(start), 0.001)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let line = String(format: "[%@] %d/%d files, %.0f/s", bar, n, total, rate)
        FileHandle.standardError.write(Data(((isTerminal ? "\r" : "") + line + (isTerminal ? "" : "\n")).utf8))
    }
}
