import ArgumentParser
import Archive
import Foundation
import Logging

/// `loupe check`: is every indexed file there, whole and readable, and does every file have its row?
/// With `--repair`, orphans are indexed and, once confirmed, the rows of lost files are dropped.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify that every indexed file exists, has its archived size and parses; report files no row names.",
        discussion: """
            Exit status 0 when all is well, 1 when something was found (and, with --repair, not all of it repaired).
            --repair needs the archive alone (stop the node first): it indexes the orphans and, after confirmation
            (or with --yes), drops the rows of lost files, moving damaged ones to DATA/quarantine/.
            """)

    @OptionGroup var options: CommonOptions

    @Flag(name: .long, help: "Index orphans; drop the rows of lost files after confirmation.")
    var repair = false

    @Flag(name: .long, help: "With --repair: drop the rows of lost files without asking.")
    var yes = false

    func run() throws {
        let config = try options.resolve()
        LogSetup.bootstrap(level: "warning", format: config.logFormat)
        let archive: Archive
        do {
            archive = try Archive(configuration: config.archive, logger: Logger(label: "loupe.archive"), alone: repair)
        } catch is ArchiveInUse {
            throw ValidationError("another process (a running node?) has the archive open: stop it before --repair")
        }
        let found = try archive.check()
        print("\(found.instances) instances checked: \(found.lost.count) lost files, \(found.orphans.count) files no row names")
        for lost in found.lost { print("lost: \(lost.path) (\(lost.sopInstanceUID)): \(lost.problem)") }
        for orphan in found.orphans { print("orphan: \(orphan)") }
        if !archive.wasAloneAtOpen && !found.orphans.isEmpty {
            print("(a process has the archive open: files it is placing right now show as orphans)")
        }
        guard repair, !found.isClean else {
            if !found.isClean { throw ExitCode(1) }
            return
        }
        var drop = yes
        if !found.lost.isEmpty && !yes {
            print("Drop the index rows of the \(found.lost.count) lost files? Their instances can no longer be served. [y/N] ", terminator: "")
            drop = readLine()?.lowercased().hasPrefix("y") == true
        }
        let done = try archive.repair(found, dropLost: drop)
        print("repaired: \(done.reindexed) orphans indexed, \(done.droppedRows) rows of lost files dropped"
              + (done.unreadableOrphans.isEmpty ? "" : "; left alone, not archivable: \(done.unreadableOrphans.joined(separator: ", "))")
              + (done.keptCopies.isEmpty ? "" : "; kept, intact copies of lost instances: \(done.keptCopies.joined(separator: ", "))"))
        if !done.unreadableOrphans.isEmpty || !done.keptCopies.isEmpty || (!found.lost.isEmpty && !drop) { throw ExitCode(1) }
    }
}
