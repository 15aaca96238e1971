//! A folder of every kind, walked as `rem ingest` walks it (.gitignore and hidden files
//! honoured): the words of each file are found by keyword search under that file's uri, and
//! nothing from scripts, navigation, ignored or hidden files is.

use remdb::ingest::walk::{walk, WalkOptions};
use remdb::ingest::IngestOptions;
use remdb::vector::{SearchMode, SearchOptions};

use crate::{fixture, tenant};

fn top_uri(t: &remdb::Tenant, word: &str) -> Option<String> {
    let options = SearchOptions {
        top_k: 1,
        mode: SearchMode::Keyword,
        ..SearchOptions::default()
    };
    let hits = t.search("resources", word, &options).unwrap();
    hits.first()
        .map(|h| h.row["uri"].as_str().unwrap().to_string())
}

#[test]
fn every_file_is_found_by_its_words_and_hidden_text_is_not() {
    let folder = fixture::folder();
    let files = walk(folder.path(), &WalkOptions::default()).unwrap();
    let uris: Vec<&str> = files.iter().map(|f| f.uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            "README",
            "data/products.csv",
            "data/products.json",
            "data/products.jsonl",
            "guide.md",
            "latin1.txt",
            "logo.png",
            "notes.txt",
            "page.html",
            "report.pdf",
            "src/widgets.rs"
        ],
        "sorted; .gitignore'd and hidden files left out"
    );
    let t = tenant();
    let mut run = t.ingest_run(&IngestOptions::default()).unwrap();
    for f in &files {
        run.add(f.read(1 << 20).unwrap()).unwrap();
    }
    let report = run.finish().unwrap();
    let skipped: Vec<&str> = report.skipped.iter().map(|s| s.uri.as_str()).collect();
    assert_eq!(
        skipped,
        [
            "data/products.csv",
            "data/products.json",
            "data/products.jsonl",
            "logo.png"
        ]
    );
    assert_eq!(report.warnings.len(), 1, "latin1.txt: {report:?}");
    assert_eq!(report.ingested, 7);
    for (word, uri) in [
        ("zephyrquill", "guide.md"),
        ("quokkabridge", "notes.txt"),
        ("lanternfish", "page.html"),
        ("frobnicate_widgets", "src/widgets.rs"),
        ("aurora", "report.pdf"),
        ("basilisk", "report.pdf"),
        ("bouillabaisse", "latin1.txt"),
    ] {
        assert_eq!(top_uri(&t, word).as_deref(), Some(uri), "{word}");
    }
    for hidden in [
        "navsecret",
        "scriptsecret",
        "footersecret",
        "ignoredsecret",
        "hiddensecret",
    ] {
        assert_eq!(top_uri(&t, hidden), None, "{hidden}");
    }
    // Metadata from the file system: source path, mtime, root.
    let guide = t
        .search(
            "resources",
            "zephyrquill",
            &SearchOptions {
                top_k: 1,
                mode: SearchMode::Keyword,
                ..SearchOptions::default()
            },
        )
        .unwrap();
    let meta = &guide[0].row["metadata"];
    assert!(meta["source"].as_str().unwrap().ends_with("guide.md"));
    assert!(meta["mtime"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        meta["root"].as_str().unwrap(),
        std::fs::canonicalize(folder.path())
            .unwrap()
            .to_str()
            .unwrap()
    );
}

#[test]
fn include_and_exclude_globs_filter_the_walk() {
    let folder = fixture::folder();
    let only_md = WalkOptions {
        include: vec!["*.md".into()],
        exclude: vec![],
    };
    let uris: Vec<String> = walk(folder.path(), &only_md)
        .unwrap()
        .into_iter()
        .map(|f| f.uri)
        .collect();
    assert_eq!(uris, ["guide.md"]);
    let no_data = WalkOptions {
        include: vec![],
        exclude: vec!["data/".into(), "*.png".into()],
    };
    let uris: Vec<String> = walk(folder.path(), &no_data)
        .unwrap()
        .into_iter()
        .map(|f| f.uri)
        .collect();
    assert!(
        !uris
            .iter()
            .any(|u| u.starts_with("data/") || u.ends_with(".png")),
        "{uris:?}"
    );
    assert!(uris.contains(&"src/widgets.rs".to_string()));
    assert!(walk(&folder.path().join("missing"), &WalkOptions::default()).is_err());
}
