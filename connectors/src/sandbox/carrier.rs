//! What every carrier sandbox declares, so the carrier conformance suite, the
//! demo and `orderhub sandbox KIND` start any of them the same way.
//!
//! Beside the vendor's own routes and the shared control routes
//! (`/_sandbox/faults|stats|reset-stats|credentials`), every carrier sandbox
//! serves:
//!
//! - `POST /_sandbox/subscribe` — `{"url": "..."}`: deliver tracking webhooks
//!   there from now on, signed as the vendor signs them with the profile's
//!   secret (the URL already carries [`SandboxProfile::webhook_query`] when the
//!   vendor authenticates by a token in the URL). Vendors with a webhook API of
//!   their own keep it too; this route is the one tests use.
//! - `POST /_sandbox/trackers/advance` — every label not yet delivered moves one
//!   step (pre-transit → in transit → out for delivery → delivered) and its
//!   event is delivered; answers once the deliveries (retries included) are
//!   done or given up, with `{"events": [ids], "delivered": n, "failed": n}`.
//! - `POST /_sandbox/trackers/{tracking_code}/advance` — one label, one step;
//!   404 when unknown.
//! - `POST /_sandbox/trackers/{tracking_code}/replay` — the label's last event
//!   again, same id and body (a duplicate delivery); 404 when none was sent.
//! - `GET /_sandbox/stats` → `recorded.labels_by_reference` `{"<reference>": n}`
//!   (labels bought per orderhub shipment reference; exactly-once is `1`),
//!   `recorded.voids_by_reference` (labels voided), `recorded.shipments_created`.
//! - `GET` on every `label_url` the sandbox hands out: the label file in the
//!   bought format ([`label_document`]), so batches can be merged and printed.
//!
//! Kinds that only receive tracking (Standard Webhooks) have no labels to buy;
//! their sandbox imitates the in-house system that ships and also serves
//! `POST /_sandbox/parcels` — `{"tracking_code", "reference"}` — to register a
//! parcel it shipped, after which the tracker routes above work for it.

use crate::carrier::LabelFormat;

/// A label file as a sandbox serves it: its content type and bytes. The PDF
/// is a real one-page 4×6 in document whose text names the carrier and the
/// tracking code, so merged batches can be checked by reading them back; the
/// PNG is a real 4×6 in image at 203 dpi (a thermal printer's resolution)
/// with a Code 128 barcode of the tracking code ([`label_png`]); the ZPL is
/// a 4×6 format (`^XA … ^XZ`) with the carrier's name and a `^BC` Code 128
/// barcode of the tracking code.
pub fn label_document(
    format: LabelFormat,
    carrier: &str,
    tracking_code: &str,
) -> (&'static str, Vec<u8>) {
    match format {
        LabelFormat::Pdf => ("application/pdf", label_pdf(carrier, tracking_code)),
        LabelFormat::Png => (
            "image/png",
            label_png(tracking_code).unwrap_or_else(|_| LABEL_PNG.to_vec()),
        ),
        LabelFormat::Zpl => (
            "application/zpl",
            format!(
                "^XA\n^CF0,40\n^FO50,50^FD{}^FS\n^BY3,2,120\n^FO50,150^BCN,120,Y,N,N^FD{}^FS\n^XZ\n",
                zpl_safe(carrier),
                zpl_safe(tracking_code)
            )
            .into_bytes(),
        ),
    }
}

/// ZPL has no escaping for `^` and `~` in field data: drop them.
fn zpl_safe(s: &str) -> String {
    s.chars().filter(|c| *c != '^' && *c != '~').collect()
}

/// Text inside a PDF string literal: backslash, parentheses escaped, ASCII only.
fn pdf_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '(' | ')' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out
}

/// The 4×6 in label PDF of [`label_document`].
fn label_pdf(carrier: &str, tracking_code: &str) -> Vec<u8> {
    label_pdf_page(carrier, tracking_code, (288, 432))
}

