import Archive
import DICOM
import DIMSE
import Foundation
import LoupeTestSupport
import Testing

/// The SCP over real sockets, driven by DCMTK's tools and by Loupe's own SCU.
@Suite(.serialized) struct DIMSEServerTests {
    @Test func echoFromDCMTKAndFromLoupe() throws {
        let node = try Node()
        let (status, output) = try dcmtk("echoscu", ["-aec", "LOUPE", "127.0.0.1", String(node.port)])
        #expect(status == 0, "\(output)")
        let outcome = try DIMSEClient(callingAETitle: "TEST").echo(node.peer)
        #expect(outcome.status == .success)
    }

    @Test func storeKeepsTheDataSetBitForBit() throws {
        let node = try Node()
        let files = try writeInstances(3, to: temporaryDirectory("store"))
        let (status, output) = try dcmtk("storescu", ["-aec", "LOUPE", "127.0.0.1", String(node.port)] + files.map(\.path))
        #expect(status == 0, "\(output)")
        for file in files {
            let uid = try #require(try DICOMReader.read(contentsOf: file).sopInstanceUID)
            let stored = try #require(try node.archive.instance(sopInstanceUID: uid))
            #expect(try dataSetBytes(stored.fileURL) == dataSetBytes(file))
        }
    }

    @Test func findAtEveryLevelAndModel() throws {
        let node = try Node()
        let study = UID.generate()
        let files = try writeInstances(4, to: temporaryDirectory("find"), patientName: "Müller^Jörg", studyUID: study)
        _ = try DIMSEClient(callingAETitle: "TEST").store(files.map { try DIMSEClient.StoreItem(file: $0) }, to: node.peer)

        var identifier = DataSet()
        identifier.set(.queryRetrieveLevel, .CS, "STUDY")
        identifier.set(.patientName, .PN, "muller*")
        identifier.set(.studyInstanceUID, .UI, "")
        identifier.set(.numberOfStudyRelatedInstances, .IS, "")
        identifier.set(.modalitiesInStudy, .CS, "")
        identifier.set(.retrieveAETitle, .AE, "")
        let client = DIMSEClient(callingAETitle: "TEST")
        let (matches, outcome) = try client.find(identifier, model: .studyRoot, on: node.peer)
        #expect(outcome.status == .success)
        #expect(matches.count == 1)
        #expect(matches.first?.string(.studyInstanceUID) == study)
        #expect(matches.first?.integer(.numberOfStudyRelatedInstances) == 4)
        #expect(matches.first?.string(.retrieveAETitle) == "LOUPE")
        #expect(matches.first?.string(.specificCharacterSet) == "ISO_IR 192")

        var patients = DataSet()
        patients.set(.queryRetrieveLevel, .CS, "PATIENT")
        patients.set(.patientID, .LO, "")
        patients.set(.numberOfPatientRelatedInstances, .IS, "")
        let patientResult = try client.find(patients, model: .patientRoot, on: node.peer)
        #expect(patientResult.matches.map { $0.integer(.numberOfPatientRelatedInstances) } == [4])

        var images = DataSet()
        images.set(.queryRetrieveLevel, .CS, "IMAGE")
        images.set(.studyInstanceUID, .UI, study)
        images.set(.sopInstanceUID, .UI, "")
        images.set(.instanceNumber, .IS, "")
        #expect(try client.find(images, model: .studyRoot, on: node.peer).matches.count == 4)
        images.set(.instanceNumber, .IS, "2")
        #expect(try client.find(images, model: .studyRoot, on: node.peer).matches.map { $0.integer(.instanceNumber) } == [2])

        // PATIENT is not a level of the Study Root model.
        #expect(try client.find(patients, model: .studyRoot, on: node.peer).outcome.status == .dataSetDoesNotMatchSOPClass)
    }

    @Test func findHonoursCancel() throws {
        let node = try Node()
        // Enough matches that the cancel arrives while responses are still being sent.
        let total = 800
        let study = UID.generate()
        for file in try writeInstances(total, to: temporaryDirectory("cancel"), studyUID: study) {
            _ = try node.archive.importFile(at: file, source: IngestSource(origin: "TEST"))
        }
        let (_, output) = try dcmtk("findscu", ["-v", "-S", "--cancel", "1", "-aec", "LOUPE", "-k", "QueryRetrieveLevel=IMAGE",
                                                "-k", "StudyInstanceUID=\(study)", "-k", "SOPInstanceUID",
                                                "127.0.0.1", String(node.port)])
        let responses = output.components(separatedBy: "Find Response:").count - 1
        #expect(responses >= 1 && responses < total, "\(responses) responses")
        #expect(output.contains("Cancel"), "\(output.suffix(500))")
    }

