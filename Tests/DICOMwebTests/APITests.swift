import Archive
@testable import DICOMweb
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@Suite struct APITests {
    let fixture: WebFixture
    init() throws { fixture = try WebFixture(corsOrigins: ["https://viewer.example"]) }

    @Test func statsPatientsAndHealth() async throws {
        try await fixture.test { client in
            try await client.execute(uri: "/api/stats", method: .get) { response in
                let stats = try #require(response.json as? [String: Any])
                let expected = try fixture.store.archive.statistics()
                #expect(stats.compactMapValues { $0 as? Int } == ["patients": expected.patients, "studies": expected.studies,
                                                                   "series": expected.series, "instances": expected.instances,
                                                                   "flagged": 0])
                #expect(stats["findings"] as? [String: Any] != nil)
                #expect(stats["instances"] as? Int == 6)
                // Every instance has its PNG job queued; no worker runs in this test.
                #expect(stats["derivations"] as? [String: Int] == ["pending": 6, "running": 0, "done": 0, "failed": 0, "skipped": 0])
            }
            try await client.execute(uri: "/api/patients/WEB1", method: .get) { response in
                let patient = try #require(response.json as? [String: Any])
                #expect(patient["PatientName"] as? String == "Müller^Jörg")
                #expect(patient["NumberOfPatientRelatedInstances"] as? Int == 2)
                #expect((patient["Studies"] as? [[String: Any]])?.first?["AccessionNumber"] as? String == "A1")
            }
            try await client.execute(uri: "/api/patients/WEB1/counts", method: .get) { response in
                #expect(response.json as? [String: Int] == ["studies": 1, "series": 1, "instances": 2])
            }
            try await client.execute(uri: "/api/patients/NOBODY", method: .get) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test func derivationStatusImageInfoAndDerivedFile() async throws {
        struct Recorded: Encodable {
            let frame = 1, voi = "file-window", windowCenter = 40.0, windowWidth = 400.0, rescaleSlope = 1.0, rescaleIntercept = -1024.0
        }
        let archive = fixture.store.archive
        var claim = try #require(try archive.claimDerivations())
        while claim.input.sopInstanceUID != fixture.ct.sopInstanceUID {
            try archive.completeDerivation(claim, processor: "png", .success(.skipped("not this one")))
            claim = try #require(try archive.claimDerivations())
        }
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 1, 2, 3]
        try archive.completeDerivation(claim, processor: "png", .success(.derived([
            try DerivedFile(kind: "png", fileExtension: "png", bytes: png, parameters: Recorded())])))
        let uid = fixture.ct.sopInstanceUID
        try await fixture.test { client in
            try await client.execute(uri: "/api/instances/\(uid)/analysis", method: .get) { response in
                let analysis = try #require(response.json as? [String: Any])
                let jobs = try #require(analysis["derivations"] as? [[String: Any]])
                #expect(jobs.first?["processor"] as? String == "png" && jobs.first?["state"] as? String == "done")
                let derived = try #require((analysis["derived"] as? [[String: Any]])?.first)
                #expect(derived["name"] as? String == "\(uid).png")
                #expect(derived["url"] as? String == "/api/derived/\(uid).png")
            }
            try await client.execute(uri: "/api/imageinfo/\(uid).png", method: .get) { response in
                let info = try #require(response.json as? [String: Any])
                #expect(info["PatientID"] as? String == "1CT1")
                #expect(info["SOPInstanceUID"] as? String == uid)
                #expect(info["StudyInstanceUID"] as? String == self.fixture.ct.studyInstanceUID)
                #expect(info["InstanceNumber"] as? Int == 1)
                #expect(info["WindowCenter"] as? Double == 40 && info["WindowWidth"] as? Double == 400)
                #expect(info["RescaleSlope"] as? Double == 1 && info["RescaleIntercept"] as? Double == -1024)
            }
            try await client.execute(uri: "/api/derived/\(uid).png", method: .get) { response in
                #expect(response.headers[.contentType] == "image/png")
                #expect(Array(buffer: response.body) == png)
            }
            try await client.execute(uri: "/api/instances/\(self.fixture.a1.sopUID)/analysis", method: .get) { response in
                let jobs = try #require((response.json as? [String: Any])?["derivations"] as? [[String: Any]])
                #expect(jobs.first?["state"] as? String == "skipped")  // claimed before the CT above, not derived
            }
            for missing in ["/api/instances/1.2.3/analysis", "/api/imageinfo/1.2.3.png", "/api/derived/1.2.3.png"] {
                try await client.execute(uri: missing, method: .get) { response in
                    #expect(response.status == .notFound, "\(missing)")
                    #expect(String(buffer: response.body).contains("message"))
                }
            }
        }
    }

    @Test func cors() async throws {
        try await fixture.test { client in
            try await client.execute(uri: "/dicom-web/studies", method: .options,
                                     headers: headers([("Origin", "https://viewer.example"), ("Access-Control-Request-Method", "GET"),
                                                       ("Access-Control-Request-Headers", "accept")])) { response in
                #expect(response.status == .noContent)
                #expect(response.headers[.accessControlAllowOrigin] == "https://viewer.example")
                #expect(response.headers[.accessControlAllowMethods]?.contains("GET") == true)
            }
            try await client.execute(uri: "/dicom-web/studies", method: .get, headers: headers([("Origin", "https://viewer.example")])) { response in
                #expect(response.headers[.accessControlAllowOrigin] == "https://viewer.example")
            }
            try await client.execute(uri: "/dicom-web/studies/1.2.3", method: .get, headers: headers([("Origin", "https://viewer.example")])) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.accessControlAllowOrigin] == "https://viewer.example")
            }
            try await client.execute(uri: "/dicom-web/studies", method: .get, headers: headers([("Origin", "https://evil.example")])) { response in
                #expect(response.headers[.accessControlAllowOrigin] == nil)
            }
        }
    }
}