/// A label PDF on a page of `(width, height)` points (72 to the inch), for
/// vendors whose PDF sizes are chosen per label (Shippo's `PDF_4x8`,
/// `PDF_A4`, ...). A minimal valid PDF 1.4: catalog, pages, one page,
/// Helvetica, and a content stream with two lines of text near the top; the
/// xref offsets are computed.
pub fn label_pdf_page(carrier: &str, tracking_code: &str, (width, height): (u32, u32)) -> Vec<u8> {
    let content = format!(
        "BT /F1 18 Tf 24 {} Td ({}) Tj 0 -30 Td (TRACKING {}) Tj ET",
        height.saturating_sub(52),
        pdf_text(carrier),
        pdf_text(tracking_code)
    );
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width} {height}] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>"),
        format!("<< /Length {} >>\nstream\n{}\nendstream", content.len(), content),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{}\nendobj\n", i + 1, body).as_bytes());
    }
    let xref_at = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// Width and height of a PNG label: 4×6 in at 203 dpi.
pub const LABEL_PNG_SIZE: (u32, u32) = (812, 1218);
/// The row (from the top) through the middle of a PNG label's barcode.
pub const LABEL_PNG_BARCODE_ROW: u32 = 700;

/// A PNG label: 8-bit greyscale, white, a black frame, and the Code 128
/// (code set B) barcode of the tracking code, 3 pixels per module (2 or 1
/// for long codes, to fit), rows 600 to 800, starting at x = 40 — so a test
/// can read the bars back along [`LABEL_PNG_BARCODE_ROW`].
pub fn label_png(tracking_code: &str) -> Result<Vec<u8>, String> {
    let (w, h) = LABEL_PNG_SIZE;
    let printable: String = tracking_code
        .chars()
        .filter(|c| (' '..='~').contains(c))
        .collect();
    let modules = barcoders::sym::code128::Code128::new(format!("\u{0181}{printable}"))
        .map_err(|e| e.to_string())?
        .encode();
    let module_px = ((w - 80) / modules.len().max(1) as u32).clamp(1, 3);
    let mut px = vec![255u8; (w * h) as usize];
    let mut set = |x: u32, y: u32| {
        if x < w && y < h {
            px[(y * w + x) as usize] = 0;
        }
    };
    for x in 0..w {
        for t in 0..4 {
            set(x, 10 + t);
            set(x, h - 11 - t);
        }
    }
    for y in 0..h {
        for t in 0..4 {
            set(10 + t, y);
            set(w - 11 - t, y);
        }
    }
    for (i, m) in modules.iter().enumerate() {
        if *m == 1 {
            for dx in 0..module_px {
                for y in 600..800 {
                    set(40 + i as u32 * module_px + dx, y);
                }
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(|e| e.to_string())?;
        writer.write_image_data(&px).map_err(|e| e.to_string())?;
        writer.finish().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// A 1×1 grey PNG, served if a PNG label cannot be drawn.
pub const LABEL_PNG: [u8; 67] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x3a, 0x7e, 0x9b,
    0x55, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0x0f, 0x00, 0x01,
    0x01, 0x01, 0x00, 0xb1, 0x38, 0xf6, 0x14, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_pdf_has_a_correct_xref() {
        let pdf = label_pdf("USPS", "9400(1)");
        let text = String::from_utf8(pdf.clone()).unwrap();
        assert!(text.starts_with("%PDF-1.4"));
        assert!(text.contains("(TRACKING 9400\\(1\\)) Tj"));
        // Every xref entry points at its `N 0 obj`.
        let xref = text.find("xref\n").unwrap();
        for (i, line) in text[xref..].lines().skip(3).take(5).enumerate() {
            let off: usize = line[..10].parse().unwrap();
            assert!(
                text[off..].starts_with(&format!("{} 0 obj", i + 1)),
                "{line}"
            );
        }
        let startxref: usize = text
            .rsplit("startxref\n")
            .next()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(startxref, xref);
    }
}