    @Test func moveToAnotherNode() throws {
        let destination = try Node(aeTitle: "DEST")
        let source = try Node { $0.peers = [DICOMPeer(name: "DEST", aeTitle: "DEST", host: "127.0.0.1", port: destination.port)] }
        let study = UID.generate()
        let files = try writeInstances(3, to: temporaryDirectory("move"), studyUID: study)
        _ = try DIMSEClient(callingAETitle: "TEST").store(files.map { try DIMSEClient.StoreItem(file: $0) }, to: source.peer)

        var identifier = DataSet()
        identifier.set(.queryRetrieveLevel, .CS, "STUDY")
        identifier.set(.studyInstanceUID, .UI, study)
        let client = DIMSEClient(callingAETitle: "TEST")
        let (counts, outcome) = try client.move(identifier, model: .studyRoot, on: source.peer, to: "DEST")
        #expect(outcome.status == .success)
        #expect(counts == DIMSEClient.RetrieveCounts(completed: 3, failed: 0, warning: 0))
        for file in files {
            let uid = try #require(try DICOMReader.read(contentsOf: file).sopInstanceUID)
            let moved = try #require(try destination.archive.instance(sopInstanceUID: uid))
            #expect(try dataSetBytes(moved.fileURL) == dataSetBytes(file))
        }

        let unknown = try client.move(identifier, model: .studyRoot, on: source.peer, to: "NOWHERE")
        #expect(unknown.outcome.status == .moveDestinationUnknown)

        var wildcard = DataSet()
        wildcard.set(.queryRetrieveLevel, .CS, "STUDY")
        wildcard.set(.studyInstanceUID, .UI, "*")
        #expect(try client.move(wildcard, model: .studyRoot, on: source.peer, to: "DEST").outcome.status == .dataSetDoesNotMatchSOPClass)
    }

    @Test func moveToAnUnreachableDestinationFailsEverySubOperation() throws {
        let source = try Node { $0.peers = [DICOMPeer(name: "GONE", aeTitle: "GONE", host: "127.0.0.1", port: 1)] }
        let study = UID.generate()
        let files = try writeInstances(2, to: temporaryDirectory("gone"), studyUID: study)
        _ = try DIMSEClient(callingAETitle: "TEST").store(files.map { try DIMSEClient.StoreItem(file: $0) }, to: source.peer)
        var identifier = DataSet()
        identifier.set(.queryRetrieveLevel, .CS, "STUDY")
        identifier.set(.studyInstanceUID, .UI, study)
        let (counts, outcome) = try DIMSEClient(callingAETitle: "TEST").move(identifier, model: .studyRoot, on: source.peer, to: "GONE")
        #expect(outcome.status == .outOfResourcesSubOperations)
        #expect(counts.failed == 2)
    }

