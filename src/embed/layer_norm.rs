//! ONNX `LayerNormalization` over the last axis as one tract op.
//!
//! tract-onnx expands a layer norm into five ops (a sum, a scaling, a subtraction, an RMS norm,
//! and a multiply–add chain), each a pass over the activations with its own dispatch; in wasm
//! the thirteen norms of all-MiniLM-L6-v2 cost 8–9 % of an embedding. [`parse`] builds this op
//! instead for the common form (last axis, scale and bias, one output), which normalises each
//! row in two passes; any other form goes to tract-onnx's own builder.

use std::sync::OnceLock;

use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_hir::internal::*;

/// An ONNX operator builder, as tract-onnx's registry holds them.
type Builder = fn(&ParsingContext, &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)>;

/// tract-onnx's own `LayerNormalization` builder, for the forms [`parse`] leaves to it.
static TRACT_BUILDER: OnceLock<Builder> = OnceLock::new();

/// Puts [`parse`] in `reg` in place of tract-onnx's `LayerNormalization` builder, which it keeps
/// for the other forms.
pub(crate) fn register(reg: &mut OnnxOpRegister) {
    if let Some(tract) = reg.0.get("LayerNormalization").copied() {
        TRACT_BUILDER.get_or_init(|| tract);
    }
    reg.insert("LayerNormalization", parse);
}

/// The `LayerNormalization` builder registered with tract-onnx (see [`super::local`]).
fn parse(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let axis: i64 = node.get_attr_opt("axis")?.unwrap_or(-1);
    let epsilon: f32 = node.get_attr_opt("epsilon")?.unwrap_or(1e-5);
    let stash: DatumType = node.get_attr_opt("stash_type")?.unwrap_or(DatumType::F32);
    let single_output = node.output.iter().skip(1).all(|o| o.is_empty());
    if axis == -1 && node.input.len() == 3 && single_output && stash == DatumType::F32 {
        return Ok((expand(LastAxisLayerNorm { epsilon }), vec![]));
    }
    let tract = TRACT_BUILDER
        .get()
        .context("LayerNormalization: tract-onnx's builder was not registered")?;
    tract(ctx, node)
}

/// `y = (x − mean) / √(var + ε) · scale + bias` over the last axis of `x`; `scale` and `bias`
/// hold one value per position of that axis. f32 only.
#[derive(Debug, Clone)]
struct LastAxisLayerNorm {
    epsilon: f32,
}

// tract compares and hashes ops (`DynEq`); ε by its bits.
impl PartialEq for LastAxisLayerNorm {
    fn eq(&self, other: &Self) -> bool {
        self.epsilon.to_bits() == other.epsilon.to_bits()
    }
}
impl Eq for LastAxisLayerNorm {}
impl std::hash::Hash for LastAxisLayerNorm {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.epsilon.to_bits().hash(state)
    }
}

impl Expansion for LastAxisLayerNorm {
    fn name(&self) -> StaticName {
        "LastAxisLayerNorm".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 3)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
        s.equals(&inputs[0].datum_type, &inputs[1].datum_type)?;
        s.equals(&inputs[0].datum_type, &inputs[2].datum_type)?;
        s.equals(&inputs[0].shape, &outputs[0].shape)?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, self.clone(), inputs)
    }
}

impl Op for LastAxisLayerNorm {
    fn name(&self) -> StaticName {
        "LastAxisLayerNorm".into()
    }
    op_as_typed_op!();
}

impl EvalOp for LastAxisLayerNorm {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (x, scale, bias) = args_3!(inputs);
        let mut y = x.into_tensor();
        let (scale, bias) = (scale.try_as_plain_ram()?, bias.try_as_plain_ram()?);
        let (scale, bias) = (scale.as_slice::<f32>()?, bias.as_slice::<f32>()?);
        let width = *y.shape().last().context("layer norm of a scalar")?;
        ensure!(
            scale.len() == width && bias.len() == width,
            "layer norm: {width} values per row, scale has {} and bias {}",
            scale.len(),
            bias.len()
        );
        if width == 0 {
            return Ok(tvec!(y.into_tvalue()));
        }
        for row in y
            .try_as_plain_ram_mut()?
            .as_slice_mut::<f32>()?
            .chunks_exact_mut(width)
        {
            normalize_row(row, scale, bias, self.epsilon);
        }
        Ok(tvec!(y.into_tvalue()))
    }
}

/// Normalises one row in place: mean, then variance around it, then scale and shift.
fn normalize_row(row: &mut [f32], scale: &[f32], bias: &[f32], epsilon: f32) {
    let n = row.len() as f32;
    let mean = row.iter().sum::<f32>() / n;
    let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    let inv = (var + epsilon).sqrt().recip();
    for ((v, s), b) in row.iter_mut().zip(scale).zip(bias) {
        *v = (*v - mean) * inv * s + b;
    }
}

impl TypedOp for LastAxisLayerNorm {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(
            inputs[0].datum_type == f32::datum_type(),
            "layer norm supports f32 activations, not {:?}",
            inputs[0].datum_type
        );
        ensure!(inputs[0].rank() > 0, "layer norm of a scalar");
        Ok(tvec!(inputs[0].without_value()))
    }

    as_op!();
}

#[cfg(test)]
mod tests {
    use super::normalize_row;

    #[test]
    fn rows_get_zero_mean_unit_variance_then_scale_and_bias() {
        let mut row = [1.0f32, 2.0, 3.0, 6.0];
        normalize_row(&mut row, &[1.0; 4], &[0.0; 4], 0.0);
        let mean = row.iter().sum::<f32>() / 4.0;
        let var = row.iter().map(|v| v * v).sum::<f32>() / 4.0;
        assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5, "{row:?}");

        let mut scaled = [1.0f32, 2.0, 3.0, 6.0];
        normalize_row(
            &mut scaled,
            &[2.0, 2.0, 0.5, 1.0],
            &[1.0, 0.0, 0.0, -1.0],
            0.0,
        );
        for (i, (s, b)) in [(2.0, 1.0), (2.0, 0.0), (0.5, 0.0), (1.0, -1.0)]
            .iter()
            .enumerate()
        {
            assert!((scaled[i] - (row[i] * s + b)).abs() < 1e-6);
        }
        // A constant row is all zeros (then the bias), not NaN: epsilon keeps the divisor > 0.
        let mut flat = [3.0f32; 4];
        normalize_row(&mut flat, &[1.0; 4], &[0.5; 4], 1e-5);
        assert_eq!(flat, [0.5; 4]);
    }
}
