//! Vector similarity in SQL with the real local model: `embedding.cosine('text')` in WHERE,
//! `cosine_similarity(...)` in SELECT and ORDER BY, `_score`, filters pushed into the search
//! (k rows back when they exist), the default limit of 10, `SEARCH ... IN`, EXPLAIN, errors.
//!
//! Needs feature `embeddings` and the model (`bash .ci/fetch-models`).
#![cfg(all(feature = "embeddings", not(target_arch = "wasm32")))]

use remdb::{Database, Tenant};
use serde_json::{json, Value};

const DOCS: &[(&str, &str)] = &[
    ("rust", "tech"),
    ("python", "tech"),
    ("compilers", "tech"),
    ("cat", "animals"),
    ("dog", "animals"),
    ("parrot", "animals"),
    ("banana", "food"),
    ("apple", "food"),
    ("bread", "food"),
    ("soup", "food"),
    ("violin", "music"),
    ("drums", "music"),
];

fn text_of(name: &str) -> &'static str {
    match name {
        "rust" => "Rust is a systems programming language with a borrow checker",
        "python" => "Python is a popular programming language for scripting",
        "compilers" => "A compiler translates source code into machine code",
        "cat" => "The cat purrs and sleeps on the sofa",
        "dog" => "A loyal dog fetches the ball in the park",
        "parrot" => "The parrot is a colourful talking bird",
        "banana" => "Bananas are yellow fruit rich in potassium",
        "apple" => "An apple a day keeps the doctor away",
        "bread" => "Fresh bread is baked from flour, water and yeast",
        "soup" => "Hot tomato soup for a cold winter evening",
        "violin" => "The violin is a string instrument played with a bow",
        _ => "The drummer keeps the rhythm of the band",
    }
}

fn setup() -> (Database, Tenant) {
    let db = Database::memory();
    let t = db.tenant("default").unwrap();
    t.register_schema(json!({
        "title": "Note", "type": "object",
        "properties": {"name": {"type": "string"}, "body": {"type": "string"}, "topic": {"type": "string"}},
        "json_schema_extra": {"key_field": "name", "indexed_fields": ["topic"], "embedding_fields": ["body"]}
    }))
    .unwrap();
    let rows: Vec<Value> = DOCS
        .iter()
        .map(|(n, topic)| json!({"name": n, "body": text_of(n), "topic": topic}))
        .collect();
    t.insert_many("note", rows).unwrap();
    assert_eq!(
        t.embeddings().queued().unwrap(),
        (0, 0),
        "inline mode embedded every row"
    );
    (db, t)
}

