//! Scalar quantisation for the HNSW walk: every vector of a segment as one byte per component,
//! a quarter of the memory the graph walk has to pull through the caches.
//!
//! Component `d` of a vector is coded `c_d = round((x_d - lo_d) / step_d)` in `0..=255`, where
//! `lo_d..=lo_d + 255 step_d` is the range of that component over the segment. A query stays
//! close to exact: its distance to a coded vector is its distance to the decoded vector, computed
//! without decoding (asymmetric distance). Both metrics come down to one integer dot product
//! `Σ w_d c_d` of 16-bit query weights and the codes ([`crate::distance::dot_codes`]: SIMD
//! natively and in wasm, where a `u8` to `f32` conversion would go one lane at a time):
//!
//! - dot product: `q · x̂ = Σ q_d lo_d + Σ (q_d step_d) c_d`;
//! - L2: `|q - x̂|² = Σ r_d² + Σ (step_d c_d)² - 2 Σ (r_d step_d) c_d` with `r = q - lo`, the
//!   middle term kept per point.
//!
//! The walk ranks by these approximate distances and the segment re-scores what it found with
//! the exact vectors, so the approximation moves recall (a little), never the scores returned.

use crate::distance::Metric;

/// Largest code.
const LEVELS: f32 = 255.0;

/// Bytes in a cache line.
const LINE: usize = 64;

/// One cache line of codes. Each point's codes start on a line of their own, so a point costs
/// `stride / 64` cache misses, not one more whenever its bytes straddle a line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; LINE]);

/// A segment's vectors, one byte per component.
#[derive(Clone)]
pub(crate) struct Quantized {
    metric: Metric,
    dims: usize,
    /// Bytes per point: `dims` rounded up to whole cache lines, the rest zero.
    stride: usize,
    /// Smallest value of each component.
    lo: Vec<f32>,
    /// Value of one code step of each component (0 for a constant component).
    step: Vec<f32>,
    /// Point `p`'s codes are the bytes `p * stride..(p + 1) * stride`.
    lines: Vec<Line>,
    /// For L2: `Σ (step_d c_d)²` of each point (empty for the dot-product metrics).
    norms: Vec<f32>,
}

impl Quantized {
    /// Codes `vectors` (`vectors.len() / dims` points of `dims` components, all finite) for
    /// searching by `metric`.
    pub(crate) fn new(metric: Metric, vectors: &[f32], dims: usize) -> Self {
        let mut lo = vec![f32::INFINITY; dims];
        let mut hi = vec![f32::NEG_INFINITY; dims];
        let points = vectors.len().checked_div(dims).unwrap_or(0);
        let vectors = &vectors[..points * dims];
        for v in vectors.chunks_exact(dims.max(1)) {
            for d in 0..dims {
                lo[d] = lo[d].min(v[d]);
                hi[d] = hi[d].max(v[d]);
            }
        }
        let step: Vec<f32> = lo
            .iter()
            .zip(&hi)
            .map(|(l, h)| if h > l { (h - l) / LEVELS } else { 0.0 })
            .collect();
        let stride = dims.div_ceil(LINE) * LINE;
        let mut lines = vec![Line([0; LINE]); points * stride / LINE];
        let mut norms = Vec::new();
        for (p, v) in vectors.chunks_exact(dims.max(1)).enumerate() {
            let norm = code(
                &lo,
                &step,
                v,
                &mut lines[p * stride / LINE..(p + 1) * stride / LINE],
            );
            if metric == Metric::L2 {
                norms.push(norm);
            }
        }
        Quantized {
            metric,
            dims,
            stride,
            lo,
            step,
            lines,
            norms,
        }
    }

