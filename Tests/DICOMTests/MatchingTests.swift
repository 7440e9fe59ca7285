import DICOM
import Testing

/// Attribute matching, PS3.4 C.2.2.2.
@Suite struct MatchingTests {
    @Test func zeroLengthKeyIsUniversal() {
        #expect(MatchConstraint(query: "", vr: .PN) == .universal)
        #expect(MatchConstraint(query: "  ", vr: .DA) == .universal)
        #expect(MatchConstraint(query: "*", vr: .LO) == .universal)
        #expect(MatchConstraint.universal.matches(nil, vr: .PN))
    }

    @Test func singleValueMatchesExactly() {
        let key = MatchConstraint(query: "CT", vr: .CS)
        #expect(key == .single("CT"))
        #expect(key.matches("CT", vr: .CS))
        #expect(!key.matches("CTA", vr: .CS))
        #expect(!key.matches(nil, vr: .CS))
        #expect(!key.matches("", vr: .CS))
    }

    /// A fuzzer's find (fuzz/Tests/regressions/qido): U+ABE3, a spacing mark, after a backslash makes
    /// one Character of both. Split by Character, the value kept its backslash, and parsing it again
    /// recursed until the stack overflowed. Values split at the backslash scalar, as their bytes are.
    @Test func backslashBeforeACombiningMarkSeparatesValues() {
        let (mark, acute) = ("\u{ABE3}", "\u{0301}")  // outside #expect, which cannot expand \u escapes
        let key = MatchConstraint(query: "1\\" + mark + "2\\3", vr: .IS)
        #expect(key == .anyOf([.single("1"), .single(mark + "2"), .single("3")]))
        #expect(key.matches("0\\3", vr: .IS))
        #expect(MatchConstraint(query: "\\" + acute, vr: .LO) == .single(acute))
        #expect(MatchConstraint.single("7").matches("7\\" + mark, vr: .IS))
    }

    @Test func wildcards() {
        let key = MatchConstraint(query: "DOE*", vr: .PN)
        #expect(key == .wildcard("DOE*"))
        #expect(key.matches("DOE^JOHN", vr: .PN))
        #expect(!key.matches("ADOE^JOHN", vr: .PN))
        let q = MatchConstraint(query: "?OE^J*N", vr: .PN)
        #expect(q.matches("DOE^JOHN", vr: .PN))
        #expect(!q.matches("DOE^JOHNY", vr: .PN))
        #expect(Wildcard.matches("abc", pattern: "a**c"))
        #expect(!Wildcard.matches("ab", pattern: "a?c"))
        #expect(Wildcard.matches("", pattern: "*"))
    }

    @Test func personNamesCaseAndAccentInsensitiveOnlyWhenAsked() {
        let key = MatchConstraint(query: "muller*", vr: .PN)
        #expect(key.matches("Müller^Jörg", vr: .PN, caseInsensitive: true))
        #expect(!key.matches("Müller^Jörg", vr: .PN, caseInsensitive: false))
        #expect(MatchConstraint(query: "doe^john", vr: .PN).matches("DOE^JOHN", vr: .PN, caseInsensitive: true))
        // Only PN folds: other VRs stay case sensitive.
        #expect(!MatchConstraint(query: "ct", vr: .CS).matches("CT", vr: .CS, caseInsensitive: true))
    }

    @Test func trailingEmptyNameComponentsAreInsignificant() {
        #expect(PersonNameFolding.normalized("OB^^^^") == "OB")
        #expect(PersonNameFolding.normalized("A^B^^=X^^=") == "A^B=X")
        #expect(MatchConstraint(query: "OB", vr: .PN).matches("OB^^^^", vr: .PN))
        #expect(MatchConstraint(query: "DOE^JOHN^^", vr: .PN).matches("DOE^JOHN", vr: .PN))
    }

    @Test func dateRanges() {
        let january = MatchConstraint(query: "20230101-20230131", vr: .DA)
        #expect(january == .range(lower: "20230101", upper: "20230131"))
        #expect(january.matches("20230101", vr: .DA))
        #expect(january.matches("20230131", vr: .DA))
        #expect(!january.matches("20230201", vr: .DA))
        #expect(MatchConstraint(query: "-20221231", vr: .DA).matches("19991231", vr: .DA))
        #expect(!MatchConstraint(query: "20240101-", vr: .DA).matches("20231231", vr: .DA))
        // ACR-NEMA dates compare like DICOM ones.
        #expect(january.matches("2023.01.15", vr: .DA))
    }

    @Test func timeRangesIncludeTheWholeLastUnit() {
        let morning = MatchConstraint(query: "0800-1200", vr: .TM)
        #expect(morning.matches("120059.999", vr: .TM))
        #expect(morning.matches("08", vr: .TM))
        #expect(!morning.matches("1201", vr: .TM))
        #expect(morning.matches("10:30:00", vr: .TM))
    }

    @Test func dateTimeRangesWithOffsets() {
        let key = MatchConstraint(query: "20230101120000-0500-20230102", vr: .DT)
        #expect(key == .range(lower: "20230101120000-0500", upper: "20230102"))
        #expect(key.matches("20230102235959", vr: .DT))
        #expect(!key.matches("20230101115959", vr: .DT))
    }

    @Test func uidListsAndMultipleValues() {
        let list = MatchConstraint(query: "1.2.3\\1.2.4", vr: .UI)
        #expect(list == .anyOf([.single("1.2.3"), .single("1.2.4")]))
        #expect(list.matches("1.2.4", vr: .UI))
        #expect(!list.matches("1.2.5", vr: .UI))
        let modalities = MatchConstraint(query: "CT\\MR", vr: .CS)
        #expect(modalities.matches("MR", vr: .CS))
        // A multi-valued stored attribute matches when any of its values does.
        #expect(MatchConstraint(query: "MR", vr: .CS).matches("CT\\MR", vr: .CS))
    }
}
