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
                let stats = try #require(response.json as? [String: Int])
                let expected = try fixture.store.archive.statistics()
                #expect(stats == ["patients": expected.patients, "studies": expected.studies, "series": expected.series, "instances": expected.instances])
                #expect(stats["instances"] == 6)
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
