use tract_onnx::model::{optional_inputs, ParsingContext};
use tract_onnx::pb::*;
use tract_onnx::tract_core::ops::array::MultiBroadcastTo;
use tract_onnx::tract_core::ops::identity::Identity;
use tract_onnx::tract_hir::internal::*;

pub fn dropout(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let mut inputs = optional_inputs(node).skip(1);
    let ratio_input = inputs.next().unwrap();
    let training_mode_input = inputs.next().unwrap();
    let output_mask = node.output.get(1).is_some_and(|o| !o.is_empty());
    Ok((
        expand(Dropout {
            output_mask,
            ratio_input,
            training_mode_input,
        }),
        vec![],
    ))
}

/// Inference-mode Dropout: the output is the input, and the optional mask is all true.
///
/// From opset 12 the op takes optional `ratio` and `training_mode` inputs. Training mode
/// with a non-zero ratio drops elements at random, which tract does not do, so it is
/// rejected rather than silently run as inference. (tract-onnx also accepts a training mode
/// only known at run time; exported encoders hold it as a constant, as this requires.)
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct Dropout {
    output_mask: bool,
    ratio_input: Option<usize>,
    training_mode_input: Option<usize>,
}

impl Expansion for Dropout {
    fn name(&self) -> StaticName {
        "Dropout".into()
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(1 + self.output_mask as usize)
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(
            inputs,
            1 + self.ratio_input.is_some() as usize + self.training_mode_input.is_some() as usize,
        )?;
        check_output_arity(outputs, 1 + self.output_mask as usize)?;
        s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
        s.equals(&inputs[0].shape, &outputs[0].shape)?;
        if outputs.len() == 2 {
            s.equals(&outputs[1].datum_type, bool::datum_type())?;
            s.equals(&inputs[0].shape, &outputs[1].shape)?;
        }
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let konst = |model: &TypedModel, ix: usize, what: &str| {
            model
                .outlet_fact(inputs[ix])?
                .konst
                .clone()
                .with_context(|| format!("Dropout: {what} must be a constant"))
        };
        if let Some(ix) = self.training_mode_input {
            if konst(model, ix, "training_mode")?.cast_to_scalar::<bool>()? {
                // Training mode drops nothing when the ratio is zero. The default ratio is 0.5.
                let ratio = match self.ratio_input {
                    Some(ix) => konst(model, ix, "ratio")?.cast_to_scalar::<f32>()?,
                    None => 0.5,
                };
                ensure!(
                    ratio == 0.0,
                    "Dropout in training mode with a non-zero ratio is not supported"
                );
            }
        }
        let mut outputs = super::wire(model, prefix, Identity, &inputs[..1])?;
        if self.output_mask {
            let shape = model.outlet_fact(inputs[0])?.shape.clone();
            let keep =
                model.add_const(format!("{prefix}.keep"), Tensor::from_shape(&[], &[true])?)?;
            let mask = MultiBroadcastTo::new(shape);
            outputs.push(super::wire(model, format!("{prefix}.mask"), mask, &[keep])?[0]);
        }
        Ok(outputs)
    }
}
