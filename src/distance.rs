//! Vector distances: the [`Metric`]s vectors are compared with, and the numeric inner loops of
//! vector search — f32 dot products and squared Euclidean distances (HNSW builds, exact
//! re-scoring, brute-force scans) and the integer dot product of 16-bit query weights with
//! one-byte codes (the quantised HNSW walk). Below the store, which prepares vectors for their
//! metric as it writes them; the vector layer searches with them.
//!
//! Each has one portable definition, written in independent lanes so LLVM vectorises it at
//! opt-level 2 and 3 (SSE/NEON natively, simd128 in wasm). The npm package's core build compiles
//! remdb for size, where LLVM vectorises no loops, so wasm32 with `simd128` gets the same loops
//! written with simd128 instructions. Both sum in the same order: the f32 results are
//! bit-identical, the integer ones exact either way.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How vectors are compared. Scores are always "higher is better".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Cosine similarity (vectors are L2-normalised when stored); score in [-1, 1].
    #[default]
    Cosine,
    /// Raw dot product; score unbounded.
    InnerProduct,
    /// Euclidean distance d; score `1 / (1 + d)` in (0, 1].
    L2,
}

impl Metric {
    /// The name used in schemas and SQL.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Cosine => "cosine",
            Metric::InnerProduct => "inner_product",
            Metric::L2 => "l2",
        }
    }

    /// Score of a stored vector against a prepared query (see [`Metric::prepare`]).
    pub fn score(self, query: &[f32], stored: &[f32]) -> f32 {
        match self {
            Metric::Cosine | Metric::InnerProduct => dot(query, stored),
            Metric::L2 => 1.0 / (1.0 + l2(query, stored)),
        }
    }

    /// Normalises `v` in place for cosine; other metrics keep vectors as given.
    pub fn prepare(self, v: &mut [f32]) {
        if self == Metric::Cosine {
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 0.0 {
                v.iter_mut().for_each(|x| *x /= norm);
            }
        }
    }
}

impl std::str::FromStr for Metric {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "cosine" => Ok(Metric::Cosine),
            "inner_product" | "ip" | "dot" => Ok(Metric::InnerProduct),
            "l2" | "euclidean" => Ok(Metric::L2),
            _ => Err(Error::InvalidArgument(format!(
                "unknown metric `{s}`; expected cosine, inner_product or l2"
            ))),
        }
    }
}

/// Euclidean distance.
// `inline(always)`: HNSW builds and searches call it per candidate, and at opt-level "z" (the
// npm core build) it would stay a call.
#[inline(always)]
pub fn l2(a: &[f32], b: &[f32]) -> f32 {
    squared_l2(a, b).sqrt()
}

/// Σ aᵢbᵢ over the common length (the dot product).
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    imp::dot(a, b)
}

/// Σ (aᵢ - bᵢ)² over the common length.
#[inline(always)]
pub(crate) fn squared_l2(a: &[f32], b: &[f32]) -> f32 {
    imp::squared_l2(a, b)
}

/// Σ wᵢcᵢ over whole 16-byte blocks (`w` as long as `codes`, both multiples of 16). The caller
/// bounds `w` so the sum cannot overflow.
#[inline(always)]
pub(crate) fn dot_codes(w: &[i16], codes: &[u8]) -> i32 {
    imp::dot_codes(w, codes)
}

