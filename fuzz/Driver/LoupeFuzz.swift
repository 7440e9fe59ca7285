import Foundation
import FuzzTargets

#if LOUPE_LIBFUZZER
/// The target libFuzzer drives, named by LOUPE_FUZZ_TARGET (libFuzzer owns the command line).
let selected: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["LOUPE_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        fatalError("LOUPE_FUZZ_TARGET must be one of \(FuzzTarget.allCases.map(\.rawValue)), not '\(name)'")
    }
    return target
}()

/// Before fuzzing: with LOUPE_FUZZ_SEEDS=DIR, writes the seed corpora there and ends instead.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    if let root = ProcessInfo.processInfo.environment["LOUPE_FUZZ_SEEDS"] {
        do { try FuzzTarget.writeSeeds(to: URL(fileURLWithPath: root)) } catch { fatalError("seeds: \(error)") }
        exit(0)
    }
    // Process-wide state (the archive, the key set, DCMTK's set-up) is built before libFuzzer counts
    // allocations per input, so that it is not mistaken for a leak of the first inputs.
    for seed in selected.seeds { _ = selected.run(seed) }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    _ = selected.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}
#else
/// Without libFuzzer: writes the seed corpora, or replays inputs (a crash found, a corpus) and says
/// what each target made of them.
@main
struct LoupeFuzz {
    static func main() throws {
        let arguments = Array(CommandLine.arguments.dropFirst())
        switch (arguments.first, arguments.count) {
        case ("seeds", 2):
            try FuzzTarget.writeSeeds(to: URL(fileURLWithPath: arguments[1]))
        case ("run", 3...):
            guard let target = FuzzTarget(rawValue: arguments[1]) else { usage() }
            for path in arguments.dropFirst(2) {
                let outcome = target.run(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
                print("\(path): \(outcome)")
            }
        default:
            usage()
        }
    }

    static func usage() -> Never {
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")
        FileHandle.standardError.write(Data("usage: loupe-fuzz seeds DIR | run \(names) FILE...\n".utf8))
        exit(2)
    }
}
#endif
