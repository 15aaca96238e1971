//! The write-ahead log: one entry per mutation, written in the same batch as the data, per-tenant
//! gapless sequence numbers from 1. Export entries after a sequence number, apply them to another
//! database (idempotently, refusing gaps), compact old ones.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::clock::Hlc;
use super::entity::{key_id, natural_key, parse_id, parse_ts, user_fields, IdScheme, Row};
use super::keys::decode_u64;
use super::schema::StoredSchema;
use super::schema::TableSchema;
use super::write::{WriteTx, META_WAL_FIRST, META_WAL_SEQ};
use super::{is_deleted, TenantStore};
use crate::error::{Error, Result};
use crate::kv::Direction;

/// What a WAL entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WalOp {
    /// A new row (after-image in `data`).
    Insert,
    /// A changed row, including upserts (after-image in `data`).
    Update,
    /// A soft delete (after-image with `deleted_at` set).
    Delete,
    /// A hard delete (tombstone: `data` is null).
    Purge,
    /// A table schema registered or replaced (`data` is `{name, schema}`).
    Schema,
    /// An edge added or its properties replaced: `table`/`id` name the source entity, `data` is
    /// the whole edge `{src, rel, dst, properties, created_at, modified_at}`.
    Link,
    /// An edge removed: `table`/`id` name the source entity, `data` is `{src, rel, dst}`.
    /// (Edges removed because an endpoint was purged are not logged: replaying the purge
    /// removes them again.)
    Unlink,
    /// A vector stored for an embedded field: `table`/`id` name the row, `data` is
    /// `{field, provider, vector}` (the vector as given, before normalisation).
    Vector,
}

impl WalOp {
    fn as_str(self) -> &'static str {
        match self {
            WalOp::Insert => "insert",
            WalOp::Update => "update",
            WalOp::Delete => "delete",
            WalOp::Purge => "purge",
            WalOp::Schema => "schema",
            WalOp::Link => "link",
            WalOp::Unlink => "unlink",
            WalOp::Vector => "vector",
        }
    }
}

/// One WAL entry, as exported and applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalEntry {
    /// Position in the tenant's log, from 1 without gaps.
    pub seq: u64,
    /// When the mutation happened (RFC 3339 UTC).
    pub ts: String,
    /// What happened.
    pub op: WalOp,
    /// The table it happened to.
    pub table: String,
    /// The row id (absent for schema entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The full after-image, or null for a tombstone.
    #[serde(default)]
    pub data: Option<Value>,
    /// The hybrid logical clock of the write (absent in logs written before clocks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hlc: Option<Hlc>,
    /// For updates and soft deletes: the top-level fields the write changed (system fields
    /// other than `deleted_at` are not listed). Sync sends only these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
    /// Set when the entry applied the sync hub's entry at this hub sequence number (a pulled
    /// change, not a local write: it is never pushed back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub: Option<u64>,
    /// For inserts, updates and soft deletes: the version of the table's schema the write was
    /// made under (16 hex digits, a fingerprint of the schema's JSON). The sync hub carries
    /// ops written under an earlier version forward to its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_sha: Option<String>,
}

/// What [`Wal::apply`](crate::Wal::apply) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    /// Entries written.
    pub applied: u64,
    /// Entries already present (same sequence number and content).
    pub skipped: u64,
    /// The tenant's WAL sequence afterwards.
    pub seq: u64,
}

/// Most entries one [`Wal::apply`](crate::Wal::apply) call takes: the whole call is one
/// transaction held in memory until it commits. Longer logs are applied in batches (the CLI
/// streams them so), each atomic; re-applying a batch skips what is already there.
pub const MAX_APPLY_ENTRIES: usize = 10_000;

/// The optional parts of an encoded entry ([`WalEntry::hlc`], `fields`, `hub`, `schema_sha`).
#[derive(Default)]
pub(crate) struct EntryExtra<'a> {
    pub(crate) hlc: Option<Hlc>,
    pub(crate) fields: Option<&'a [String]>,
    pub(crate) hub: Option<u64>,
    pub(crate) schema_sha: Option<&'a str>,
}

