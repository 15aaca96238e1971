//! Key layout. Every key of a tenant starts with `t<tenant>\0`; one tag byte then names the space:
//!
//! | space  | key after the tenant prefix            | value                          |
//! |--------|----------------------------------------|--------------------------------|
//! | schema | `S<table>`                             | schema JSON                    |
//! | row    | `R<table>\0<id:16>`                    | header byte + row JSON         |
//! | dir    | `D<id:16>`                             | table name                     |
//! | index  | `I<table>\0<field>\0<value><id:16>`    | empty                          |
//! | out    | `E<src:16><rel>\0<dst:16>`              | edge value (see `edges.rs`)    |
//! | in     | `F<dst:16><rel>\0<src:16>`              | the same edge value            |
//! | wal    | `W<seq:u64 BE>`                        | WAL entry JSON                 |
//! | meta   | `M<name>`                              | counters                       |
//! | vector | `V<table>\0<id:16><field>\0<provider>` | segment no + f32 vector       |
//! | vindex | `X<table>\0<field>\0<provider>`        | vector index metadata (JSON)   |
//! | vpend  | `P<index>\0<id:16>`                    | f32 vector not in a segment    |
//! | vseg   | `G<index>\0<seg:u64 BE><chunk:u32 BE>` | one chunk of a built segment   |
//! | queue  | `Q<table>\0<id:16>`                    | pending embedding work (JSON)  |
//! | text   | `T<table>\0<field>\0<kind>...`          | full-text index (`fulltext.rs`) |
//! | sync   | `Y<kind><...>`                         | sync state (`src/sync`)        |
//!
//! `<index>` is `<table>\0<field>\0<provider>`: one vector index per table, field and provider.
//! Table, field and provider names never contain `\0`.
//! Edges are stored under both directions, so "out edges of X", "out edges of X with rel R",
//! "in edges of X" and "in edges of X with rel R" are all prefix scans. Relationship names never
//! contain `\0`, so the last 16 bytes of an edge key are always the other endpoint.
//!
//! Outside tenants, `r<tenant>` records that a tenant exists and `hub-keys` holds a shared hub's
//! token signing keys (`src/sync/token.rs`).

use uuid::Uuid;

use super::vectors::IndexName;
use crate::error::{Error, Result};
use crate::kv::KeyRange;

const SCHEMA: u8 = b'S';
const ROW: u8 = b'R';
const DIR: u8 = b'D';
const INDEX: u8 = b'I';
const WAL: u8 = b'W';
const META: u8 = b'M';
const EDGE_OUT: u8 = b'E';
const EDGE_IN: u8 = b'F';
const VECTOR: u8 = b'V';
const VINDEX: u8 = b'X';
const VPENDING: u8 = b'P';
const VSEGMENT: u8 = b'G';
const QUEUE: u8 = b'Q';
const FULLTEXT: u8 = b'T';
const SYNC: u8 = b'Y';

/// Prefix of the tenant registry keys.
pub(crate) const TENANT_REGISTRY: &[u8] = b"r";

/// Longest tenant name, in bytes.
pub const MAX_TENANT_LEN: usize = 128;

/// Checks a tenant name: 1–128 bytes, no control characters.
pub(crate) fn check_tenant(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_TENANT_LEN || name.chars().any(char::is_control) {
        return Err(Error::InvalidArgument(format!(
            "tenant name must be 1–{MAX_TENANT_LEN} bytes without control characters, got {name:?}"
        )));
    }
    Ok(())
}

/// Builds every key of one tenant.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: Vec<u8>,
}

impl Keys {
    pub(crate) fn new(tenant: &str) -> Self {
        let mut prefix = Vec::with_capacity(tenant.len() + 2);
        prefix.push(b't');
        prefix.extend_from_slice(tenant.as_bytes());
        prefix.push(0);
        Keys { prefix }
    }

