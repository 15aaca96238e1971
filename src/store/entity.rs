//! Entity rules the store owns: system fields, ids, timestamps and merge patches.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::store::schema::TableSchema;

/// A row: a flat JSON object with the system fields.
pub type Row = Map<String, Value>;

/// Fields the store sets and users cannot.
pub const SYSTEM_FIELDS: [&str; 4] = ["id", "created_at", "modified_at", "deleted_at"];

/// Namespace of deterministic (v5) entity ids of [`IdScheme::TenantBound`] tenants.
const ID_NAMESPACE: Uuid = Uuid::from_bytes([
    0x6b, 0x1d, 0x2a, 0x57, 0x0c, 0x4e, 0x4f, 0x6a, 0x9d, 0x3e, 0x52, 0x45, 0x4d, 0x44, 0x42, 0x01,
]);

/// Namespace of deterministic (v5) entity ids of [`IdScheme::Portable`] tenants.
const PORTABLE_ID_NAMESPACE: Uuid = Uuid::from_bytes([
    0x6b, 0x1d, 0x2a, 0x57, 0x0c, 0x4e, 0x4f, 0x6a, 0x9d, 0x3e, 0x52, 0x45, 0x4d, 0x44, 0x42, 0x02,
]);

/// How a tenant turns natural keys into ids. Recorded per tenant at its first write (meta
/// `id_scheme`); tenants written before the record existed are [`IdScheme::TenantBound`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdScheme {
    /// UUID v5 of (tenant, table, key): what databases written before ids became portable use.
    /// Such a tenant keeps its ids; its log applies only into a tenant of the same name.
    TenantBound,
    /// UUID v5 of (table, key): a row has the same id in every tenant and every database, so a
    /// log applied anywhere (a replica, a sync peer, another tenant) keeps its natural keys.
    Portable,
}

impl IdScheme {
    /// The byte stored in the tenant's meta record.
    pub(crate) fn to_byte(self) -> u8 {
        match self {
            IdScheme::TenantBound => 1,
            IdScheme::Portable => 2,
        }
    }

    /// Reads the meta record (`None`: written before the record existed).
    pub(crate) fn from_record(raw: Option<&[u8]>) -> Result<Self> {
        match raw {
            None | Some([1]) => Ok(IdScheme::TenantBound),
            Some([2]) => Ok(IdScheme::Portable),
            Some(other) => Err(Error::storage(format!(
                "unknown id scheme record {other:?}; this database was written by a newer remdb"
            ))),
        }
    }
}

/// Current time, truncated to microseconds (the stored precision).
pub(crate) fn now() -> DateTime<Utc> {
    let t = Utc::now();
    t - Duration::nanoseconds(i64::from(t.timestamp_subsec_nanos() % 1000))
}

/// RFC 3339 UTC with microseconds, e.g. `2026-01-02T03:04:05.123456Z`.
pub(crate) fn format_ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(crate) fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A modification time strictly after `previous` (so `modified_at` always moves forward).
pub(crate) fn bump(previous: Option<&Value>, now: DateTime<Utc>) -> DateTime<Utc> {
    match previous.and_then(Value::as_str).and_then(parse_ts) {
        Some(prev) if prev >= now => prev + Duration::microseconds(1),
        _ => now,
    }
}

/// Parses an entity id.
pub fn parse_id(id: &str) -> Result<Uuid> {
    Uuid::parse_str(id.trim())
        .map_err(|_| Error::InvalidArgument(format!("`{id}` is not a valid id (UUID)")))
}

fn key_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The natural key of an entity, when it has one: the schema's `key_field`, else `uri` (+
/// `#ordinal` when the ordinal is not 0), else `key`, else `name`.
pub(crate) fn natural_key(schema: &TableSchema, data: &Row) -> Result<Option<String>> {
    if let Some(field) = &schema.key_field {
        return match data.get(field).and_then(key_string) {
            Some(k) => Ok(Some(k)),
            None => Err(Error::validation(
                &schema.name,
                format!("/{field}"),
                format!("key field `{field}` must be a non-empty string or a number"),
            )),
        };
    }
    if let Some(uri) = data.get("uri").and_then(key_string) {
        let ordinal = data
            .get("ordinal")
            .and_then(key_string)
            .filter(|o| o != "0");
        return Ok(Some(match ordinal {
            Some(o) => format!("{uri}#{o}"),
            None => uri,
        }));
    }
    Ok(data
        .get("key")
        .and_then(key_string)
        .or_else(|| data.get("name").and_then(key_string)))
}