/// Serializes an entry without re-serializing the after-image (already JSON bytes).
pub(crate) fn encode_entry(
    seq: u64,
    ts: &str,
    op: WalOp,
    table: &str,
    id: Option<&Uuid>,
    data: Option<&[u8]>,
    extra: &EntryExtra<'_>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + table.len() + data.map_or(4, <[u8]>::len));
    out.extend_from_slice(b"{\"seq\":");
    out.extend_from_slice(seq.to_string().as_bytes());
    out.extend_from_slice(b",\"ts\":\"");
    out.extend_from_slice(ts.as_bytes()); // RFC 3339: nothing to escape
    out.extend_from_slice(b"\",\"op\":\"");
    out.extend_from_slice(op.as_str().as_bytes());
    out.extend_from_slice(b"\",\"table\":\"");
    out.extend_from_slice(table.as_bytes()); // checked table names: nothing to escape
    out.push(b'"');
    if let Some(id) = id {
        out.extend_from_slice(b",\"id\":\"");
        out.extend_from_slice(
            id.hyphenated()
                .encode_lower(&mut Uuid::encode_buffer())
                .as_bytes(),
        );
        out.push(b'"');
    }
    out.extend_from_slice(b",\"data\":");
    out.extend_from_slice(data.unwrap_or(b"null"));
    if let Some(hlc) = extra.hlc {
        out.extend_from_slice(format!(",\"hlc\":\"{hlc}\"").as_bytes());
    }
    if let Some(fields) = extra.fields {
        out.extend_from_slice(b",\"fields\":");
        // Field names are JSON object keys: serializing a list of strings cannot fail.
        out.extend_from_slice(&serde_json::to_vec(fields).unwrap_or_else(|_| b"[]".to_vec()));
    }
    if let Some(hub) = extra.hub {
        out.extend_from_slice(format!(",\"hub\":{hub}").as_bytes());
    }
    if let Some(sha) = extra.schema_sha {
        out.extend_from_slice(b",\"schema_sha\":");
        // A fingerprint is hex digits; serializing a string cannot fail.
        out.extend_from_slice(&serde_json::to_vec(sha).unwrap_or_else(|_| b"null".to_vec()));
    }
    out.push(b'}');
    out
}

impl TenantStore {
    /// The sequence number of the last WAL entry (0 for a new tenant).
    pub(crate) fn wal_seq(&self) -> Result<u64> {
        self.meta_u64(META_WAL_SEQ)
    }

    /// The sequence number of the first WAL entry still kept (1 until a compaction).
    pub(crate) fn wal_first(&self) -> Result<u64> {
        Ok(self.meta_u64(META_WAL_FIRST)?.max(1))
    }

    pub(crate) fn meta_u64(&self, name: &str) -> Result<u64> {
        match self.store.kv().get(&self.keys.meta(name))? {
            Some(v) => decode_u64(&v),
            None => Ok(0),
        }
    }

    /// Up to `limit` entries with `seq > since`, in order. Asking for entries that were compacted
    /// away is an error (the caller needs a full copy instead).
    pub(crate) fn wal_entries(&self, since: u64, limit: usize) -> Result<Vec<WalEntry>> {
        let first = self.wal_first()?;
        if since.saturating_add(1) < first {
            return Err(Error::Wal(format!(
                "entries before seq {first} were compacted; cannot export from seq {since}"
            )));
        }
        self.store
            .kv()
            .scan(
                &self.keys.wal_from(since.saturating_add(1)),
                Direction::Forward,
            )?
            .take(limit)
            .map(|pair| {
                let (_, v) = pair?;
                serde_json::from_slice(&v)
                    .map_err(|e| Error::storage(format!("corrupt WAL entry: {e}")))
            })
            .collect()
    }

    /// Applies entries exported from another database's tenant, in one atomic batch of at most
    /// [`MAX_APPLY_ENTRIES`]. Entries must be consecutive. Entries at or below the current
    /// sequence must match what is already here (they are skipped); the rest must continue the
    /// sequence without gaps. Each entry is checked as the write path would check it (schema,
    /// system fields, ids derived from natural keys, vector dimensions, edge endpoints, rows
    /// that exist or not as the operation says), then written exactly as logged: rows, ids and
    /// timestamps are kept, no defaults are added.
    pub(crate) fn apply_wal(&self, entries: &[WalEntry]) -> Result<ApplyReport> {
        if entries.len() > MAX_APPLY_ENTRIES {
            return Err(Error::Limit(format!(
                "{} WAL entries in one apply; at most {MAX_APPLY_ENTRIES} are applied at once \
                 (split the log into batches; `rem wal apply` streams it in batches)",
                entries.len()
            )));
        }
        for pair in entries.windows(2) {
            if pair[1].seq != pair[0].seq.wrapping_add(1) {
                return Err(Error::Wal(format!(
                    "entries must be consecutive: seq {} follows seq {} in the batch",
                    pair[1].seq, pair[0].seq
                )));
            }
        }
        if entries.first().is_some_and(|e| e.seq == 0) {
            return Err(Error::Wal(
                "seq 0 is not a WAL position: sequence numbers start at 1".into(),
            ));
        }
        self.write(|tx| {
            tx.set_replaying();
            let mut report = ApplyReport::default();
            for entry in entries {
                if entry.seq <= tx.seq() {
                    check_same(tx, entry)?;
                    report.skipped += 1;
                    continue;
                }
                if entry.seq != tx.seq() + 1 {
                    return Err(Error::Wal(format!(
                        "gap in WAL: expected seq {}, got {} (apply the missing entries first)",
                        tx.seq() + 1,
                        entry.seq
                    )));
                }
                apply_entry(tx, entry)?;
                report.applied += 1;
            }
            report.seq = tx.seq();
            Ok(report)
        })
    }

