//! The numeric inner loops of vector search: f32 dot products and squared Euclidean distances
//! (HNSW builds, exact re-scoring, brute-force scans) and the integer dot product of 16-bit
//! query weights with one-byte codes (the quantised HNSW walk).
//!
//! Each has one portable definition, written in independent lanes so LLVM vectorises it at
//! opt-level 2 and 3 (SSE/NEON natively, simd128 in wasm). The npm package's core build compiles
//! remdb for size, where LLVM vectorises no loops, so wasm32 with `simd128` gets the same loops
//! written with simd128 instructions. Both sum in the same order: the f32 results are
//! bit-identical, the integer ones exact either way.

/// Σ aᵢbᵢ over the common length.
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
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

// The f32 kernels are tested natively and in wasm (simd128) by tests/vector_kernels.rs, through
// `store::vectors::{dot, l2}`; the code dot there through quantised search.
#[cfg(test)]
mod tests {
    use super::*;

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
