import ArgumentParser

@main
struct Loupe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loupe",
        abstract: "A DICOM node: stores, finds and moves images over DIMSE, on a SQLite archive.",
        subcommands: [Serve.self, Import.self, Check.self, Reprocess.self, Similar.self, Classify.self, Photo.self, Echo.self, Send.self,
                      Users.self, Tokens.self, MQTTACL.self],
        defaultSubcommand: Serve.self
    )
}
