//! The write side: storing and deleting vectors, queueing and resolving embedding work,
//! installing and dropping segments — all within one [`WriteTx`].

#[allow(unused_imports)]
use super::*;

impl<'a> WriteTx<'a> {
    fn vmeta(&mut self, index: &IndexName) -> Result<Option<&mut IndexMeta>> {
        if !self.vmetas.contains_key(index) {
            let Some(raw) = self.snapshot().get(&self.keys().vindex(index))? else {
                return Ok(None);
            };
            let meta: IndexMeta = serde_json::from_slice(&raw)
                .map_err(|e| Error::storage(format!("corrupt vector index metadata: {e}")))?;
            self.vmetas.insert(index.clone(), meta);
        }
        let meta = self.vmetas.get_mut(index).expect("just inserted");
        meta.version += 1;
        Ok(Some(meta))
    }

    /// Stores `vector` as the vector of `index.field` of row `id` (which must exist in
    /// `index.table`), replacing any earlier one, and logs it with `text_sha` (the
    /// [`text_sha`](super::embedding::text_sha) of the text it embeds, when an embedder made
    /// it from the row: sync devices take it only for that text). Creates the index on first
    /// use with the table's metric; every later vector must have the same length. Embedding
    /// work for the same field and provider collected in this batch is dropped.
    pub(crate) fn put_vector(
        &mut self,
        index: &IndexName,
        id: Uuid,
        vector: &[f32],
        ts: &str,
        text_sha: Option<&str>,
    ) -> Result<()> {
        if vector.is_empty() || vector.len() > MAX_DIMENSIONS {
            return Err(Error::InvalidArgument(format!(
                "a vector needs 1–{MAX_DIMENSIONS} values, got {}",
                vector.len()
            )));
        }
        if let Some(i) = vector.iter().position(|x| !x.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "vector value {i} is not a finite number"
            )));
        }
        match self.table_of(&id)? {
            Some(t) if t == index.table => {}
            _ => {
                return Err(Error::NotFound(format!(
                    "no row {id} in table `{}`",
                    index.table
                )))
            }
        }
        let metric = self.schema(&index.table)?.info.embedding_metric;
        let keys = self.keys().clone();
        if self.vmeta(index)?.is_none() {
            let source = self.tenant().embed_settings().source;
            if let Some(dims) = source.and_then(|s| s.dimensions(&index.provider)) {
                if dims != vector.len() {
                    return Err(Error::InvalidArgument(format!(
                        "provider {} makes {dims}-dimensional vectors, got {} values for {index}",
                        index.provider,
                        vector.len()
                    )));
                }
            }
            let meta = IndexMeta {
                metric,
                dims: vector.len(),
                count: 0,
                pending: 0,
                segments: Vec::new(),
                next_segment: 1,
                version: 1,
            };
            self.vmetas.insert(index.clone(), meta);
        }
        let key = keys.vector(&index.table, &id, &index.field, &index.provider);
        let old = self.kv_get(&key)?;
        let meta = self.vmetas.get_mut(index).expect("created above");
        if meta.dims != vector.len() {
            return Err(Error::InvalidArgument(format!(
                "vector index {index} holds {}-dimensional vectors, got {} values",
                meta.dims,
                vector.len()
            )));
        }
        let metric = meta.metric;
        match old.as_deref().map(record_segment).transpose()? {
            None => {
                meta.count += 1;
                meta.pending += 1;
            }
            Some(0) => {}
            Some(seg) => {
                meta.pending += 1;
                mark_dead(meta, seg);
            }
        }
        let mut prepared = vector.to_vec();
        metric.prepare(&mut prepared);
        self.kv_put(key, encode_record(0, &prepared));
        self.kv_put(keys.vpending(index, &id), encode_f32s(&prepared));
        self.changed_indexes.insert(index.clone());
        let mut data = serde_json::json!({
            "field": index.field, "provider": index.provider, "vector": vector,
        });
        if let Some(sha) = text_sha {
            data["text_sha"] = serde_json::Value::String(sha.to_string());
        }
        let data = serde_json::to_vec(&data).map_err(Error::storage)?;
        self.embed_work.items.remove(&(
            index.table.clone(),
            id,
            index.field.clone(),
            index.provider.clone(),
        ));
        self.append_wal_entry(WalOp::Vector, &index.table, Some(&id), Some(&data), ts)?;
        self.unqueue(&index.table, &id, &index.field, &index.provider)
    }

    /// Removes the vectors of row `id` of `table`: all of them, or those of one field.
    pub(crate) fn delete_row_vectors(
        &mut self,
        table: &str,
        id: &Uuid,
        field: Option<&str>,
    ) -> Result<()> {
        let keys = self.keys().clone();
        let mut prefix = keys.vectors_of(table, id);
        if let Some(f) = field {
            prefix.extend_from_slice(f.as_bytes());
            prefix.push(0);
        }
        let base = keys.vectors_of(table, id).len();
        for (key, record) in self.kv_scan_prefix(&prefix)? {
            let rest = std::str::from_utf8(&key[base..]).map_err(|_| corrupt())?;
            let (f, provider) = rest.split_once('\0').ok_or_else(corrupt)?;
            let index = IndexName {
                table: table.to_string(),
                field: f.to_string(),
                provider: provider.to_string(),
            };
            let seg = record_segment(&record)?;
            if let Some(meta) = self.vmeta(&index)? {
                meta.count = meta.count.saturating_sub(1);
                if seg == 0 {
                    meta.pending = meta.pending.saturating_sub(1);
                } else {
                    mark_dead(meta, seg);
                }
            }
            if seg == 0 {
                self.kv_delete(keys.vpending(&index, id));
            }
            self.kv_delete(key);
            self.changed_indexes.insert(index);
        }
        Ok(())
    }

    /// Reacts to a row changing from `old` to `new` (`None`: purged): drops vectors of changed
    /// embedded text and collects the work to embed the new text.
    pub(crate) fn row_embeddings_changed(
        &mut self,
        schema: &TableSchema,
        id: &Uuid,
        old: Option<&Row>,
        new: Option<&Row>,
    ) -> Result<()> {
        let Some(new) = new else {
            self.delete_row_vectors(&schema.name, id, None)?;
            if self.kv_get(&self.keys().queue(&schema.name, id))?.is_some() {
                self.kv_delete(self.keys().queue(&schema.name, id));
                self.queue_changed = true;
            }
            self.embed_work
                .items
                .retain(|(t, i, _, _), _| !(t == &schema.name && i == id));
            return Ok(());
        };
        if schema.embedding_fields.is_empty() {
            return Ok(());
        }
        let settings = self.tenant().embed_settings();
        let providers = settings.providers(schema);
        for field in &schema.embedding_fields {
            let new_text = embed_text(new, field);
            let old_text = old.and_then(|o| embed_text(o, field));
            if old.is_some() && new_text == old_text {
                continue;
            }
            if old.is_some() {
                self.delete_row_vectors(&schema.name, id, Some(field))?;
                self.unqueue_field(&schema.name, id, field)?;
            }
            for provider in &providers {
                let key = (schema.name.clone(), *id, field.clone(), provider.clone());
                match &new_text {
                    Some(text) if settings.mode != EmbedMode::Off => {
                        self.embed_work.items.insert(key, text.clone());
                    }
                    _ => {
                        self.embed_work.items.remove(&key);
                    }
                }
            }
        }
        Ok(())
    }

    /// Embeds (inline) or queues the work collected so far. Runs once, before the batch commits.
    /// Inline vectors come from the vectors embedded before the lock was taken, when there are
    /// any; with `strict`, texts not embedded there are returned instead (nothing is stored:
    /// the caller rolls back, embeds them outside the lock and runs again), else they are
    /// embedded here.
    pub(crate) fn resolve_embed_work(&mut self, strict: bool) -> Result<Vec<(String, String)>> {
        let items = std::mem::take(&mut self.embed_work.items);
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let settings = self.tenant().embed_settings();
        let ts = self.now_string();
        let mut by_provider: BTreeMap<String, Vec<(String, Uuid, String, String)>> =
            BTreeMap::new();
        for ((table, id, field, provider), text) in items {
            let inline = settings.mode == EmbedMode::Inline
                && !self.replaying
                && settings
                    .source
                    .as_ref()
                    .is_some_and(|s| s.can_embed(&provider));
            if inline {
                by_provider
                    .entry(provider.clone())
                    .or_default()
                    .push((table, id, field, text));
            } else {
                self.enqueue(&table, &id, QueuedWork { field, provider }, self.replaying)?;
            }
        }
        let mut ready = self.ready.take().unwrap_or_default();
        let missing: Vec<(String, String)> = by_provider
            .iter()
            .flat_map(|(provider, work)| {
                work.iter()
                    .map(move |(_, _, _, text)| (provider.clone(), text.clone()))
            })
            .filter(|key| !ready.contains_key(key))
            .collect();
        if !missing.is_empty() {
            if strict {
                return Ok(missing);
            }
            self.tenant().embed_missing(missing, &mut ready)?;
        }
        for (provider, work) in by_provider {
            for (table, id, field, text) in work {
                let sha = super::embedding::text_sha(&text);
                let vector = ready
                    .get(&(provider.clone(), text))
                    .ok_or_else(|| Error::storage("internal: an inline text was not embedded"))?;
                let index = IndexName {
                    table,
                    field,
                    provider: provider.clone(),
                };
                self.put_vector(&index, id, vector, &ts, Some(&sha))?;
            }
        }
        Ok(Vec::new())
    }

    fn queue_record(&self, key: &[u8]) -> Result<Option<QueueRecord>> {
        self.kv_get(key)?
            .map(|raw| {
                serde_json::from_slice(&raw)
                    .map_err(|e| Error::storage(format!("corrupt queue record: {e}")))
            })
            .transpose()
    }

    fn put_queue_record(&mut self, key: Vec<u8>, record: &QueueRecord) -> Result<()> {
        if record.work.is_empty() {
            self.kv_delete(key);
        } else {
            self.kv_put(key, serde_json::to_vec(record).map_err(Error::storage)?);
        }
        self.queue_changed = true;
        Ok(())
    }

    fn enqueue(&mut self, table: &str, id: &Uuid, work: QueuedWork, replica: bool) -> Result<()> {
        let key = self.keys().queue(table, id);
        let mut record = self.queue_record(&key)?.unwrap_or_default();
        if !record.work.contains(&work) {
            record.work.push(work);
        }
        record.replica = replica;
        self.put_queue_record(key, &record)
    }

    /// Removes one piece of queued work.
    pub(crate) fn unqueue(
        &mut self,
        table: &str,
        id: &Uuid,
        field: &str,
        provider: &str,
    ) -> Result<()> {
        let key = self.keys().queue(table, id);
        let Some(mut record) = self.queue_record(&key)? else {
            return Ok(());
        };
        record
            .work
            .retain(|w| !(w.field == field && w.provider == provider));
        self.put_queue_record(key, &record)
    }

    fn unqueue_field(&mut self, table: &str, id: &Uuid, field: &str) -> Result<()> {
        let key = self.keys().queue(table, id);
        let Some(mut record) = self.queue_record(&key)? else {
            return Ok(());
        };
        record.work.retain(|w| w.field != field);
        self.put_queue_record(key, &record)
    }

    /// Whether `work` for row `id` is still queued (a drain re-checks before storing vectors).
    pub(crate) fn is_queued(&self, table: &str, id: &Uuid, work: &QueuedWork) -> Result<bool> {
        Ok(self
            .queue_record(&self.keys().queue(table, id))?
            .is_some_and(|r| r.work.contains(work)))
    }

    /// Installs a built segment. `members` are the ids it was built from with the segment each
    /// came from (0: pending) and the vector used; a member whose record changed since is
    /// counted dead in the new segment. `replaced` segments are removed; with `keep` (one of
    /// them), the new segment takes its number. Returns what the index metadata now records of
    /// the new segment.
    pub(crate) fn install_segment(
        &mut self,
        index: &IndexName,
        members: &[(Uuid, u64, &[f32])],
        replaced: &[u64],
        chunks: Vec<Vec<u8>>,
        keep: Option<u64>,
    ) -> Result<SegmentInfo> {
        let keys = self.keys().clone();
        let Some(meta) = self.vmeta(index)? else {
            return Err(Error::NotFound(format!("no vector index {index}")));
        };
        // A segment grown from a replaced one keeps its number: its members' records already
        // point at it and are only checked, not rewritten.
        let (no, generation) = match keep {
            Some(no) if replaced.contains(&no) => {
                let generation = meta
                    .segments
                    .iter()
                    .find(|s| s.no == no)
                    .map_or(0, |s| s.generation + 1);
                (no, generation)
            }
            _ => {
                let no = meta.next_segment;
                meta.next_segment += 1;
                (no, 0)
            }
        };
        let mut dead = 0u64;
        let mut moved_from_pending = 0u64;
        for (id, from, vector) in members {
            let key = keys.vector(&index.table, id, &index.field, &index.provider);
            let current = self.kv_get(&key)?;
            let still = match &current {
                Some(record) => {
                    let seg = record_segment(record)?;
                    seg == *from && (seg != 0 || record[8..] == encode_f32s(vector)[..])
                }
                None => false,
            };
            if !still {
                dead += 1;
                continue;
            }
            if *from == no {
                continue;
            }
            if *from == 0 {
                self.kv_delete(keys.vpending(index, id));
                moved_from_pending += 1;
            }
            let mut record = current.expect("checked");
            record[..8].copy_from_slice(&no.to_be_bytes());
            self.kv_put(key, record);
        }
        for seg in replaced {
            let range = keys.vsegment(index, *seg);
            for (key, _) in self.kv_scan_prefix(&range_prefix(&range))? {
                self.kv_delete(key);
            }
        }
        let meta = self.vmetas.get_mut(index).expect("loaded above");
        meta.pending = meta.pending.saturating_sub(moved_from_pending);
        meta.segments.retain(|s| !replaced.contains(&s.no));
        let info = SegmentInfo {
            no,
            size: members.len() as u64,
            dead,
            chunks: chunks.len() as u32,
            generation,
        };
        meta.segments.push(info.clone());
        meta.segments.sort_by_key(|s| s.no);
        for (i, chunk) in chunks.into_iter().enumerate() {
            self.kv_put(keys.vsegment_chunk(index, no, i as u32), chunk);
        }
        self.changed_indexes.insert(index.clone());
        Ok(info)
    }

    /// Removes segments whose entries are all dead.
    pub(crate) fn drop_segments(&mut self, index: &IndexName, segments: &[u64]) -> Result<()> {
        let keys = self.keys().clone();
        for seg in segments {
            for (key, _) in self.kv_scan_prefix(&range_prefix(&keys.vsegment(index, *seg)))? {
                self.kv_delete(key);
            }
        }
        if let Some(meta) = self.vmeta(index)? {
            meta.segments.retain(|s| !segments.contains(&s.no));
        }
        self.changed_indexes.insert(index.clone());
        Ok(())
    }

    /// Writes the vector index metadata changed in this transaction.
    /// Returns the changed indexes with their new metadata.
    pub(crate) fn finish_vectors(&mut self) -> Result<Vec<(IndexName, IndexMeta)>> {
        let keys = self.keys().clone();
        let mut changed = Vec::new();
        for (index, meta) in std::mem::take(&mut self.vmetas) {
            if self.changed_indexes.contains(&index) {
                self.batch_put(
                    keys.vindex(&index),
                    serde_json::to_vec(&meta).map_err(Error::storage)?,
                );
                changed.push((index, meta));
            }
        }
        Ok(changed)
    }
}

pub(super) fn range_prefix(range: &crate::kv::KeyRange) -> Vec<u8> {
    match &range.start {
        std::ops::Bound::Included(k) | std::ops::Bound::Excluded(k) => k.clone(),
        std::ops::Bound::Unbounded => Vec::new(),
    }
}

pub(super) fn mark_dead(meta: &mut IndexMeta, seg: u64) {
    if let Some(s) = meta.segments.iter_mut().find(|s| s.no == seg) {
        s.dead += 1;
    }
}
