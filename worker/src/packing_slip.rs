//! Warehouse floor documents as PDF: packing slips (one per shipment, with a
//! Code 128 barcode of `SHIP-<shipment id>`), pick lists, and a PNG label
//! as a PDF page so a batch can be printed as one file.
//!
//! Written with lopdf (already the labels merger's dependency): Helvetica
//! text and the barcode drawn as filled rectangles, one per bar, at exact
//! module widths (barcoders encodes the value into modules), so the file is
//! tiny and the bars can be read back from the content stream.

use lopdf::content::{Content, Operation};
use lopdf::{dictionary, Document, Object, ObjectId, Stream, StringFormat};
use orderhub_core::picklist::PickList;
use orderhub_core::store::PackingSlip;

/// A 4×6 in page (points): thermal label stock.
pub const LABEL_PAGE: (f32, f32) = (288.0, 432.0);
/// US Letter (points), for pick lists.
pub const LETTER_PAGE: (f32, f32) = (612.0, 792.0);
/// The narrowest bar of a slip's barcode, in points (0.0139 in: 2 dots at
/// 144 dpi, within Code 128's usual X-dimension range).
pub const MODULE_WIDTH: f32 = 1.0;
/// The largest PNG label accepted for a page (pixels per side).
const MAX_IMAGE_SIDE: u32 = 5_000;

/// The Code 128 modules of `value` (1 = bar, 0 = space), start, check
/// character and stop included, in code set B (printable ASCII).
pub fn code128_modules(value: &str) -> Result<Vec<u8>, String> {
    if value.is_empty() || !value.chars().all(|c| (' '..='~').contains(&c)) {
        return Err("a barcode value must be printable ASCII".into());
    }
    barcoders::sym::code128::Code128::new(format!("\u{0181}{value}"))
        .map(|c| c.encode())
        .map_err(|e| format!("barcode: {e}"))
}

/// One page being drawn.
struct Page {
    size: (f32, f32),
    ops: Vec<Operation>,
    /// The image (an index into [`write`]'s images) drawn as `/Im0`.
    image: Option<usize>,
}

impl Page {
    fn new(size: (f32, f32)) -> Page {
        Page {
            size,
            ops: Vec::new(),
            image: None,
        }
    }

    fn text(&mut self, x: f32, y: f32, size: f32, bold: bool, s: &str) {
        self.ops.push(Operation::new("BT", vec![]));
        self.ops.push(Operation::new(
            "Tf",
            vec![(if bold { "F2" } else { "F1" }).into(), size.into()],
        ));
        self.ops
            .push(Operation::new("Td", vec![x.into(), y.into()]));
        self.ops.push(Operation::new(
            "Tj",
            vec![Object::String(win_ansi(s), StringFormat::Literal)],
        ));
        self.ops.push(Operation::new("ET", vec![]));
    }

    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32) {
        self.ops.push(Operation::new(
            "re",
            vec![x.into(), y.into(), w.into(), h.into()],
        ));
        self.ops.push(Operation::new("f", vec![]));
    }

    fn line(&mut self, x1: f32, y1: f32, x2: f32, y2: f32) {
        self.ops.push(Operation::new("w", vec![0.5.into()]));
        self.ops
            .push(Operation::new("m", vec![x1.into(), y1.into()]));
        self.ops
            .push(Operation::new("l", vec![x2.into(), y2.into()]));
        self.ops.push(Operation::new("S", vec![]));
    }

    /// Bars of `modules` from (x, y), `h` high: one filled rectangle per
    /// run of bar modules.
    fn barcode(&mut self, modules: &[u8], x: f32, y: f32, h: f32) {
        let mut i = 0;
        while i < modules.len() {
            if modules[i] == 1 {
                let start = i;
                while i < modules.len() && modules[i] == 1 {
                    i += 1;
                }
                self.rect(
                    x + start as f32 * MODULE_WIDTH,
                    y,
                    (i - start) as f32 * MODULE_WIDTH,
                    h,
                );
            } else {
                i += 1;
            }
        }
    }
}

