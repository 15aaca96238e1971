//! Tables from Rust types: the schema of a `#[derive(JsonSchema)]` type (schemars), its REM
//! extensions from [`Typed::rem`], and rows read back through serde.
//!
//! ```
//! use remdb::{Database, Rem, Typed};
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, JsonSchema, Debug, PartialEq)]
//! struct Person {
//!     name: String,
//!     age: u32,
//! }
//!
//! impl Typed for Person {
//!     fn rem() -> Rem {
//!         Rem::new().key_field("name").indexed(["age"])
//!     }
//! }
//!
//! let t = Database::memory().tenant("default")?;
//! t.register::<Person>()?;
//! let id = t.insert_typed(&Person { name: "Ada".into(), age: 36 })?;
//! assert_eq!(t.get_as::<Person>(&id.to_string())?.unwrap().age, 36);
//!
//! #[derive(Deserialize)]
//! struct Named { name: String }
//! let rows: Vec<Named> = t.query_as("SELECT name FROM person WHERE age > $1", &[30.into()])?;
//! assert_eq!(rows[0].name, "Ada");
//! # Ok::<(), remdb::Error>(())
//! ```

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::sql::QueryResult;
use crate::store::{snake_case, Category, Row};

/// A Rust type stored as the rows of one table. The JSON Schema comes from `JsonSchema`; the
/// REM extensions (key field, indexes, embeddings, category, table name) from [`Typed::rem`].
pub trait Typed: JsonSchema {
    /// The table's REM extensions; none by default.
    fn rem() -> Rem {
        Rem::default()
    }

    /// The table name: [`Rem::table`] when set, else the schema name in snake case
    /// (`ProjectTask` → `project_task`).
    fn table() -> String {
        Self::rem()
            .table
            .unwrap_or_else(|| snake_case(&Self::schema_name()))
    }
}

/// REM extensions of a typed table (see [`Typed::rem`]); each becomes a `json_schema_extra` key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rem {
    /// Table name; default: the type's schema name in snake case.
    pub table: Option<String>,
    /// Field whose value makes the id deterministic (an upsert key).
    pub key_field: Option<String>,
    /// Fields with a secondary index.
    pub indexed_fields: Vec<String>,
    /// Fields embedded into vectors.
    pub embedding_fields: Vec<String>,
    /// Embedding provider of the table, e.g. `local:all-MiniLM-L6-v2`.
    pub embedding_provider: Option<String>,
    /// Who the table is for.
    pub category: Option<Category>,
}

impl Rem {
    /// No extensions.
    pub fn new() -> Self {
        Rem::default()
    }

    /// Names the table.
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = Some(name.into());
        self
    }

    /// Makes `field` the natural key.
    pub fn key_field(mut self, field: impl Into<String>) -> Self {
        self.key_field = Some(field.into());
        self
    }

    /// Adds secondary indexes on `fields`.
    pub fn indexed<S: Into<String>>(mut self, fields: impl IntoIterator<Item = S>) -> Self {
        self.indexed_fields
            .extend(fields.into_iter().map(Into::into));
        self
    }

    /// Embeds `fields` into vectors.
    pub fn embedded<S: Into<String>>(mut self, fields: impl IntoIterator<Item = S>) -> Self {
        self.embedding_fields
            .extend(fields.into_iter().map(Into::into));
        self
    }

    /// Embeds with `provider` instead of the database's default.
    pub fn embedding_provider(mut self, provider: impl Into<String>) -> Self {
        self.embedding_provider = Some(provider.into());
        self
    }

    /// Sets the category.
    pub fn category(mut self, category: Category) -> Self {
        self.category = Some(category);
        self
    }

    fn into_extra(self, table: String) -> Map<String, Value> {
        let mut extra = Map::new();
        extra.insert("name".into(), table.into());
        if let Some(key) = self.key_field {
            extra.insert("key_field".into(), key.into());
        }
        if !self.indexed_fields.is_empty() {
            extra.insert("indexed_fields".into(), self.indexed_fields.into());
        }
        if !self.embedding_fields.is_empty() {
            extra.insert("embedding_fields".into(), self.embedding_fields.into());
        }
        if let Some(provider) = self.embedding_provider {
            extra.insert("embedding_provider".into(), provider.into());
        }
        if let Some(category) = self.category {
            extra.insert("category".into(), category.as_str().into());
        }
        extra
    }
}

