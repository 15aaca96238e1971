//! The GloVe-50 vectors fetched by `.ci/fetch-models` (400k rows, row-major little-endian
//! f32), shared by `tests/vector/vector_recall.rs` and `benches/vector.rs`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use remdb::vector::Metric;

/// Values per vector.
pub const DIMS: usize = 50;

/// Where `.ci/fetch-models` puts the vectors.
pub fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/glove-6b-50d/vectors.f32")
}

/// The open vector file.
pub struct Glove(File);

impl Glove {
    /// Opens the file; panics (never skips) with what to run when it is missing.
    pub fn open() -> Self {
        let path = path();
        let file = File::open(&path).unwrap_or_else(|e| {
            panic!(
                "the GloVe vectors are missing: cannot open {} ({e}). Run `bash .ci/fetch-models` \
                 (tests fail rather than skip without them)",
                path.display()
            )
        });
        Glove(file)
    }

    /// `n` rows from row `from`.
    pub fn rows(&mut self, from: usize, n: usize) -> Vec<Vec<f32>> {
        self.0
            .seek(SeekFrom::Start((from * DIMS * 4) as u64))
            .unwrap();
        let mut bytes = vec![0u8; n * DIMS * 4];
        self.0.read_exact(&mut bytes).unwrap_or_else(|e| {
            panic!(
                "{} is too short for rows {from}..{} ({e}); run `bash .ci/fetch-models`",
                path().display(),
                from + n
            )
        });
        bytes
            .chunks_exact(DIMS * 4)
            .map(|row| {
                row.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect()
            })
            .collect()
    }
}

/// `v` scaled to unit length, as remdb stores cosine vectors.
pub fn normalised(v: &[f32]) -> Vec<f32> {
    let mut v = v.to_vec();
    Metric::Cosine.prepare(&mut v);
    v
}