/// Text as WinAnsi bytes: Latin-1 characters as themselves, others `?`,
/// control characters dropped.
fn win_ansi(s: &str) -> Vec<u8> {
    s.chars()
        .filter(|c| !c.is_control())
        .map(|c| match c as u32 {
            0x20..=0x7e | 0xa0..=0xff => c as u32 as u8,
            _ => b'?',
        })
        .collect()
}

/// Cut `s` to at most `max` characters, with `…` as `...`.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(3)).collect();
        out.push_str("...");
        out
    }
}

/// Write pages into one PDF document.
fn write(pages: Vec<Page>, images: Vec<Stream>) -> Result<Vec<u8>, String> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let f1 = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let f2 = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica-Bold",
        "Encoding" => "WinAnsiEncoding",
    });
    let image_ids: Vec<ObjectId> = images.into_iter().map(|s| doc.add_object(s)).collect();
    let mut kids = Vec::new();
    for p in pages {
        let content = Content { operations: p.ops };
        let bytes = content
            .encode()
            .map_err(|e| format!("encoding a page: {e}"))?;
        let content_id = doc.add_object(Stream::new(dictionary! {}, bytes));
        let mut resources = dictionary! {
            "Font" => dictionary! { "F1" => f1, "F2" => f2 },
        };
        if let Some(im) = p.image.and_then(|i| image_ids.get(i)) {
            resources.set("XObject", dictionary! { "Im0" => *im });
        }
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "MediaBox" => vec![0.into(), 0.into(), p.size.0.into(), p.size.1.into()],
            "Contents" => content_id,
            "Resources" => resources,
        });
        kids.push(Object::Reference(page_id));
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => count }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out)
        .map_err(|e| format!("writing the PDF: {e}"))?;
    Ok(out)
}

