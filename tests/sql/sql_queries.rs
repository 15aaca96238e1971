//! SQL answers over realistic fixtures: employees (nested records with `$defs`), projects and
//! products. Expected answers are hand-checked or computed from the generated data directly. The
//! suite runs natively and on wasm32 (in Node and headless Chromium).

use remdb::{Database, Error, QueryResult, Tenant};
use serde_json::{json, Value};

const CITIES: [&str; 5] = ["Auckland", "Berlin", "Lagos", "Lima", "Osaka"];
const DEPTS: [&str; 4] = ["engineering", "design", "sales", "ops"];
const SKILLS: [&str; 6] = ["rust", "sql", "go", "figma", "excel", "k8s"];

fn employee_schema() -> Value {
    json!({
        "title": "Employee",
        "type": "object",
        "$defs": {
            "Address": {"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}}},
            "Contact": {"type": "object", "properties": {"phone": {"type": "string"}, "address": {"$ref": "#/$defs/Address"}}}
        },
        "properties": {
            "email": {"type": "string"},
            "name": {"type": "string"},
            "age": {"type": "integer"},
            "salary": {"type": "number"},
            "department": {"type": "string"},
            "manager": {"type": ["string", "null"]},
            "level": {"type": ["integer", "null"]},
            "skills": {"type": "array", "items": {"type": "string"}},
            "active": {"type": "boolean"},
            "hired": {"type": "string"},
            "contact": {"$ref": "#/$defs/Contact"},
            "note": {"type": "string"}
        },
        "required": ["email", "name"],
        "json_schema_extra": {"key_field": "email", "indexed_fields": ["department", "age", "hired", "skills"]}
    })
}

/// Employee `i` of 120: every field a simple function of `i`, so tests can compute answers.
fn employee(i: usize) -> Value {
    let mut e = json!({
        "email": format!("e{i:03}@corp.example"),
        "name": format!("Emp {i:03}"),
        "age": 20 + (i * 7) % 45,
        "salary": 40000.0 + (i as f64) * 512.5,
        "department": DEPTS[i % 4],
        "skills": [SKILLS[i % 6], SKILLS[(i / 6) % 6]],
        "active": !i.is_multiple_of(3),
        "hired": format!("20{:02}-{:02}-{:02}T09:00:00Z", 15 + i % 10, 1 + i % 12, 1 + i % 28),
        "contact": {"phone": format!("+64-{i:04}"), "address": {"city": CITIES[i % 5], "country": "XX"}}
    });
    if !i.is_multiple_of(4) {
        e["level"] = json!(i % 5);
    }
    if i >= 4 {
        e["manager"] = json!(format!("e{:03}@corp.example", i % 4));
    }
    e
}

fn setup() -> (Database, Tenant) {
    let db = Database::memory();
    let t = db.tenant("default").unwrap();
    t.register_schema(employee_schema()).unwrap();
    t.register_schema(json!({
        "title": "Project", "type": "object",
        "properties": {"code": {"type": "string"}, "name": {"type": "string"}, "department": {"type": "string"},
                       "budget": {"type": "number"}, "lead": {"type": "string"}, "status": {"type": "string"}},
        "json_schema_extra": {"key_field": "code", "indexed_fields": ["status"]}
    }))
    .unwrap();
    t.register_schema(json!({
        "title": "Product", "type": "object",
        "properties": {"sku": {"type": "string"}, "name": {"type": "string"}, "price": {"type": "number"},
                       "category": {"type": ["string", "null"]}, "stock": {"type": "integer"}},
        "json_schema_extra": {"key_field": "sku"}
    }))
    .unwrap();
    t.insert_many("employee", (0..120).map(employee).collect())
        .unwrap();
    t.insert_many(
        "project",
        vec![
            json!({"code": "P1", "name": "Apollo", "department": "engineering", "budget": 100000, "lead": "e000@corp.example", "status": "active"}),
            json!({"code": "P2", "name": "Borealis", "department": "design", "budget": 25000.5, "lead": "e001@corp.example", "status": "active"}),
            json!({"code": "P3", "name": "Cygnus", "department": "engineering", "budget": 70000, "lead": "e004@corp.example", "status": "done"}),
            json!({"code": "P4", "name": "Draco", "department": "sales", "budget": 5000, "lead": "nobody@corp.example", "status": "paused"}),
            json!({"code": "P5", "name": "It's \"quoted\", AND, OR", "department": "ops", "status": "active"}),
        ],
    )
    .unwrap();
    t.insert_many(
        "product",
        vec![
            json!({"sku": "A1", "name": "Anvil", "price": 99.5, "category": "tools", "stock": 3}),
            json!({"sku": "B2", "name": "bolt", "price": 0.25, "category": "parts", "stock": 1000}),
            json!({"sku": "C3", "name": "Crate", "price": 12, "category": null, "stock": 0}),
            json!({"sku": "D4", "name": "Drill", "price": 149, "category": "tools", "stock": 7}),
            json!({"sku": "E5", "name": "50% off sign", "price": 5, "stock": 12}),
        ],
    )
    .unwrap();
    (db, t)
}

fn q(t: &Tenant, sql: &str) -> QueryResult {
    t.sql(sql, &[])
        .unwrap_or_else(|e| panic!("{sql}\n  failed: {e}"))
}

fn col(r: &QueryResult, name: &str) -> Vec<Value> {
    r.column(name)
        .unwrap_or_else(|| panic!("no column {name} in {:?}", r.columns))
        .into_iter()
        .cloned()
        .collect()
}

fn names(r: &QueryResult) -> Vec<String> {
    col(r, "name")
        .into_iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn emp_names(filter: impl Fn(usize) -> bool) -> Vec<String> {
    (0..120)
        .filter(|i| filter(*i))
        .map(|i| format!("Emp {i:03}"))
        .collect()
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn select_star_returns_id_fields_and_system_fields() {
    let (_db, t) = setup();
    let r = q(&t, "SELECT * FROM product WHERE sku = 'A1'");
    assert_eq!(r.len(), 1);
    assert_eq!(r.columns.first().map(String::as_str), Some("id"));
    for c in [
        "sku",
        "name",
        "price",
        "category",
        "stock",
        "created_at",
        "modified_at",
        "deleted_at",
    ] {
        assert!(
            r.columns.contains(&c.to_string()),
            "missing {c} in {:?}",
            r.columns
        );
    }
    assert_eq!(col(&r, "deleted_at"), [json!(null)]);
    let id = t.lookup(&["A1"]).unwrap()[0].1["id"].clone();
    assert_eq!(col(&r, "id"), [id]);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn columns_nested_paths_aliases_and_missing_fields() {
    let (_db, t) = setup();
    let r = q(&t, "SELECT name, contact.address.city, e.contact.phone AS phone, level FROM employee e WHERE email = 'e004@corp.example'");
    assert_eq!(
        r.columns,
        ["name", "contact.address.city", "phone", "level"]
    );
    assert_eq!(
        r.rows,
        vec![vec![
            json!("Emp 004"),
            json!("Osaka"),
            json!("+64-0004"),
            json!(null)
        ]]
    );
    let r = q(
        &t,
        "SELECT note, contact.nowhere.deep FROM employee LIMIT 1",
    );
    assert_eq!(r.rows, vec![vec![json!(null), json!(null)]]);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn expressions_and_arithmetic() {
    let (_db, t) = setup();
    let r = q(&t, "SELECT price * 2 AS double, stock + 1, price / 2, stock % 4, -stock AS neg, name || '!' AS shout, UPPER(name) AS up, LENGTH(name) AS len FROM product WHERE sku = 'D4'");
    assert_eq!(
        r.rows[0],
        [
            json!(298),
            json!(8),
            json!(74),
            json!(3),
            json!(-7),
            json!("Drill!"),
            json!("DRILL"),
            json!(5)
        ]
    );
    let r = q(&t, "SELECT 7 / 2 AS i, 7.0 / 2 AS f, ROUND(2.345, 2) AS r, ABS(-3) AS a, COALESCE(NULL, 'x') AS c, 1 + 2 * 3 AS p, (1 + 2) * 3 AS g");
    assert_eq!(
        r.rows[0],
        [
            json!(3),
            json!(3.5),
            json!(2.35),
            json!(3),
            json!("x"),
            json!(7),
            json!(9)
        ]
    );
    let r = q(&t, "SELECT CASE WHEN stock = 0 THEN 'out' WHEN stock < 10 THEN 'low' ELSE 'ok' END AS s FROM product ORDER BY sku");
    assert_eq!(
        col(&r, "s"),
        [
            json!("low"),
            json!("ok"),
            json!("out"),
            json!("low"),
            json!("ok")
        ]
    );
    let r = q(
        &t,
        "SELECT CAST(stock AS TEXT) AS s, CAST('42' AS INTEGER) AS n FROM product WHERE sku = 'B2'",
    );
    assert_eq!(r.rows[0], [json!("1000"), json!(42)]);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn distinct_values() {
    let (_db, t) = setup();
    let r = q(
        &t,
        "SELECT DISTINCT department FROM employee ORDER BY department",
    );
    assert_eq!(
        col(&r, "department"),
        [
            json!("design"),
            json!("engineering"),
            json!("ops"),
            json!("sales")
        ]
    );
    let r = q(
        &t,
        "SELECT DISTINCT category FROM product ORDER BY category NULLS FIRST",
    );
    assert_eq!(
        col(&r, "category"),
        [json!(null), json!("parts"), json!("tools")]
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn where_operators() {
    let (_db, t) = setup();
    assert_eq!(
        names(&q(
            &t,
            "SELECT name FROM employee WHERE age = 34 ORDER BY name"
        )),
        emp_names(|i| 20 + (i * 7) % 45 == 34)
    );
    assert_eq!(
        names(&q(
            &t,
            "SELECT name FROM employee WHERE age <> 34 AND age != 20 ORDER BY name"
        )),
        emp_names(|i| {
            let a = 20 + (i * 7) % 45;
            a != 34 && a != 20
        })
    );
    assert_eq!(
        names(&q(
            &t,
            "SELECT name FROM employee WHERE age BETWEEN 30 AND 32 ORDER BY name"
        )),
        emp_names(|i| (30..=32).contains(&(20 + (i * 7) % 45)))
    );
    assert_eq!(
        names(&q(
            &t,
            "SELECT name FROM employee WHERE age NOT BETWEEN 22 AND 63 ORDER BY name"
        )),
        emp_names(|i| !(22..=63).contains(&(20 + (i * 7) % 45)))
    );
    assert_eq!(
        names(&q(
            &t,
            "SELECT name FROM employee WHERE department IN ('ops', 'design') ORDER BY name"
        )),
        emp_names(|i| i % 4 == 1 || i % 4 == 3)
    );
    assert_eq!(names(&q(&t, "SELECT name FROM employee WHERE department NOT IN ('ops', 'design', 'sales') ORDER BY name")), emp_names(|i| i % 4 == 0));
    assert_eq!(
        names(&q(
            &t,
            "SELECT name FROM employee WHERE salary > 99000 ORDER BY name"
        )),
        emp_names(|i| 40000.0 + i as f64 * 512.5 > 99000.0)
    );
    assert_eq!(
        names(&q(
            &t,
            "SELECT name FROM employee WHERE salary >= 40512.5 AND salary < 41537 ORDER BY name"
        )),
        emp_names(|i| (1..=2).contains(&i))
    );
    assert_eq!(
        names(&q(
            &t,
            "SELECT name FROM employee WHERE active = false AND age < 30 ORDER BY name"
        )),
        emp_names(|i| i % 3 == 0 && 20 + (i * 7) % 45 < 30)
    );
    assert_eq!(
        names(&q(
            &t,
            "SELECT name FROM employee WHERE NOT active ORDER BY name"
        )),
        emp_names(|i| i % 3 == 0)
    );
    assert_eq!(
        names(&q(
            &t,
            "SELECT name FROM employee WHERE contact.address.city = 'Lagos' ORDER BY name"
        )),
        emp_names(|i| i % 5 == 2)
    );
    // An array field matches when any element does (as its index does).
    assert_eq!(
        names(&q(
            &t,
            "SELECT name FROM employee WHERE skills = 'k8s' ORDER BY name"
        )),
        emp_names(|i| i % 6 == 5 || (i / 6) % 6 == 5)
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn like_and_ilike() {
    let (_db, t) = setup();
    let r = q(
        &t,
        "SELECT sku FROM product WHERE name LIKE 'b%' ORDER BY sku",
    );
    assert_eq!(col(&r, "sku"), [json!("B2")]);
    let r = q(
        &t,
        "SELECT sku FROM product WHERE name ILIKE 'b%' OR name ILIKE '%RATE' ORDER BY sku",
    );
    assert_eq!(col(&r, "sku"), [json!("B2"), json!("C3")]);
    let r = q(
        &t,
        "SELECT sku FROM product WHERE name LIKE '50!% %' ESCAPE '!'",
    );
    assert_eq!(col(&r, "sku"), [json!("E5")]);
    let r = q(
        &t,
        "SELECT sku FROM product WHERE name NOT LIKE '%r%' ORDER BY sku",
    );
    assert_eq!(col(&r, "sku"), [json!("A1"), json!("B2"), json!("E5")]);
    let r = q(&t, "SELECT sku FROM product WHERE LOWER(name) = 'bolt'");
    assert_eq!(col(&r, "sku"), [json!("B2")]);
    // String equality is case-sensitive.
    assert!(q(&t, "SELECT sku FROM product WHERE name = 'BOLT'").is_empty());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn null_three_valued_logic() {
    let (_db, t) = setup();
    let all = 120;
    let with_level = (0..120).filter(|i| i % 4 != 0).count();
    assert_eq!(
        q(&t, "SELECT id FROM employee WHERE level IS NULL").len(),
        all - with_level
    );
    assert_eq!(
        q(&t, "SELECT id FROM employee WHERE level IS NOT NULL").len(),
        with_level
    );
    // Comparisons with NULL are unknown, so neither side of the test keeps the row.
    let eq = q(&t, "SELECT id FROM employee WHERE level = 2").len();
    let ne = q(&t, "SELECT id FROM employee WHERE level <> 2").len();
    assert_eq!(eq + ne, with_level);
    assert_eq!(
        q(&t, "SELECT id FROM employee WHERE NOT (level = 2)").len(),
        ne
    );
    assert!(q(&t, "SELECT id FROM employee WHERE level = NULL").is_empty());
    // NULL OR TRUE is true; NULL AND TRUE is unknown.
    assert_eq!(
        q(&t, "SELECT id FROM employee WHERE level = 1 OR age > 0").len(),
        all
    );
    assert_eq!(
        q(&t, "SELECT id FROM employee WHERE level > -1 AND age > 0").len(),
        with_level
    );
    // NOT IN with a NULL in the list is never true.
    assert!(q(&t, "SELECT id FROM product WHERE sku NOT IN ('A1', NULL)").is_empty());
    assert_eq!(
        q(&t, "SELECT id FROM product WHERE sku IN ('A1', NULL)").len(),
        1
    );
    // A missing field is NULL too.
    assert_eq!(
        q(
            &t,
            "SELECT sku FROM product WHERE category IS NULL ORDER BY sku"
        )
        .rows,
        vec![vec![json!("C3")], vec![json!("E5")]]
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn parentheses_multiline_spacing_and_quotes() {
    let (_db, t) = setup();
    let sql = "select   name\n  from\temployee\n where (department = 'engineering'\n        OR (department = 'ops' AND age > 50))\n   AND NOT (active = false)\n   and (age < 30 or age >= 60)\n ORDER BY\n   name ;";
    let expect = emp_names(|i| {
        let age = 20 + (i * 7) % 45;
        (i % 4 == 0 || (i % 4 == 3 && age > 50)) && i % 3 != 0 && !(30..60).contains(&age)
    });
    assert_eq!(names(&q(&t, sql)), expect);
    let r = q(
        &t,
        "SELECT code FROM project WHERE name = 'It''s \"quoted\", AND, OR'",
    );
    assert_eq!(col(&r, "code"), [json!("P5")]);
    let r = q(
        &t,
        "SELECT code FROM project WHERE name LIKE '%, AND, OR' AND status = 'active'",
    );
    assert_eq!(col(&r, "code"), [json!("P5")]);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn double_quoted_names_that_are_no_column_are_strings() {
    let (_db, t) = setup();
    let skus = |sql: &str| col(&q(&t, sql), "sku");
    // SQLite's rule: "tools" names no column of product, so it is the string 'tools'.
    assert_eq!(
        skus(r#"SELECT sku FROM product WHERE category = "tools" ORDER BY sku"#),
        [json!("A1"), json!("D4")]
    );
    assert_eq!(
        skus(r#"SELECT sku FROM product WHERE category IN ("tools", "parts") ORDER BY sku"#),
        [json!("A1"), json!("B2"), json!("D4")]
    );
    assert_eq!(
        skus(r#"SELECT sku FROM product WHERE name LIKE "%ill""#),
        [json!("D4")]
    );
    // A double-quoted name that is a column stays the column: name = name holds for every row.
    assert_eq!(
        skus(r#"SELECT sku FROM product WHERE "name" = name ORDER BY sku"#).len(),
        5
    );
    assert_eq!(
        skus(r#"SELECT sku FROM product WHERE "category" = 'tools' ORDER BY sku"#),
        [json!("A1"), json!("D4")]
    );
    // Quoted names match exactly, so "Category" is no column: it is a string no row has.
    assert!(skus(r#"SELECT sku FROM product WHERE category = "Category""#).is_empty());
    // In a select list, in the WHERE of a join and of a grouped query.
    let r = q(&t, r#"SELECT "hello" AS greeting FROM product LIMIT 1"#);
    assert_eq!(col(&r, "greeting"), [json!("hello")]);
    let r = q(
        &t,
        r#"SELECT p.code FROM project p JOIN employee e ON p.lead = e.email WHERE p.status = "done""#,
    );
    assert_eq!(col(&r, "code"), [json!("P3")]);
    let r = q(
        &t,
        r#"SELECT department, COUNT(*) AS n FROM employee WHERE department = "ops" GROUP BY department"#,
    );
    assert_eq!(col(&r, "n"), [json!(30)]);
    // An unquoted unknown name is still an unknown column, and so is a qualified quoted one.
    let e = err(&t, "SELECT sku FROM product WHERE category = tools");
    assert_eq!(e.code(), "UNKNOWN_COLUMN", "{e}");
    let e = err(&t, r#"SELECT sku FROM product WHERE product."tools" = 1"#);
    assert_eq!(e.code(), "UNKNOWN_COLUMN", "{e}");
    // Backtick-quoted names are always names: what generated SQL should quote fields with.
    assert_eq!(
        skus("SELECT sku FROM product WHERE `category` = 'tools' ORDER BY `sku`"),
        [json!("A1"), json!("D4")]
    );
    let e = err(&t, "SELECT sku FROM product WHERE `tools` = 'tools'");
    assert_eq!(e.code(), "UNKNOWN_COLUMN", "{e}");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn parameters_numbered_and_positional() {
    let (_db, t) = setup();
    let r = t
        .sql(
            "SELECT name FROM employee WHERE department = $1 AND age > $2 ORDER BY name LIMIT $3",
            &[json!("sales"), json!(50), json!(2)],
        )
        .unwrap();
    let expect: Vec<String> = emp_names(|i| i % 4 == 2 && 20 + (i * 7) % 45 > 50)
        .into_iter()
        .take(2)
        .collect();
    assert_eq!(names(&r), expect);
    let r = t
        .sql(
            "SELECT sku FROM product WHERE price < ? AND stock > ? ORDER BY sku",
            &[json!(100), json!(2)],
        )
        .unwrap();
    assert_eq!(col(&r, "sku"), [json!("A1"), json!("B2"), json!("E5")]);
    // Parameters are values, never SQL.
    assert!(t
        .sql(
            "SELECT sku FROM product WHERE name = $1",
            &[json!("x' OR '1'='1")]
        )
        .unwrap()
        .is_empty());
    let err = t
        .sql("SELECT sku FROM product WHERE name = $2", &[json!("x")])
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_ARGUMENT");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn timestamps_compare_as_time() {
    let (_db, t) = setup();
    let all = q(
        &t,
        "SELECT id FROM employee WHERE created_at >= '2020-01-01'",
    )
    .len();
    assert_eq!(all, 120);
    assert_eq!(
        q(
            &t,
            "SELECT id FROM employee WHERE created_at >= NOW() - INTERVAL '7 days'"
        )
        .len(),
        120
    );
    assert!(q(
        &t,
        "SELECT id FROM employee WHERE created_at > NOW() + INTERVAL '1 hour'"
    )
    .is_empty());
    assert_eq!(
        q(&t, "SELECT id FROM employee WHERE modified_at <= NOW()").len(),
        120
    );
    let expect = emp_names(|i| 15 + i % 10 >= 22);
    assert_eq!(
        names(&q(
            &t,
            "SELECT name FROM employee WHERE hired >= '2022-01-01' ORDER BY name"
        )),
        expect
    );
    // Same instant, another offset and format.
    let r = q(
        &t,
        "SELECT name FROM employee WHERE hired = '2015-01-01 10:00:00+01:00'",
    );
    assert_eq!(names(&r), ["Emp 000"]);
    let expect = emp_names(|i| {
        let y = 15 + i % 10;
        (18..=19).contains(&y)
    });
    assert_eq!(names(&q(&t, "SELECT name FROM employee WHERE hired BETWEEN '2018-01-01' AND '2019-12-31T23:59:59Z' ORDER BY name")), expect);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn order_by_several_keys_and_nulls() {
    let (_db, t) = setup();
    let r = q(&t, "SELECT name, department, age FROM employee ORDER BY department DESC, age ASC, name LIMIT 3");
    let mut rows: Vec<(String, usize, String)> = (0..120)
        .map(|i| {
            (
                DEPTS[i % 4].to_string(),
                20 + (i * 7) % 45,
                format!("Emp {i:03}"),
            )
        })
        .collect();
    rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    assert_eq!(
        names(&r),
        rows.iter().take(3).map(|r| r.2.clone()).collect::<Vec<_>>()
    );
    let r = q(&t, "SELECT sku FROM product ORDER BY category, sku");
    assert_eq!(
        col(&r, "sku"),
        [
            json!("B2"),
            json!("A1"),
            json!("D4"),
            json!("C3"),
            json!("E5")
        ],
        "NULLs last by default ascending"
    );
    let r = q(&t, "SELECT sku FROM product ORDER BY category DESC, sku");
    assert_eq!(
        col(&r, "sku"),
        [
            json!("C3"),
            json!("E5"),
            json!("A1"),
            json!("D4"),
            json!("B2")
        ],
        "NULLs first by default descending"
    );
    let r = q(
        &t,
        "SELECT sku FROM product ORDER BY category ASC NULLS FIRST, sku DESC",
    );
    assert_eq!(
        col(&r, "sku"),
        [
            json!("E5"),
            json!("C3"),
            json!("B2"),
            json!("D4"),
            json!("A1")
        ]
    );
    let r = q(
        &t,
        "SELECT sku, price * stock AS value FROM product ORDER BY value DESC LIMIT 2",
    );
    assert_eq!(col(&r, "sku"), [json!("D4"), json!("A1")]);
    let r = q(&t, "SELECT sku, stock FROM product ORDER BY 2 DESC LIMIT 1");
    assert_eq!(col(&r, "sku"), [json!("B2")]);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn order_by_limit_pages_equal_slices_of_the_full_sort_ties_included() {
    // 120 rows and small pages: the top-k buffer is cut many times, so most rows are dropped by
    // the scan against the cutoff before their other columns are read. Ties (4 departments, 45
    // ages, nested cities, missing levels) keep arrival order, as in the full sort.
    let (_db, t) = setup();
    for order in [
        "department",
        "department DESC",
        "age DESC",
        "level NULLS FIRST",
        "level DESC NULLS LAST, department",
        "contact.address.city, age DESC",
        "salary - age * 1000",
    ] {
        let full = names(&q(
            &t,
            &format!("SELECT name FROM employee ORDER BY {order}"),
        ));
        assert_eq!(full.len(), 120);
        for (limit, offset) in [(1, 0), (3, 0), (5, 7), (10, 50), (2, 117)] {
            let page = names(&q(
                &t,
                &format!(
                    "SELECT name FROM employee ORDER BY {order} LIMIT {limit} OFFSET {offset}"
                ),
            ));
            let want: Vec<String> = full.iter().skip(offset).take(limit).cloned().collect();
            assert_eq!(page, want, "ORDER BY {order} LIMIT {limit} OFFSET {offset}");
        }
    }
    // With a filter, the cutoff applies to the rows that pass it.
    let full = names(&q(
        &t,
        "SELECT name FROM employee WHERE active ORDER BY age",
    ));
    let page = names(&q(
        &t,
        "SELECT name FROM employee WHERE active ORDER BY age LIMIT 4 OFFSET 3",
    ));
    assert_eq!(page, full[3..7]);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn pagination_visits_every_row_once() {
    let (_db, t) = setup();
    let mut seen = Vec::new();
    for page in 0..13 {
        let r = q(
            &t,
            &format!(
                "SELECT name FROM employee ORDER BY age DESC, name LIMIT 10 OFFSET {}",
                page * 10
            ),
        );
        seen.extend(names(&r));
    }
    assert_eq!(seen.len(), 120);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 120);
    assert!(q(
        &t,
        "SELECT name FROM employee ORDER BY name LIMIT 10 OFFSET 200"
    )
    .is_empty());
    assert_eq!(q(&t, "SELECT name FROM employee LIMIT 0").len(), 0);
    assert_eq!(
        names(&q(
            &t,
            "SELECT name FROM employee ORDER BY id LIMIT 2 OFFSET 1"
        ))
        .len(),
        2
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn group_by_with_aggregates_and_having() {
    let (_db, t) = setup();
    let r = q(&t, "SELECT department, COUNT(*) AS n, COUNT(level) AS with_level, COUNT(DISTINCT contact.address.city) AS cities, SUM(age) AS ages, AVG(salary) AS avg_salary, MIN(age) AS youngest, MAX(hired) AS last_hire FROM employee GROUP BY department ORDER BY department");
    assert_eq!(r.len(), 4);
    for (row, dept) in r.rows.iter().zip(["design", "engineering", "ops", "sales"]) {
        let d = DEPTS.iter().position(|x| *x == dept).unwrap();
        let members: Vec<usize> = (0..120).filter(|i| i % 4 == d).collect();
        let ages: usize = members.iter().map(|i| 20 + (i * 7) % 45).sum();
        let avg = members
            .iter()
            .map(|i| 40000.0 + *i as f64 * 512.5)
            .sum::<f64>()
            / members.len() as f64;
        let mut cities: Vec<&str> = members.iter().map(|i| CITIES[i % 5]).collect();
        cities.sort();
        cities.dedup();
        let last = members
            .iter()
            .map(|i| {
                format!(
                    "20{:02}-{:02}-{:02}T09:00:00Z",
                    15 + i % 10,
                    1 + i % 12,
                    1 + i % 28
                )
            })
            .max()
            .unwrap();
        assert_eq!(row[0], json!(dept));
        assert_eq!(row[1], json!(members.len()));
        assert_eq!(
            row[2],
            json!(members.iter().filter(|i| *i % 4 != 0).count())
        );
        assert_eq!(row[3], json!(cities.len()));
        assert_eq!(row[4], json!(ages));
        assert!((row[5].as_f64().unwrap() - avg).abs() < 1e-6);
        assert_eq!(
            row[6],
            json!(members.iter().map(|i| 20 + (i * 7) % 45).min().unwrap())
        );
        assert_eq!(row[7], json!(last));
    }
    let r = q(&t, "SELECT contact.address.city AS city, COUNT(*) FROM employee WHERE active GROUP BY city HAVING COUNT(*) > 15 ORDER BY COUNT(*) DESC, city");
    let mut expect: Vec<(String, usize)> = CITIES
        .iter()
        .enumerate()
        .map(|(c, name)| {
            (
                name.to_string(),
                (0..120).filter(|i| i % 5 == c && i % 3 != 0).count(),
            )
        })
        .filter(|(_, n)| *n > 15)
        .collect();
    expect.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    assert_eq!(
        r.rows,
        expect
            .iter()
            .map(|(c, n)| vec![json!(c), json!(n)])
            .collect::<Vec<_>>()
    );
    // Aggregates without GROUP BY: one row, even over no rows.
    let r = q(
        &t,
        "SELECT COUNT(*), SUM(stock), MAX(price), AVG(price) FROM product WHERE price > 1000",
    );
    assert_eq!(
        r.rows,
        vec![vec![json!(0), json!(null), json!(null), json!(null)]]
    );
    let r = q(&t, "SELECT COUNT(*) AS n, SUM(price) AS total FROM product");
    assert_eq!(r.rows, vec![vec![json!(5), json!(265.75)]]);
    // GROUP BY a position, and a NULL group.
    let r = q(
        &t,
        "SELECT category, COUNT(*) FROM product GROUP BY 1 ORDER BY 1 NULLS FIRST",
    );
    assert_eq!(
        r.rows,
        vec![
            vec![json!(null), json!(2)],
            vec![json!("parts"), json!(1)],
            vec![json!("tools"), json!(2)]
        ]
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn joins_inner_left_and_on_id() {
    let (_db, t) = setup();
    let r = q(
        &t,
        "SELECT p.code, e.name FROM project p JOIN employee e ON p.lead = e.email ORDER BY p.code",
    );
    assert_eq!(r.columns, ["code", "name"]);
    assert_eq!(
        r.rows,
        vec![
            vec![json!("P1"), json!("Emp 000")],
            vec![json!("P2"), json!("Emp 001")],
            vec![json!("P3"), json!("Emp 004")],
        ]
    );
    let r = q(&t, "SELECT p.code, e.name FROM project p LEFT JOIN employee e ON e.email = p.lead ORDER BY p.code");
    assert_eq!(
        col(&r, "name"),
        [
            json!("Emp 000"),
            json!("Emp 001"),
            json!("Emp 004"),
            json!(null),
            json!(null)
        ]
    );
    // LEFT JOIN: ON conditions limit matches, WHERE conditions filter rows.
    let r = q(&t, "SELECT p.code, e.name FROM project p LEFT JOIN employee e ON e.email = p.lead AND e.age > 30 ORDER BY p.code");
    let e4_age = 48; // employee 4: 20 + (4 * 7) % 45
    assert_eq!(
        col(&r, "name")[2],
        if e4_age > 30 {
            json!("Emp 004")
        } else {
            json!(null)
        }
    );
    let r = q(&t, "SELECT p.code FROM project p LEFT JOIN employee e ON e.email = p.lead WHERE e.email IS NULL ORDER BY p.code");
    assert_eq!(col(&r, "code"), [json!("P4"), json!("P5")]);
    // Self-join to the manager, three tables, and a join on id.
    let r = q(&t, "SELECT e.name, m.name AS boss, p.code FROM employee e JOIN employee m ON e.manager = m.email JOIN project p ON p.lead = e.email ORDER BY e.name");
    assert_eq!(
        r.rows,
        vec![vec![json!("Emp 004"), json!("Emp 000"), json!("P3")]]
    );
    let id = t.lookup(&["e007@corp.example"]).unwrap()[0].1["id"].clone();
    let r = t
        .sql(
            "SELECT a.name, b.email FROM employee a JOIN employee b ON a.id = b.id WHERE a.id = $1",
            &[id],
        )
        .unwrap();
    assert_eq!(
        r.rows,
        vec![vec![json!("Emp 007"), json!("e007@corp.example")]]
    );
    // Counting through a join with GROUP BY.
    let r = q(&t, "SELECT m.name, COUNT(*) AS reports FROM employee e JOIN employee m ON e.manager = m.email GROUP BY m.name ORDER BY m.name");
    assert_eq!(
        r.rows,
        vec![
            vec![json!("Emp 000"), json!(29)],
            vec![json!("Emp 001"), json!(29)],
            vec![json!("Emp 002"), json!(29)],
            vec![json!("Emp 003"), json!(29)],
        ]
    );
    // SELECT * over a join qualifies every column.
    let r = q(
        &t,
        "SELECT * FROM project p JOIN employee e ON p.lead = e.email WHERE p.code = 'P1'",
    );
    assert!(
        r.columns.contains(&"p.code".to_string()) && r.columns.contains(&"e.email".to_string())
    );
    let r = q(&t, "SELECT p.*, e.name AS lead_name FROM project p JOIN employee e ON p.lead = e.email WHERE p.code = 'P2'");
    assert_eq!(r.columns.last().unwrap(), "lead_name");
    assert!(r.columns.contains(&"budget".to_string()));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn soft_deleted_rows_hidden_unless_asked() {
    let (_db, t) = setup();
    let id = t.lookup(&["C3"]).unwrap()[0].1["id"]
        .as_str()
        .unwrap()
        .to_string();
    t.delete(&id).unwrap();
    assert_eq!(q(&t, "SELECT sku FROM product").len(), 4);
    assert_eq!(
        q(&t, "SELECT COUNT(*) AS n FROM product").rows[0][0],
        json!(4)
    );
    let r = q(&t, "SELECT sku FROM product WHERE deleted_at IS NOT NULL");
    assert_eq!(col(&r, "sku"), [json!("C3")]);
    assert_eq!(
        q(
            &t,
            "SELECT sku FROM product WHERE deleted_at IS NULL OR deleted_at IS NOT NULL"
        )
        .len(),
        5
    );
    assert!(t
        .sql("SELECT sku FROM product WHERE id = $1", &[json!(id)])
        .unwrap()
        .is_empty());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn lookup_statement_reads_keys_across_tables() {
    let (_db, t) = setup();
    let r = q(&t, "LOOKUP 'P1', 'e002@corp.example', 'missing'");
    assert_eq!(col(&r, "_table"), [json!("project"), json!("employee")]);
    assert_eq!(r.columns[..2], ["_table".to_string(), "id".to_string()]);
    assert_eq!(col(&r, "name"), [json!("Apollo"), json!("Emp 002")]);
    let r = t.sql("lookup $1", &[json!("A1")]).unwrap();
    assert_eq!(col(&r, "sku"), [json!("A1")]);
}

fn err(t: &Tenant, sql: &str) -> Error {
    match t.sql(sql, &[]) {
        Ok(r) => panic!("{sql} should fail, got {r:?}"),
        Err(e) => e,
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn errors_name_what_is_wrong() {
    let (_db, t) = setup();
    let e = err(&t, "SELECT * FROM nowhere");
    assert_eq!(e.code(), "UNKNOWN_TABLE");
    assert!(
        e.to_string().contains("employee") && e.to_string().contains("product"),
        "{e}"
    );
    let e = err(&t, "SELECT nam FROM employee");
    assert_eq!(e.code(), "UNKNOWN_COLUMN");
    assert!(
        e.to_string().contains("`nam`")
            && e.to_string().contains("name")
            && e.to_string().contains("salary"),
        "{e}"
    );
    let e = err(&t, "SELECT name FROM employee WHERE x.y = 1");
    assert_eq!(e.code(), "UNKNOWN_COLUMN");
    let e = err(
        &t,
        "SELECT name FROM project p JOIN employee e ON p.lead = e.email",
    );
    assert!(e.to_string().contains("ambiguous"), "{e}");
    for (sql, construct) in [
        (
            "SELECT name FROM employee UNION SELECT name FROM project",
            "UNION",
        ),
        (
            "SELECT name FROM employee WHERE id IN (SELECT id FROM project)",
            "subqueries",
        ),
        ("SELECT name FROM employee, project", "comma-separated"),
        (
            "SELECT name FROM employee e RIGHT JOIN project p ON p.lead = e.email",
            "RIGHT JOIN",
        ),
        (
            "SELECT e.name FROM employee e JOIN project p ON p.budget > e.salary",
            "without an equality",
        ),
        ("WITH x AS (SELECT 1) SELECT * FROM x", "WITH"),
        ("SELECT ROW_NUMBER() OVER () FROM employee", "window"),
        (
            "SELECT name FROM employee WHERE name SIMILAR TO 'x'",
            "SIMILAR",
        ),
        ("SELECT frobnicate(name) FROM employee", "frobnicate"),
        ("INSERT INTO employee VALUES (1)", "INSERT"),
        (
            "SELECT name FROM employee WHERE embedding.cosine('cats')",
            "no embedding_fields",
        ),
    ] {
        let e = err(&t, sql);
        assert_eq!(e.code(), "SQL_UNSUPPORTED", "{sql}: {e}");
        assert!(e.to_string().contains(construct), "{sql}: {e}");
    }
    for sql in [
        "SELEC name FROM employee",
        "SELECT name FROM employee WHERE",
        "SELECT 1; SELECT 2",
        "",
        "SELECT name FROM employee WHERE (age > 1",
    ] {
        assert_eq!(err(&t, sql).code(), "SQL_SYNTAX", "{sql}");
    }
    assert_eq!(
        err(&t, "SELECT name, COUNT(*) FROM employee").code(),
        "SQL_SYNTAX"
    );
    assert_eq!(
        err(&t, "SELECT name FROM employee WHERE COUNT(*) > 1").code(),
        "SQL_SYNTAX"
    );
    assert_eq!(err(&t, "SELECT name + 1 FROM employee").code(), "SQL_TYPE");
    assert_eq!(
        err(&t, "SELECT name FROM employee LIMIT -1").code(),
        "SQL_TYPE"
    );
    assert_eq!(err(&t, "SELECT 1 / 0").code(), "SQL_TYPE");
}

fn plan(t: &Tenant, sql: &str) -> String {
    let r = q(t, &format!("EXPLAIN {sql}"));
    assert_eq!(r.columns, ["plan"]);
    r.rows
        .iter()
        .map(|r| r[0].as_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn explain_shows_index_use_join_strategy_and_estimates() {
    let (_db, t) = setup();
    let p = plan(
        &t,
        "SELECT name FROM employee WHERE department = 'ops' AND age > 30",
    );
    assert!(p.contains("Index scan employee using"), "{p}");
    let p2 = plan(&t, "SELECT name FROM employee WHERE department = 'ops'");
    assert!(p2.contains("department = 'ops' (est. 30 rows)"), "{p2}");
    // The most selective index wins.
    let p = plan(
        &t,
        "SELECT name FROM employee WHERE department = 'ops' AND age = 20",
    );
    assert!(p.contains("using age = 20"), "{p}");
    let p = plan(&t, "SELECT name FROM employee WHERE age >= 60 AND age < 63");
    assert!(p.contains("age >= 60 AND age < 63"), "{p}");
    let id = t.lookup(&["e001@corp.example"]).unwrap()[0].1["id"]
        .as_str()
        .unwrap()
        .to_string();
    let p = plan(&t, &format!("SELECT name FROM employee WHERE id = '{id}'"));
    assert!(p.contains("Id lookup employee (1 ids)"), "{p}");
    let p = plan(&t, "SELECT name FROM employee WHERE salary > 1");
    assert!(p.contains("Full scan employee (est. 120 rows)"), "{p}");
    let p = plan(&t, "SELECT name FROM employee LIMIT 5");
    assert!(p.contains("stops early"), "{p}");
    let p = plan(&t, "SELECT name FROM employee ORDER BY id LIMIT 5");
    assert!(p.contains("no sort") && p.contains("stops early"), "{p}");
    let p = plan(
        &t,
        "SELECT p.code FROM project p LEFT JOIN employee e ON e.email = p.lead",
    );
    assert!(
        p.contains("Hash left join on e.email = p.lead") && p.contains("Build hash table"),
        "{p}"
    );
    let p = plan(
        &t,
        "SELECT department, COUNT(*) FROM employee GROUP BY department",
    );
    assert!(p.contains("Hash aggregate by department"), "{p}");
    let p = plan(&t, "SELECT name FROM employee WHERE hired >= '2024-01-01'");
    assert!(p.contains("Index scan employee using hired"), "{p}");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn indexed_and_scanned_answers_agree() {
    let (_db, t) = setup();
    // The same rows in a table without indexes give the same answers.
    let mut schema = employee_schema();
    schema["title"] = json!("EmployeeCopy");
    schema["json_schema_extra"]["indexed_fields"] = json!([]);
    t.register_schema(schema).unwrap();
    t.insert_many("employee_copy", (0..120).map(employee).collect())
        .unwrap();
    for cond in [
        "department = 'ops'",
        "department IN ('ops', 'sales') AND age > 40",
        "age BETWEEN 25 AND 35",
        "age > 30 AND age <= 50 AND age > 35",
        "hired >= '2020-06-01' AND hired < '2022-01-01T00:00:00+00:00'",
        "hired = '2016-02-02T09:00:00.000Z'",
        "skills = 'rust' AND age < 40",
        "skills IN ('go', 'figma')",
        "age = 20.0",
        "department = 'nope'",
        "age > 'x'",
    ] {
        let a = names(&q(
            &t,
            &format!("SELECT name FROM employee WHERE {cond} ORDER BY name"),
        ));
        let b = names(&q(
            &t,
            &format!("SELECT name FROM employee_copy WHERE {cond} ORDER BY name"),
        ));
        assert_eq!(a, b, "{cond}");
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn updates_are_visible_and_consistent() {
    let (_db, t) = setup();
    let id = t.lookup(&["B2"]).unwrap()[0].1["id"]
        .as_str()
        .unwrap()
        .to_string();
    t.update(&id, json!({"stock": 5})).unwrap();
    let r = q(&t, "SELECT stock FROM product WHERE sku = 'B2'");
    assert_eq!(r.rows, vec![vec![json!(5)]]);
    t.hard_delete(&id).unwrap();
    assert!(q(
        &t,
        "SELECT stock FROM product WHERE sku = 'B2' OR deleted_at IS NOT NULL"
    )
    .is_empty());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn results_serialize_in_column_order() {
    let (_db, t) = setup();
    let r = q(&t, "SELECT sku, price, name FROM product WHERE sku = 'A1'");
    assert_eq!(
        serde_json::to_string(&r).unwrap(),
        r#"[{"sku":"A1","price":99.5,"name":"Anvil"}]"#
    );
    let r = q(&t, "SELECT sku, sku FROM product WHERE sku = 'A1'");
    assert_eq!(r.columns, ["sku", "sku_2"]);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn traverse_statement_returns_paths_with_rows() {
    let (_db, t) = setup();
    let id = |key: &str| {
        t.lookup(&[key]).unwrap()[0].1["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // e004 reports to e000; e008 reports to e004; e004 leads P3.
    t.add_edge(
        &id("e004@corp.example"),
        &id("e000@corp.example"),
        "reports_to",
        json!({}),
    )
    .unwrap();
    t.add_edge(
        &id("e008@corp.example"),
        &id("e004@corp.example"),
        "reports_to",
        json!({}),
    )
    .unwrap();
    t.add_edge(
        &id("e004@corp.example"),
        &id("P3"),
        "leads",
        json!({"since": 2024}),
    )
    .unwrap();
    let r = t
        .sql(
            "TRAVERSE FROM $1 DEPTH 2 DIRECTION out",
            &[json!(id("e008@corp.example"))],
        )
        .unwrap();
    assert_eq!(
        r.columns[..4],
        [
            "depth".to_string(),
            "path".to_string(),
            "rels".to_string(),
            "id".to_string()
        ]
    );
    let ends: Vec<(Value, Value, Value)> = r
        .rows
        .iter()
        .map(|row| {
            (
                row[0].clone(),
                row[2].clone(),
                row[r.columns.iter().position(|c| c == "name").unwrap()].clone(),
            )
        })
        .collect();
    assert_eq!(
        ends,
        vec![
            (json!(1), json!(["reports_to"]), json!("Emp 004")),
            // Breadth first; an entity's edges are walked in (relationship, id) order.
            (json!(2), json!(["reports_to", "leads"]), json!("Cygnus")),
            (
                json!(2),
                json!(["reports_to", "reports_to"]),
                json!("Emp 000")
            ),
        ]
    );
    let r = t
        .sql(
            "TRAVERSE FROM $1 DEPTH 3 DIRECTION in TYPE 'reports_to'",
            &[json!(id("e000@corp.example"))],
        )
        .unwrap();
    assert_eq!(col(&r, "name"), [json!("Emp 004"), json!("Emp 008")]);
    let r = t
        .sql(
            "traverse from $1 direction both type 'leads' limit 1",
            &[json!(id("P3"))],
        )
        .unwrap();
    assert_eq!(col(&r, "name"), [json!("Emp 004")]);
    assert_eq!(
        t.sql("TRAVERSE FROM 'not-an-id'", &[]).unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        t.sql("TRAVERSE FROM $1 DIRECTION sideways", &[json!(id("P3"))])
            .unwrap_err()
            .code(),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        t.sql("TRAVERSE FROM $1 DEPTH -1", &[json!(id("P3"))])
            .unwrap_err()
            .code(),
        "SQL_SYNTAX"
    );
    assert_eq!(
        t.sql("TRAVERSE FROM $1 DEPTH 'two'", &[json!(id("P3"))])
            .unwrap_err()
            .code(),
        "SQL_TYPE"
    );
    assert_eq!(err(&t, "SEARCH 'x' IN nowhere").code(), "UNKNOWN_TABLE");
    assert_eq!(err(&t, "SEARCH 'x' IN employee").code(), "SQL_UNSUPPORTED");
    let p = plan(&t, &format!("TRAVERSE FROM '{}' DEPTH 2", id("P3")));
    assert!(
        p.contains("Graph traversal (bfs)") && p.contains("depth ≤ 2"),
        "{p}"
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn count_star_of_a_whole_table_reads_the_row_counter_and_agrees_with_a_scan() {
    let (_db, t) = setup();
    let p = plan(&t, "SELECT COUNT(*) AS n FROM employee");
    assert!(p.contains("Row counter of employee (120 rows"), "{p}");
    assert!(!p.contains("scan"), "{p}");
    // Soft deletes, a purge, an upsert of an existing key and a new row move the counter as
    // they move a scan's count.
    let ids: Vec<String> = q(
        &t,
        "SELECT id FROM employee WHERE email <> 'e005@corp.example' ORDER BY id LIMIT 3",
    )
    .rows
    .iter()
    .map(|r| r[0].as_str().unwrap().to_string())
    .collect();
    t.delete(&ids[0]).unwrap();
    t.delete(&ids[1]).unwrap();
    t.hard_delete(&ids[2]).unwrap();
    t.insert("employee", employee(5)).unwrap(); // an upsert: the key exists
    t.insert("employee", employee(500)).unwrap();
    let counted = q(
        &t,
        "SELECT COUNT(*) AS n, COUNT(*) * 2 AS twice FROM employee",
    );
    let scanned = q(&t, "SELECT COUNT(id) AS n FROM employee WHERE age >= 0");
    assert_eq!(counted.rows, [[json!(118), json!(236)]]);
    assert_eq!(scanned.rows, [[json!(118)]]);
    assert_eq!(
        q(
            &t,
            "SELECT COUNT(*) AS n FROM employee HAVING COUNT(*) > 1000"
        )
        .rows
        .len(),
        0
    );
    // Another table counts as a scan does.
    assert_eq!(
        q(&t, "SELECT COUNT(*) AS n FROM product WHERE 1 = 1").rows,
        q(&t, "SELECT COUNT(*) AS n FROM product").rows
    );
}
