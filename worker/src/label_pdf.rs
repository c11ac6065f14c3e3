//! One printable file for a batch of labels: the labels' PDFs merged, page
//! after page, in the order given (lopdf; the page-tree merge follows
//! lopdf's own merge example, without its bookmarks).

use lopdf::{dictionary, Document, Object, ObjectId};

/// Merge PDFs into one. Each input's page attributes that pages inherit
/// from their tree (MediaBox, Resources, Rotate) are copied onto the pages
/// first, since the tree they inherit from is replaced. `Err` names the
/// input (0-based) that could not be read.
pub fn merge(pdfs: &[Vec<u8>]) -> Result<Vec<u8>, String> {
    let mut out = Document::with_version("1.5");
    let mut max_id = 1;
    let mut pages: Vec<(ObjectId, Object)> = Vec::new();
    for (i, bytes) in pdfs.iter().enumerate() {
        let mut doc = Document::load_mem(bytes)
            .map_err(|e| format!("label {i} is not a readable PDF: {e}"))?;
        for page_id in doc.get_pages().into_values() {
            let page = materialize(&doc, page_id)
                .map_err(|e| format!("label {i}: page attributes: {e}"))?;
            doc.objects.insert(page_id, Object::Dictionary(page));
        }
        doc.renumber_objects_with(max_id);
        max_id = doc.max_id + 1;
        for page_id in doc.get_pages().into_values() {
            if let Ok(page) = doc.get_object(page_id) {
                pages.push((page_id, page.clone()));
            }
        }
        for (id, object) in doc.objects {
            match object.type_name().unwrap_or(b"") {
                b"Catalog" | b"Pages" | b"Page" | b"Outlines" | b"Outline" => {}
                _ => {
                    out.objects.insert(id, object);
                }
            }
        }
    }
    if pages.is_empty() {
        return Err("no pages to merge".into());
    }
    let pages_id: ObjectId = (max_id, 0);
    let catalog_id: ObjectId = (max_id + 1, 0);
    for (id, page) in &pages {
        if let Ok(dict) = page.as_dict() {
            let mut dict = dict.clone();
            dict.set("Parent", pages_id);
            out.objects.insert(*id, Object::Dictionary(dict));
        }
    }
    out.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Count" => pages.len() as i64,
            "Kids" => pages.iter().map(|(id, _)| Object::Reference(*id)).collect::<Vec<_>>(),
        }),
    );
    out.objects.insert(
        catalog_id,
        Object::Dictionary(dictionary! { "Type" => "Catalog", "Pages" => pages_id }),
    );
    out.trailer.set("Root", catalog_id);
    out.max_id = max_id + 1;
    out.renumber_objects();
    let mut bytes = Vec::new();
    out.save_to(&mut bytes)
        .map_err(|e| format!("writing the merged PDF: {e}"))?;
    Ok(bytes)
}

/// A page's dictionary with the attributes it inherits made its own.
fn materialize(doc: &Document, page_id: ObjectId) -> lopdf::Result<lopdf::Dictionary> {
    let mut page = doc.get_dictionary(page_id)?.clone();
    for key in ["MediaBox", "Resources", "Rotate", "CropBox"] {
        if let Some(v) = inherited(doc, page_id, key.as_bytes()) {
            page.set(key, v);
        }
    }
    Ok(page)
}

fn inherited(doc: &Document, mut node_id: ObjectId, key: &[u8]) -> Option<Object> {
    // A page tree is shallow; the bound stops a malformed cyclic one.
    for _ in 0..32 {
        let node = doc.get_dictionary(node_id).ok()?;
        if let Ok(v) = node.get(key) {
            return Some(v.clone());
        }
        node_id = node.get(b"Parent").ok()?.as_reference().ok()?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use orderhub_connectors::sandbox::carrier::label_document;
    use orderhub_connectors::LabelFormat;

    #[test]
    fn merged_labels_keep_every_page_in_order() {
        let labels: Vec<Vec<u8>> = ["1Z001", "1Z002", "1Z003"]
            .iter()
            .map(|code| label_document(LabelFormat::Pdf, "UPS", code).1)
            .collect();
        let merged = merge(&labels).unwrap();
        let doc = Document::load_mem(&merged).unwrap();
        let pages = doc.get_pages();
        assert_eq!(pages.len(), 3);
        for (n, code) in [(1, "1Z001"), (2, "1Z002"), (3, "1Z003")] {
            let text = doc.extract_text(&[n]).unwrap();
            assert!(text.contains(code), "page {n}: {text}");
        }
    }

    #[test]
    fn a_file_that_is_not_a_pdf_is_named() {
        let good = label_document(LabelFormat::Pdf, "UPS", "1Z001").1;
        let err = merge(&[good, b"not a pdf".to_vec()]).unwrap_err();
        assert!(err.starts_with("label 1 "), "{err}");
        assert!(merge(&[]).is_err());
    }
}
