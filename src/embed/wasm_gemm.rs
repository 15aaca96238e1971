//! A wasm32 `simd128` f32 matrix-multiply kernel for tract, sized for the engines that run it.
//!
//! tract-linalg's wasm GEMM kernel (`wasm_f32_8x8`) keeps 16 `v128` accumulators live and
//! broadcasts A with shuffles. That suits arm64 engines (32 vector registers), but V8 on x86-64
//! allocates wasm SIMD values to `xmm0`–`xmm15` only, so the 16 accumulators plus operands spill
//! in the inner loop, and the shuffles compete with the multiplies for the same ports. It was
//! 73 % of an all-MiniLM-L6-v2 embedding in Node.
//!
//! This kernel computes a 16 × 2 tile of C (16 rows of A, the weights, by 2 columns of B, the
//! tokens), each column of the tile held as four `v128`s over its rows: 8 accumulators, A's 16
//! values in four vector loads and each of B's 2 values broadcast straight from memory
//! (`v128.load32_splat`, which V8 emits as one `vbroadcastss`, no shuffle) — 14 registers, no
//! spills. Two columns keep the padding of a short sequence to at most one token (a 14-token
//! sentence padded to 16 was 12.5 % wasted work with 8-column tiles), and C's rows being the
//! model's contiguous feature axis, every store is a vector store. Measured in Node on
//! all-MiniLM-L6-v2 (batch 1, 14 tokens, with the graph rewrites of `local.rs`): 8 × 4 14.4 ms,
//! 12 × 2 13.2 ms, 16 × 2 12.3 ms; tract's 8 × 8 took 24.2 ms before the rewrites, a 4 × 8 of
//! this design 18.2 ms.
//!
//! It is registered with tract-linalg's own kernel registry (an [`MmmRoutine`]) and preferred
//! for f32 GEMM, both by a dispatch tier (shapes known when the model is optimised) and by its
//! boost (symbolic shapes, such as a sentence's length). GEMV (`n == 1`) stays with tract's
//! kernels. The fused epilogue operations (bias, scale, min/max, stores) mean what they mean in
//! tract's wasm kernels; `tests/vector/wasm_embeddings.rs` checks the kernel is the one picked and that
//! its products, borders and epilogues equal a reference.
//!
//! [`MmmRoutine`]: tract_onnx::tract_core::tract_linalg::mmm_routines::MmmRoutine

use std::arch::wasm32::*;

use tract_onnx::tract_core::tract_linalg as linalg;

use linalg::isa::{Arch, IsaSet};
use linalg::mmm::{DynKernel, FusedKerSpec, MatMatMul, Query, Suitable};
use linalg::pack::Packing;
use linalg::Scaler;
use tract_onnx::prelude::DatumType;

/// The kernel's name in tract's registry (what `OptMatMul` reports).
pub const KERNEL_NAME: &str = "remdb_wasm_f32_16x2";

/// Rows of A (and C) per tile.
const MR: usize = 16;
/// Columns of B (and C) per tile.
const NR: usize = 2;
/// `v128`s per column of the tile.
const LANES: usize = MR / 4;

fn kernel() -> Box<dyn MatMatMul> {
    let mut k = DynKernel::<MR, NR, f32>::new(KERNEL_NAME, run, f32::packing(MR), f32::packing(NR))
        .with_boost(|| 100);
    k.arch = Some(Arch::Wasm32Simd128);
    k.mmm()
}

/// Which kernel f32 GEMM runs when the shape is known: this one for every matrix product,
/// nothing (tract's own GEMV kernels) for a matrix–vector product.
fn preferred(
    _isa: &IsaSet,
    accumulator: DatumType,
    query: &Query,
    _suitable: &[Suitable],
) -> Option<&'static str> {
    (accumulator == DatumType::F32 && query.n != Some(1)).then_some(KERNEL_NAME)
}

inventory::submit! {
    linalg::mmm_routines::MmmRoutine { make: kernel }
}

inventory::submit! {
    linalg::mmm_tiers::MmmTier {
        arch: Some(Arch::Wasm32Simd128),
        // Above tract's own wasm tier (precedence 1), which would name wasm_f32_8x8.
        precedence: 2,
        // The tier has one opinion, this kernel; reports name it after it.
        name: KERNEL_NAME,
        applies: |_| true,
        preferred,
    }
}

/// Keeps this module, and with it the registrations above, in every link that loads a model.
pub(crate) fn link() {
    std::hint::black_box((kernel as fn() -> Box<dyn MatMatMul>, preferred as *const ()));
}