/// The JSON Schema of `T` with its REM extensions, ready to register.
pub(crate) fn schema_of<T: Typed>() -> Result<Value> {
    let mut schema = schemars::schema_for!(T).to_value();
    let obj = schema.as_object_mut().ok_or_else(|| {
        Error::InvalidSchema(format!(
            "the schema of `{}` is not an object schema",
            T::schema_name()
        ))
    })?;
    obj.insert(
        "json_schema_extra".into(),
        Value::Object(T::rem().into_extra(T::table())),
    );
    Ok(schema)
}

/// `value` as a row to insert: it must serialize to a JSON object.
pub(crate) fn to_row<T: Typed + Serialize>(value: &T) -> Result<Value> {
    let row = serde_json::to_value(value).map_err(|e| {
        Error::InvalidArgument(format!("a `{}` does not serialize: {e}", T::table()))
    })?;
    if !row.is_object() {
        return Err(Error::InvalidArgument(format!(
            "a `{}` must serialize to a JSON object",
            T::table()
        )));
    }
    Ok(row)
}

/// A stored row of `table` read as a `T` (system fields the type does not name are ignored).
pub(crate) fn from_row<T: DeserializeOwned>(table: &str, row: Row) -> Result<T> {
    serde_json::from_value(Value::Object(row)).map_err(|e| {
        Error::InvalidArgument(format!(
            "a row of `{table}` does not read as `{}`: {e}",
            std::any::type_name::<T>()
        ))
    })
}

/// Each row of a query result as a `T`, its columns as fields by name.
pub(crate) fn rows_as<T: DeserializeOwned>(result: QueryResult) -> Result<Vec<T>> {
    let QueryResult { columns, rows } = result;
    rows.into_iter()
        .map(|values| {
            let row: Map<String, Value> = columns.iter().cloned().zip(values).collect();
            serde_json::from_value(Value::Object(row)).map_err(|e| {
                Error::InvalidArgument(format!(
                    "a result row does not read as `{}`: {e}",
                    std::any::type_name::<T>()
                ))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(JsonSchema)]
    #[allow(dead_code)]
    struct ProjectTask {
        title: String,
        done: bool,
    }
    impl Typed for ProjectTask {
        fn rem() -> Rem {
            Rem::new()
                .key_field("title")
                .indexed(["done"])
                .category(Category::User)
        }
    }

    #[test]
    fn the_schema_carries_the_rem_extensions_and_the_table_name() {
        let schema = schema_of::<ProjectTask>().unwrap();
        assert_eq!(ProjectTask::table(), "project_task");
        let info = crate::store::TableSchema::parse(schema).unwrap();
        assert_eq!(info.name, "project_task");
        assert_eq!(info.key_field.as_deref(), Some("title"));
        assert_eq!(info.indexed_fields, ["done"]);
        assert_eq!(info.category, Category::User);
        let mut fields = info.fields.clone();
        fields.sort();
        assert_eq!(fields, ["done", "title"]);
    }

    #[test]
    fn result_rows_read_by_column_name() {
        let result = QueryResult {
            columns: vec!["a".into(), "b".into()],
            rows: vec![vec![1.into(), "x".into()]],
        };
        #[derive(serde::Deserialize)]
        struct AB {
            a: i64,
            b: String,
        }
        let rows: Vec<AB> = rows_as(result).unwrap();
        assert_eq!((rows[0].a, rows[0].b.as_str()), (1, "x"));
        let bad = QueryResult {
            columns: vec!["a".into()],
            rows: vec![vec!["not a number".into()]],
        };
        assert!(matches!(rows_as::<AB>(bad), Err(Error::InvalidArgument(_))));
    }
}