    fn key(&self, tag: u8, extra: usize) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.prefix.len() + 1 + extra);
        k.extend_from_slice(&self.prefix);
        k.push(tag);
        k
    }

    pub(crate) fn registry(tenant: &str) -> Vec<u8> {
        [TENANT_REGISTRY, tenant.as_bytes()].concat()
    }

    pub(crate) fn schema(&self, table: &str) -> Vec<u8> {
        let mut k = self.key(SCHEMA, table.len());
        k.extend_from_slice(table.as_bytes());
        k
    }

    pub(crate) fn schemas(&self) -> KeyRange {
        KeyRange::prefix(&self.key(SCHEMA, 0))
    }

    pub(crate) fn table_name_of_schema_key<'k>(&self, key: &'k [u8]) -> Option<&'k str> {
        std::str::from_utf8(key.get(self.prefix.len() + 1..)?).ok()
    }

    fn rows_prefix(&self, table: &str) -> Vec<u8> {
        let mut k = self.key(ROW, table.len() + 17);
        k.extend_from_slice(table.as_bytes());
        k.push(0);
        k
    }

    pub(crate) fn row(&self, table: &str, id: &Uuid) -> Vec<u8> {
        let mut k = self.rows_prefix(table);
        k.extend_from_slice(id.as_bytes());
        k
    }

    pub(crate) fn rows(&self, table: &str) -> KeyRange {
        KeyRange::prefix(&self.rows_prefix(table))
    }

    pub(crate) fn dir(&self, id: &Uuid) -> Vec<u8> {
        let mut k = self.key(DIR, 16);
        k.extend_from_slice(id.as_bytes());
        k
    }

    pub(crate) fn index_table(&self, table: &str) -> KeyRange {
        let mut k = self.key(INDEX, table.len() + 1);
        k.extend_from_slice(table.as_bytes());
        k.push(0);
        KeyRange::prefix(&k)
    }

    pub(crate) fn index_field(&self, table: &str, field: &str) -> Vec<u8> {
        let mut k = self.key(INDEX, table.len() + field.len() + 2);
        k.extend_from_slice(table.as_bytes());
        k.push(0);
        k.extend_from_slice(field.as_bytes());
        k.push(0);
        k
    }

    pub(crate) fn wal(&self, seq: u64) -> Vec<u8> {
        let mut k = self.key(WAL, 8);
        k.extend_from_slice(&seq.to_be_bytes());
        k
    }

    pub(crate) fn wal_from(&self, first_seq: u64) -> KeyRange {
        let start = self.wal(first_seq);
        let end = crate::kv::prefix_successor(&self.key(WAL, 0)).unwrap_or_default();
        KeyRange::half_open(&start, &end)
    }

    /// Prefix of the edges stored under `node` in one direction (`out`: `node` is the source),
    /// optionally only those with relationship `rel`.
    pub(crate) fn edge_prefix(&self, out: bool, node: &Uuid, rel: Option<&str>) -> Vec<u8> {
        let mut k = self.key(
            if out { EDGE_OUT } else { EDGE_IN },
            16 + rel.map_or(0, |r| r.len() + 17),
        );
        k.extend_from_slice(node.as_bytes());
        if let Some(rel) = rel {
            k.extend_from_slice(rel.as_bytes());
            k.push(0);
        }
        k
    }

    /// The key of edge `src -rel-> dst` in one direction: under `src` (`out`) or under `dst`.
    pub(crate) fn edge(&self, out: bool, src: &Uuid, rel: &str, dst: &Uuid) -> Vec<u8> {
        let (first, last) = if out { (src, dst) } else { (dst, src) };
        let mut k = self.edge_prefix(out, first, Some(rel));
        k.extend_from_slice(last.as_bytes());
        k
    }

    /// Every edge, stored under its source: ordered by source, relationship, target.
    pub(crate) fn edges_out(&self) -> KeyRange {
        KeyRange::prefix(&self.key(EDGE_OUT, 0))
    }

    /// The source id of an edge key stored under its source (see [`edges_out`](Self::edges_out)).
    pub(crate) fn edge_source(&self, key: &[u8]) -> Result<Uuid> {
        key.get(self.prefix.len() + 1..self.prefix.len() + 17)
            .and_then(|b| Uuid::from_slice(b).ok())
            .ok_or_else(|| Error::storage("corrupt edge key"))
    }

    /// Length of an [`edge_prefix`](Self::edge_prefix) without a relationship: where the
    /// relationship starts in an edge key.
    pub(crate) fn edge_rel_start(&self) -> usize {
        self.prefix.len() + 17
    }

    /// Prefix of every vector of row `id` of `table`.
    pub(crate) fn vectors_of(&self, table: &str, id: &Uuid) -> Vec<u8> {
        let mut k = self.key(VECTOR, table.len() + 17);
        k.extend_from_slice(table.as_bytes());
        k.push(0);
        k.extend_from_slice(id.as_bytes());
        k
    }

    /// The vector of `field` of row `id` computed by `provider`.
    pub(crate) fn vector(&self, table: &str, id: &Uuid, field: &str, provider: &str) -> Vec<u8> {
        let mut k = self.vectors_of(table, id);
        k.extend_from_slice(field.as_bytes());
        k.push(0);
        k.extend_from_slice(provider.as_bytes());
        k
    }

    fn index_name(&self, tag: u8, index: &IndexName) -> Vec<u8> {
        let (table, field, provider) = (&index.table, &index.field, &index.provider);
        let mut k = self.key(tag, table.len() + field.len() + provider.len() + 2);
        k.extend_from_slice(table.as_bytes());
        k.push(0);
        k.extend_from_slice(field.as_bytes());
        k.push(0);
        k.extend_from_slice(provider.as_bytes());
        k
    }

    /// The metadata record of a vector index.
    pub(crate) fn vindex(&self, index: &IndexName) -> Vec<u8> {
        self.index_name(VINDEX, index)
    }

    /// Every vector index metadata record of `table`.
    pub(crate) fn vindexes(&self, table: &str) -> KeyRange {
        let mut k = self.key(VINDEX, table.len() + 1);
        k.extend_from_slice(table.as_bytes());
        k.push(0);
        KeyRange::prefix(&k)
    }

    /// The pending (not yet in a segment) vector of `id` in `index`.
    pub(crate) fn vpending(&self, index: &IndexName, id: &Uuid) -> Vec<u8> {
        let mut k = self.index_name(VPENDING, index);
        k.push(0);
        k.extend_from_slice(id.as_bytes());
        k
    }

    /// Every pending vector of `index`.
    pub(crate) fn vpendings(&self, index: &IndexName) -> KeyRange {
        let mut k = self.index_name(VPENDING, index);
        k.push(0);
        KeyRange::prefix(&k)
    }

    /// Chunk `chunk` of segment `seg` of `index`.
    pub(crate) fn vsegment_chunk(&self, index: &IndexName, seg: u64, chunk: u32) -> Vec<u8> {
        let mut k = self.index_name(VSEGMENT, index);
        k.push(0);
        k.extend_from_slice(&seg.to_be_bytes());
        k.extend_from_slice(&chunk.to_be_bytes());
        k
    }

    /// Every chunk of segment `seg` of `index`.
    pub(crate) fn vsegment(&self, index: &IndexName, seg: u64) -> KeyRange {
        let mut k = self.index_name(VSEGMENT, index);
        k.push(0);
        k.extend_from_slice(&seg.to_be_bytes());
        KeyRange::prefix(&k)
    }

    /// Pending embedding work for row `id` of `table`.
    pub(crate) fn queue(&self, table: &str, id: &Uuid) -> Vec<u8> {
        let mut k = self.key(QUEUE, table.len() + 17);
        k.extend_from_slice(table.as_bytes());
        k.push(0);
        k.extend_from_slice(id.as_bytes());
        k
    }

    /// All pending embedding work of the tenant.
    pub(crate) fn queues(&self) -> KeyRange {
        KeyRange::prefix(&self.key(QUEUE, 0))
    }

    /// The table name of a queue key.
    pub(crate) fn table_of_queue_key<'k>(&self, key: &'k [u8]) -> Option<&'k str> {
        let rest = key.get(self.prefix.len() + 1..key.len().checked_sub(17)?)?;
        std::str::from_utf8(rest).ok()
    }

    /// Every full-text key of `table` (all its fields).
    pub(crate) fn fulltext_table(&self, table: &str) -> Vec<u8> {
        let mut k = self.key(FULLTEXT, table.len() + 1);
        k.extend_from_slice(table.as_bytes());
        k.push(0);
        k
    }

    /// Prefix of the full-text keys of `field` of `table`: `T<table>\0<field>\0` (what follows
    /// is laid out in `fulltext.rs`).
    pub(crate) fn fulltext_field(&self, table: &str, field: &str) -> Vec<u8> {
        let mut k = self.fulltext_table(table);
        k.extend_from_slice(field.as_bytes());
        k.push(0);
        k
    }

    /// A key of the sync layer's own space: one kind byte, then `rest`.
    pub(crate) fn sync(&self, kind: u8, rest: &[u8]) -> Vec<u8> {
        let mut k = self.key(SYNC, 1 + rest.len());
        k.push(kind);
        k.extend_from_slice(rest);
        k
    }

    /// Every key of one kind of the sync layer's space.
    pub(crate) fn sync_kind(&self, kind: u8) -> KeyRange {
        KeyRange::prefix(&self.sync(kind, &[]))
    }

    /// The bytes every key of this tenant starts with.
    pub(crate) fn prefix(&self) -> &[u8] {
        &self.prefix
    }

    pub(crate) fn meta(&self, name: &str) -> Vec<u8> {
        let mut k = self.key(META, name.len());
        k.extend_from_slice(name.as_bytes());
        k
    }
}

