//! Entity operations: insert (upsert by natural key), get, update, delete, list, count, lookup.

use serde_json::Value;
use uuid::Uuid;

use super::edges::parse_inline_edges;
use super::entity::{
    build_row, bump, derive_id, format_ts, key_id, merge_patch, parse_id, reject_system_fields,
    user_fields, IdScheme, Row, SYSTEM_FIELDS,
};
use super::keys::trailing_id;
use super::row_format::decode_row;
use super::vectors::EmbedMode;
use super::wal::WalOp;
use super::write::{count_meta, Prior, WriteTx};
use super::{into_object, read_row, TenantStore};
use crate::error::{Error, Result};
use crate::kv::Direction;

/// Paging and visibility for [`Tenant::list`](crate::Tenant::list).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Most rows returned (all when `None`).
    pub limit: Option<usize>,
    /// Rows skipped first.
    pub offset: usize,
    /// Include soft-deleted rows.
    pub include_deleted: bool,
}

impl WriteTx<'_> {
    /// Validates `data` for `table` and stores it as a new row, or as an upsert of the row with the
    /// same natural key (keeping `created_at`, bumping `modified_at`).
    pub(crate) fn insert(&mut self, table: &str, data: Value) -> Result<Uuid> {
        Ok(self.upsert(table, data, false)?.0)
    }

    /// [`insert`](Self::insert), or nothing at all when `skip_same` and the live row with the
    /// same id already holds exactly these fields (after defaults): `(id, written)`.
    pub(crate) fn upsert(
        &mut self,
        table: &str,
        data: Value,
        skip_same: bool,
    ) -> Result<(Uuid, bool)> {
        let schema = self.schema(table)?;
        let mut user = into_object(table, data)?;
        // An `edges` array becomes real edges of the new entity and is not stored in the row.
        let edges = user.remove("edges").map(parse_inline_edges).transpose()?;
        reject_system_fields(table, &user)?;
        let mut data = Value::Object(user);
        schema.apply_defaults(&mut data);
        schema.validate(&data)?;
        let Value::Object(user) = data else {
            return Err(Error::InvalidArgument("entity is not an object".into()));
        };
        let scheme = self.id_scheme()?;
        let (id, keyed) = derive_id(scheme, self.tenant().name(), &schema.info, &user)?;
        // An id derived from a key may name an existing row; a drawn one cannot.
        let prior = if keyed {
            self.row_if_any(table, &id)?
        } else {
            Prior::Fresh
        };
        let old = match &prior {
            Prior::Read(old) => old.as_ref(),
            Prior::Fresh | Prior::Absent => None,
        };
        if skip_same && edges.is_none() {
            if let Some(old) = &old {
                if !super::is_deleted(old) && user_fields(old) == user {
                    return Ok((id, false));
                }
            }
        }
        let now = self.now();
        let (op, created_at) = match old {
            Some(old) => (
                WalOp::Update,
                old.get("created_at").cloned().unwrap_or(Value::Null),
            ),
            None => (WalOp::Insert, Value::String(format_ts(now))),
        };
        let modified_at = format_ts(bump(old.and_then(|o| o.get("modified_at")), now));
        let row = build_row(&id, user, created_at, modified_at, Value::Null);
        let ts = self.now_string();
        self.put_row_over(op, table, id, prior, row, &ts)?;
        if let Some(edges) = edges {
            self.link_inline(id, edges)?;
        }
        Ok((id, true))
    }

    /// Soft-deletes the row `id` of `table` when it is live; `false` when it is not.
    pub(crate) fn soft_delete(&mut self, table: &str, id: Uuid) -> Result<bool> {
        let Some(mut row) = self.row(table, &id)? else {
            return Ok(false);
        };
        if super::is_deleted(&row) {
            return Ok(false);
        }
        let now = self.now();
        let modified_at = bump(row.get("modified_at"), now);
        row.insert("modified_at".into(), Value::String(format_ts(modified_at)));
        row.insert("deleted_at".into(), Value::String(format_ts(modified_at)));
        let ts = self.now_string();
        self.put_row(WalOp::Delete, table, id, row, &ts)?;
        Ok(true)
    }

    fn live_row(&self, id: &Uuid) -> Result<(String, Row)> {
        let not_found = || Error::NotFound(format!("no entity with id {id}"));
        let table = self.table_of(id)?.ok_or_else(not_found)?;
        let row = self.row(&table, id)?.ok_or_else(not_found)?;
        if super::is_deleted(&row) {
            return Err(not_found());
        }
        Ok((table, row))
    }
}

