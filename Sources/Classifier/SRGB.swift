import Foundation

/// Colorimetry of 8-bit sRGB pixels, shared by the skin analyses: linear light and CIELAB.
enum SRGB {
    /// sRGB → linear light, per 8-bit value.
    static let linear: [Double] = (0..<256).map { value in
        let c = Double(value) / 255
        return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4)
    }

    /// CIELAB (D65 white) of linear-light RGB.
    static func lab(linear r: Double, _ g: Double, _ b: Double) -> (l: Double, a: Double, b: Double) {
        let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
        let y = 0.2126 * r + 0.7152 * g + 0.0722 * b
        let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883
        func f(_ t: Double) -> Double { t > 216.0 / 24389 ? cbrt(t) : (24389.0 / 27 * t + 16) / 116 }
        return (116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z)))
    }

    /// CIELAB of an 8-bit sRGB pixel.
    static func lab(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> (l: Double, a: Double, b: Double) {
        lab(linear: linear[Int(r)], linear[Int(g)], linear[Int(b)])
    }
}
