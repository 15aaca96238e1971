//! Fixtures of the ingestion tests: a PDF written here, and (natively) a copy of
//! `tests/fixtures/ingest` with that PDF and a git-ignored file added.
#![allow(dead_code)]

/// A minimal PDF whose page `i` shows `pages[i]` in Helvetica (ASCII text, no parentheses or
/// backslashes), with `title` in its document information.
pub fn pdf(pages: &[&str], title: &str) -> Vec<u8> {
    let n = pages.len();
    // Objects: 1 catalog, 2 pages, 3 font, 4 info, then a page and its content per page.
    let mut objects: Vec<String> = Vec::new();
    objects.push("<< /Type /Catalog /Pages 2 0 R >>".into());
    let kids: Vec<String> = (0..n).map(|i| format!("{} 0 R", 5 + 2 * i)).collect();
    objects.push(format!(
        "<< /Type /Pages /Kids [{}] /Count {n} >>",
        kids.join(" ")
    ));
    objects.push("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".into());
    objects.push(format!("<< /Title ({title}) >>"));
    for (i, text) in pages.iter().enumerate() {
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {} 0 R \
             /Resources << /Font << /F1 3 0 R >> >> >>",
            6 + 2 * i
        ));
        let stream = format!("BT /F1 12 Tf 72 720 Td ({text}) Tj ET");
        objects.push(format!(
            "<< /Length {} >>\nstream\n{stream}\nendstream",
            stream.len()
        ));
    }
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R /Info 4 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// The two pages of the fixture folder's `report.pdf`.
pub const REPORT_PAGES: [&str; 2] = [
    "Aurora survey results for the northern station",
    "Basilisk protocol appendix with calibration tables",
];

/// A copy of `tests/fixtures/ingest` in a temporary folder, with `report.pdf` (two pages) and
/// `ignored.md` (named by the folder's .gitignore) added.
#[cfg(not(target_arch = "wasm32"))]
pub fn folder() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ingest");
    copy_dir(&src, tmp.path());
    std::fs::write(
        tmp.path().join("report.pdf"),
        pdf(&REPORT_PAGES, "Station Report"),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("ignored.md"),
        "# Ignored\n\nignoredsecret words.\n",
    )
    .unwrap();
    tmp
}

#[cfg(not(target_arch = "wasm32"))]
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