    @Test func getWithDCMTK() throws {
        let node = try Node()
        let study = UID.generate()
        let files = try writeInstances(2, to: temporaryDirectory("get"), studyUID: study)
        _ = try DIMSEClient(callingAETitle: "TEST").store(files.map { try DIMSEClient.StoreItem(file: $0) }, to: node.peer)
        let out = temporaryDirectory("get-out")
        let (status, output) = try dcmtk("getscu", ["-S", "-aec", "LOUPE", "-od", out.path, "-k", "QueryRetrieveLevel=STUDY",
                                                    "-k", "StudyInstanceUID=\(study)", "127.0.0.1", String(node.port)])
        #expect(status == 0, "\(output)")
        let received = try FileManager.default.contentsOfDirectory(at: out, includingPropertiesForKeys: nil)
        #expect(received.count == 2)
        let originals = Set(try files.map { try dataSetBytes($0) })
        for file in received { #expect(originals.contains(try dataSetBytes(file))) }
    }

    /// A storescp that accepts only what `options` allow, receiving bit for bit into a directory.
    private func withStorescp(_ options: [String], _ body: (DICOMPeer, URL) throws -> Void) throws {
        let out = temporaryDirectory("storescp")
        let port = UInt16.random(in: 20000...40000)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/storescp")
        process.arguments = options + ["+B", "-aet", "STORESCP", "-od", out.path, String(port)]
        try process.run()
        defer { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        let peer = DICOMPeer(name: "STORESCP", aeTitle: "STORESCP", host: "127.0.0.1", port: port)
        for _ in 0..<50 where (try? DIMSEClient(callingAETitle: "TEST").echo(peer)) == nil {
            Thread.sleep(forTimeInterval: 0.1)
        }
        try body(peer, out)
    }

    @Test func moveConvertsForADestinationThatTakesOnlyImplicitVR() throws {
        try withStorescp(["+xi"]) { peer, out in
            let source = try Node { $0.peers = [peer] }
            let study = UID.generate()
            let files = try writeInstances(2, to: temporaryDirectory("implicit"), studyUID: study)
            _ = try DIMSEClient(callingAETitle: "TEST").store(files.map { try DIMSEClient.StoreItem(file: $0) }, to: source.peer)
            var identifier = DataSet()
            identifier.set(.queryRetrieveLevel, .CS, "STUDY")
            identifier.set(.studyInstanceUID, .UI, study)
            let (counts, outcome) = try DIMSEClient(callingAETitle: "TEST").move(identifier, model: .studyRoot, on: source.peer, to: "STORESCP")
            #expect(outcome.status == .success)
            #expect(counts.completed == 2)
            for file in try FileManager.default.contentsOfDirectory(at: out, includingPropertiesForKeys: nil) {
                let received = try DICOMReader.read(contentsOf: file)
                #expect(received.transferSyntax == .implicitVRLittleEndian)
                #expect(received.dataSet.string(.studyInstanceUID) == study)
            }
        }
    }

    @Test func moveDecompressesJPEGForAnUncompressedDestination() throws {
        let jpeg = URL(fileURLWithPath: try pydicomTestFile("SC_rgb_jpeg_dcmtk.dcm"))
        try withStorescp([]) { peer, out in
            let source = try Node { $0.peers = [peer] }
            let stored = try source.archive.importFile(at: jpeg, source: IngestSource(origin: "TEST"))
            var identifier = DataSet()
            identifier.set(.queryRetrieveLevel, .CS, "STUDY")
            identifier.set(.studyInstanceUID, .UI, stored.studyInstanceUID)
            let (counts, outcome) = try DIMSEClient(callingAETitle: "TEST").move(identifier, model: .studyRoot, on: source.peer, to: "STORESCP")
            #expect(outcome.status == .success)
            #expect(counts.completed == 1)
            let received = try #require(try FileManager.default.contentsOfDirectory(at: out, includingPropertiesForKeys: nil).first)
            let file = try DICOMReader.read(contentsOf: received)
            #expect(file.transferSyntax.isNative)
            // Native pixel data: rows × columns × 3 samples.
            let rows = try #require(file.dataSet.integer(.rows)), columns = try #require(file.dataSet.integer(.columns))
            #expect(file.dataSet[.pixelData]?.bytes.count == rows * columns * 3)
        }
    }

    @Test func sendAsStoredToDCMTKStorescp() throws {
        let out = temporaryDirectory("storescp")
        let port = UInt16.random(in: 20000...40000)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/storescp")
        process.arguments = ["+B", "-aet", "STORESCP", "-od", out.path, String(port)]
        try process.run()
        defer { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }  // storescp ignores SIGTERM
        let files = try writeInstances(3, to: temporaryDirectory("send"))
        let peer = DICOMPeer(name: "STORESCP", aeTitle: "STORESCP", host: "127.0.0.1", port: port)
        var results: [DIMSEClient.StoreItem] = []
        for _ in 0..<50 {  // until storescp listens
            if let sent = try? DIMSEClient(callingAETitle: "TEST").store(files.map { try DIMSEClient.StoreItem(file: $0) }, to: peer) {
                results = sent
                break
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(results.count == 3)
        #expect(results.allSatisfy { $0.status == .success })
        let received = try FileManager.default.contentsOfDirectory(at: out, includingPropertiesForKeys: nil)
        #expect(Set(try received.map { try dataSetBytes($0) }) == Set(try files.map { try dataSetBytes($0) }))
    }
}