impl TenantStore {
    /// Inserts one entity into `table` and returns its id. Inserting an entity whose natural key
    /// already exists replaces that row's data (upsert).
    ///
    /// An `edges` array in `data` (`[{dst, rel_type, properties?}]`) is not stored in the row: it
    /// becomes real edges from the new entity (see [`TenantStore::add_edge`]), in the same atomic
    /// write. The whole array is validated first; a bad item or a missing `dst` writes nothing.
    pub(crate) fn insert(&self, table: &str, data: Value) -> Result<Uuid> {
        if self.embeds_inline(Some(table)) {
            return self.write_embedding(|tx| tx.insert(table, data.clone()));
        }
        self.write(|tx| tx.insert(table, data))
    }

    /// Inserts many entities in one atomic batch: if any is invalid, none is written.
    pub(crate) fn insert_many(&self, table: &str, items: Vec<Value>) -> Result<Vec<Uuid>> {
        if self.embeds_inline(Some(table)) {
            return self.write_embedding(|tx| {
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| tx.insert(table, item.clone()).map_err(|e| at_index(e, i)))
                    .collect()
            });
        }
        self.write(|tx| {
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| tx.insert(table, item).map_err(|e| at_index(e, i)))
                .collect()
        })
    }

    /// Upserts `rows` into `table` and soft-deletes the live rows among `deletes`, in one atomic
    /// batch (document ingestion). Rows identical to the live row they would replace are not
    /// written, so a batch that changes nothing writes nothing, not even a WAL entry. Returns
    /// `(rows written, rows deleted)`. An invalid row fails the whole batch; its error names its
    /// position (`/i/...`).
    pub(crate) fn write_rows(
        &self,
        table: &str,
        rows: &[Value],
        deletes: &[Uuid],
    ) -> Result<(usize, usize)> {
        let run = |tx: &mut WriteTx<'_>| -> Result<(usize, usize)> {
            let mut written = 0;
            for (i, row) in rows.iter().enumerate() {
                let (_, wrote) = tx
                    .upsert(table, row.clone(), true)
                    .map_err(|e| at_index(e, i))?;
                written += usize::from(wrote);
            }
            let mut deleted = 0;
            for id in deletes {
                deleted += usize::from(tx.soft_delete(table, *id)?);
            }
            Ok((written, deleted))
        };
        if self.embeds_inline(Some(table)) {
            return self.write_embedding(run);
        }
        self.write(run)
    }

    /// The id a row of `table` with natural key `key` has (or would get) in this tenant.
    pub(crate) fn natural_key_id(&self, table: &str, key: &str) -> Result<Uuid> {
        let snap = self.snapshot()?;
        Ok(key_id(self.id_scheme(&*snap)?, self.name(), table, key))
    }

    /// Whether a write to `table` (any table when `None`) can embed text inline: the mode is
    /// inline, an embedder is configured and the table embeds fields. Such writes embed with
    /// the writer lock released ([`TenantStore::write_embedding`]); the others move their data
    /// straight into the transaction.
    fn embeds_inline(&self, table: Option<&str>) -> bool {
        let settings = self.embed_settings();
        if settings.mode != EmbedMode::Inline || settings.source.is_none() {
            return false;
        }
        match table.map(|t| self.compiled_schema(t)) {
            None => true,
            Some(Ok(schema)) => {
                !schema.info.embedding_fields.is_empty()
                    && !settings.providers(&schema.info).is_empty()
            }
            Some(Err(_)) => false,
        }
    }

    /// The live row with `id`, or `None`.
    pub(crate) fn get(&self, id: &str) -> Result<Option<Row>> {
        self.get_with(id, false)
    }

    /// The row with `id`, soft-deleted ones too when `include_deleted`.
    pub(crate) fn get_with(&self, id: &str, include_deleted: bool) -> Result<Option<Row>> {
        let id = parse_id(id)?;
        let snap = self.snapshot()?;
        let Some(table) = snap.get(&self.keys.dir(&id))? else {
            return Ok(None);
        };
        let table =
            String::from_utf8(table).map_err(|_| Error::storage("corrupt directory entry"))?;
        Ok(read_row(&*snap, &self.keys, &table, &id)?
            .filter(|(_, deleted)| include_deleted || !deleted)
            .map(|(row, _)| row))
    }

    /// The table that holds `id` (soft-deleted rows included).
    pub(crate) fn table_of(&self, id: &str) -> Result<Option<String>> {
        let id = parse_id(id)?;
        match self.store.kv().get(&self.keys.dir(&id))? {
            Some(t) => String::from_utf8(t)
                .map(Some)
                .map_err(|_| Error::storage("corrupt directory entry")),
            None => Ok(None),
        }
    }

    /// Applies a JSON merge patch (RFC 7396) to the live row `id`, re-validates and returns the new
    /// row. System fields cannot change; neither can the natural key a deterministic id was made of.
    /// An `edges` array in the patch adds (or updates) those edges instead of being stored.
    pub(crate) fn update(&self, id: &str, patch: Value) -> Result<Row> {
        let id = parse_id(id)?;
        self.write_embedding(|tx| {
            let (table, old) = tx.live_row(&id)?;
            let mut patch = into_object(&table, patch.clone())?;
            super::check_object_depth(&patch, format_args!("a patch of `{table}`"))?;
            let edges = patch.remove("edges").map(parse_inline_edges).transpose()?;
            for field in SYSTEM_FIELDS {
                if let Some(v) = patch.get(field) {
                    if old.get(field) != Some(v) {
                        return Err(Error::validation(
                            &table,
                            format!("/{field}"),
                            format!("`{field}` is a system field owned by the store and cannot be changed"),
                        ));
                    }
                }
            }
            let patch: Row = patch.into_iter().filter(|(k, _)| !SYSTEM_FIELDS.contains(&k.as_str())).collect();
            let mut user = Value::Object(user_fields(&old));
            merge_patch(&mut user, &Value::Object(patch));
            let schema = tx.schema(&table)?;
            schema.validate(&user)?;
            let Value::Object(user) = user else { return Err(Error::InvalidArgument("patch result is not an object".into())) };
            let scheme = tx.id_scheme()?;
            let (new_id, deterministic) = derive_id(scheme, self.name(), &schema.info, &user)?;
            let was_deterministic = super::entity::natural_key(&schema.info, &user_fields(&old))?
                .is_some_and(|k| key_id(scheme, self.name(), &table, &k) == id);
            if was_deterministic && (!deterministic || new_id != id) {
                return Err(Error::InvalidArgument(format!(
                    "the patch changes the natural key of {id} in `{table}`, which its id is derived from; insert a new entity instead"
                )));
            }
            let now = tx.now();
            let modified_at = format_ts(bump(old.get("modified_at"), now));
            let created_at = old.get("created_at").cloned().unwrap_or(Value::Null);
            let row = build_row(&id, user, created_at, modified_at, Value::Null);
            let ts = tx.now_string();
            tx.put_row(WalOp::Update, &table, id, row.clone(), &ts)?;
            if let Some(edges) = edges {
                tx.link_inline(id, edges)?;
            }
            Ok(row)
        })
    }

    /// Soft-deletes the live row `id`: sets `deleted_at`, hides it from reads unless asked.
    pub(crate) fn delete(&self, id: &str) -> Result<()> {
        let id = parse_id(id)?;
        self.write(|tx| {
            let (table, _) = tx.live_row(&id)?;
            tx.soft_delete(&table, id).map(drop)
        })
    }

    /// Removes the row `id` (live or soft-deleted) and its index entries for good.
    pub(crate) fn hard_delete(&self, id: &str) -> Result<()> {
        let id = parse_id(id)?;
        self.write(|tx| {
            let table = tx
                .table_of(&id)?
                .ok_or_else(|| Error::NotFound(format!("no entity with id {id}")))?;
            let ts = tx.now_string();
            tx.purge_row(&table, id, &ts)
        })
    }

    /// Rows of `table` in id order (random ids are time-ordered, so that is insertion order for
    /// them), paged by `options`.
    pub(crate) fn list(&self, table: &str, options: &ListOptions) -> Result<Vec<Row>> {
        self.compiled_schema(table)?;
        let mut rows = Vec::new();
        let mut to_skip = options.offset;
        let limit = options.limit.unwrap_or(usize::MAX);
        if limit == 0 {
            return Ok(rows);
        }
        // Visited in place: the pairs are read where the snapshot holds them, not copied out.
        let snap = self.snapshot()?;
        snap.visit(
            &self.keys.rows(table),
            Direction::Forward,
            &mut |_, value| {
                let stored = decode_row(value)?;
                if stored.deleted && !options.include_deleted {
                    return Ok(true);
                }
                if to_skip > 0 {
                    to_skip -= 1;
                    return Ok(true);
                }
                rows.push(stored.to_row()?);
                Ok(rows.len() < limit)
            },
        )?;
        Ok(rows)
    }

    /// Calls `f` for each row of `table` in id order until it returns `false`.
    pub(crate) fn for_each_row(
        &self,
        table: &str,
        include_deleted: bool,
        mut f: impl FnMut(Uuid, Row) -> bool,
    ) -> Result<()> {
        self.compiled_schema(table)?;
        let snap = self.snapshot()?;
        snap.visit(
            &self.keys.rows(table),
            Direction::Forward,
            &mut |key, value| {
                let stored = decode_row(value)?;
                if stored.deleted && !include_deleted {
                    return Ok(true);
                }
                Ok(f(trailing_id(key)?, stored.to_row()?))
            },
        )
    }

    /// Number of rows in `table` (soft-deleted ones only when `include_deleted`). Constant time:
    /// the write path maintains the counters.
    pub(crate) fn count(&self, table: &str, include_deleted: bool) -> Result<u64> {
        self.compiled_schema(table)?;
        self.meta_u64(&count_meta(table, !include_deleted))
    }

    /// How this tenant derives ids from natural keys, as of `snap`.
    pub(crate) fn id_scheme(&self, snap: &dyn crate::kv::KvSnapshot) -> Result<IdScheme> {
        let raw = snap.get(&self.keys.meta(super::write::META_ID_SCHEME))?;
        if raw.is_none()
            && snap
                .get(&self.keys.meta(super::write::META_WAL_SEQ))?
                .is_none()
        {
            return Ok(IdScheme::Portable); // no history yet: its first write will be portable
        }
        IdScheme::from_record(raw.as_deref())
    }

    /// Rows whose natural key (key field, `uri`, `key` or `name`) equals one of `keys`, across
    /// every table: `(table, row)` pairs in key order, then table order.
    pub(crate) fn lookup(&self, keys: &[&str]) -> Result<Vec<(String, Row)>> {
        let tables = self.table_names()?;
        let snap = self.snapshot()?;
        let scheme = self.id_scheme(&*snap)?;
        let mut found = Vec::new();
        for key in keys {
            for table in &tables {
                let id = key_id(scheme, self.name(), table, key);
                if let Some((row, false)) = read_row(&*snap, &self.keys, table, &id)? {
                    found.push((table.clone(), row));
                }
            }
        }
        Ok(found)
    }
}

/// Prefixes an error of item `i` of a batch insert with its position.
fn at_index(err: Error, i: usize) -> Error {
    match err {
        Error::Validation { table, issues } => Error::Validation {
            table,
            issues: issues
                .into_iter()
                .map(|mut issue| {
                    issue.pointer = format!("/{i}{}", issue.pointer);
                    issue
                })
                .collect(),
        },
        other => other,
    }
}
