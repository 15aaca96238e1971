use tract_onnx::model::ParsingContext;
use tract_onnx::pb::*;
use tract_onnx::tract_hir::internal::*;

pub fn slice(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    // Opset 1-9 took the bounds as attributes; encoders are exported at opset 11 and later.
    ensure!(
        ctx.onnx_operator_set_version >= 10,
        "Slice before opset 10 is not supported"
    );
    slice10(ctx, node)
}

fn slice10(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let mut optional_inputs = tract_onnx::model::optional_inputs(node).skip(3);
    Ok((
        Box::new(tract_onnx::tract_hir::ops::array::StridedSlice {
            begin_mask: 0,
            end_mask: 0,
            shrink_axis_mask: 0,
            optional_axes_input: optional_inputs.next().unwrap(),
            optional_steps_input: optional_inputs.next().unwrap(),
        }),
        vec![],
    ))
}
