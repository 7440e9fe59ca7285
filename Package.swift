// swift-tools-version: 6.1
import Foundation
import PackageDescription

/// DCMTK libraries the shim links (Debian's dcmtk.pc is unusable: it names a missing dependency);
/// dcmtls brings DICOM TLS over OpenSSL.
let dcmtkLibraries = ["dcmtls", "dcmnet", "dcmdata", "dcmjpeg", "dcmjpls", "dcmimgle", "dcmimage", "oflog", "ofstd"]

/// FAISS's headers include <omp.h>, which Debian keeps in GCC's private include directory only.
let openMPIncludeFlags: [String] = {
    let gcc = ["/usr/lib/gcc/x86_64-linux-gnu", "/usr/lib/gcc/aarch64-linux-gnu"]
    for root in gcc {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        for version in versions.sorted(by: { $0.compare($1, options: .numeric) == .orderedDescending })
        where FileManager.default.fileExists(atPath: "\(root)/\(version)/include/omp.h") {
            return ["-idirafter", "\(root)/\(version)/include"]  // after clang's own headers (intrinsics)
        }
    }
    return []
}()

let package = Package(
    name: "Loupe",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "loupe", targets: ["node"]),
        .executable(name: "IndexBench", targets: ["IndexBench"]),
        .executable(name: "loupe-fuzz", targets: ["loupe-fuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.20.0", traits: ["FullFoundation"]),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.0.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", "4.0.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.30.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.34.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
    ],
    targets: [
        .target(
            name: "CDCMTK",
            dependencies: ["COpenJPEG"],
            linkerSettings: dcmtkLibraries.map { .linkedLibrary($0) } + [.linkedLibrary("ssl"), .linkedLibrary("crypto"), .linkedLibrary("stdc++")]
        ),
        .systemLibrary(name: "COpenJPEG", path: "Sources/COpenJPEG", pkgConfig: "libopenjp2", providers: [.apt(["libopenjp2-7-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .target(name: "DICOM", dependencies: ["CZlib"]),
        .target(
            name: "Archive",
            dependencies: ["DICOM", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Logging", package: "swift-log")]
        ),
        .systemLibrary(name: "CArgon2", path: "Sources/CArgon2", pkgConfig: "libargon2", providers: [.apt(["libargon2-dev"])]),
        .target(
            name: "Access",
            dependencies: [
                "Archive", "DICOM", "CArgon2",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CTurboJPEG", path: "Sources/CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        .target(name: "Imaging", dependencies: ["DICOM", "CDCMTK", "CPNG", "CTurboJPEG"]),
        .systemLibrary(name: "CMosquitto", path: "Sources/CMosquitto", pkgConfig: "libmosquitto", providers: [.apt(["libmosquitto-dev"])]),
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .target(
            name: "CFAISS",
            // Optimised in debug builds too: the tests build real HNSW graphs.
            cxxSettings: [.unsafeFlags(openMPIncludeFlags + ["-O2"])],
            // Debian's libfaiss-dev is a static library built with OpenMP over the system BLAS/LAPACK.
            linkerSettings: [.linkedLibrary("faiss"), .linkedLibrary("gomp"), .linkedLibrary("openblas"), .linkedLibrary("stdc++")]
        ),
        .target(
            name: "Featurizer",
            dependencies: ["Imaging", "COpenBLAS", "CFAISS"],
            // The depthwise loops are the hot path: optimised and unchecked in debug builds too, or
            // the tests' forward passes take seconds.
            swiftSettings: [.unsafeFlags(["-Ounchecked"])]
        ),
        .target(
            name: "Classifier",
            dependencies: ["DICOM", "Featurizer", "Imaging"],
            // Committed parameters of the anomaly classifier (scripts/classifier/train.py).
            resources: [.copy("Resources/anomaly-classifier.json")],
            // Per-pixel statistics of every image: optimised in debug builds too.
            swiftSettings: [.unsafeFlags(["-O"])]
        ),
        .target(
            name: "DICOMweb",
            dependencies: [
                "DICOM", "Archive", "Access", "Imaging", "Featurizer", "Classifier",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(
            name: "Web",
            dependencies: [
                "Access", "Archive", "DICOM", "DICOMweb",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            // Templates (swift-mustache) and the static ES modules and CSS of the screens.
            resources: [.copy("Templates"), .copy("Static")]
        ),
        .target(
            name: "DIMSE",
            dependencies: ["DICOM", "Archive", "Access", "CDCMTK", .product(name: "Logging", package: "swift-log"),
                           .product(name: "Metrics", package: "swift-metrics")]
        ),
        .executableTarget(
            name: "node",
            dependencies: [
                "DICOM", "Archive", "Access", "DIMSE", "DICOMweb", "Web", "Featurizer", "Classifier", "CMosquitto",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // bench/similarity: Loupe's vector index timed against FAISS from Python and hnswlib.
        .executableTarget(name: "IndexBench", dependencies: ["Featurizer"], path: "bench/similarity/IndexBench"),
        // fuzz: Loupe's parsers of strangers' bytes as fuzz targets, and the libFuzzer driver (make fuzz).
        .target(
            name: "FuzzTargets",
            dependencies: ["DICOM", "Archive", "Access", "Imaging", "DICOMweb", "LoupeTestSupport",
                           .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "JWTKit", package: "jwt-kit")],
            path: "fuzz/FuzzTargets"
        ),
        .executableTarget(name: "loupe-fuzz", dependencies: ["FuzzTargets"], path: "fuzz/Driver"),
        .testTarget(name: "DICOMTests", dependencies: ["DICOM"], exclude: ["Support"]),
        .target(name: "LoupeTestSupport", dependencies: ["Archive", "DICOM"], path: "Tests/LoupeTestSupport"),
        .testTarget(
            name: "AccessTests",
            dependencies: [
                "Access", "Archive", "LoupeTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .testTarget(name: "FuzzTargetTests", dependencies: ["FuzzTargets"], path: "fuzz/Tests", exclude: ["regressions"]),
        .testTarget(name: "ArchiveTests", dependencies: ["Archive", "DICOM", "LoupeTestSupport", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "DIMSETests", dependencies: ["DIMSE", "Archive", "DICOM", "LoupeTestSupport", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "DICOM", "LoupeTestSupport"]),
        .testTarget(name: "ClassifierTests", dependencies: ["Classifier", "Featurizer", "Imaging", "LoupeTestSupport"]),
        .testTarget(name: "FeaturizerTests", dependencies: ["Featurizer", "Imaging", "LoupeTestSupport"]),
        .testTarget(
            name: "DICOMwebTests",
            dependencies: [
                "DICOMweb", "Web", "Access", "Archive", "DICOM", "Featurizer", "Imaging", "LoupeTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6],
    cxxLanguageStandard: .cxx17
)
