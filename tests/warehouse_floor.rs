//! Warehouse floor documents, on SQLite and PostgreSQL, against the real
//! server and an EasyPost sandbox: bins set through the stock API; a known
//! batch's pick list (JSON, CSV, PDF) has the expected sums in natural bin
//! order, skus without a bin last, cancelled orders left out; a packing
//! slip PDF holds the order number and lines, and its barcode, read back
//! from the drawn bars and decoded as Code 128 here, is `SHIP-<id>`; each
//! warehouse's label format (pdf, png, zpl) is what the carrier sandbox
//! returns; the batch print is slip then label per shipment in pick-list
//! order; ZPL labels come concatenated; another seller gets 404. Also
//! `orderhub stock import` with bins and `orderhub picklist` through the
//! real binary.

mod common;

use common::flow::*;
use common::*;
use lopdf::content::Content;
use lopdf::{Document, Object};
use orderhub::app::App;
use orderhub_core::*;
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::str::FromStr;
use std::sync::Arc;

const OPS_TOKEN: &str = "floor-test-ops-token";

fn set_ops_token() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::env::set_var("ORDERHUB_API_TOKEN", OPS_TOKEN));
}

fn order(id: u32, lines: &[(&str, u32)]) -> Order {
    let t = chrono::DateTime::from_timestamp(1_700_000_000 + id as i64, 0).unwrap();
    Order {
        channel: "shopify".into(),
        external_id: id.to_string(),
        number: Some(format!("#{id}")),
        status: OrderStatus::Awaiting,
        payment_status: PaymentStatus::Paid,
        fulfillment_status: FulfillmentStatus::Unfulfilled,
        placed_at: t,
        updated_at: t,
        currency: Currency::from_str("USD").unwrap(),
        subtotal: Decimal::ONE,
        shipping_total: Decimal::ZERO,
        tax_total: Decimal::ZERO,
        discount_total: Decimal::ZERO,
        total: Decimal::ONE,
        customer: None,
        ship_to: Some(Address {
            name: Some(format!("Buyer {id}")),
            company: None,
            line1: Some("1 Market St".into()),
            line2: None,
            city: Some("Portland".into()),
            region: Some("OR".into()),
            postal_code: Some("97201".into()),
            country: Some("US".into()),
            phone: None,
        }),
        bill_to: None,
        shipping_method: None,
        lines: lines
            .iter()
            .map(|(sku, q)| OrderLine {
                external_id: None,
                sku: Some(sku.to_string()),
                title: format!("{sku} item"),
                quantity: *q,
                unit_price: Decimal::ONE,
                tax: Decimal::ZERO,
                discount: Decimal::ZERO,
                total: Decimal::ONE,
                grams: Some(200),
                barcode: None,
            })
            .collect(),
    }
}