fn names(t: &Tenant, sql: &str) -> Vec<String> {
    let r = t.sql(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}"));
    r.column("name")
        .unwrap()
        .into_iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn scores(t: &Tenant, sql: &str, column: &str) -> Vec<f64> {
    let r = t.sql(sql, &[]).unwrap();
    r.column(column)
        .unwrap()
        .into_iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

#[test]
fn where_cosine_ranks_by_similarity_with_a_default_limit() {
    let (_db, t) = setup();
    let found = names(
        &t,
        "SELECT name FROM note WHERE embedding.cosine('a language for writing software')",
    );
    assert_eq!(found.len(), 10, "default limit 10");
    assert!(["rust", "python"].contains(&found[0].as_str()), "{found:?}");
    let s = scores(
        &t,
        "SELECT name, _score FROM note WHERE body.cosine('pets at home') LIMIT 4",
        "_score",
    );
    assert!(s.windows(2).all(|w| w[0] >= w[1]), "best first: {s:?}");
    let all = t
        .sql(
            "SELECT * FROM note WHERE embedding.cosine('fruit') LIMIT 1",
            &[],
        )
        .unwrap();
    assert!(
        all.columns.contains(&"_score".to_string()),
        "rows carry _score: {:?}",
        all.columns
    );
    assert_eq!(
        all.rows[0][all.columns.iter().position(|c| c == "name").unwrap()],
        "banana"
    );
    let paged = names(
        &t,
        "SELECT name FROM note WHERE embedding.cosine('fruit') LIMIT 2 OFFSET 1",
    );
    let top3 = names(
        &t,
        "SELECT name FROM note WHERE embedding.cosine('fruit') LIMIT 3",
    );
    assert_eq!(paged, top3[1..]);
}

#[test]
fn filters_are_pushed_into_the_search_and_k_rows_come_back() {
    let (_db, t) = setup();
    // "animals" rows are far from the query, yet three come back: the filter goes into the search.
    let found = names(&t, "SELECT name FROM note WHERE embedding.cosine('programming languages') AND topic = 'animals' LIMIT 3");
    let mut sorted = found.clone();
    sorted.sort();
    assert_eq!(sorted, ["cat", "dog", "parrot"]);
    let found = names(&t, "SELECT name FROM note WHERE topic IN ('food', 'music') AND embedding.cosine('something to eat') LIMIT 2");
    assert!(
        found
            .iter()
            .all(|n| ["banana", "apple", "bread", "soup"].contains(&n.as_str())),
        "{found:?}"
    );
    let found = names(
        &t,
        "SELECT name FROM note WHERE embedding.cosine('a furry animal') AND name LIKE 'c%'",
    );
    assert_eq!(found, ["cat", "compilers"]);
    // A condition on the score itself cuts the list.
    let s = scores(
        &t,
        "SELECT name, _score FROM note WHERE embedding.cosine('a furry animal') AND _score > 0.3",
        "_score",
    );
    assert!(
        !s.is_empty() && s.len() < 10 && s.iter().all(|x| *x > 0.3),
        "{s:?}"
    );
    let plan = t
        .sql(
            "EXPLAIN SELECT name FROM note WHERE embedding.cosine('x') AND topic = 'food' LIMIT 2",
            &[],
        )
        .unwrap();
    let text: Vec<String> = plan
        .rows
        .iter()
        .map(|r| r[0].as_str().unwrap().to_string())
        .collect();
    let text = text.join("\n");
    assert!(
        text.contains("Vector search note top 2") && text.contains("index topic"),
        "{text}"
    );
}

#[test]
fn similarity_functions_in_select_and_order_by() {
    let (_db, t) = setup();
    let r = t
        .sql("SELECT name, cosine_similarity(body, 'bread and soup') AS s FROM note ORDER BY s DESC LIMIT 3", &[])
        .unwrap();
    assert_eq!(r.columns, ["name", "s"]);
    let s: Vec<f64> = r
        .column("s")
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(s.windows(2).all(|w| w[0] >= w[1]));
    let found: Vec<&str> = r
        .column("name")
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        found.contains(&"bread") && found.contains(&"soup"),
        "{found:?}"
    );
    // ORDER BY another column reorders the k nearest.
    let by_name = names(
        &t,
        "SELECT name FROM note WHERE embedding.cosine('music instruments') ORDER BY name LIMIT 2",
    );
    assert_eq!(by_name, ["drums", "violin"]);
    let grouped = t
        .sql("SELECT topic, COUNT(*) AS n FROM note WHERE embedding.cosine('animals') AND topic = 'animals' GROUP BY topic", &[])
        .unwrap();
    assert_eq!(grouped.rows, vec![vec![json!("animals"), json!(3)]]);
}

#[test]
fn search_statement_is_a_filtered_similarity_query() {
    let (_db, t) = setup();
    let r = t
        .sql(
            "SEARCH 'sweet yellow fruit' IN note WHERE topic = 'food' LIMIT 1",
            &[],
        )
        .unwrap();
    assert_eq!(r.rows.len(), 1);
    assert_eq!(r.column("name").unwrap()[0], "banana");
    let r = t
        .sql(
            "SEARCH $1 IN note LIMIT $2",
            &[json!("a bird that talks"), json!(1)],
        )
        .unwrap();
    assert_eq!(r.column("name").unwrap()[0], "parrot");
    let plan = t.sql("EXPLAIN SEARCH 'x' IN note", &[]).unwrap();
    assert!(
        plan.rows[0][0].as_str().unwrap().contains("Limit 10"),
        "{:?}",
        plan.rows
    );
    // Soft-deleted rows are hidden.
    let id = t
        .sql("SELECT id FROM note WHERE name = 'parrot'", &[])
        .unwrap()
        .rows[0][0]
        .as_str()
        .unwrap()
        .to_string();
    t.delete(&id).unwrap();
    let r = t
        .sql("SEARCH 'a bird that talks' IN note LIMIT 1", &[])
        .unwrap();
    assert_ne!(r.column("name").unwrap()[0], "parrot");
}

#[test]
fn vector_sql_errors_name_the_problem() {
    let (_db, t) = setup();
    let code = |sql: &str| t.sql(sql, &[]).unwrap_err();
    let e = code("SELECT name FROM note WHERE embedding.cosine('a') AND embedding.cosine('b')");
    assert_eq!(e.code(), "SQL_UNSUPPORTED", "{e}");
    let e = code("SELECT name FROM note WHERE topic.cosine('a')");
    assert_eq!(e.code(), "UNKNOWN_COLUMN", "{e}");
    assert!(
        e.to_string().contains("body"),
        "lists the embedded fields: {e}"
    );
    let e = code(
        "SELECT n.name FROM note n JOIN note m ON m.name = n.name WHERE embedding.cosine('a')",
    );
    assert_eq!(e.code(), "SQL_UNSUPPORTED", "{e}");
    let e = code("SELECT name FROM note WHERE embedding.cosine(3)");
    assert_eq!(e.code(), "SQL_TYPE", "{e}");
    let e = code("SELECT name, embedding.cosine('a') FROM note");
    assert_eq!(e.code(), "SQL_UNSUPPORTED", "{e}");
    let e = code("SELECT name FROM note WHERE _score > 1");
    assert_eq!(e.code(), "UNKNOWN_COLUMN", "{e}");
}

#[test]
fn double_quoted_query_texts_are_strings() {
    let (_db, t) = setup();
    let single = names(
        &t,
        "SELECT name FROM note WHERE embedding.cosine('a furry animal') LIMIT 3",
    );
    let double = names(
        &t,
        r#"SELECT name FROM note WHERE embedding.cosine("a furry animal") LIMIT 3"#,
    );
    assert_eq!(double, single);
    // Inside the similarity forms a double-quoted token is text even when a column has that name.
    let by_word = names(
        &t,
        "SELECT name FROM note WHERE embedding.cosine('topic') LIMIT 3",
    );
    assert_eq!(
        names(
            &t,
            r#"SELECT name FROM note WHERE embedding.cosine("topic") LIMIT 3"#
        ),
        by_word
    );
    assert_eq!(
        names(
            &t,
            r#"SELECT name FROM note WHERE body.cosine("topic") LIMIT 3"#
        ),
        by_word
    );
    // With a double-quoted filter value too, as the system remdb replaces writes it.
    assert_eq!(
        names(&t, r#"SELECT name FROM note WHERE embedding.cosine("programming") AND topic = "tech" LIMIT 2"#),
        names(&t, "SELECT name FROM note WHERE embedding.cosine('programming') AND topic = 'tech' LIMIT 2")
    );
    let r = t
        .sql(r#"SELECT name, cosine_similarity(embedding, "fruit") AS s FROM note ORDER BY s DESC LIMIT 1"#, &[])
        .unwrap();
    let first = r.column("name").unwrap()[0].as_str().unwrap().to_string();
    assert!(["banana", "apple"].contains(&first.as_str()), "{first}");
}