    /// Removes entries with `seq < before`. Later exports must start at `before - 1` or after.
    /// Compacting less than an earlier compaction did changes nothing (the log never grows
    /// back, and exports from before the first kept entry keep failing).
    pub(crate) fn compact_wal(&self, before: u64) -> Result<()> {
        self.write(|tx| {
            if before > tx.seq() + 1 {
                return Err(Error::InvalidArgument(format!(
                    "cannot compact before seq {before}: the log ends at {}",
                    tx.seq()
                )));
            }
            let first = match tx.snapshot().get(&tx.keys().meta(META_WAL_FIRST))? {
                Some(v) => decode_u64(&v)?,
                None => 1,
            };
            if before > first {
                tx.compact_wal(before);
            }
            Ok(())
        })
    }
}

/// A vector entry's parts: its index, row id, values and text fingerprint (`text_sha`, when an
/// embedder made it). `bad` makes the error for a malformed entry.
pub(crate) fn vector_parts(
    entry: &WalEntry,
    bad: impl Fn(&str) -> Error,
) -> Result<(super::vectors::IndexName, Uuid, Vec<f32>, Option<String>)> {
    let id = parse_id(entry.id.as_deref().ok_or_else(|| bad("missing id"))?)?;
    let data = entry
        .data
        .as_ref()
        .ok_or_else(|| bad("vector entry without data"))?;
    let text = |k: &str| {
        data.get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| bad(&format!("missing `{k}`")))
    };
    let index = super::vectors::IndexName::new(&entry.table, text("field")?, text("provider")?)?;
    let vector: Vec<f32> = data
        .get("vector")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("missing `vector`"))?
        .iter()
        .map(|x| {
            x.as_f64()
                .map(|f| f as f32)
                .ok_or_else(|| bad("vector values must be numbers"))
        })
        .collect::<Result<_>>()?;
    let sha = data
        .get("text_sha")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok((index, id, vector, sha))
}

fn check_same(tx: &WriteTx<'_>, entry: &WalEntry) -> Result<()> {
    let Some(raw) = tx.snapshot().get(&tx.keys().wal(entry.seq))? else {
        return Ok(()); // compacted here, or applied earlier in this same batch
    };
    let local: WalEntry = serde_json::from_slice(&raw)
        .map_err(|e| Error::storage(format!("corrupt WAL entry: {e}")))?;
    // The same schema registered on both sides (e.g. the built-in tables of `init`) at the same
    // position is the same history, whenever it happened.
    let same_schema = local.op == WalOp::Schema
        && entry.op == WalOp::Schema
        && local.table == entry.table
        && same_data(&local.data, &entry.data);
    if !same_entry(&local, entry) && !same_schema {
        return Err(Error::Wal(format!(
            "diverged at seq {}: this database logged {} {} at {}, the entry is {} {} at {}",
            entry.seq,
            local.op.as_str(),
            local.table,
            local.ts,
            entry.op.as_str(),
            entry.table,
            entry.ts
        )));
    }
    Ok(())
}

/// The same entry, numbers compared by value: a vector logged as `1.0` comes back as `1` after a
/// trip through JavaScript (which has one number type), and is still the same history.
fn same_entry(a: &WalEntry, b: &WalEntry) -> bool {
    a.seq == b.seq
        && a.ts == b.ts
        && a.op == b.op
        && a.table == b.table
        && a.id == b.id
        && same_data(&a.data, &b.data)
}

fn same_data(a: &Option<Value>, b: &Option<Value>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => same_json(x, y),
        (None, None) => true,
        _ => false,
    }
}

/// JSON equality with numbers equal when their values are (`1` and `1.0`).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || (x.as_f64().is_some() && x.as_f64() == y.as_f64())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_json(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