/// The packing slip of one shipment: a 4×6 page (more when the lines do
/// not fit) with the seller, the order number, where it goes (name, city,
/// country), the lines (sku, title, quantity) and the barcode of
/// `SHIP-<shipment id>` with its text below it, on every page.
pub fn packing_slip_pdf(slip: &PackingSlip) -> Result<Vec<u8>, String> {
    const LINES_PER_PAGE: usize = 14;
    let code = slip.barcode_value();
    let modules = code128_modules(&code)?;
    let chunks: Vec<&[orderhub_core::store::SlipLine]> = if slip.lines.is_empty() {
        vec![&[]]
    } else {
        slip.lines.chunks(LINES_PER_PAGE).collect()
    };
    let total_pages = chunks.len();
    let mut pages = Vec::new();
    for (n, lines) in chunks.into_iter().enumerate() {
        let mut p = Page::new(LABEL_PAGE);
        let (w, h) = LABEL_PAGE;
        p.text(18.0, h - 30.0, 14.0, true, "PACKING SLIP");
        p.text(
            18.0,
            h - 48.0,
            9.0,
            false,
            &format!("Seller: {}", clip(&slip.seller_id, 40)),
        );
        p.text(
            18.0,
            h - 64.0,
            11.0,
            true,
            &format!("Order {}", clip(&slip.order_number, 34)),
        );
        p.text(
            18.0,
            h - 78.0,
            8.0,
            false,
            &format!(
                "Shipment {}  -  warehouse {}  -  placed {}",
                slip.shipment_id,
                clip(&slip.warehouse_id, 20),
                slip.placed_at.format("%Y-%m-%d")
            ),
        );
        let to = [
            slip.ship_to_name.as_deref(),
            slip.ship_to_city.as_deref(),
            slip.ship_to_country.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
        p.text(
            18.0,
            h - 94.0,
            9.0,
            false,
            &format!("Ship to: {}", clip(&to, 48)),
        );
        if let Some(m) = &slip.shipping_method {
            p.text(
                18.0,
                h - 106.0,
                8.0,
                false,
                &format!("Method: {}", clip(m, 48)),
            );
        }
        let mut y = h - 126.0;
        p.text(18.0, y, 8.0, true, "QTY");
        p.text(48.0, y, 8.0, true, "SKU");
        p.text(130.0, y, 8.0, true, "ITEM");
        p.line(18.0, y - 4.0, w - 18.0, y - 4.0);
        y -= 16.0;
        for l in lines {
            p.text(18.0, y, 9.0, true, &l.quantity.to_string());
            p.text(48.0, y, 8.0, false, &clip(&l.sku, 16));
            p.text(130.0, y, 8.0, false, &clip(&l.title, 30));
            y -= 14.0;
        }
        if total_pages > 1 {
            p.text(
                w - 80.0,
                h - 30.0,
                8.0,
                false,
                &format!("page {}/{}", n + 1, total_pages),
            );
        }
        // The barcode, centred near the bottom, and its value under it.
        let bar_w = modules.len() as f32 * MODULE_WIDTH;
        let x = ((w - bar_w) / 2.0).max(4.0);
        p.barcode(&modules, x, 40.0, 50.0);
        p.text(x, 26.0, 9.0, false, &code);
        pages.push(p);
    }
    write(pages, Vec::new())
}

/// The pick list as a Letter-size PDF: the warehouse, when, how many
/// shipments and units; then one row per sku in bin order (bin, sku, total
/// quantity, title, and `#shipment x units` for each shipment).
pub fn pick_list_pdf(list: &PickList, warehouse_name: &str) -> Result<Vec<u8>, String> {
    let (w, h) = LETTER_PAGE;
    let mut pages = Vec::new();
    let mut p = Page::new(LETTER_PAGE);
    let header = |p: &mut Page, page_no: usize| {
        p.text(
            36.0,
            h - 40.0,
            16.0,
            true,
            &format!("PICK LIST - {}", clip(warehouse_name, 40)),
        );
        p.text(
            36.0,
            h - 58.0,
            9.0,
            false,
            &format!(
                "Warehouse {}  -  {} shipments, {} units  -  {}  -  page {}",
                clip(&list.warehouse_id, 30),
                list.shipment_ids.len(),
                list.total_units,
                list.generated_at.format("%Y-%m-%d %H:%M UTC"),
                page_no
            ),
        );
        let y = h - 80.0;
        p.text(36.0, y, 9.0, true, "BIN");
        p.text(106.0, y, 9.0, true, "SKU");
        p.text(206.0, y, 9.0, true, "QTY");
        p.text(246.0, y, 9.0, true, "ITEM");
        p.text(406.0, y, 9.0, true, "SHIPMENTS (id x units)");
        p.line(36.0, y - 4.0, w - 36.0, y - 4.0);
        y - 18.0
    };
    let mut page_no = 1;
    let mut y = header(&mut p, page_no);
    if list.rows.is_empty() {
        p.text(36.0, y, 10.0, false, "Nothing to pick.");
    }
    for r in &list.rows {
        // The shipments of a row, a few per text line.
        let targets: Vec<String> = r
            .shipments
            .iter()
            .map(|t| format!("#{} x{}", t.shipment_id, t.quantity))
            .collect();
        let target_lines: Vec<String> = targets.chunks(4).map(|c| c.join("  ")).collect();
        let needed = 14.0 * target_lines.len().max(1) as f32 + 4.0;
        if y - needed < 36.0 {
            pages.push(std::mem::replace(&mut p, Page::new(LETTER_PAGE)));
            page_no += 1;
            y = header(&mut p, page_no);
        }
        p.text(
            36.0,
            y,
            10.0,
            true,
            &clip(r.bin.as_deref().unwrap_or("-"), 12),
        );
        p.text(106.0, y, 10.0, false, &clip(&r.sku, 18));
        p.text(206.0, y, 10.0, true, &r.quantity.to_string());
        p.text(
            246.0,
            y,
            9.0,
            false,
            &clip(r.title.as_deref().unwrap_or(""), 30),
        );
        for (i, t) in target_lines.iter().enumerate() {
            p.text(406.0, y - 14.0 * i as f32, 9.0, false, t);
        }
        y -= needed;
    }
    pages.push(p);
    write(pages, Vec::new())
}

/// A PNG label as a one-page 4×6 in PDF: the image scaled to fit the page,
/// kept in proportion and centred. Alpha is composed onto white.
pub fn png_page_pdf(png_bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder
        .read_info()
        .map_err(|e| format!("not a readable PNG: {e}"))?;
    let (iw, ih) = (reader.info().width, reader.info().height);
    if iw == 0 || ih == 0 || iw > MAX_IMAGE_SIDE || ih > MAX_IMAGE_SIDE {
        return Err(format!("PNG of {iw}x{ih} pixels is not a label"));
    }
    let size = reader
        .output_buffer_size()
        .ok_or("PNG too large to decode")?;
    let mut buf = vec![0; size];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| format!("not a readable PNG: {e}"))?;
    let data = &buf[..info.buffer_size()];
    let (gray, channels) = match info.color_type {
        png::ColorType::Grayscale => (true, 1),
        png::ColorType::GrayscaleAlpha => (true, 2),
        png::ColorType::Rgb => (false, 3),
        png::ColorType::Rgba => (false, 4),
        png::ColorType::Indexed => return Err("indexed PNG was not expanded".into()),
    };
    let out_channels = if gray { 1 } else { 3 };
    let mut samples = Vec::with_capacity((iw * ih) as usize * out_channels);
    for row in data.chunks(info.line_size).take(ih as usize) {
        for px in row.chunks(channels).take(iw as usize) {
            let alpha = if channels == 2 || channels == 4 {
                px[channels - 1] as u32
            } else {
                255
            };
            for c in &px[..out_channels] {
                // Over white.
                samples.push(((*c as u32 * alpha + 255 * (255 - alpha)) / 255) as u8);
            }
        }
    }
    let compressed = {
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&samples)
            .and_then(|_| z.finish())
            .map_err(|e| format!("compressing the image: {e}"))?
    };
    let image = Stream::new(
        dictionary! {
            "Type" => "XObject",
            "Subtype" => "Image",
            "Width" => iw as i64,
            "Height" => ih as i64,
            "ColorSpace" => if gray { "DeviceGray" } else { "DeviceRGB" },
            "BitsPerComponent" => 8,
            "Filter" => "FlateDecode",
        },
        compressed,
    );
    let (pw, ph) = LABEL_PAGE;
    let scale = (pw / iw as f32).min(ph / ih as f32);
    let (dw, dh) = (iw as f32 * scale, ih as f32 * scale);
    let mut p = Page::new(LABEL_PAGE);
    p.image = Some(0);
    p.ops.push(Operation::new("q", vec![]));
    p.ops.push(Operation::new(
        "cm",
        vec![
            dw.into(),
            0.into(),
            0.into(),
            dh.into(),
            ((pw - dw) / 2.0).into(),
            ((ph - dh) / 2.0).into(),
        ],
    ));
    p.ops
        .push(Operation::new("Do", vec![Object::Name(b"Im0".to_vec())]));
    p.ops.push(Operation::new("Q", vec![]));
    write(vec![p], vec![image])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code128_is_set_b_with_start_check_and_stop() {
        let m = code128_modules("SHIP-1").unwrap();
        // Start B 11010010000 ... stop 1100011101011.
        assert_eq!(&m[..11], &[1, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0]);
        assert_eq!(&m[m.len() - 13..], &[1, 1, 0, 0, 0, 1, 1, 1, 0, 1, 0, 1, 1]);
        // start + 6 characters + check = 8 symbols of 11, and the 13-module stop.
        assert_eq!(m.len(), 8 * 11 + 13);
        assert!(code128_modules("").is_err());
        assert!(code128_modules("SHIP-\u{e9}").is_err());
    }

    #[test]
    fn a_png_becomes_a_page_with_the_image() {
        let mut png_bytes = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut png_bytes, 4, 6);
            enc.set_color(png::ColorType::Rgba);
            enc.set_depth(png::BitDepth::Eight);
            let mut w = enc.write_header().unwrap();
            w.write_image_data(&[0u8; 4 * 6 * 4]).unwrap();
        }
        let pdf = png_page_pdf(&png_bytes).unwrap();
        let doc = Document::load_mem(&pdf).unwrap();
        assert_eq!(doc.get_pages().len(), 1);
        let has_image = doc.objects.values().any(|o| {
            o.as_stream().is_ok_and(|s| {
                s.dict.get(b"Subtype").ok() == Some(&Object::Name(b"Image".to_vec()))
            })
        });
        assert!(has_image);
        assert!(png_page_pdf(b"not a png").is_err());
    }
}
