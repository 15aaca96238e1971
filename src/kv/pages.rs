//! A redb [`StorageBackend`](redb::StorageBackend) over in-memory pages, with dirty tracking.
//!
//! This is the seam for browser persistence: redb runs over these pages in wasm, and the host
//! copies [`MemoryPages::take_dirty`] chunks to IndexedDB after each commit, then restores them
//! with [`MemoryPages::from_chunks`] on the next load. Nothing here is wasm-specific, so the same
//! code is tested natively.

use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

/// Size of one persisted chunk of the database image.
pub const CHUNK_SIZE: usize = 64 * 1024;

#[derive(Default)]
struct Image {
    len: u64,
    chunks: Vec<Option<Box<[u8]>>>,
    dirty: BTreeSet<u64>,
}

/// A growable in-memory database image split into [`CHUNK_SIZE`] chunks. Clones share the image.
#[derive(Clone, Default)]
pub struct MemoryPages {
    image: Arc<Mutex<Image>>,
}

/// Chunks changed since the last [`MemoryPages::take_dirty`], and the image length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirtyPages {
    /// Total image length in bytes.
    pub len: u64,
    /// `(chunk index, chunk bytes)` for every changed chunk still inside `len`.
    pub chunks: Vec<(u64, Vec<u8>)>,
}

impl fmt::Debug for MemoryPages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self.lock().map(|i| i.len).unwrap_or(0);
        f.debug_struct("MemoryPages").field("len", &len).finish()
    }
}

impl MemoryPages {
    /// An empty image (a new database).
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds an image of `len` bytes from persisted chunks. Missing chunks read as zeros.
    pub fn from_chunks(
        len: u64,
        chunks: impl IntoIterator<Item = (u64, Vec<u8>)>,
    ) -> io::Result<Self> {
        let pages = MemoryPages::new();
        {
            let mut image = pages.lock()?;
            image.resize(len);
            for (index, bytes) in chunks {
                if bytes.len() != CHUNK_SIZE || index >= image.chunks.len() as u64 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("chunk {index} does not fit an image of {len} bytes"),
                    ));
                }
                image.chunks[index as usize] = Some(bytes.into_boxed_slice());
            }
        }
        Ok(pages)
    }

    /// Current image length in bytes.
    pub fn len(&self) -> u64 {
        self.lock().map(|i| i.len).unwrap_or(0)
    }

    /// True for an image of zero bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns and clears the set of chunks written since the last call. Call it between writes
    /// (never during one) to get a consistent image.
    pub fn take_dirty(&self) -> io::Result<DirtyPages> {
        let mut image = self.lock()?;
        let dirty = std::mem::take(&mut image.dirty);
        let len = image.len;
        let chunks = dirty
            .into_iter()
            .filter_map(|i| {
                let chunk = image.chunks.get(i as usize)?;
                Some((
                    i,
                    chunk
                        .as_deref()
                        .map(<[u8]>::to_vec)
                        .unwrap_or_else(|| vec![0; CHUNK_SIZE]),
                ))
            })
            .collect();
        Ok(DirtyPages { len, chunks })
    }

    fn lock(&self) -> io::Result<MutexGuard<'_, Image>> {
        self.image
            .lock()
            .map_err(|_| io::Error::other("page image lock poisoned"))
    }
}

impl Image {
    fn resize(&mut self, len: u64) {
        let chunk_count = len.div_ceil(CHUNK_SIZE as u64) as usize;
        if len < self.len {
            // Zero the tail of the last kept chunk so a later growth reads zeros.
            let keep_in_last = (len % CHUNK_SIZE as u64) as usize;
            if keep_in_last > 0 {
                if let Some(Some(chunk)) = self.chunks.get_mut(chunk_count - 1) {
                    chunk[keep_in_last..].fill(0);
                    self.dirty.insert(chunk_count as u64 - 1);
                }
            }
            self.dirty.retain(|&i| (i as usize) < chunk_count);
        }
        self.chunks.resize_with(chunk_count, || None);
        self.len = len;
    }

