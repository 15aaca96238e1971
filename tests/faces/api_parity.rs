//! The faces of the API agree with one list of it, js/api-list.json: every export of the wasm
//! face (src/wasm/) is listed, and reachable from the npm package's `RemDB` class (js/api.js)
//! and its types (js/index.d.ts) unless the list marks it internal; every listed operation has
//! the Rust method, `rem` subcommand and README entry the list names. Reads the sources as text:
//! no wasm build needed.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("reading {}: {e}", full.display()))
}

/// The `.rs` files under `dir`, recursively, as `(path, text)`.
fn rust_files(dir: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((path.display().to_string(), text));
        }
    }
}

/// The list: its operations and its internal wasm exports.
struct ApiList {
    operations: Vec<Operation>,
    internal: BTreeSet<String>,
    lifecycle: BTreeSet<String>,
}

struct Operation {
    op: String,
    rust: Vec<String>,
    js: Option<String>,
    cli: Option<String>,
}

fn api_list() -> ApiList {
    let list: Value =
        serde_json::from_str(&read("js/api-list.json")).expect("js/api-list.json is JSON");
    let names = |v: &Value| -> Vec<String> {
        match v {
            Value::Null => vec![],
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().expect("names are strings").to_string())
                .collect(),
            other => panic!("a name or a list of names, got {other}"),
        }
    };
    let keys = |field: &str| -> BTreeSet<String> {
        list[field]
            .as_object()
            .unwrap_or_else(|| panic!("`{field}` is an object"))
            .keys()
            .cloned()
            .collect()
    };
    let operations = list["operations"]
        .as_array()
        .expect("`operations` is an array")
        .iter()
        .map(|o| Operation {
            op: o["op"]
                .as_str()
                .expect("every operation has `op`")
                .to_string(),
            rust: names(&o["rust"]),
            js: o["js"].as_str().map(str::to_string),
            cli: o["cli"].as_str().map(str::to_string),
        })
        .collect();
    ApiList {
        operations,
        internal: keys("internal"),
        lifecycle: keys("lifecycle"),
    }
}

/// The JS names of the methods of `RemDb` exported by wasm-bindgen: in `#[wasm_bindgen] impl
/// RemDb` blocks, the `js_name` of each `pub fn`, else its Rust name.
fn wasm_methods() -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/wasm"),
        &mut files,
    );
    let mut names = BTreeSet::new();
    for (path, text) in &files {
        let lines: Vec<&str> = text.lines().collect();
        let mut exported = false;
        let mut js_name: Option<String> = None;
        for (i, line) in lines.iter().enumerate() {
            if line.starts_with("impl RemDb {") {
                exported = i > 0 && lines[i - 1].trim() == "#[wasm_bindgen]";
                continue;
            }
            if *line == "}" {
                exported = false;
                continue;
            }
            if !exported {
                continue;
            }
            let l = line.trim_start();
            if l.starts_with("#[wasm_bindgen(") {
                if let Some(rest) = l.split("js_name").nth(1) {
                    let name = rest.trim_start_matches([' ', '=']);
                    let end = name
                        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .unwrap_or(name.len());
                    js_name = Some(name[..end].to_string());
                }
            } else if let Some(rest) = l
                .strip_prefix("pub fn ")
                .or_else(|| l.strip_prefix("pub async fn "))
            {
                assert!(
                    line.starts_with("    pub"),
                    "{path}: unexpected indentation of `{line}`"
                );
                let end = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap();
                names.insert(js_name.take().unwrap_or_else(|| rest[..end].to_string()));
            }
        }
    }
    assert!(
        names.len() >= 40,
        "found only {} exported RemDb methods in src/wasm/: has the layout changed? {names:?}",
        names.len()
    );
    names
}

