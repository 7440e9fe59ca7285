/// Loupe's parsers of strangers' bytes, each as one fuzz target: what the libFuzzer driver
/// (`loupe-fuzz`, built by `make fuzz`) calls for every input, and what the regression tests replay.
///
/// A target returns whether its parser accepted the input; a broken invariant (invalid JSON out,
/// a part outside the body, a 5xx for a query) stops the process, so the fuzzer reports it as a crash.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// A Part-10 file as ingest reads it: header, index attributes, metadata document, frame layout.
    case part10
    /// A bare data set (explicit VR little endian) through the DICOM JSON encoder.
    case dicomJSON = "dicom-json"
    /// A STOW-RS body: the first line is the Content-Type, the rest the multipart body.
    case multipart
    /// A QIDO-RS query string at every level, run against an archive.
    case qido
    /// A photo's JPEG markers and the Secondary Capture pixels made from it.
    case jpeg
    /// A similarity or photo upload (PNG or JPEG) decoded to RGB.
    case photo
    /// A bearer token through the OIDC verifier.
    case jwt

    public func run(_ bytes: [UInt8]) -> FuzzOutcome {
        switch self {
        case .part10: Part10Target.run(bytes)
        case .dicomJSON: DICOMJSONTarget.run(bytes)
        case .multipart: MultipartTarget.run(bytes)
        case .qido: QIDOTarget.run(bytes)
        case .jpeg: PhotoTargets.jpeg(bytes)
        case .photo: PhotoTargets.photo(bytes)
        case .jwt: JWTTarget.run(bytes)
        }
    }
}

/// What a parser made of one input.
public enum FuzzOutcome: Sendable, Equatable {
    case accepted
    /// Refused with this message (what the client would read).
    case refused(String)

    init(_ error: any Error) { self = .refused(String(describing: error)) }
}
