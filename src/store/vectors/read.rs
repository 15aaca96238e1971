//! The read side: index metadata, stored vectors, pending sets, segment chunks and queued work,
//! for [`crate::vector`].

#[allow(unused_imports)]
use super::*;

/// Read-side access to vector data, for [`crate::vector`].
impl TenantStore {
    /// The embedding settings of the store.
    pub(crate) fn embed_settings(&self) -> EmbedSettings {
        self.store.embed_settings()
    }

    pub(crate) fn store_keys(&self) -> &Keys {
        &self.keys
    }

    /// The metadata of `index`, if any vector was ever stored in it.
    pub(crate) fn vector_index(&self, index: &IndexName) -> Result<Option<IndexMeta>> {
        read_meta(&*self.snapshot()?, &self.keys, index)
    }

    /// Every vector index of `table`.
    pub(crate) fn vector_indexes(&self, table: &str) -> Result<Vec<(IndexName, IndexMeta)>> {
        let snap = self.snapshot()?;
        let mut out = Vec::new();
        let start = self.keys.vindexes(table);
        let base = range_prefix(&start).len() - table.len() - 1;
        for pair in snap.scan(&start, Direction::Forward)? {
            let (k, v) = pair?;
            let rest = std::str::from_utf8(&k[base..]).map_err(|_| corrupt())?;
            let mut parts = rest.splitn(3, '\0');
            let (Some(t), Some(f), Some(p)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(corrupt());
            };
            let meta = serde_json::from_slice(&v)
                .map_err(|e| Error::storage(format!("corrupt vector index metadata: {e}")))?;
            out.push((
                IndexName {
                    table: t.into(),
                    field: f.into(),
                    provider: p.into(),
                },
                meta,
            ));
        }
        Ok(out)
    }

    /// The stored (prepared) vector of one row in `index`, with the segment it is in.
    pub(crate) fn stored_vector(
        &self,
        index: &IndexName,
        id: &Uuid,
    ) -> Result<Option<(u64, Vec<f32>)>> {
        match self.store.kv().get(&self.keys.vector(
            &index.table,
            id,
            &index.field,
            &index.provider,
        ))? {
            Some(r) => Ok(Some((record_segment(&r)?, record_vector(&r)?))),
            None => Ok(None),
        }
    }

    /// Like [`Self::stored_vector`], read from `snap`.
    pub(crate) fn stored_vector_in(
        &self,
        snap: &dyn KvSnapshot,
        index: &IndexName,
        id: &Uuid,
    ) -> Result<Option<(u64, Vec<f32>)>> {
        match snap.get(
            &self
                .keys
                .vector(&index.table, id, &index.field, &index.provider),
        )? {
            Some(r) => Ok(Some((record_segment(&r)?, record_vector(&r)?))),
            None => Ok(None),
        }
    }

    /// The segment a row's vector is in (0: pending), reading only the record header.
    pub(crate) fn vector_segment_in(
        &self,
        snap: &dyn KvSnapshot,
        index: &IndexName,
        id: &Uuid,
    ) -> Result<Option<u64>> {
        snap.get(
            &self
                .keys
                .vector(&index.table, id, &index.field, &index.provider),
        )?
        .map(|r| record_segment(&r))
        .transpose()
    }

    /// The pending vectors of `index` (searched exactly).
    pub(crate) fn pending_vectors(
        &self,
        snap: &dyn KvSnapshot,
        index: &IndexName,
    ) -> Result<Vec<(Uuid, Vec<f32>)>> {
        let mut out = Vec::new();
        for pair in snap.scan(&self.keys.vpendings(index), Direction::Forward)? {
            let (k, v) = pair?;
            out.push((super::super::keys::trailing_id(&k)?, decode_f32s(&v)?));
        }
        Ok(out)
    }

    /// The stored chunks of segment `seg` of `index`, in order.
    pub(crate) fn segment_chunks(
        &self,
        snap: &dyn KvSnapshot,
        index: &IndexName,
        seg: u64,
    ) -> Result<Vec<Vec<u8>>> {
        snap.scan(&self.keys.vsegment(index, seg), Direction::Forward)?
            .map(|pair| pair.map(|(_, v)| v))
            .collect()
    }

    /// Queued embedding work: up to `limit` rows `(table, id, work)` with work whose provider
    /// `can` do, skipping replica entries.
    pub(crate) fn queued_work(
        &self,
        limit: usize,
        can: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<(String, Uuid, Vec<QueuedWork>)>> {
        let mut out = Vec::new();
        for pair in self
            .store
            .kv()
            .scan(&self.keys.queues(), Direction::Forward)?
        {
            let (k, v) = pair?;
            let record: QueueRecord = serde_json::from_slice(&v)
                .map_err(|e| Error::storage(format!("corrupt queue record: {e}")))?;
            let work: Vec<QueuedWork> = record
                .work
                .into_iter()
                .filter(|w| can(&w.provider))
                .collect();
            if record.replica || work.is_empty() {
                continue;
            }
            let table = self
                .keys
                .table_of_queue_key(&k)
                .ok_or_else(corrupt)?
                .to_string();
            out.push((table, super::super::keys::trailing_id(&k)?, work));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Rows with queued embedding work `(local, replica)`.
    pub(crate) fn queued_rows(&self) -> Result<(u64, u64)> {
        let (mut local, mut replica) = (0, 0);
        for pair in self
            .store
            .kv()
            .scan(&self.keys.queues(), Direction::Forward)?
        {
            let (_, v) = pair?;
            let record: QueueRecord = serde_json::from_slice(&v)
                .map_err(|e| Error::storage(format!("corrupt queue record: {e}")))?;
            if record.replica {
                replica += 1;
            } else {
                local += 1;
            }
        }
        Ok((local, replica))
    }
}

pub(crate) fn read_meta(
    snap: &dyn KvSnapshot,
    keys: &Keys,
    index: &IndexName,
) -> Result<Option<IndexMeta>> {
    match snap.get(&keys.vindex(index))? {
        Some(raw) => serde_json::from_slice(&raw)
            .map(Some)
            .map_err(|e| Error::storage(format!("corrupt vector index metadata: {e}"))),
        None => Ok(None),
    }
}