    fn check(&self, offset: u64, len: usize) -> io::Result<()> {
        match offset.checked_add(len as u64) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "access at {offset}+{len} beyond image of {} bytes",
                    self.len
                ),
            )),
        }
    }
}

/// The part of one chunk that an access of the image touches.
struct Span {
    /// Chunk index.
    index: usize,
    /// Offset inside the chunk.
    within: usize,
    /// Offset inside the caller's buffer.
    at: usize,
    /// Bytes in this chunk.
    len: usize,
}

/// Splits the access `[offset, offset + len)` (already bounds-checked) at chunk boundaries.
fn spans(offset: u64, len: usize) -> impl Iterator<Item = Span> {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= len {
            return None;
        }
        let pos = offset + at as u64;
        let within = (pos % CHUNK_SIZE as u64) as usize;
        let span = Span {
            index: (pos / CHUNK_SIZE as u64) as usize,
            within,
            at,
            len: (CHUNK_SIZE - within).min(len - at),
        };
        at += span.len;
        Some(span)
    })
}

impl redb::StorageBackend for MemoryPages {
    fn len(&self) -> Result<u64, io::Error> {
        Ok(self.lock()?.len)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        let image = self.lock()?;
        image.check(offset, out.len())?;
        for Span {
            index,
            within,
            at,
            len,
        } in spans(offset, out.len())
        {
            match &image.chunks[index] {
                Some(chunk) => out[at..at + len].copy_from_slice(&chunk[within..within + len]),
                None => out[at..at + len].fill(0),
            }
        }
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.lock()?.resize(len);
        Ok(())
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        let mut image = self.lock()?;
        image.check(offset, data.len())?;
        for Span {
            index,
            within,
            at,
            len,
        } in spans(offset, data.len())
        {
            let chunk =
                image.chunks[index].get_or_insert_with(|| vec![0; CHUNK_SIZE].into_boxed_slice());
            chunk[within..within + len].copy_from_slice(&data[at..at + len]);
            image.dirty.insert(index as u64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::StorageBackend;

    #[test]
    fn writes_read_back_across_chunks_and_mark_dirty() {
        let pages = MemoryPages::new();
        pages.set_len(3 * CHUNK_SIZE as u64).unwrap();
        let data: Vec<u8> = (0..CHUNK_SIZE + 10).map(|i| i as u8).collect();
        pages.write(CHUNK_SIZE as u64 - 5, &data).unwrap();
        let mut out = vec![0; data.len()];
        pages.read(CHUNK_SIZE as u64 - 5, &mut out).unwrap();
        assert_eq!(out, data);
        let dirty = pages.take_dirty().unwrap();
        assert_eq!(
            dirty.chunks.iter().map(|c| c.0).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert!(pages.take_dirty().unwrap().chunks.is_empty());
        let restored = MemoryPages::from_chunks(dirty.len, dirty.chunks).unwrap();
        let mut again = vec![0; data.len()];
        restored.read(CHUNK_SIZE as u64 - 5, &mut again).unwrap();
        assert_eq!(again, data);
    }

    #[test]
    fn out_of_bounds_is_an_error_not_a_panic() {
        let pages = MemoryPages::new();
        pages.set_len(10).unwrap();
        assert!(pages.read(5, &mut [0; 10]).is_err());
        assert!(pages.write(u64::MAX, &[1]).is_err());
    }

    #[test]
    fn shrinking_zeroes_the_tail() {
        let pages = MemoryPages::new();
        pages.set_len(100).unwrap();
        pages.write(0, &[7; 100]).unwrap();
        pages.set_len(50).unwrap();
        pages.set_len(100).unwrap();
        let mut out = [1; 100];
        pages.read(0, &mut out).unwrap();
        assert!(out[..50].iter().all(|&b| b == 7));
        assert!(out[50..].iter().all(|&b| b == 0));
    }
}
