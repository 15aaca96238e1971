//! Retrieval quality of keyword (BM25), vector and hybrid search on real documents: CPython's
//! language reference topics (what the demo loads, `.ci/demo-data.py`: 453 chunks of 79 topics)
//! with a labelled set of 30 queries, half exact identifiers (`__exit__`, `ZeroDivisionError`),
//! half paraphrases. A query's relevant chunks are those of the topics named beside it (chosen
//! from the topics' subjects before any search ran). Reports recall@5 (queries with a relevant
//! chunk in the top 5) and MRR (1 / rank of the first relevant chunk in the top 10, else 0).
//!
//! `bash .ci/fetch-models && cargo bench --profile dev --features embeddings --bench hybrid_quality`
//! (needs `python3`, whose `pydoc_data` holds the documents).

use remdb::vector::{SearchMode, SearchOptions};
use remdb::{Database, OpenOptions};
use serde_json::Value;

const QUERIES: [(&str, &[&str]); 30] = [
    ("__exit__", &["with", "context-managers"]),
    ("__getattr__", &["attribute-access"]),
    ("__len__", &["sequence-types"]),
    ("__slots__", &["attribute-access"]),
    ("nonlocal", &["nonlocal"]),
    ("__aenter__", &["async"]),
    ("str.casefold", &["string-methods"]),
    ("ZeroDivisionError", &["binary"]),
    ("__index__", &["numeric-types"]),
    ("__contains__", &["sequence-types", "comparisons"]),
    ("!r conversion", &["formatstrings"]),
    ("__hash__", &["customization"]),
    ("__bool__", &["customization", "truth"]),
    ("__iadd__", &["numeric-types", "augassign"]),
    ("__getitem__", &["sequence-types", "subscriptions"]),
    (
        "how do I make an object usable in a with statement",
        &["with", "context-managers"],
    ),
    (
        "run cleanup code whether or not an exception happened",
        &["try"],
    ),
    (
        "functions that produce a sequence of values lazily",
        &["yield"],
    ),
    (
        "assign to a variable of an enclosing function",
        &["nonlocal"],
    ),
    ("anonymous function expression", &["lambda"]),
    (
        "skip the rest of the loop body and start the next iteration",
        &["continue"],
    ),
    ("leave a loop early", &["break"]),
    (
        "check a condition while debugging and fail if it is false",
        &["assert"],
    ),
    ("remove a name binding", &["del"]),
    ("which values count as false in a condition", &["truth"]),
    ("precedence of operators", &["operator-summary"]),
    (
        "bring names from another module into this namespace",
        &["import"],
    ),
    (
        "format specifiers inside string literals",
        &["formatstrings"],
    ),
    ("wait for a coroutine to finish", &["await", "async"]),
    ("loop over the items of a sequence", &["for"]),
];

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("python3")
        .arg(".ci/demo-data.py")
        .arg(tmp.path())
        .status()
        .expect("python3");
    assert!(status.success());
    let raw = std::fs::read_to_string(tmp.path().join("resources.json")).unwrap();
    let rows: Vec<Value> = serde_json::from_str(&raw).unwrap();
    let options = OpenOptions {
        default_embedding: Some("local:all-MiniLM-L6-v2".into()),
        embedding_mode: Some(remdb::vector::EmbedMode::Inline),
        ..OpenOptions::default()
    };
    let db = Database::with_kv_options(std::sync::Arc::new(remdb::kv::MemoryKv::new()), &options)
        .unwrap();
    let t = db.tenant("eval").unwrap();
    t.init().unwrap();
    let start = std::time::Instant::now();
    for batch in rows.chunks(64) {
        t.insert_many("resources", batch.to_vec()).unwrap();
    }
    println!(
        "{} chunks indexed and embedded in {:.1} s; {} queries",
        rows.len(),
        start.elapsed().as_secs_f64(),
        QUERIES.len()
    );
    println!();
    println!("| mode | recall@5 | MRR@10 | identifier queries recall@5 | paraphrases recall@5 |");
    println!("|---|---|---|---|---|");
    for mode in [SearchMode::Keyword, SearchMode::Vector, SearchMode::Hybrid] {
        let o = SearchOptions {
            top_k: 10,
            mode,
            ..SearchOptions::default()
        };
        let (mut hit5, mut rr, mut ident, mut para) = (0.0, 0.0, 0.0, 0.0);
        for (i, (q, topics)) in QUERIES.iter().enumerate() {
            let hits = t.search("resources", *q, &o).unwrap();
            let first = hits.iter().position(|h| {
                let uri = h.row["uri"].as_str().unwrap_or_default();
                topics.iter().any(|t| uri == format!("python-docs/{t}"))
            });
            if let Some(r) = first {
                rr += 1.0 / (r as f64 + 1.0);
                if r < 5 {
                    hit5 += 1.0;
                    if i < 15 {
                        ident += 1.0;
                    } else {
                        para += 1.0;
                    }
                }
            }
        }
        let n = QUERIES.len() as f64;
        println!(
            "| {} | {:.2} | {:.3} | {:.2} | {:.2} |",
            mode.as_str(),
            hit5 / n,
            rr / n,
            ident / 15.0,
            para / 15.0
        );
    }
}