    /// Codes `vectors` (whole points) after the ones coded, when every component lies in the
    /// range the codes cover; `false` (nothing added) when one does not.
    pub(crate) fn append(&mut self, vectors: &[f32]) -> bool {
        if self.dims == 0 {
            return false;
        }
        let fits = vectors.chunks_exact(self.dims).all(|v| {
            v.iter().enumerate().all(|(d, x)| {
                let lo = self.lo[d];
                *x >= lo && *x <= lo + LEVELS * self.step[d]
            })
        });
        if !fits {
            return false;
        }
        let per = self.stride / LINE;
        for v in vectors.chunks_exact(self.dims) {
            let at = self.lines.len();
            self.lines.resize(at + per, Line([0; LINE]));
            let norm = code(&self.lo, &self.step, v, &mut self.lines[at..]);
            if self.metric == Metric::L2 {
                self.norms.push(norm);
            }
        }
        true
    }

    /// The codes of point `p`, `stride` bytes (zero past `dims`).
    #[inline(always)]
    fn codes(&self, p: usize) -> &[u8] {
        let per = self.stride / LINE;
        let lines = &self.lines[p * per..(p + 1) * per];
        // SAFETY: `Line` is `repr(C)` over `[u8; LINE]` with no padding (its size is its
        // alignment), so `per` lines are `per * LINE` initialised bytes.
        unsafe { std::slice::from_raw_parts(lines.as_ptr().cast::<u8>(), per * LINE) }
    }

    /// The first code byte of point `p`: reading it starts fetching the point's cache line.
    #[inline(always)]
    pub(crate) fn first_code(&self, p: usize) -> u8 {
        self.lines[p * (self.stride / LINE)].0[0]
    }

    /// `query` (prepared for the metric, `dims` long) ready to measure against the codes.
    pub(crate) fn query(&self, query: &[f32]) -> QuantizedQuery {
        match self.metric {
            Metric::Cosine | Metric::InnerProduct => {
                let weights = query.iter().zip(&self.step).map(|(q, s)| q * s);
                let (weights, unit) = self.integer_weights(weights);
                QuantizedQuery {
                    weights,
                    // distance = -(q · x̂)
                    constant: -query.iter().zip(&self.lo).map(|(q, l)| q * l).sum::<f32>(),
                    dot_factor: -unit,
                }
            }
            Metric::L2 => {
                let shifted: Vec<f32> = query.iter().zip(&self.lo).map(|(q, l)| q - l).collect();
                let weights = shifted.iter().zip(&self.step).map(|(r, s)| r * s);
                let (weights, unit) = self.integer_weights(weights);
                QuantizedQuery {
                    weights,
                    // squared distance = Σ r² + norm(p) - 2 Σ (r step) c
                    constant: shifted.iter().map(|r| r * r).sum(),
                    dot_factor: -2.0 * unit,
                }
            }
        }
    }

    /// `weights` as 16-bit integers padded with zeros to `stride`, and the value of one unit.
    /// The largest weight gets the most bits that keep `Σ w_d c_d` within an `i32`.
    fn integer_weights(&self, weights: impl Iterator<Item = f32>) -> (Vec<i16>, f32) {
        let weights: Vec<f32> = weights.take(self.dims).collect();
        let largest = weights.iter().fold(0f32, |m, w| m.max(w.abs()));
        let most = (i32::MAX as usize / (self.stride.max(1) * 255)).min(i16::MAX as usize);
        let unit = if largest > 0.0 {
            largest / most as f32
        } else {
            1.0
        };
        let mut out: Vec<i16> = weights.iter().map(|w| (w / unit).round() as i16).collect();
        out.resize(self.stride, 0);
        (out, unit)
    }

    /// Approximate distance from `query` to point `p`: lower is nearer, ordered like the
    /// metric's exact distance (for L2, its square).
    #[inline(always)]
    pub(crate) fn distance(&self, query: &QuantizedQuery, p: usize) -> f32 {
        let dot = crate::distance::dot_codes(&query.weights, self.codes(p)) as f32;
        let d = query.constant + query.dot_factor * dot;
        match self.metric {
            Metric::L2 => d + self.norms[p],
            Metric::Cosine | Metric::InnerProduct => d,
        }
    }
}

