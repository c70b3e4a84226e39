//! QR codes as SVG (the beacon page and the wallet's invoices).

use qrcode::{Color, EcLevel, QrCode};

/// An SVG QR code of `text` (error correction L, 4-module quiet zone), or why not (too long).
pub fn svg(text: &str) -> Result<String, String> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::L)
        .map_err(|e| format!("cannot make a QR code: {e}"))?;
    let w = code.width();
    let colors = code.to_colors();
    let size = w + 8;
    let mut path = String::new();
    for (i, c) in colors.iter().enumerate() {
        if *c == Color::Dark {
            path.push_str(&format!("M{},{}h1v1h-1z", i % w + 4, i / w + 4));
        }
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" \
         shape-rendering=\"crispEdges\"><rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/>\
         <path d=\"{path}\" fill=\"#000\"/></svg>"
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn svg_of_a_beacon_and_too_long_text() {
        let s = super::svg("moneysocket1lu4lq0qqxxxx").unwrap();
        assert!(s.starts_with("<svg") && s.contains("M4,4h1v1h-1z"));
        assert!(super::svg(&"x".repeat(5000)).is_err());
    }
}
