//! Tables from Rust types: the schema derived by schemars validates writes like any registered
//! schema, the REM extensions take effect (natural-key upserts, indexes), and rows read back as
//! the type — by id, and from SQL by column name.

use remdb::{Category, Database, Error, IndexQuery, Rem, Typed};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
struct Address {
    city: String,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
struct Person {
    email: String,
    age: u8,
    nickname: Option<String>,
    address: Address,
}

impl Typed for Person {
    fn rem() -> Rem {
        Rem::new()
            .key_field("email")
            .indexed(["age"])
            .category(Category::User)
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, PartialEq)]
struct Pet {
    name: String,
}

impl Typed for Pet {
    fn rem() -> Rem {
        Rem::new().table("animals")
    }
}

fn ada() -> Person {
    Person {
        email: "ada@x.io".into(),
        age: 36,
        nickname: None,
        address: Address {
            city: "London".into(),
        },
    }
}

#[test]
fn a_typed_table_validates_upserts_indexes_and_reads_back() {
    let t = Database::memory().tenant("default").unwrap();
    let schema = t.register::<Person>().unwrap();
    assert_eq!(schema.name, "person");
    assert_eq!(schema.key_field.as_deref(), Some("email"));
    assert_eq!(schema.category, Category::User);

    let id = t.insert_typed(&ada()).unwrap();
    let read: Person = t.get_as(&id.to_string()).unwrap().expect("row");
    assert_eq!(read, ada());

    // Same natural key: an upsert of the same row.
    let older = Person { age: 37, ..ada() };
    assert_eq!(t.insert_typed(&older).unwrap(), id);
    assert_eq!(t.count("person", false).unwrap(), 1);
    let by_age = t
        .index_lookup_ids("person", "age", &IndexQuery::Eq(json!(37)), false)
        .unwrap();
    assert_eq!(by_age, vec![id]);

    // The derived schema is enforced on the JSON API too: u8 bounds, required nested fields.
    let err = t
        .insert(
            "person",
            json!({"email": "b@x.io", "age": 300, "address": {"city": "X"}}),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Validation { .. }), "{err}");
    let err = t
        .insert(
            "person",
            json!({"email": "c@x.io", "age": 3, "address": {}}),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Validation { .. }), "{err}");

    #[derive(Deserialize, Debug, PartialEq)]
    struct Row {
        email: String,
        age: i64,
    }
    let rows: Vec<Row> = t
        .query_as("SELECT email, age FROM person WHERE age > $1", &[json!(30)])
        .unwrap();
    assert_eq!(
        rows,
        vec![Row {
            email: "ada@x.io".into(),
            age: 37
        }]
    );
}

#[test]
fn reading_a_row_as_the_wrong_type_is_a_typed_error() {
    let t = Database::memory().tenant("default").unwrap();
    t.register::<Person>().unwrap();
    t.insert_typed(&ada()).unwrap();
    assert_eq!(t.register::<Pet>().unwrap().name, "animals");
    let pet = t.insert_typed(&Pet { name: "Rex".into() }).unwrap();
    assert_eq!(t.count("animals", false).unwrap(), 1);
    let err = t.get_as::<Person>(&pet.to_string()).unwrap_err();
    assert!(
        matches!(err, Error::InvalidArgument(ref m) if m.contains("animals")),
        "{err}"
    );
    let missing = uuid::Uuid::now_v7().to_string();
    assert_eq!(t.get_as::<Person>(&missing).unwrap(), None);
    let err = t
        .query_as::<Person>("SELECT email FROM person", &[])
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
}