/// The keys of the `METHODS` table in js/api.js, from which the `RemDB` class methods are made.
fn remdb_methods() -> BTreeSet<String> {
    let text = read("js/api.js");
    let start = text
        .find("\nconst METHODS = {\n")
        .expect("js/api.js has `const METHODS = {`");
    let body = &text[start..];
    let body = &body[..body
        .find("\n};\n")
        .expect("the METHODS table ends with `};`")];
    let names: BTreeSet<String> = body
        .lines()
        .filter_map(|l| l.strip_prefix("  ").filter(|l| !l.starts_with(' ')))
        .filter_map(|l| l.split_once(": {").map(|(name, _)| name.to_string()))
        .collect();
    assert!(
        names.len() >= 30,
        "found only {} methods in js/api.js METHODS: {names:?}",
        names.len()
    );
    names
}

/// The methods declared in `export declare class RemDB { ... }` of js/index.d.ts.
fn declared_methods() -> BTreeSet<String> {
    let text = read("js/index.d.ts");
    let start = text
        .find("export declare class RemDB {")
        .expect("js/index.d.ts declares class RemDB");
    let body = &text[start..];
    let body = &body[..body.find("\n}").expect("the RemDB declaration ends")];
    body.lines()
        .filter_map(|l| l.strip_prefix("  "))
        .map(|l| l.strip_prefix("static ").unwrap_or(l))
        .filter_map(|l| {
            let end = l.find('(')?;
            let name = &l[..end];
            name.chars()
                .all(|c| c.is_alphanumeric() || c == '_')
                .then(|| name.to_string())
        })
        .filter(|n| !n.is_empty())
        .collect()
}