/// The id an entity with natural key `key` gets in `table` of tenant `tenant` under `scheme`.
pub(crate) fn key_id(scheme: IdScheme, tenant: &str, table: &str, key: &str) -> Uuid {
    let mut name = Vec::with_capacity(tenant.len() + table.len() + key.len() + 2);
    let namespace = match scheme {
        IdScheme::TenantBound => {
            name.extend_from_slice(tenant.as_bytes());
            name.push(0);
            &ID_NAMESPACE
        }
        IdScheme::Portable => &PORTABLE_ID_NAMESPACE,
    };
    name.extend_from_slice(table.as_bytes());
    name.push(0);
    name.extend_from_slice(key.as_bytes());
    Uuid::new_v5(namespace, &name)
}

/// Deterministic id from the natural key, else a fresh time-ordered (v7) id; `true` when
/// deterministic.
pub(crate) fn derive_id(
    scheme: IdScheme,
    tenant: &str,
    schema: &TableSchema,
    data: &Row,
) -> Result<(Uuid, bool)> {
    Ok(match natural_key(schema, data)? {
        Some(key) => (key_id(scheme, tenant, &schema.name, &key), true),
        None => (Uuid::now_v7(), false),
    })
}

/// Refuses user data that sets a system field.
pub(crate) fn reject_system_fields(table: &str, data: &Row) -> Result<()> {
    match SYSTEM_FIELDS.iter().find(|f| data.contains_key(**f)) {
        Some(field) => Err(Error::validation(
            table,
            format!("/{field}"),
            format!("`{field}` is a system field owned by the store and cannot be set"),
        )),
        None => Ok(()),
    }
}

/// The user part of a row (everything but the system fields).
pub(crate) fn user_fields(row: &Row) -> Row {
    row.iter()
        .filter(|(k, _)| !SYSTEM_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Builds a stored row: `id` first, user fields, then the timestamps.
pub(crate) fn build_row(
    id: &Uuid,
    user: Row,
    created_at: Value,
    modified_at: String,
    deleted_at: Value,
) -> Row {
    let mut row = Row::with_capacity(user.len() + 4);
    row.insert("id".into(), Value::String(id.to_string()));
    row.extend(user);
    row.insert("created_at".into(), created_at);
    row.insert("modified_at".into(), Value::String(modified_at));
    row.insert("deleted_at".into(), deleted_at);
    row
}

/// RFC 7396 JSON merge patch: objects merge recursively, `null` removes, anything else replaces.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(fields) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(obj) = target {
                for (k, v) in fields {
                    if v.is_null() {
                        obj.remove(k);
                    } else {
                        merge_patch(obj.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Value at a dotted path (`contact.address.city`), or at a literal key containing dots.
pub(crate) fn get_path<'a>(row: &'a Row, path: &str) -> Option<&'a Value> {
    if let Some(v) = row.get(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let mut current = row.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_rfc7396_examples() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut doc, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(doc, json!({"a": "z", "c": {"d": "e"}}));
        let mut arr = json!({"a": [1, 2]});
        merge_patch(&mut arr, &json!({"a": [3]}));
        assert_eq!(arr, json!({"a": [3]}));
    }

    #[test]
    fn ids_are_deterministic_per_table() {
        use IdScheme::*;
        assert_eq!(
            key_id(Portable, "t", "a", "k"),
            key_id(Portable, "t", "a", "k")
        );
        assert_eq!(
            key_id(Portable, "t", "a", "k"),
            key_id(Portable, "u", "a", "k")
        );
        assert_ne!(
            key_id(Portable, "t", "a", "k"),
            key_id(Portable, "t", "b", "k")
        );
        assert_ne!(
            key_id(Portable, "t", "a", "k"),
            key_id(TenantBound, "t", "a", "k")
        );
        assert_eq!(
            key_id(TenantBound, "t", "a", "k"),
            key_id(TenantBound, "t", "a", "k")
        );
        assert_ne!(
            key_id(TenantBound, "t", "a", "k"),
            key_id(TenantBound, "u", "a", "k")
        );
    }

    /// The id of agent `planner` in tenant `default` in a database written before ids became
    /// portable.
    const LEGACY_PLANNER_ID: &str = "bfd91a28-6795-5c41-aaf0-064f72ead8c1";

    #[test]
    fn tenant_bound_ids_are_the_ones_older_databases_hold() {
        // Computed by the code that wrote databases before ids became portable.
        assert_eq!(
            key_id(IdScheme::TenantBound, "default", "agents", "planner").to_string(),
            LEGACY_PLANNER_ID
        );
    }

    #[test]
    fn bump_moves_forward() {
        let t = now();
        let later = bump(Some(&json!(format_ts(t))), t);
        assert!(later > t);
        assert_eq!(bump(None, t), t);
    }

    #[test]
    fn dotted_paths() {
        let row: Row = serde_json::from_value(json!({"a": {"b": {"c": 1}}, "x.y": 2})).unwrap();
        assert_eq!(get_path(&row, "a.b.c"), Some(&json!(1)));
        assert_eq!(get_path(&row, "x.y"), Some(&json!(2)));
        assert_eq!(get_path(&row, "a.z"), None);
    }
}