fn apply_entry(tx: &mut WriteTx<'_>, entry: &WalEntry) -> Result<()> {
    let bad = |why: &str| {
        Error::Wal(format!(
            "entry {} ({} {}): {why}",
            entry.seq,
            entry.op.as_str(),
            entry.table
        ))
    };
    if let Some(hlc) = entry.hlc {
        tx.observe_hlc(hlc);
    }
    tx.replay_stamp(entry.hlc, entry.hub);
    if parse_ts(&entry.ts).is_none() {
        return Err(bad(&format!(
            "`ts` {:?} is not an RFC 3339 time",
            super::quote(&entry.ts)
        )));
    }
    match entry.op {
        WalOp::Schema => {
            let data = entry
                .data
                .clone()
                .ok_or_else(|| bad("schema entry without data"))?;
            let stored: StoredSchema =
                serde_json::from_value(data).map_err(|e| bad(&e.to_string()))?;
            if stored.name != entry.table {
                return Err(bad(&format!(
                    "the schema is for table `{}`",
                    super::quote(&stored.name)
                )));
            }
            tx.put_schema(stored, &entry.ts)?;
        }
        WalOp::Purge => {
            let id = parse_id(entry.id.as_deref().ok_or_else(|| bad("missing id"))?)?;
            tx.purge_row(&entry.table, id, &entry.ts)?;
        }
        WalOp::Link | WalOp::Unlink => {
            let data = entry
                .data
                .as_ref()
                .ok_or_else(|| bad("edge entry without data"))?;
            let edge = super::edges::EdgeKey::from_json(data).map_err(|e| bad(&e.to_string()))?;
            if entry.id.as_deref().map(parse_id).transpose()? != Some(edge.src) {
                return Err(bad("entry id does not match the edge source"));
            }
            if tx.table_of(&edge.src)?.as_deref() != Some(entry.table.as_str()) {
                return Err(bad(&format!(
                    "the edge source {} is not a row of `{}`",
                    edge.src, entry.table
                )));
            }
            if entry.op == WalOp::Link {
                let record =
                    super::edges::Edge::from_json(data).map_err(|e| bad(&e.to_string()))?;
                check_times(&record.created_at, &record.modified_at).map_err(|e| bad(&e))?;
                for end in [record.src, record.dst] {
                    if !tx.is_live(&end)? {
                        return Err(bad(&format!(
                            "edge endpoint {end} is not a live entity here"
                        )));
                    }
                }
                tx.put_edge(&record, &entry.ts)?;
            } else {
                tx.remove_edge(&edge, &entry.ts)?;
            }
        }
        WalOp::Vector => {
            let (index, id, vector, sha) = vector_parts(entry, bad)?;
            tx.put_vector(&index, id, &vector, &entry.ts, sha.as_deref())?;
        }
        WalOp::Insert | WalOp::Update | WalOp::Delete => {
            let id = parse_id(entry.id.as_deref().ok_or_else(|| bad("missing id"))?)?;
            let row: Row = match &entry.data {
                Some(Value::Object(row)) => row.clone(),
                _ => return Err(bad("row entry without an object after-image")),
            };
            if row.get("id").and_then(Value::as_str) != Some(id.to_string().as_str()) {
                return Err(bad("after-image id does not match the entry id"));
            }
            if (entry.op == WalOp::Delete) != is_deleted(&row) {
                return Err(bad("deleted_at does not match the operation"));
            }
            check_system_fields(&row).map_err(|e| bad(&e))?;
            let schema = tx.schema(&entry.table)?;
            let user = user_fields(&row);
            if user.contains_key("edges") {
                return Err(bad(
                    "`edges` in inserted data becomes edges and is never stored in a row",
                ));
            }
            super::check_object_depth(&row, format_args!("a row of `{}`", entry.table))?;
            schema.validate(&Value::Object(user.clone()))?;
            check_row_id(tx, &schema.info, &user, id).map_err(|e| bad(&e))?;
            let old = tx.row(&entry.table, &id)?;
            match (entry.op, &old) {
                (WalOp::Insert, Some(_)) => {
                    return Err(bad(&format!(
                        "row {id} already exists (a new row with a known id is logged as update)"
                    )))
                }
                (WalOp::Update | WalOp::Delete, None) => {
                    return Err(bad(&format!("there is no row {id} to change")))
                }
                (_, Some(old)) if old.get("created_at") != row.get("created_at") => {
                    return Err(bad("created_at differs from the stored row's"))
                }
                _ => {}
            }
            tx.put_row(entry.op, &entry.table, id, row, &entry.ts)?;
        }
    }
    Ok(())
}