/// One column of the tile: rows 0–3, 4–7, …
type Column = [v128; LANES];

/// Runs one chain of fused operations over an `MR × NR` tile (tract's `MatMatMulKer::kernel`).
///
/// # Safety
/// `ops` must be a chain tract built for this kernel: pointers valid for a tile of its size,
/// packed panels of `MR`/`NR` f32 values per step of `k`.
unsafe fn run(ops: &[FusedKerSpec<f32>]) -> isize {
    unsafe {
        let zero = f32x4_splat(0.0);
        let mut acc: [Column; NR] = [[zero; LANES]; NR];
        // `op` applied to every value of the tile, the tile's value first.
        let each = |acc: &mut [Column; NR], op: &dyn Fn(v128) -> v128| {
            for v in acc.iter_mut().flatten() {
                *v = op(*v);
            }
        };
        for op in ops {
            match *op {
                FusedKerSpec::Done => break,
                FusedKerSpec::Clear => acc = [[zero; LANES]; NR],
                FusedKerSpec::LoadTile(col_major, _row_major) => {
                    let p = col_major as *const v128;
                    for (c, col) in acc.iter_mut().enumerate() {
                        for (l, v) in col.iter_mut().enumerate() {
                            *v = v128_load(p.add(LANES * c + l));
                        }
                    }
                }
                FusedKerSpec::ScalarMin(s) => each(&mut acc, &|v| f32x4_min(f32x4_splat(s), v)),
                FusedKerSpec::ScalarMax(s) => each(&mut acc, &|v| f32x4_max(f32x4_splat(s), v)),
                FusedKerSpec::ScalarAdd(s) => each(&mut acc, &|v| f32x4_add(f32x4_splat(s), v)),
                FusedKerSpec::ScalarMul(s) => each(&mut acc, &|v| f32x4_mul(f32x4_splat(s), v)),
                FusedKerSpec::ScalarSub(s) => each(&mut acc, &|v| f32x4_sub(f32x4_splat(s), v)),
                FusedKerSpec::ScalarSubF(s) => each(&mut acc, &|v| f32x4_sub(v, f32x4_splat(s))),
                FusedKerSpec::LeakyRelu(alpha) => each(&mut acc, &|v| {
                    v128_bitselect(v, f32x4_mul(f32x4_splat(alpha), v), f32x4_gt(v, zero))
                }),
                FusedKerSpec::PerRowMin(rows) => per_row(&mut acc, rows, |r, v| f32x4_min(r, v)),
                FusedKerSpec::PerRowMax(rows) => per_row(&mut acc, rows, |r, v| f32x4_max(r, v)),
                FusedKerSpec::PerRowAdd(rows) => per_row(&mut acc, rows, |r, v| f32x4_add(r, v)),
                FusedKerSpec::PerRowMul(rows) => per_row(&mut acc, rows, |r, v| f32x4_mul(r, v)),
                FusedKerSpec::PerRowSub(rows) => per_row(&mut acc, rows, |r, v| f32x4_sub(r, v)),
                FusedKerSpec::PerRowSubF(rows) => per_row(&mut acc, rows, |r, v| f32x4_sub(v, r)),
                FusedKerSpec::PerColMin(cols) => per_col(&mut acc, cols, |c, v| f32x4_min(c, v)),
                FusedKerSpec::PerColMax(cols) => per_col(&mut acc, cols, |c, v| f32x4_max(c, v)),
                FusedKerSpec::PerColAdd(cols) => per_col(&mut acc, cols, |c, v| f32x4_add(c, v)),
                FusedKerSpec::PerColMul(cols) => per_col(&mut acc, cols, |c, v| f32x4_mul(c, v)),
                FusedKerSpec::PerColSub(cols) => per_col(&mut acc, cols, |c, v| f32x4_sub(c, v)),
                FusedKerSpec::PerColSubF(cols) => per_col(&mut acc, cols, |c, v| f32x4_sub(v, c)),
                FusedKerSpec::QScale(shift, policy, mult) => {
                    let scale = f32x4_splat(Scaler::from_fuse_params(shift, policy, mult).scale);
                    each(&mut acc, &|v| f32x4_mul(scale, v))
                }
                FusedKerSpec::RoundingShiftRight(shift, _) => {
                    let scale = f32x4_splat(2f32.powi(-(shift as i32)));
                    each(&mut acc, &|v| f32x4_mul(scale, v))
                }
                FusedKerSpec::ShiftLeft(shift) => {
                    let scale = f32x4_splat(2f32.powi(shift as i32));
                    each(&mut acc, &|v| f32x4_mul(scale, v))
                }
                FusedKerSpec::AddUnicast(tile) => {
                    let (rs, cs) = (tile.row_byte_stride, tile.col_byte_stride);
                    for (c, col) in acc.iter_mut().enumerate() {
                        let at = |r: usize| {
                            *(tile.ptr.offset(rs * r as isize + cs * c as isize) as *const f32)
                        };
                        for (l, v) in col.iter_mut().enumerate() {
                            let r = 4 * l;
                            *v = f32x4_add(*v, f32x4(at(r), at(r + 1), at(r + 2), at(r + 3)));
                        }
                    }
                }
                FusedKerSpec::AddRowColProducts(rows, cols) => {
                    let p = rows as *const v128;
                    let rows: Column = std::array::from_fn(|l| v128_load(p.add(l)));
                    for (c, col) in acc.iter_mut().enumerate() {
                        let v = f32x4_splat(*cols.add(c));
                        for (x, r) in col.iter_mut().zip(rows) {
                            *x = f32x4_add(*x, f32x4_mul(r, v));
                        }
                    }
                }
                FusedKerSpec::Store(tile) => {
                    store(&acc, tile.ptr, tile.row_byte_stride, tile.col_byte_stride)
                }
                FusedKerSpec::AddMatMul {
                    k,
                    pa,
                    pb,
                    packing: _,
                } => add_mat_mul(&mut acc, k, pa as *const v128, pb as *const f32),
            }
        }
        0
    }
}