#[test]
fn every_wasm_export_is_listed_and_reachable_from_remdb() {
    let list = api_list();
    let listed: BTreeSet<String> = list
        .operations
        .iter()
        .filter_map(|o| o.js.clone())
        .collect();
    let (class, declared) = (remdb_methods(), declared_methods());
    let mut problems = Vec::new();
    for name in wasm_methods() {
        if list.internal.contains(&name) {
            if listed.contains(&name) {
                problems.push(format!(
                    "`{name}` is both an operation and internal in js/api-list.json"
                ));
            }
            continue;
        }
        if !listed.contains(&name) {
            problems.push(format!("wasm export `{name}` is not in js/api-list.json (an operation's `js`, or `internal`)"));
        }
        if !class.contains(&name) {
            problems.push(format!(
                "wasm export `{name}` is not a method of RemDB (the METHODS table in js/api.js)"
            ));
        }
        if !declared.contains(&name) {
            problems.push(format!(
                "wasm export `{name}` is not declared in class RemDB of js/index.d.ts"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn remdb_class_types_and_list_agree() {
    let list = api_list();
    let listed: BTreeSet<String> = list
        .operations
        .iter()
        .filter_map(|o| o.js.clone())
        .collect();
    let (class, declared) = (remdb_methods(), declared_methods());
    let mut problems = Vec::new();
    for name in &listed {
        if !class.contains(name) {
            problems.push(format!(
                "listed `{name}` is not a method of RemDB (js/api.js METHODS)"
            ));
        }
        if !declared.contains(name) {
            problems.push(format!("listed `{name}` is not declared in js/index.d.ts"));
        }
    }
    for name in &class {
        if !listed.contains(name) {
            problems.push(format!(
                "RemDB method `{name}` (js/api.js) is not in js/api-list.json"
            ));
        }
    }
    for name in &declared {
        if !listed.contains(name) && !list.lifecycle.contains(name) {
            problems.push(format!(
                "js/index.d.ts declares RemDB.{name}, which js/api-list.json does not list"
            ));
        }
    }
    let mut seen = BTreeSet::new();
    for name in list.operations.iter().filter_map(|o| o.js.as_ref()) {
        if !seen.insert(name) {
            problems.push(format!("`{name}` is listed twice"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn listed_rust_methods_exist() {
    // The public Rust API is one file (src/tenant.rs: `Tenant` and its sub-handles), plus
    // `Database` for what spans tenants.
    let tenant = read("src/tenant.rs");
    let database = read("src/database.rs");
    let mut problems = Vec::new();
    for o in api_list().operations {
        assert!(
            !o.rust.is_empty(),
            "operation `{}` has no Rust method",
            o.op
        );
        for name in &o.rust {
            let (owner, method) = name.rsplit_once("::").unwrap_or(("Tenant", name));
            let (file, text) = match owner {
                "Tenant" | "Wal" | "Vectors" | "Embeddings" => ("src/tenant.rs", &tenant),
                "Database" => ("src/database.rs", &database),
                other => panic!("`{}`: unknown owner `{other}` of `{method}`", o.op),
            };
            // The method must sit in the owner's impl block.
            let block = text
                .find(&format!("\nimpl {owner}"))
                .map(|start| &text[start..])
                .map(|rest| &rest[..rest.find("\n}\n").unwrap_or(rest.len())]);
            let defined = [format!("pub fn {method}("), format!("pub fn {method}<")];
            if !block.is_some_and(|b| defined.iter().any(|d| b.contains(d.as_str()))) {
                problems.push(format!(
                    "`{}`: no `pub fn {method}` in `impl {owner}` of {file}",
                    o.op
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The variants of `enum NAME { ... }` in the CLI sources, in kebab case (clap's subcommand names).
fn cli_subcommands() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bin/rem"),
        &mut files,
    );
    let mut enums = BTreeMap::new();
    for (_, text) in &files {
        let mut current: Option<(String, BTreeSet<String>)> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("pub(crate) enum ") {
                current = Some((rest.trim_end_matches(" {").to_string(), BTreeSet::new()));
            } else if line == "}" {
                if let Some((name, variants)) = current.take() {
                    enums.insert(name, variants);
                }
            } else if let Some((_, variants)) = &mut current {
                let Some(l) = line.strip_prefix("    ") else {
                    continue;
                };
                if l.starts_with(|c: char| c.is_ascii_uppercase()) {
                    let end = l.find(|c: char| !c.is_alphanumeric()).unwrap_or(l.len());
                    let mut kebab = String::new();
                    for (i, c) in l[..end].chars().enumerate() {
                        if c.is_ascii_uppercase() && i > 0 {
                            kebab.push('-');
                        }
                        kebab.push(c.to_ascii_lowercase());
                    }
                    variants.insert(kebab);
                }
            }
        }
    }
    enums
}

#[test]
fn listed_cli_subcommands_exist() {
    let enums = cli_subcommands();
    let top = enums
        .get("Command")
        .expect("src/bin/rem/main.rs has `pub(crate) enum Command`");
    let mut problems = Vec::new();
    for o in api_list().operations {
        let Some(cli) = &o.cli else { continue };
        let words: Vec<&str> = cli
            .split_whitespace()
            .take_while(|w| !w.starts_with("--"))
            .collect();
        match words.as_slice() {
            [first, rest @ ..] if top.contains(*first) => {
                if let [sub] = rest {
                    if !enums.values().any(|v| v.contains(*sub)) {
                        problems.push(format!(
                            "`{}`: `rem {first}` has no subcommand `{sub}`",
                            o.op
                        ));
                    }
                }
            }
            _ => problems.push(format!(
                "`{}`: `rem {cli}` is not a subcommand of rem",
                o.op
            )),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn readme_api_section_names_every_js_operation() {
    let readme = read("README.md");
    let start = readme
        .lines()
        .position(|l| l.starts_with("## API"))
        .unwrap_or_else(|| panic!("README.md has no section whose heading starts with `## API`: add one naming every JS method of js/api-list.json in backticks"));
    let section: Vec<&str> = readme
        .lines()
        .skip(start + 1)
        .take_while(|l| !(l.starts_with("## ") || l.starts_with("# ")))
        .collect();
    let section = section.join("\n");
    let missing: Vec<String> = api_list()
        .operations
        .iter()
        .filter_map(|o| o.js.as_ref())
        .filter(|name| {
            !section.contains(&format!("`{name}`")) && !section.contains(&format!("`{name}("))
        })
        .cloned()
        .collect();
    assert!(
        missing.is_empty(),
        "README.md's `## API` section does not name these RemDB methods (in backticks), which js/api-list.json lists: {}",
        missing.join(", ")
    );
}
