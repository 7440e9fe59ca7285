import Foundation

/// Encodes data sets (explicit or implicit VR little endian) and Part-10 files.
public enum DICOMWriter {
    /// Loupe's implementation identity in the meta information it writes (a UUID-derived OID, PS3.5 B.2).
    public static let implementationClassUID = "2.25.230682439413620489563505395815543735511"
    public static let implementationVersionName = "LOUPE_1"

    /// Encodes a data set without meta information. Sequences and items use undefined lengths.
    public static func encode(_ dataSet: DataSet, transferSyntax: TransferSyntax = .explicitVRLittleEndian) throws -> [UInt8] {
        guard !transferSyntax.isBigEndian else { throw DICOMError.unsupported("writing big endian") }
        var out: [UInt8] = []
        out.reserveCapacity(1024)
        write(dataSet, explicit: transferSyntax.isExplicitVR, into: &out)
        if transferSyntax.isDeflated { return try Deflate.compress(out) }
        return out
    }

    /// A Part-10 file: preamble, "DICM", meta information for `dataSet`, then the data set.
    public static func encodeFile(_ dataSet: DataSet, transferSyntax: TransferSyntax = .explicitVRLittleEndian) throws -> [UInt8] {
        let body = try encode(dataSet, transferSyntax: transferSyntax)
        return try filePrefix(sopClassUID: dataSet.string(.sopClassUID) ?? "",
                              sopInstanceUID: dataSet.string(.sopInstanceUID) ?? "",
                              transferSyntax: transferSyntax) + body
    }

    /// Preamble, "DICM" and meta information; the encoded data set follows it as is.
    public static func filePrefix(sopClassUID: String, sopInstanceUID: String, transferSyntax: TransferSyntax,
                                  sourceAE: String? = nil) throws -> [UInt8] {
        var meta = DataSet()
        meta.set(DataElement(tag: .fileMetaInformationVersion, vr: .OB, value: .bytes([0x00, 0x01])))
        meta.set(.mediaStorageSOPClassUID, .UI, sopClassUID)
        meta.set(.mediaStorageSOPInstanceUID, .UI, sopInstanceUID)
        meta.set(.transferSyntaxUID, .UI, transferSyntax.uid)
        meta.set(.implementationClassUID, .UI, implementationClassUID)
        meta.set(.implementationVersionName, .SH, implementationVersionName)
        if let sourceAE, !sourceAE.isEmpty { meta.set(.sourceApplicationEntityTitle, .AE, sourceAE) }
        var metaBytes: [UInt8] = []
        write(meta, explicit: true, into: &metaBytes)
        var out = [UInt8](repeating: 0, count: 128) + Array("DICM".utf8)
        write(DataElement(tag: .fileMetaInformationGroupLength, uint32: [UInt32(metaBytes.count)]), explicit: true, into: &out)
        out += metaBytes
        return out
    }

    static func write(_ dataSet: DataSet, explicit: Bool, into out: inout [UInt8]) {
        for element in dataSet.elements { write(element, explicit: explicit, into: &out) }
    }

    static func write(_ element: DataElement, explicit: Bool, into out: inout [UInt8]) {
        appendTag(element.tag, &out)
        switch element.value {
        case .bytes(var bytes):
            if bytes.count % 2 == 1 { bytes.append(element.vr.paddingByte) }
            appendHeader(vr: element.vr, length: UInt32(bytes.count), explicit: explicit, &out)
            out += bytes
        case .sequence(let items):
            appendHeader(vr: .SQ, length: 0xFFFF_FFFF, explicit: explicit, &out)
            for item in items {
                appendTag(.item, &out); append32(0xFFFF_FFFF, &out)
                write(item, explicit: explicit, into: &out)
                appendTag(.itemDelimitation, &out); append32(0, &out)
            }
            appendTag(.sequenceDelimitation, &out); append32(0, &out)
        case .fragments(let table, let fragments):
            appendHeader(vr: element.vr, length: 0xFFFF_FFFF, explicit: explicit, &out)
            for fragment in [table] + fragments {
                appendTag(.item, &out)
                append32(UInt32(fragment.count + fragment.count % 2), &out)
                out += fragment
                if fragment.count % 2 == 1 { out.append(0) }
            }
            appendTag(.sequenceDelimitation, &out); append32(0, &out)
        }
    }

    private static func appendHeader(vr: VR, length: UInt32, explicit: Bool, _ out: inout [UInt8]) {
        if explicit {
            out += Array(vr.rawValue.utf8)
            if vr.hasLongLength {
                out += [0, 0]
                append32(length, &out)
            } else {
                out.append(UInt8(length & 0xFF)); out.append(UInt8(length >> 8 & 0xFF))
            }
        } else {
            append32(length, &out)
        }
    }

    private static func appendTag(_ tag: Tag, _ out: inout [UInt8]) {
        out.append(UInt8(tag.group & 0xFF)); out.append(UInt8(tag.group >> 8))
        out.append(UInt8(tag.element & 0xFF)); out.append(UInt8(tag.element >> 8))
    }

    private static func append32(_ v: UInt32, _ out: inout [UInt8]) {
        out.append(UInt8(v & 0xFF)); out.append(UInt8(v >> 8 & 0xFF))
        out.append(UInt8(v >> 16 & 0xFF)); out.append(UInt8(v >> 24))
    }
}
