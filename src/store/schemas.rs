//! Registering and listing table schemas.

use serde_json::Value;

use super::builtin::builtin_schemas;
use super::schema::{Category, CompiledSchema, StoredSchema, TableSchema};
use super::TenantStore;
use crate::error::{Error, Result};

impl TenantStore {
    /// Registers a JSON Schema as a table (or replaces the table's schema) and returns what was
    /// read from it. Registering an identical schema again writes nothing.
    pub(crate) fn register_schema(&self, schema: Value) -> Result<TableSchema> {
        let info = TableSchema::parse(schema)?;
        // Compile before taking the writer lock: a bad schema fails fast and writes nothing.
        let compiled = CompiledSchema::compile(info)?;
        let name = compiled.info.name.clone();
        self.write(|tx| {
            match tx.schema(&name) {
                Ok(existing) if existing.info.schema == compiled.info.schema => {
                    return Ok(existing.info.clone())
                }
                Ok(_) | Err(Error::UnknownTable { .. }) => {}
                Err(e) => return Err(e),
            }
            let ts = tx.now_string();
            let stored = StoredSchema {
                name: name.clone(),
                schema: compiled.info.schema.clone(),
            };
            Ok(tx.put_schema(stored, &ts)?.info.clone())
        })
    }

    /// Creates the built-in tables (resources, agents, sessions, messages, moments). Idempotent.
    pub(crate) fn init(&self) -> Result<Vec<TableSchema>> {
        builtin_schemas()
            .into_iter()
            .map(|s| self.register_schema(s))
            .collect()
    }

    /// The schema of `table`.
    pub(crate) fn schema(&self, table: &str) -> Result<TableSchema> {
        Ok(self.compiled_schema(table)?.info.clone())
    }

    /// Every table schema, by name, optionally only those of one category. Read through the
    /// compiled-schema cache, so listing compiles each schema at most once.
    pub(crate) fn schemas(&self, category: Option<Category>) -> Result<Vec<TableSchema>> {
        let mut out = Vec::new();
        for table in self.table_names()? {
            let info = &self.compiled_schema(&table)?.info;
            if category.is_none_or(|c| c == info.category) {
                out.push(info.clone());
            }
        }
        Ok(out)
    }
}