fn warehouse(id: &str, seller: &str, format: &str, skus: &[&str]) -> String {
    let stock = skus
        .iter()
        .map(|s| format!("\"{s}\" = 1000"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"
[[warehouses]]
id = "{id}"
seller = "{seller}"
name = "Floor {id}"
priority = 10
carriers = ["{CARRIER_ID}"]
label_format = "{format}"
address = {{ name = "Acme", line1 = "417 Montgomery St", city = "San Francisco", region = "CA", postal_code = "94104", country = "US" }}
stock = {{ {stock} }}
"#
    )
}

fn floor_toml(db_url: &str, easypost: &str) -> String {
    config_toml(db_url, "http://127.0.0.1:9", "")
        + &format!(
            r#"
[[carriers]]
id = "{CARRIER_ID}"
kind = "easypost"
base_url = "{easypost}"
options = {{ requests_per_second = "100" }}
[carriers.secrets]
api_key = "ORDERHUB_TEST_EP_KEY"
webhook_secret = "ORDERHUB_TEST_EP_HOOK_SECRET"
"#
        )
        + &warehouse("main", "acme", "pdf", &["CAP", "MUG", "TEE", "NOBIN"])
        + &warehouse("photo", "acme", "png", &["PHOTO-1"])
        + &warehouse("thermal", "acme", "zpl", &["ZEB-1"])
        + &warehouse("gmain", "globex", "pdf", &["GLOBEX-1"])
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    async fn bytes(&self, path: &str) -> (String, Vec<u8>) {
        let r = self.get(path, OPS_TOKEN).await;
        let status = r.status();
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = r.bytes().await.unwrap().to_vec();
        assert_eq!(
            status,
            200,
            "GET {path}: {}",
            String::from_utf8_lossy(&body)
        );
        (ct, body)
    }

    async fn json(&self, path: &str) -> Value {
        let (_, b) = self.bytes(path).await;
        serde_json::from_slice(&b).unwrap()
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(OPS_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }
}

async fn routed(app: &Arc<App>, id: u32, lines: &[(&str, u32)], seller: &str) -> (i64, i64) {
    let out = app
        .store
        .upsert_order(seller, "shop", &order(id, lines))
        .await
        .unwrap();
    let _ = out;
    let order_id = app
        .store
        .list_orders(&orderhub_core::store::OrderFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.external_id == id.to_string())
        .unwrap()
        .id;
    match app.store.route_order(order_id).await.unwrap() {
        orderhub_core::store::RouteOutcome::Routed { shipment_id, .. } => (order_id, shipment_id),
        other => panic!("order {id} not routed: {other:?}"),
    }
}

/// Page texts of a PDF, in page order.
fn pdf_pages(bytes: &[u8]) -> (Document, Vec<String>) {
    let doc = Document::load_mem(bytes).expect("a readable PDF");
    let n = doc.get_pages().len() as u32;
    let texts = (1..=n)
        .map(|p| doc.extract_text(&[p]).unwrap_or_default())
        .collect();
    (doc, texts)
}

// Code 128 as bar/space widths per symbol value (ISO/IEC 15417 table),
// start B is 104, stop is 106 (7 elements).
const CODE128: [&str; 107] = [
    "212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312", "132212",
    "221213", "221312", "231212", "112232", "122132", "122231", "113222", "123122", "123221",
    "223211", "221132", "221231", "213212", "223112", "312131", "311222", "321122", "321221",
    "312212", "322112", "322211", "212123", "212321", "232121", "111323", "131123", "131321",
    "112313", "132113", "132311", "211313", "231113", "231311", "112133", "112331", "132131",
    "113123", "113321", "133121", "313121", "211331", "231131", "213113", "213311", "213131",
    "311123", "311321", "331121", "312113", "312311", "332111", "314111", "221411", "431111",
    "111224", "111422", "121124", "121421", "141122", "141221", "112214", "112412", "122114",
    "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111", "111242",
    "121142", "121241", "114212", "124112", "124211", "411212", "421112", "421211", "212141",
    "214121", "412121", "111143", "111341", "131141", "114113", "114311", "411113", "411311",
    "113141", "114131", "311141", "411131", "211412", "211214", "211232", "2331112",
];

fn widths_to_modules(w: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, c) in w.chars().enumerate() {
        let n = c.to_digit(10).unwrap();
        for _ in 0..n {
            out.push(if i % 2 == 0 { 1 } else { 0 });
        }
    }
    out
}

/// Decode Code 128 (code set B only) from modules: start B, data, a check
/// symbol that must match, stop.
fn decode_code128(modules: &[u8]) -> Result<String, String> {
    let table: Vec<Vec<u8>> = CODE128.iter().map(|w| widths_to_modules(w)).collect();
    let stop = &table[106];
    if modules.len() < 11 * 3 + 13 || (modules.len() - 13) % 11 != 0 {
        return Err(format!("{} modules is no Code 128", modules.len()));
    }
    if &modules[modules.len() - 13..modules.len() - 2] != &stop[..11]
        || modules[modules.len() - 2..] != [1, 1]
    {
        return Err("no stop pattern".into());
    }
    let values: Vec<usize> = modules[..modules.len() - 13]
        .chunks(11)
        .map(|sym| {
            table[..106]
                .iter()
                .position(|p| p.as_slice() == sym)
                .ok_or_else(|| format!("unknown symbol {sym:?}"))
        })
        .collect::<Result<_, _>>()?;
    if values[0] != 104 {
        return Err(format!("start {} is not start B", values[0]));
    }
    let (data, check) = (&values[1..values.len() - 1], values[values.len() - 1]);
    let sum: usize = 104
        + data
            .iter()
            .enumerate()
            .map(|(i, v)| (i + 1) * v)
            .sum::<usize>();
    if sum % 103 != check {
        return Err(format!("check symbol {check} != {}", sum % 103));
    }
    Ok(data.iter().map(|v| (*v as u8 + 32) as char).collect())
}

/// The bars drawn on a page (`x y w h re f`, the barcode's 50 pt high
/// rectangles) as modules of `module` points.
fn drawn_modules(doc: &Document, page: u32, module: f32) -> Vec<u8> {
    let page_id = doc.get_pages()[&page];
    let content = Content::decode(&doc.get_page_content(page_id)).unwrap();
    let num = |o: &Object| {
        o.as_float()
            .or_else(|_| o.as_i64().map(|i| i as f32))
            .unwrap()
    };
    let mut bars: Vec<(f32, f32)> = content
        .operations
        .iter()
        .filter(|op| op.operator == "re" && (num(&op.operands[3]) - 50.0).abs() < 0.01)
        .map(|op| (num(&op.operands[0]), num(&op.operands[2])))
        .collect();
    bars.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    let x0 = bars.first().expect("a barcode on the page").0;
    let mut modules = Vec::new();
    for (x, w) in bars {
        let start = ((x - x0) / module).round() as usize;
        let len = (w / module).round() as usize;
        modules.resize(start, 0);
        modules.extend(std::iter::repeat_n(1, len));
    }
    modules
}

async fn floor_case(db: Db) {
    set_ops_token();
    set_flow_secrets();
    let ep = easypost(0).await;
    let url = fresh_db(db).await;
    let loaded = orderhub::settings::load_layers(None, Some(&floor_toml(&url, &ep.base)))
        .expect("valid test config");
    let app = App::start(loaded).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = Api {
        base: format!("http://{}", listener.local_addr().unwrap()),
        http: reqwest::Client::new(),
    };
    tokio::spawn(orderhub::server::serve(app.clone(), listener));

    // Bins through the stock API (NOBIN has none; TEE's is set then changed).
    for (sku, bin) in [
        ("CAP", "A-2"),
        ("MUG", "A-10"),
        ("TEE", "C-9"),
        ("TEE", "B-1"),
    ] {
        let (s, body) = api
            .send(
                reqwest::Method::PUT,
                &format!("/api/stock/main/{sku}"),
                json!({"on_hand": 1000, "bin": bin}),
            )
            .await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(body["bin"], bin, "{body}");
    }
    let (s, body) = api
        .send(
            reqwest::Method::PUT,
            "/api/stock/main/CAP",
            json!({"on_hand": 1000, "bin": "x".repeat(51)}),
        )
        .await;
    assert_eq!(s, 400, "a bin of 51 characters: {body}");

    // The known batch, and one order cancelled after routing.
    let (_, s1) = routed(&app, 1, &[("MUG", 2), ("CAP", 1)], "acme").await;
    let (_, s2) = routed(&app, 2, &[("MUG", 1), ("TEE", 3)], "acme").await;
    let (_, s3) = routed(&app, 3, &[("CAP", 2), ("NOBIN", 1), ("MUG", 1)], "acme").await;
    let (o4, s4) = routed(&app, 4, &[("MUG", 5)], "acme").await;
    let (s, body) = api
        .send(
            reqwest::Method::POST,
            &format!("/api/orders/{o4}/status"),
            json!({"status": "cancelled", "author": "test"}),
        )
        .await;
    assert_eq!(s, 200, "{body}");

    let list = api.json("/api/warehouses/main/picklist").await;
    let rows: Vec<(Value, String, i64, Vec<(i64, i64)>)> = list["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["bin"].clone(),
                r["sku"].as_str().unwrap().to_string(),
                r["quantity"].as_i64().unwrap(),
                r["shipments"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| {
                        (
                            t["shipment_id"].as_i64().unwrap(),
                            t["quantity"].as_i64().unwrap(),
                        )
                    })
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (json!("A-2"), "CAP".into(), 3, vec![(s1, 1), (s3, 2)]),
            (
                json!("A-10"),
                "MUG".into(),
                4,
                vec![(s1, 2), (s2, 1), (s3, 1)]
            ),
            (json!("B-1"), "TEE".into(), 3, vec![(s2, 3)]),
            (Value::Null, "NOBIN".into(), 1, vec![(s3, 1)]),
        ],
        "{list}"
    );
    assert_eq!(list["total_units"], 11);
    assert_eq!(list["shipment_ids"], json!([s1, s3, s2]), "pick-list order");
    assert!(!list.to_string().contains(&format!("\"shipment_id\":{s4}")));

    // CSV: the same rows.
    let (ct, csv) = api.bytes("/api/warehouses/main/picklist.csv").await;
    assert!(ct.starts_with("text/csv"), "{ct}");
    let csv = String::from_utf8(csv).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("bin,sku,title,quantity,shipments"));
    let from_csv: Vec<(Value, String, i64, Vec<(i64, i64)>)> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                if f[0].is_empty() {
                    Value::Null
                } else {
                    json!(f[0])
                },
                f[1].to_string(),
                f[3].parse().unwrap(),
                f[4].split(';')
                    .map(|t| {
                        let (a, b) = t.split_once(':').unwrap();
                        (a.parse().unwrap(), b.parse().unwrap())
                    })
                    .collect(),
            )
        })
        .collect();
    assert_eq!(from_csv, rows, "CSV and JSON disagree:\n{csv}");
    assert!(csv.contains("CAP item"), "{csv}");

    // PDF: the rows in that order.
    let (ct, pdf) = api.bytes("/api/warehouses/main/picklist.pdf").await;
    assert_eq!(ct, "application/pdf");
    let (_, pages) = pdf_pages(&pdf);
    let text = pages.join("\n");
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("`{needle}` not in the pick list PDF:\n{text}"))
    };
    assert!(at("A-2") < at("CAP") && at("CAP") < at("A-10"), "{text}");
    assert!(at("A-10") < at("MUG") && at("MUG") < at("B-1"));
    assert!(at("B-1") < at("TEE") && at("TEE") < at("NOBIN"));
    assert!(text.contains(&format!("#{s1} x2")), "{text}");

    // The dashboard's /stock page links each warehouse's pick list, and the
    // link works with the session cookie.
    let page = api
        .http
        .get(format!("{}/stock", api.base))
        .header("cookie", format!("orderhub_token={OPS_TOKEN}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for w in ["main", "photo", "thermal", "gmain"] {
        assert!(
            page.contains(&format!("href=\"/api/warehouses/{w}/picklist.pdf\"")),
            "no pick list link for {w}"
        );
    }
    let r = api
        .http
        .get(format!("{}/api/warehouses/main/picklist.csv", api.base))
        .header("cookie", format!("orderhub_token={OPS_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), csv);

    // A named batch: only those; a shipment of another warehouse is 404, a
    // cancelled order's is 409.
    let named = api
        .json(&format!(
            "/api/warehouses/main/picklist?shipments={s2},{s3}"
        ))
        .await;
    assert_eq!(named["total_units"], 8, "{named}");
    assert_eq!(named["shipment_ids"], json!([s3, s2]));
    let (_, g1) = routed(&app, 90, &[("GLOBEX-1", 1)], "globex").await;
    for (path, want) in [
        (
            format!("/api/warehouses/main/picklist?shipments={s1},{g1}"),
            404,
        ),
        (format!("/api/warehouses/main/picklist?shipments={s4}"), 409),
        ("/api/warehouses/main/picklist?shipments=x".to_string(), 400),
        ("/api/warehouses/nowhere/picklist".to_string(), 404),
    ] {
        let r = api.get(&path, OPS_TOKEN).await;
        assert_eq!(
            r.status().as_u16(),
            want,
            "{path}: {}",
            r.text().await.unwrap()
        );
    }

    // A seller's token: its own warehouse yes, another's no (404).
    let acme_token = orderhub::cli::new_token();
    app.store
        .create_token("acme", "t", &acme_token)
        .await
        .unwrap();
    assert_eq!(
        api.get("/api/warehouses/main/picklist", &acme_token)
            .await
            .status(),
        200
    );
    for path in [
        "/api/warehouses/gmain/picklist".to_string(),
        "/api/warehouses/gmain/picklist.csv".to_string(),
        "/api/warehouses/gmain/print.pdf".to_string(),
        format!("/api/shipments/{g1}/packing-slip.pdf"),
    ] {
        assert_eq!(api.get(&path, &acme_token).await.status(), 404, "{path}");
    }

    // The packing slip of shipment 3: order number, lines, and a barcode
    // that decodes to SHIP-<id>.
    let (ct, slip) = api
        .bytes(&format!("/api/shipments/{s3}/packing-slip.pdf"))
        .await;
    assert_eq!(ct, "application/pdf");
    let (doc, pages) = pdf_pages(&slip);
    assert_eq!(pages.len(), 1);
    for needle in [
        "Order #3",
        "Seller: acme",
        "Buyer 3",
        "Portland",
        "CAP item",
        "NOBIN item",
        "MUG item",
    ] {
        assert!(
            pages[0].contains(needle),
            "`{needle}` not on the slip:\n{}",
            pages[0]
        );
    }
    let modules = drawn_modules(&doc, 1, orderhub::packing_slip::MODULE_WIDTH);
    let want = format!("SHIP-{s3}");
    assert_eq!(decode_code128(&modules), Ok(want.clone()));
    assert_eq!(
        modules,
        barcoders::sym::code128::Code128::new(format!("\u{0181}{want}"))
            .unwrap()
            .encode(),
        "the bars are barcoders' encoding"
    );
    // The decoder itself: the table agrees with barcoders on every
    // printable character, and a wrong check symbol is refused.
    for c in ' '..='~' {
        let enc = barcoders::sym::code128::Code128::new(format!("\u{0181}{c}"))
            .unwrap()
            .encode();
        assert_eq!(decode_code128(&enc), Ok(c.to_string()), "{c:?}");
    }
    let mut bad = modules.clone();
    let n = bad.len();
    bad[n - 13 - 11..n - 13].copy_from_slice(&widths_to_modules(CODE128[0]));
    assert!(decode_code128(&bad).is_err());

    // Labels in each warehouse's format, from the carrier sandbox.
    let (_, p1) = routed(&app, 20, &[("PHOTO-1", 1)], "acme").await;
    let (_, z1) = routed(&app, 30, &[("ZEB-1", 1)], "acme").await;
    let (_, z2) = routed(&app, 31, &[("ZEB-1", 2)], "acme").await;
    let (s, report) = api
        .send(
            reqwest::Method::POST,
            "/api/shipments/labels:batch",
            json!({"shipment_ids": [s1, s2, s3, p1, z1, z2]}),
        )
        .await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(report["bought"], 6, "{report}");
    let http = reqwest::Client::new();
    let label = |id: i64| {
        let app = app.clone();
        let http = http.clone();
        async move {
            let s = app.store.shipment(id).await.unwrap().unwrap();
            let bytes = http
                .get(s.label_url.clone().unwrap())
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
                .to_vec();
            (s, bytes)
        }
    };
    let (ship, pdf_label) = label(s1).await;
    assert_eq!(ship.label_format.as_deref(), Some("pdf"));
    assert!(pdf_label.starts_with(b"%PDF-"));
    let (ship, png_label) = label(p1).await;
    assert_eq!(ship.label_format.as_deref(), Some("png"));
    assert!(png_label.starts_with(b"\x89PNG\r\n\x1a\n"));
    let mut dec = png::Decoder::new(std::io::Cursor::new(&png_label))
        .read_info()
        .unwrap();
    let mut buf = vec![0; dec.output_buffer_size().unwrap()];
    let info = dec.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (812, 1218), "4x6 in at 203 dpi");
    // The PNG's barcode, read along one row, is the tracking code.
    let row = &buf[700 * info.line_size..700 * info.line_size + info.width as usize];
    let first = row[20..].iter().position(|p| *p < 128).unwrap() + 20;
    let px = row[first..].iter().take_while(|p| **p < 128).count() / 2; // start B begins with a 2-module bar
    let last = row.iter().rposition(|p| *p < 128).unwrap();
    let bar_modules: Vec<u8> = row[first..]
        .chunks(px)
        .take((last - first + 1).div_ceil(px))
        .map(|c| u8::from(c[0] < 128))
        .collect();
    // The frame is on the right edge: cut at the stop pattern's end.
    let stop_end = (0..bar_modules.len())
        .find(|&i| decode_code128(&bar_modules[..i]).is_ok())
        .expect("a decodable barcode in the PNG");
    assert_eq!(
        decode_code128(&bar_modules[..stop_end]).unwrap(),
        ship.tracking_code.clone().unwrap()
    );
    let (ship, zpl_label) = label(z1).await;
    assert_eq!(ship.label_format.as_deref(), Some("zpl"));
    let zpl = String::from_utf8(zpl_label).unwrap();
    assert!(
        zpl.starts_with("^XA") && zpl.trim_end().ends_with("^XZ"),
        "{zpl}"
    );
    assert!(zpl.contains(ship.tracking_code.as_deref().unwrap()));

    // The batch print: slip then label, per shipment in pick-list order.
    let (ct, print) = api.bytes("/api/warehouses/main/print.pdf").await;
    assert_eq!(ct, "application/pdf");
    let (_, pages) = pdf_pages(&print);
    assert_eq!(pages.len(), 6, "{pages:?}");
    for (i, id) in [s1, s3, s2].into_iter().enumerate() {
        let code = app
            .store
            .shipment(id)
            .await
            .unwrap()
            .unwrap()
            .tracking_code
            .unwrap();
        assert!(
            pages[2 * i].contains(&format!("SHIP-{id}")),
            "page {}: {}",
            2 * i + 1,
            pages[2 * i]
        );
        assert!(pages[2 * i].contains("PACKING SLIP"));
        assert!(
            pages[2 * i + 1].contains(&code),
            "page {}: {}",
            2 * i + 2,
            pages[2 * i + 1]
        );
    }
    // A PNG label is an image page after its slip.
    let (_, print) = api.bytes("/api/warehouses/photo/print.pdf").await;
    let (doc, pages) = pdf_pages(&print);
    assert_eq!(pages.len(), 2);
    assert!(pages[0].contains(&format!("SHIP-{p1}")));
    let image_pages = doc
        .get_pages()
        .values()
        .filter(|id| {
            doc.get_dictionary(**id)
                .and_then(|p| p.get(b"Resources"))
                .and_then(|r| r.as_dict())
                .is_ok_and(|r| r.has(b"XObject"))
        })
        .count();
    assert_eq!(image_pages, 1);
    // ZPL labels: slips only in the PDF, the labels concatenated as ZPL.
    let r = api
        .get("/api/warehouses/thermal/print.pdf", OPS_TOKEN)
        .await;
    assert_eq!(r.status(), 200);
    let header = r.headers()["x-orderhub-no-label"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(header, format!("{z1}:zpl,{z2}:zpl"));
    let (_, pages) = pdf_pages(&r.bytes().await.unwrap());
    assert_eq!(pages.len(), 2);
    let (ct, zpl) = api.bytes("/api/warehouses/thermal/labels.zpl").await;
    assert_eq!(ct, "application/zpl");
    let zpl = String::from_utf8(zpl).unwrap();
    assert_eq!(zpl.matches("^XA").count(), 2, "{zpl}");
    assert_eq!(zpl.matches("^XZ").count(), 2, "{zpl}");
    let c1 = app
        .store
        .shipment(z1)
        .await
        .unwrap()
        .unwrap()
        .tracking_code
        .unwrap();
    let c2 = app
        .store
        .shipment(z2)
        .await
        .unwrap()
        .unwrap()
        .tracking_code
        .unwrap();
    assert!(zpl.find(&c1).unwrap() < zpl.find(&c2).unwrap());
    assert_eq!(
        api.get("/api/warehouses/main/labels.zpl", OPS_TOKEN)
            .await
            .status(),
        404,
        "no ZPL labels at a PDF warehouse"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floor_documents_sqlite() {
    floor_case(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floor_documents_postgres() {
    floor_case(Db::Postgres).await;
}

/// `orderhub stock import` with a bin column, then `orderhub picklist`,
/// through the real binary on a SQLite file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_import_bins_and_picklist_cli() {
    set_flow_secrets();
    let dir =
        std::env::temp_dir().join(format!("orderhub-floor-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.join("db.sqlite").display());
    let cfg = dir.join("c.toml");
    std::fs::write(&cfg, floor_toml(&db, "http://127.0.0.1:9")).unwrap();
    let bin = env!("CARGO_BIN_EXE_orderhub");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin)
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let csv = dir.join("stock.csv");
    std::fs::write(
        &csv,
        "warehouse,sku,on_hand,bin\nmain,CAP,50,A-2\nmain,MUG,50,A-10\nmain,TEE,50,\n",
    )
    .unwrap();
    let (code, out, err) = run(&["stock", "import", csv.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    std::fs::write(&csv, "warehouse,sku,on_hand,bin\nmain,CAP,50,\"A-2,\nx\"\n").unwrap();
    let (code, _, err) = run(&["stock", "import", csv.to_str().unwrap()]);
    assert_eq!(code, Some(1), "a bin with a line break: {err}");

    let store = orderhub_core::store::Store::connect(&db, 2).await.unwrap();
    for (id, lines) in [
        (1u32, vec![("TEE", 1), ("MUG", 2)]),
        (2, vec![("CAP", 1), ("MUG", 1)]),
    ] {
        store
            .upsert_order("acme", "shop", &order(id, &lines))
            .await
            .unwrap();
    }
    for o in store
        .list_orders(&orderhub_core::store::OrderFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
    {
        store.route_order(o.id).await.unwrap();
    }
    let (code, out, err) = run(&["picklist", "--warehouse", "main"]);
    assert_eq!(code, Some(0), "{err}");
    let skus: Vec<(&str, &str, &str)> = out
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0], f[1], f[3])
        })
        .collect();
    assert_eq!(
        skus,
        vec![("A-2", "CAP", "1"), ("A-10", "MUG", "3"), ("", "TEE", "1")],
        "{out}"
    );
    let pdf = dir.join("p.pdf");
    let (code, _, err) = run(&[
        "picklist",
        "--warehouse",
        "main",
        "--format",
        "pdf",
        "--out",
        pdf.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    let (_, pages) = pdf_pages(&std::fs::read(&pdf).unwrap());
    assert!(pages[0].contains("PICK LIST"), "{pages:?}");
    let (code, _, _) = run(&["picklist", "--warehouse", "nowhere"]);
    assert_eq!(code, Some(2));
}