/// Writes the codes of `v` (component `d` in `lo[d]..=lo[d] + 255 step[d]`) into `out`, its
/// lines; returns `Σ (step_d c_d)²`.
fn code(lo: &[f32], step: &[f32], v: &[f32], out: &mut [Line]) -> f32 {
    let mut norm = 0.0;
    for (d, x) in v.iter().enumerate() {
        let c = if step[d] > 0.0 {
            ((x - lo[d]) / step[d]).round().clamp(0.0, LEVELS) as u8
        } else {
            0
        };
        out[d / LINE].0[d % LINE] = c;
        norm += (step[d] * f32::from(c)).powi(2);
    }
    norm
}

/// A query prepared against one [`Quantized`] set: distance
/// `constant + dot_factor · Σ weights_d c_d (+ the point's norm for L2)`.
pub(crate) struct QuantizedQuery {
    weights: Vec<i16>,
    constant: f32,
    dot_factor: f32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distance::{dot, l2};

    fn sample(n: usize, dims: usize) -> Vec<f32> {
        (0..n * dims)
            .map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.3) * (1 + i % dims) as f32)
            .collect()
    }

    #[test]
    fn approximate_distances_track_exact_ones() {
        let dims = 19;
        let v = sample(200, dims);
        let q = Quantized::new(Metric::L2, &v, dims);
        assert_eq!(q.lines.len(), 200, "19 components: one line each");
        assert_eq!(q.codes(3).len(), 64);
        assert!(q.codes(3)[19..].iter().all(|&c| c == 0), "padding is zero");
        let query: Vec<f32> = v[..dims].iter().map(|x| x * 0.9 + 0.05).collect();
        // Each decoded component is off by at most half a step.
        let err: Vec<f32> = q.step.iter().map(|s| s / 2.0).collect();
        let err_norm = err.iter().map(|e| e * e).sum::<f32>().sqrt();
        for metric in [Metric::InnerProduct, Metric::L2] {
            let q = Quantized::new(metric, &v, dims);
            let prepared = q.query(&query);
            for p in 0..200 {
                let exact = &v[p * dims..][..dims];
                let approx = q.distance(&prepared, p);
                let (truth, bound) = match metric {
                    Metric::L2 => {
                        let d = l2(&query, exact);
                        (d * d, 2.0 * d * err_norm + err_norm * err_norm)
                    }
                    _ => (
                        -dot(&query, exact),
                        query.iter().zip(&err).map(|(x, e)| x.abs() * e).sum(),
                    ),
                };
                // Plus the rounding of the query's weights to 16 bits: half a unit per code.
                let rounding = dims as f32 * LEVELS * prepared.dot_factor.abs() / 2.0;
                let bound = bound + rounding + 1e-5;
                assert!(
                    (approx - truth).abs() <= bound,
                    "{metric:?} point {p}: {approx} vs {truth} (bound {bound})"
                );
            }
        }
    }

    #[test]
    fn constant_components_and_extremes_code_exactly() {
        // Component 0 is constant, component 1 spans [-1, 1].
        let v = [5.0, -1.0, 5.0, 1.0, 5.0, 0.0];
        let q = Quantized::new(Metric::L2, &v, 2);
        assert_eq!(q.codes(0)[..2], [0, 0]);
        assert_eq!(q.codes(1)[..2], [0, 255]);
        assert!(
            (127..=128).contains(&q.codes(2)[1]),
            "the middle codes mid-range"
        );
        let dq = Quantized::new(Metric::InnerProduct, &v, 2);
        let d = dq.query(&[1.0, 1.0]);
        assert!((dq.distance(&d, 1) - -6.0).abs() < 1e-3);
        let l = q.query(&[5.0, -1.0]);
        assert!(q.distance(&l, 0).abs() < 1e-3);
        assert!((q.distance(&l, 1) - 4.0).abs() < 1e-3);
        let empty = Quantized::new(Metric::Cosine, &[], 3);
        assert!(empty.lines.is_empty());
        let wide = Quantized::new(Metric::Cosine, &vec![0.5; 130 * 2], 130);
        assert_eq!((wide.stride, wide.lines.len()), (192, 6));
    }
}