/// `op(row value, tile value)` over the tile, `rows` pointing at `MR` values.
#[inline(always)]
unsafe fn per_row(acc: &mut [Column; NR], rows: *const f32, op: impl Fn(v128, v128) -> v128) {
    unsafe {
        let p = rows as *const v128;
        let rows: Column = std::array::from_fn(|l| v128_load(p.add(l)));
        for col in acc.iter_mut() {
            for (x, r) in col.iter_mut().zip(rows) {
                *x = op(r, *x);
            }
        }
    }
}

/// `op(column value, tile value)` over the tile, `cols` pointing at `NR` values.
#[inline(always)]
unsafe fn per_col(acc: &mut [Column; NR], cols: *const f32, op: impl Fn(v128, v128) -> v128) {
    unsafe {
        for (c, col) in acc.iter_mut().enumerate() {
            let v = f32x4_splat(*cols.add(c));
            for x in col.iter_mut() {
                *x = op(v, *x);
            }
        }
    }
}

/// `acc += A·B` over `k` steps: A packed as `k × MR` f32 (`LANES` `v128`s per step), B as `k × NR`.
///
/// `MR · NR / 4` accumulators, A's `LANES` vectors and the broadcast B values: 14 registers,
/// so V8 keeps everything in x86-64's 16 `xmm` registers. Each B value is broadcast by
/// `v128.load32_splat`, which V8 emits as one `vbroadcastss` load.
#[inline(always)]
unsafe fn add_mat_mul(acc: &mut [Column; NR], k: usize, pa: *const v128, pb: *const f32) {
    unsafe {
        let mut c = *acc;
        let (mut a, mut b) = (pa, pb);
        for _ in 0..k {
            let rows: Column = std::array::from_fn(|l| v128_load(a.add(l)));
            for (j, col) in c.iter_mut().enumerate() {
                let s = v128_load32_splat(b.add(j) as *const u32);
                for (x, r) in col.iter_mut().zip(rows) {
                    *x = f32x4_add(*x, f32x4_mul(r, s));
                }
            }
            a = a.add(LANES);
            b = b.add(NR);
        }
        *acc = c;
    }
}

/// Writes the tile to C: one vector store per four rows when C's rows are contiguous (the usual
/// case: tract's `m` is a model's feature axis), value by value otherwise.
#[inline(always)]
unsafe fn store(acc: &[Column; NR], ptr: *mut u8, rs: isize, cs: isize) {
    unsafe {
        for (c, col) in acc.iter().enumerate() {
            let at = ptr.offset(cs * c as isize);
            for (l, v) in col.iter().enumerate() {
                if rs == 4 {
                    v128_store(at.add(16 * l) as *mut v128, *v);
                } else {
                    let lanes = [
                        f32x4_extract_lane::<0>(*v),
                        f32x4_extract_lane::<1>(*v),
                        f32x4_extract_lane::<2>(*v),
                        f32x4_extract_lane::<3>(*v),
                    ];
                    for (i, x) in lanes.into_iter().enumerate() {
                        *(at.offset(rs * (4 * l + i) as isize) as *mut f32) = x;
                    }
                }
            }
        }
    }
}