/// The id stored in the last 16 bytes of row and index keys.
pub(crate) fn trailing_id(key: &[u8]) -> Result<Uuid> {
    key.len()
        .checked_sub(16)
        .and_then(|at| Uuid::from_slice(&key[at..]).ok())
        .ok_or_else(|| Error::storage("corrupt key: no trailing id"))
}

/// Decodes a big-endian u64 counter value.
pub(crate) fn decode_u64(bytes: &[u8]) -> Result<u64> {
    bytes
        .try_into()
        .map(u64::from_be_bytes)
        .map_err(|_| Error::storage("corrupt counter"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_never_share_a_prefix() {
        let a = Keys::new("a").row("t", &Uuid::nil());
        let ab = Keys::new("ab").rows("t");
        assert!(!ab.contains(&a));
        assert!(check_tenant("bad\0name").is_err());
        assert!(check_tenant("").is_err());
        assert!(check_tenant("acme-corp").is_ok());
    }

    #[test]
    fn edge_keys_are_prefix_scannable() {
        let k = Keys::new("x");
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let key = k.edge(true, &a, "knows", &b);
        assert!(KeyRange::prefix(&k.edge_prefix(true, &a, None)).contains(&key));
        assert!(KeyRange::prefix(&k.edge_prefix(true, &a, Some("knows"))).contains(&key));
        assert!(!KeyRange::prefix(&k.edge_prefix(true, &a, Some("know"))).contains(&key));
        assert!(!KeyRange::prefix(&k.edge_prefix(false, &a, None)).contains(&key));
        assert!(KeyRange::prefix(&k.edge_prefix(false, &b, Some("knows")))
            .contains(&k.edge(false, &a, "knows", &b)));
        assert_eq!(trailing_id(&key).unwrap(), b);
        assert_eq!(&key[k.edge_rel_start()..key.len() - 17], b"knows");
    }

    #[test]
    fn wal_keys_sort_by_seq() {
        let k = Keys::new("x");
        assert!(k.wal(2) < k.wal(10));
        assert!(k.wal(255) < k.wal(256));
        assert!(k.wal_from(3).contains(&k.wal(u64::MAX)));
        assert!(!k.wal_from(3).contains(&k.wal(2)));
    }
}