/// The portable loops.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod portable {
    /// Σ term(aᵢ, bᵢ) over the common length in eight independent sums (lane `i` takes the
    /// elements `8k + i`), then the eight sums in lane order, then the tail.
    #[inline(always)]
    pub(super) fn sum_lanes(a: &[f32], b: &[f32], term: impl Fn(f32, f32) -> f32) -> f32 {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let mut acc = [0f32; 8];
        let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
        let (ra, rb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for i in 0..8 {
                acc[i] += term(x[i], y[i]);
            }
        }
        let tail: f32 = ra.iter().zip(rb).map(|(x, y)| term(*x, *y)).sum();
        acc.iter().sum::<f32>() + tail
    }

    #[inline(always)]
    pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
        sum_lanes(a, b, |x, y| x * y)
    }

    #[inline(always)]
    pub(super) fn squared_l2(a: &[f32], b: &[f32]) -> f32 {
        sum_lanes(a, b, |x, y| (x - y) * (x - y))
    }

    /// Sixteen independent sums, one per byte of a block.
    #[inline(always)]
    pub(super) fn dot_codes(w: &[i16], codes: &[u8]) -> i32 {
        let mut acc = [0i32; 16];
        for (x, c) in w.chunks_exact(16).zip(codes.chunks_exact(16)) {
            for j in 0..16 {
                acc[j] += i32::from(x[j]) * i32::from(c[j]);
            }
        }
        acc.iter().sum()
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
use portable as imp;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use simd128 as imp;

/// The same loops in simd128 instructions.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128 {
    use core::arch::wasm32::*;

    /// `portable::sum_lanes`: lanes 0–3 of its eight sums in `lo`, 4–7 in `hi`.
    #[inline(always)]
    fn sum_lanes(
        a: &[f32],
        b: &[f32],
        term: impl Fn(v128, v128) -> v128,
        scalar: impl Fn(f32, f32) -> f32,
    ) -> f32 {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let (mut lo, mut hi) = (f32x4_splat(0.0), f32x4_splat(0.0));
        let blocks = n / 8;
        for k in 0..blocks {
            // SAFETY: `8k + 8 <= n` elements of both slices; wasm loads need no alignment.
            let (x, y) = unsafe {
                let (pa, pb) = (a.as_ptr().add(8 * k), b.as_ptr().add(8 * k));
                (
                    (v128_load(pa.cast()), v128_load(pa.add(4).cast())),
                    (v128_load(pb.cast()), v128_load(pb.add(4).cast())),
                )
            };
            lo = f32x4_add(lo, term(x.0, y.0));
            hi = f32x4_add(hi, term(x.1, y.1));
        }
        let mut tail = 0.0;
        for i in blocks * 8..n {
            tail += scalar(a[i], b[i]);
        }
        // Lane order, written out: at opt-level "z" an array iterator here stays a call a lane.
        let sum = f32x4_extract_lane::<0>(lo)
            + f32x4_extract_lane::<1>(lo)
            + f32x4_extract_lane::<2>(lo)
            + f32x4_extract_lane::<3>(lo)
            + f32x4_extract_lane::<0>(hi)
            + f32x4_extract_lane::<1>(hi)
            + f32x4_extract_lane::<2>(hi)
            + f32x4_extract_lane::<3>(hi);
        sum + tail
    }

    #[inline(always)]
    pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
        sum_lanes(a, b, |x, y| f32x4_mul(x, y), |x, y| x * y)
    }

    #[inline(always)]
    pub(super) fn squared_l2(a: &[f32], b: &[f32]) -> f32 {
        sum_lanes(
            a,
            b,
            |x, y| {
                let d = f32x4_sub(x, y);
                f32x4_mul(d, d)
            },
            |x, y| (x - y) * (x - y),
        )
    }

    /// Each block's bytes widened to 16 bits, multiplied with the weights and summed in pairs
    /// into four 32-bit lanes (`i32x4.dot_i16x8_s`).
    #[inline(always)]
    pub(super) fn dot_codes(w: &[i16], codes: &[u8]) -> i32 {
        let blocks = w.len().min(codes.len()) / 16;
        let mut acc = i32x4_splat(0);
        for k in 0..blocks {
            // SAFETY: `16k + 16` elements of both slices.
            let (w_lo, w_hi, c) = unsafe {
                let pw = w.as_ptr().add(16 * k);
                (
                    v128_load(pw.cast()),
                    v128_load(pw.add(8).cast()),
                    v128_load(codes.as_ptr().add(16 * k).cast()),
                )
            };
            let (c_lo, c_hi) = (u16x8_extend_low_u8x16(c), u16x8_extend_high_u8x16(c));
            acc = i32x4_add(acc, i32x4_dot_i16x8(w_lo, c_lo));
            acc = i32x4_add(acc, i32x4_dot_i16x8(w_hi, c_hi));
        }
        i32x4_extract_lane::<0>(acc)
            .wrapping_add(i32x4_extract_lane::<1>(acc))
            .wrapping_add(i32x4_extract_lane::<2>(acc))
            .wrapping_add(i32x4_extract_lane::<3>(acc))
    }
}

// The f32 kernels are tested natively and in wasm (simd128) by tests/vector/vector_kernels.rs, through
// `remdb::vector::{dot, l2}`; the code dot there through quantised search.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_score_higher_is_better() {
        let mut q = vec![3.0, 4.0];
        Metric::Cosine.prepare(&mut q);
        assert!((q[0] - 0.6).abs() < 1e-6);
        assert!(
            Metric::L2.score(&[0.0, 0.0], &[0.0, 0.0]) > Metric::L2.score(&[0.0, 0.0], &[1.0, 0.0])
        );
        assert_eq!(Metric::InnerProduct.score(&[1.0, 2.0], &[3.0, 4.0]), 11.0);
        assert_eq!("ip".parse::<Metric>().unwrap(), Metric::InnerProduct);
        assert!("manhattan".parse::<Metric>().is_err());
    }

    #[test]
    fn dot_codes_sums_every_block() {
        for blocks in 0..6 {
            let w: Vec<i16> = (0..16 * blocks)
                .map(|i| ((i * 977) % 32_000) as i16 - 16_000)
                .collect();
            let c: Vec<u8> = (0..16 * blocks).map(|i| (i * 131 % 256) as u8).collect();
            let expected: i32 = w
                .iter()
                .zip(&c)
                .map(|(&x, &y)| i32::from(x) * i32::from(y))
                .sum();
            assert_eq!(dot_codes(&w, &c), expected, "{blocks} blocks");
        }
    }
}
