import Access
import ArgumentParser
import Foundation

/// `loupe mqtt-acl`: a mosquitto ACL that lets each user and token of the node read the alerts it
/// may see on /api/events (`events:<topic>`, and only its patients' topics when limited to some),
/// and the node itself publish them. The broker authenticates its clients itself (mosquitto_passwd:
/// the same user and token names, passwords of the broker's own); Loupe decides what they may read.
struct MQTTACL: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mqtt-acl", abstract: "Print a mosquitto ACL (acl_file) from the node's users, tokens and roles.")

    @OptionGroup var options: CommonOptions

    func run() throws {
        let config = try options.resolve()
        let access = try AccessCommand.open(options)
        let holders = try AccessCommand.perform { () throws(AccessError) in try access.holders() }
        print(Self.acl(holders, publisher: config.mqtt?.username), terminator: "")
    }

    /// The ACL text: `user NAME` then its `topic read|write` lines, per holder that may read any.
    static func acl(_ holders: [Identity], publisher: String?) -> String {
        var text = "# mosquitto ACL made by `loupe mqtt-acl`; make it again after changing users, tokens or roles.\n"
        if let publisher {
            text += "\nuser \(publisher)\ntopic write loupe/alerts/#\n"
        }
        for holder in holders.sorted(by: { $0.name < $1.name }) {
            var lines: [String] = []
            for topic in AlertPublisher.topics.sorted() where holder.may(.events(topic)) {
                if let patients = holder.patients {
                    lines += patients.sorted().map { "topic read \(AlertPublisher.mqttTopic(topic, patient: $0))" }
                } else {
                    lines.append("topic read loupe/alerts/\(MQTTClient.topicLevel(topic))/#")
                }
            }
            guard !lines.isEmpty else { continue }
            text += "\nuser \(holder.name)\n" + lines.joined(separator: "\n") + "\n"
        }
        return text
    }
}
