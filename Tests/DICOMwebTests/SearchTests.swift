@testable import DICOMweb
import DICOM
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@Suite struct SearchTests {
    let fixture: WebFixture
    init() throws { fixture = try WebFixture() }

    @Test func studiesByNameWildcardWithRetrieveURL() async throws {
        let a = fixture.a1
        try await fixture.test { client in
            try await client.execute(uri: "/dicom-web/studies?PatientName=mull*", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/dicom+json")
                #expect(response.headers[HTTPField.Name("X-Total-Count")!] == "1")
                let studies = response.objects
                #expect(studies.count == 1)
                #expect(value(studies[0], .studyInstanceUID) as? String == a.studyUID)
                #expect(value(studies[0], Tag(0x0008, 0x1190)) as? String == "http://pacs.test/dicom-web/studies/\(a.studyUID)")
                #expect(value(studies[0], .numberOfStudyRelatedInstances) as? Int == 2)
                #expect(value(studies[0], .modalitiesInStudy) as? String == "CT")
                #expect((value(studies[0], .patientName) as? [String: String])?["Alphabetic"] == "Müller^Jörg")
            }
        }
    }

    @Test func keysByTagRangesListsAndTextWithCommas() async throws {
        let (a, b) = (fixture.a1, fixture.b1)
        try await fixture.test { client in
            func accessions(_ query: String) async throws -> [String] {
                try await client.execute(uri: "/dicom-web/studies?\(query)", method: .get) { response in
                    #expect(response.status == .ok, "\(query): \(response.text)")
                    return response.objects.compactMap { value($0, .accessionNumber) as? String }.sorted()
                }
            }
            let got1 = try await accessions("00100020=WEB2")
            #expect(got1 == ["B1"])
            let got2 = try await accessions("StudyDate=20230101-20231231")
            #expect(got2 == ["A1"])
            let got3 = try await accessions("StudyDate=20240101-")
            #expect(got3 == ["B1"])
            let got4 = try await accessions("StudyInstanceUID=\(a.studyUID),\(b.studyUID)")
            #expect(got4 == ["A1", "B1"])
            let got5 = try await accessions("StudyInstanceUID=\(a.studyUID)%5C\(b.studyUID)")
            #expect(got5 == ["A1", "B1"])
            let got6 = try await accessions("ModalitiesInStudy=MR")
            #expect(got6 == ["B1"])
            let got7 = try await accessions("StudyDescription=CHEST,%20PA")
            #expect(got7 == ["A1"])
            let got8 = try await accessions("PatientName=doe*&fuzzymatching=true")
            #expect(got8 == ["B1"])
        }
    }

    @Test func includeFieldAndPaging() async throws {
        try await fixture.test { client in
            let all = try await client.execute(uri: "/dicom-web/studies", method: .get) { $0.objects.count }
            #expect(all >= 3)
            try await client.execute(uri: "/dicom-web/studies?includefield=00081030,PatientAge&limit=2&offset=1", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[HTTPField.Name("X-Total-Count")!] == String(all))
                #expect(response.objects.count == 2)
                #expect(response.objects.allSatisfy { $0["00101010"] != nil && $0["00081030"] != nil })
            }
            // At instance level, "all" includes every attribute stored for the instance.
            try await client.execute(uri: "/dicom-web/instances?includefield=all&SOPInstanceUID=\(fixture.a1.sopUID)", method: .get) { response in
                #expect(response.objects.count == 1)
                #expect(response.objects.first.flatMap { value($0, Tag(0x0018, 0x1030)) as? String } == "Protocol CT")
                #expect((response.objects.first?[Tag.pixelData.hex] as? [String: Any])?["BulkDataURI"] != nil)
            }
            try await client.execute(uri: "/dicom-web/series?includefield=all&Modality=CT", method: .get) { response in
                #expect(response.objects.count == 2)
                #expect(response.objects.allSatisfy { $0[Tag.institutionName.hex] != nil && $0[Tag.patientID.hex] != nil })
            }
        }
    }

    @Test func scopedSearches() async throws {
        let a = fixture.a1
        try await fixture.test { client in
            try await client.execute(uri: "/dicom-web/studies/\(a.studyUID)/series", method: .get) { response in
                #expect(response.objects.map { value($0, .seriesInstanceUID) as? String } == [a.seriesUID])
                #expect(value(response.objects[0], .numberOfSeriesRelatedInstances) as? Int == 2)
            }
            try await client.execute(uri: "/dicom-web/studies/\(a.studyUID)/series/\(a.seriesUID)/instances", method: .get) { response in
                #expect(Set(response.objects.compactMap { value($0, .sopInstanceUID) as? String }) == [a.sopUID, fixture.a2.sopUID])
                #expect(response.objects.allSatisfy { (value($0, Tag(0x0008, 0x1190)) as? String)?.contains("/instances/") == true })
            }
            try await client.execute(uri: "/dicom-web/studies/1.2.3.4/series", method: .get) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/dicom-web/instances?SOPInstanceUID=1.2.3", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.text == "[]")
            }
        }
    }

    @Test func badQueriesAreRefusedWithAReason() async throws {
        try await fixture.test { client in
            for query in ["NoSuchKeyword=1", "limit=-1", "limit=ten", "ReferencedSeriesSequence.SeriesInstanceUID=1"] {
                try await client.execute(uri: "/dicom-web/studies?\(query)", method: .get) { response in
                    #expect(response.status == .badRequest, "\(query)")
                    #expect(response.text.contains("message"))
                }
            }
            try await client.execute(uri: "/dicom-web/studies", method: .get, headers: headers([("Accept", "image/png")])) { response in
                #expect(response.status == .notAcceptable)
            }
            // Lenient Accept: lists, parameters, quotes.
            try await client.execute(uri: "/dicom-web/studies", method: .get,
                                     headers: headers([("Accept", "application/json, application/dicom+json; q=0.9, */*;q=0.1")])) { response in
                #expect(response.status == .ok)
            }
        }
    }
}