/// `created_at` and `modified_at` are RFC 3339 times, `modified_at` not before `created_at`;
/// `deleted_at` is null or a time.
pub(crate) fn check_system_fields(row: &Row) -> std::result::Result<(), String> {
    let text = |field: &str| match row.get(field) {
        Some(Value::String(s)) => Ok(s.as_str()),
        _ => Err(format!("`{field}` must be an RFC 3339 time")),
    };
    check_times(text("created_at")?, text("modified_at")?)?;
    match row.get("deleted_at") {
        None => Err("`deleted_at` is missing (null for a live row)".into()),
        Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if parse_ts(s).is_some() => Ok(()),
        Some(_) => Err("`deleted_at` must be null or an RFC 3339 time".into()),
    }
}

fn check_times(created: &str, modified: &str) -> std::result::Result<(), String> {
    let parse = |field: &str, s: &str| {
        parse_ts(s)
            .ok_or_else(|| format!("`{field}` {:?} is not an RFC 3339 time", super::quote(s)))
    };
    if parse("modified_at", modified)? < parse("created_at", created)? {
        return Err("`modified_at` is before `created_at`".into());
    }
    Ok(())
}

/// A row with a natural key must have the id the key derives (under the tenant's id scheme;
/// a tenant with no history yet takes the scheme the log was written with).
pub(crate) fn check_row_id(
    tx: &mut WriteTx<'_>,
    schema: &TableSchema,
    user: &Row,
    id: Uuid,
) -> std::result::Result<(), String> {
    let key = natural_key(schema, user).map_err(|e| e.to_string())?;
    let Some(key) = key else { return Ok(()) };
    let tenant = tx.tenant().name().to_string();
    let matching = [IdScheme::Portable, IdScheme::TenantBound]
        .into_iter()
        .find(|s| key_id(*s, &tenant, &schema.name, &key) == id);
    if let Some(scheme) = matching {
        if tx.adopt_id_scheme(scheme) || tx.id_scheme().map_err(|e| e.to_string())? == scheme {
            return Ok(());
        }
    }
    let scheme = tx.id_scheme().map_err(|e| e.to_string())?;
    let expected = key_id(scheme, &tenant, &schema.name, &key);
    Err(format!(
        "row id {id} is not the id natural key {:?} gives in `{}` ({expected}); a log written \
         by a remdb whose ids depended on the tenant name applies only into a tenant of the \
         same name",
        super::quote(&key),
        schema.name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_entries_parse_back() {
        let id = Uuid::now_v7();
        let raw = encode_entry(
            7,
            "2026-01-01T00:00:00.000000Z",
            WalOp::Update,
            "people",
            Some(&id),
            Some(br#"{"a":1}"#),
            &EntryExtra {
                hlc: Some(Hlc(5)),
                fields: Some(&["a".to_string()]),
                hub: Some(3),
                schema_sha: Some("0123456789abcdef"),
            },
        );
        let e: WalEntry = serde_json::from_slice(&raw).unwrap();
        assert_eq!(e.seq, 7);
        assert_eq!(e.op, WalOp::Update);
        assert_eq!(e.id, Some(id.to_string()));
        assert_eq!(e.data, Some(serde_json::json!({"a": 1})));
        assert_eq!(
            (e.hlc, e.fields, e.hub, e.schema_sha.as_deref()),
            (
                Some(Hlc(5)),
                Some(vec!["a".into()]),
                Some(3),
                Some("0123456789abcdef")
            )
        );
        let tomb: WalEntry = serde_json::from_slice(&encode_entry(
            8,
            "t",
            WalOp::Purge,
            "p",
            Some(&id),
            None,
            &EntryExtra::default(),
        ))
        .unwrap();
        assert_eq!(tomb.data, None);
    }

    #[test]
    fn numbers_compare_by_value_when_checking_history() {
        let logged: Value = serde_json::from_str(r#"{"vector": [1.0, 0.0, 0.5], "n": 2}"#).unwrap();
        let via_js: Value = serde_json::from_str(r#"{"n": 2, "vector": [1, 0, 0.5]}"#).unwrap();
        assert!(same_json(&logged, &via_js));
        let other: Value = serde_json::from_str(r#"{"n": 2, "vector": [1, 0, 0.25]}"#).unwrap();
        assert!(!same_json(&logged, &other));
        let longer: Value =
            serde_json::from_str(r#"{"n": 2, "vector": [1, 0, 0.5], "x": 1}"#).unwrap();
        assert!(!same_json(&logged, &longer));
        assert!(!same_json(&Value::from("1"), &Value::from(1)));
    }
}
