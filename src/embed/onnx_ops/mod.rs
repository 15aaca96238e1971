//! The ONNX operators the local embedder registers with tract-onnx: the ones transformer text
//! encoders (BERT, MiniLM, MPNet, E5, BGE, GTE exports, in f32 and in int8 from dynamic, static
//! or weight-only quantisation) are made of.
//!
//! `tract_onnx::onnx()` registers every ONNX operator tract knows. A function pointer stored in a
//! map keeps its code linked whether a model uses it or not, so the npm full build carried
//! convolutions, pooling, recurrent nets, resize, scatter, NMS, tree ensembles and random
//! generators a sentence encoder never runs: 0.19 MB gzipped. tract-onnx's parsers are
//! private, so the builders for the operators below are copied from tract-onnx 0.23.9
//! (MIT OR Apache-2.0, <https://github.com/sonos/tract>, `onnx/src/ops/`), one file per
//! operator family as there. The operators themselves stay tract's: these builders only read
//! the node's attributes and choose the tract op. A model using anything else fails to load
//! with an error naming it.

mod cast;
mod dropout;
mod gelu;
mod gemm;
pub(crate) mod layer_norm;
mod mat_mul_integer;
mod pow;
mod quant;
mod reduce;
mod shape;
mod slice;
mod split;
mod squeeze;
mod unsqueeze;

use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_core::ops::binary::BinMiniOp;
use tract_onnx::tract_core::ops::{logic, math};
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::ops::binary::InferenceBinOp;
use tract_onnx::tract_hir::ops::binary::Nary;
use tract_onnx::tract_hir::ops::{self, array, nn};

/// Every operator an encoder is made of (see the module doc), with the builders tract-onnx uses.
pub(crate) fn register(reg: &mut OnnxOpRegister) {
    reg.insert("Constant", constant);
    reg.insert("Identity", |_, _| {
        Ok((Box::<ops::identity::Identity>::default(), vec![]))
    });
    reg.insert("Dropout", dropout::dropout);
    reg.insert("Cast", cast::cast);
    reg.insert("CastLike", cast::cast_like);

    // Element-wise arithmetic and functions.
    reg.insert("Add", |_, _| binary(math::add().0));
    reg.insert("Sub", |_, _| binary(math::sub().0));
    reg.insert("Mul", |_, _| binary(math::mul().0));
    reg.insert("Div", |_, _| binary(math::div().0));
    reg.insert("Pow", pow::pow);
    reg.insert("Sum", |_, _| {
        Ok((Box::new(Nary(math::add().0, false)), vec![]))
    });
    reg.insert("Max", |_, _| {
        Ok((Box::new(Nary(math::max().0, false)), vec![]))
    });
    reg.insert("Min", |_, _| {
        Ok((Box::new(Nary(math::min().0, false)), vec![]))
    });
    reg.insert("Mean", |_, _| {
        Ok((Box::new(Nary(math::add().0, true)), vec![]))
    });
    reg.insert("Abs", |_, _| Ok((ops::math::abs().into_hir(), vec![])));
    reg.insert("Neg", |_, _| Ok((ops::math::neg().into_hir(), vec![])));
    reg.insert("Sign", |_, _| Ok((ops::math::sign().into_hir(), vec![])));
    reg.insert("Reciprocal", |_, _| {
        Ok((ops::math::recip().into_hir(), vec![]))
    });
    reg.insert("Floor", |_, _| Ok((ops::math::floor().into_hir(), vec![])));
    reg.insert("Ceil", |_, _| Ok((ops::math::ceil().into_hir(), vec![])));
    reg.insert("Round", |_, _| {
        Ok((ops::math::round_half_to_even().into_hir(), vec![]))
    });
    reg.insert("Sqrt", |_, _| Ok((ops::math::sqrt().into_hir(), vec![])));
    reg.insert("Exp", |_, _| Ok((ops::math::exp().into_hir(), vec![])));
    reg.insert("Log", |_, _| Ok((ops::math::ln().into_hir(), vec![])));
    reg.insert("Erf", |_, _| Ok((ops::math::erf().into_hir(), vec![])));
    reg.insert("Tanh", |_, _| Ok((ops::math::tanh().into_hir(), vec![])));
    reg.insert("IsNaN", |_, _| Ok((ops::math::is_nan().into_hir(), vec![])));

    // Comparisons and logic.
    reg.insert("Not", |_, _| Ok((ops::logic::not().into_hir(), vec![])));
    reg.insert("And", |_, _| binary(logic::and().0));
    reg.insert("Or", |_, _| binary(logic::or().0));
    reg.insert("Xor", |_, _| binary(logic::xor().0));
    reg.insert("Equal", |_, _| binary(logic::comp_eq()));
    reg.insert("Greater", |_, _| binary(logic::comp_gt()));
    reg.insert("Less", |_, _| binary(logic::comp_lt()));
    reg.insert("LessOrEqual", |_, _| binary(logic::comp_lte()));
    reg.insert("GreaterOrEqual", |_, _| binary(logic::comp_gte()));
    reg.insert("Where", |_, _| Ok((expand(ops::logic::Iff), vec![])));

    // Shapes, indexing and layout.
    reg.insert("Shape", shape::shape);
    reg.insert("Size", |_, _| {
        Ok((expand(array::Size::new(DatumType::TDim)), vec![]))
    });
    reg.insert("Reshape", |_, node| {
        // allowzero was added in opset 14; absent, it defaults to 0.
        let allowzero = node.get_attr_opt::<i64>("allowzero")?.unwrap_or(0) != 0;
        Ok((expand(array::Reshape::new(allowzero)), vec![]))
    });
    reg.insert("Flatten", |_, node| {
        let axis: i64 = node.get_attr_opt("axis")?.unwrap_or(1);
        Ok((expand(array::Flatten::new(axis)), vec![]))
    });
    reg.insert("Squeeze", squeeze::squeeze);
    reg.insert("Unsqueeze", unsqueeze::unsqueeze);
    reg.insert("Transpose", |_, node| {
        let perm = node.get_attr_opt_vec("perm")?;
        Ok((
            expand(array::PermuteAxes::new(perm.map(|t| t.into()))),
            vec![],
        ))
    });
    reg.insert("Expand", |_, _| {
        Ok((expand(array::MultiBroadcastTo), vec![]))
    });
    reg.insert("Tile", |_, _| Ok((expand(array::Tile), vec![])));
    reg.insert("Concat", |_, node| {
        let axis = node.get_attr("axis")?;
        Ok((expand(array::Concat::new(axis)), vec![]))
    });
    reg.insert("Split", split::split);
    reg.insert("Slice", slice::slice);
    reg.insert("Gather", |_, node| {
        let axis = node.get_attr_opt("axis")?.unwrap_or(0);
        Ok((expand(array::Gather::new(axis)), vec![]))
    });
    reg.insert("GatherElements", |_, node| {
        let axis = node.get_attr_opt("axis")?.unwrap_or(0);
        Ok((expand(array::GatherElements::new(axis)), vec![]))
    });
    reg.insert("GatherND", |_, node| {
        let batch_dims = node.get_attr_opt("batch_dims")?.unwrap_or(0);
        Ok((Box::new(array::GatherNd::new(batch_dims)), vec![]))
    });
    reg.insert("Range", |_, _| Ok((expand(array::Range), vec![])));
    reg.insert("ConstantOfShape", constant_of_shape);

    // Linear algebra, normalisation and activations.
    reg.insert("MatMul", |_, _| {
        Ok((expand(ops::matmul::MatMulInference::default()), vec![]))
    });
    reg.insert("Gemm", gemm::gemm);
    reg.insert("Softmax", softmax);
    reg.insert("LogSoftmax", log_softmax);
    reg.insert("ReduceMean", |c, node| {
        reduce::reduce(c, node, nn::Reducer::Mean)
    });
    reg.insert("ReduceSum", |c, node| {
        reduce::reduce(c, node, nn::Reducer::Sum)
    });
    reg.insert("ReduceSumSquare", |c, node| {
        reduce::reduce(c, node, nn::Reducer::SumSquare)
    });
    reg.insert("ReduceMax", |c, node| {
        reduce::reduce(c, node, nn::Reducer::Max)
    });
    reg.insert("ReduceMin", |c, node| {
        reduce::reduce(c, node, nn::Reducer::Min)
    });
    reg.insert("ReduceL2", |c, node| {
        reduce::reduce(c, node, nn::Reducer::L2)
    });
    reg.insert("Relu", |_, _| {
        Ok((expand(ops::activations::Clip::new(Some(0.0), None)), vec![]))
    });
    reg.insert("Sigmoid", |_, _| {
        Ok((ops::nn::sigmoid().into_hir(), vec![]))
    });
    reg.insert("Gelu", gelu::gelu);
    reg.insert("LayerNormalization", super::layer_norm::parse);

    // Quantised models.
    reg.insert("QuantizeLinear", quant::quantize_linear);
    reg.insert("DequantizeLinear", quant::dequantize_linear);
    reg.insert("DynamicQuantizeLinear", quant::dynamic_quantize_linear);
    reg.insert("MatMulInteger", mat_mul_integer::mat_mul_integer);
    reg.insert("QLinearMatMul", mat_mul_integer::q_linear_mat_mul);
}

/// A rank-0 tensor holding `value`, built as [`constant`] builds them.
pub(crate) fn scalar<T: Datum + Copy>(value: T) -> TractResult<Tensor> {
    Tensor::from_shape(&[], &[value])
}

/// A binary operator made by tract-core's own constructor. `BinMiniOp::into_hir` on the op type
/// would compile a second, opt-level-3 copy of its evaluation code into remdb.
fn binary(op: Box<dyn BinMiniOp>) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    Ok((expand(InferenceBinOp(op)), vec![]))
}

// Tensors are built with `Tensor::from_shape`, a copy: `tensor0`/`tensor1` go through the
// ndarray conversion, ~10 KB of opt-level-3 code per element type.
fn constant(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let value = if let Some(v) = node.get_attr_opt("value")? {
        ctx.load_tensor(v)?
    } else if let Some(i) = node.get_attr_opt::<i64>("value_int")? {
        Tensor::from_shape(&[], &[i])?
    } else if let Some(v) = node.get_attr_opt::<f32>("value_float")? {
        Tensor::from_shape(&[], &[v])?
    } else if let Some(ints) = node.get_attr_opt_slice::<i64>("value_ints")? {
        Tensor::from_shape(&[ints.len()], ints)?
    } else if let Some(floats) = node.get_attr_opt_slice::<f32>("value_floats")? {
        Tensor::from_shape(&[floats.len()], floats)?
    } else {
        bail!("Could not extract value out of Constant node")
    };
    Ok((
        Box::new(ops::konst::Const::new(value.into_arc_tensor())?),
        vec![],
    ))
}

fn constant_of_shape(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let mut value = match node.get_attr_opt("value")? {
        Some(val) => ctx.load_tensor(val)?.into_arc_tensor(),
        None => Tensor::from_shape(&[], &[0.0f64])?.into_arc_tensor(),
    };
    if value.rank() > 0 {
        if value.len() != 1 {
            bail!("Expected scalar (or vector of length 1), got {:?}", value);
        }
        value = (*value).clone().into_shape(&[])?.into_arc_tensor();
    }
    Ok((expand(array::ConstantOfShape::new(value)), vec![]))
}

fn softmax(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let axis = node.get_attr_opt("axis")?;
    if ctx.onnx_operator_set_version < 13 {
        Ok((
            expand(nn::LayerSoftmax::new(axis.unwrap_or(1), true)),
            vec![],
        ))
    } else {
        Ok((expand(nn::Softmax::new(axis.unwrap_or(-1))), vec![]))
    }
}

fn log_softmax(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let axis = node.get_attr_opt("axis")?;
    if ctx.onnx_operator_set_version < 13 {
        Ok((
            expand(nn::LayerLogSoftmax::new(axis.unwrap_or(1), true)),
            vec![],
        ))
    } else {
        Ok((
            expand(nn::LayerLogSoftmax::new(axis.unwrap_or(-1), false)),
            vec![],
        ))
    }
}

/// `model.wire_node(name, op, inputs)`. remdb is compiled at opt-level 3, where every op type
/// and name type passed to tract's generic `wire_node` gets its own inlined copy of it (57 KB of
/// code for this module); this funnels them all through one.
pub(crate) fn wire(
    model: &mut TypedModel,
    name: impl Into<String>,
    op: impl Into<Box<dyn TypedOp>>,
    inputs: &[OutletId],
) -> TractResult<TVec<OutletId>> {
    wire_boxed(model, name.into(), op.into(), inputs)
}

#[inline(never)]
fn wire_boxed(
    model: &mut TypedModel,
    name: String,
    op: Box<dyn TypedOp>,
    inputs: &[OutletId],
) -> TractResult<TVec<OutletId>> {
    model.wire_node(name, op, inputs)
}

#[cfg(test)]
mod tests {
    //! Each builder against tract-onnx's own registry on a one-node graph: same tract ops, so
    //! the outputs must be identical.

    use tract_onnx::pb::attribute_proto::AttributeType;
    use tract_onnx::pb::tensor_proto::DataType;
    use tract_onnx::pb::{self, ModelProto};
    use tract_onnx::prelude::*;

    fn attr(name: &str, r#type: AttributeType) -> pb::AttributeProto {
        pb::AttributeProto {
            name: name.into(),
            r#type: r#type as i32,
            ..Default::default()
        }
    }

    fn int(name: &str, i: i64) -> pb::AttributeProto {
        pb::AttributeProto {
            i,
            ..attr(name, AttributeType::Int)
        }
    }

    /// An initializer (or attribute tensor) of element type `data_type`; `fill` sets its values.
    fn tensor(
        name: &str,
        dims: &[i64],
        data_type: DataType,
        fill: impl FnOnce(&mut pb::TensorProto),
    ) -> pb::TensorProto {
        let mut t = pb::TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: data_type as i32,
            ..Default::default()
        };
        fill(&mut t);
        t
    }

    fn node(op: &str, inputs: &[&str], outputs: &[&str]) -> pb::NodeProto {
        pb::NodeProto {
            op_type: op.into(),
            input: inputs.iter().map(|i| i.to_string()).collect(),
            output: outputs.iter().map(|o| o.to_string()).collect(),
            ..Default::default()
        }
    }

    /// A graph over input `x` (f32 [2, 3, 4], values 0..24 shifted to straddle zero): the node
    /// under test, after any nodes that feed it.
    struct Case {
        op: &'static str,
        opset: i64,
        inputs: Vec<&'static str>,
        outputs: usize,
        attrs: Vec<pb::AttributeProto>,
        initializers: Vec<pb::TensorProto>,
        before: Vec<pb::NodeProto>,
    }

    fn case(op: &'static str, inputs: &[&'static str]) -> Case {
        Case {
            op,
            opset: 17,
            inputs: inputs.to_vec(),
            outputs: 1,
            attrs: vec![],
            initializers: vec![],
            before: vec![],
        }
    }

    impl Case {
        fn opset(mut self, opset: i64) -> Self {
            self.opset = opset;
            self
        }
        fn outputs(mut self, n: usize) -> Self {
            self.outputs = n;
            self
        }
        /// Runs `node` before the node under test.
        fn before(mut self, node: pb::NodeProto) -> Self {
            self.before.push(node);
            self
        }
        fn attr(mut self, attr: pb::AttributeProto) -> Self {
            self.attrs.push(attr);
            self
        }
        fn int(self, name: &str, i: i64) -> Self {
            self.attr(int(name, i))
        }
        fn ints(self, name: &str, ints: &[i64]) -> Self {
            let ints = ints.to_vec();
            self.attr(pb::AttributeProto {
                ints,
                ..attr(name, AttributeType::Ints)
            })
        }
        fn float(self, name: &str, f: f32) -> Self {
            self.attr(pb::AttributeProto {
                f,
                ..attr(name, AttributeType::Float)
            })
        }
        fn string(self, name: &str, s: &str) -> Self {
            let s = s.as_bytes().to_vec();
            self.attr(pb::AttributeProto {
                s,
                ..attr(name, AttributeType::String)
            })
        }
        fn init(mut self, tensor: pb::TensorProto) -> Self {
            self.initializers.push(tensor);
            self
        }
        fn init_i64(self, name: &str, dims: &[i64], values: &[i64]) -> Self {
            self.init(tensor(name, dims, DataType::Int64, |t| {
                t.int64_data = values.to_vec()
            }))
        }
        fn init_f32(self, name: &str, dims: &[i64], values: &[f32]) -> Self {
            self.init(tensor(name, dims, DataType::Float, |t| {
                t.float_data = values.to_vec()
            }))
        }
        fn init_u8(self, name: &str, dims: &[i64], values: &[u8]) -> Self {
            self.init(tensor(name, dims, DataType::Uint8, |t| {
                t.raw_data = values.to_vec()
            }))
        }

        fn proto(&self) -> ModelProto {
            let outputs: Vec<String> = (0..self.outputs).map(|i| format!("y{i}")).collect();
            let value_info = |name: &str| pb::ValueInfoProto {
                name: name.into(),
                ..Default::default()
            };
            let x = pb::ValueInfoProto {
                name: "x".into(),
                r#type: Some(pb::TypeProto {
                    value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                        elem_type: DataType::Float as i32,
                        shape: Some(pb::TensorShapeProto {
                            dim: [2, 3, 4]
                                .iter()
                                .map(|&d| pb::tensor_shape_proto::Dimension {
                                    value: Some(
                                        pb::tensor_shape_proto::dimension::Value::DimValue(d),
                                    ),
                                    ..Default::default()
                                })
                                .collect(),
                        }),
                    })),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let mut nodes = self.before.clone();
            nodes.push(pb::NodeProto {
                name: "n".into(),
                output: outputs.clone(),
                attribute: self.attrs.clone(),
                ..node(self.op, &self.inputs, &[])
            });
            ModelProto {
                ir_version: 8,
                opset_import: vec![pb::OperatorSetIdProto {
                    domain: String::new(),
                    version: self.opset,
                }],
                graph: Some(pb::GraphProto {
                    name: "g".into(),
                    initializer: self.initializers.clone(),
                    input: vec![x],
                    output: outputs.iter().map(|o| value_info(o)).collect(),
                    node: nodes,
                    ..Default::default()
                }),
                ..Default::default()
            }
        }
    }

    fn run(onnx: &tract_onnx::Onnx, proto: &ModelProto) -> TractResult<TVec<Tensor>> {
        let x: Vec<f32> = (0..24).map(|i| i as f32 * 0.37 - 4.1).collect();
        let x = Tensor::from_shape(&[2, 3, 4], &x)?;
        let outputs = onnx
            .model_for_proto_model(proto)?
            .into_optimized()?
            .into_runnable()?
            .run(tvec![x.into()])?;
        Ok(outputs.into_iter().map(|t| t.into_tensor()).collect())
    }

    fn ours() -> tract_onnx::Onnx {
        let mut onnx = tract_onnx::Onnx::default();
        super::register(&mut onnx.op_register);
        onnx
    }

    #[test]
    fn builders_match_tract_onnx() {
        let (ours, tract) = (ours(), tract_onnx::onnx());
        let cases = vec![
            case("Add", &["x", "x"]),
            case("Sub", &["x", "c"]).init_f32("c", &[4], &[1.0, -2.0, 0.5, 3.0]),
            case("Mul", &["x", "c"]).init_f32("c", &[1], &[0.25]),
            case("Div", &["x", "c"]).init_f32("c", &[4], &[1.0, -2.0, 0.5, 3.0]),
            case("Pow", &["x", "c"]).init_f32("c", &[], &[2.0]),
            case("Max", &["x", "c"]).init_f32("c", &[4], &[1.0, -2.0, 0.5, 3.0]),
            case("Min", &["x", "c"]).init_f32("c", &[4], &[1.0, -2.0, 0.5, 3.0]),
            case("Sum", &["x", "x", "x"]),
            case("Mean", &["x", "x"]),
            case("Abs", &["x"]),
            case("Neg", &["x"]),
            case("Sqrt", &["x"]),
            case("Exp", &["x"]),
            case("Erf", &["x"]),
            case("Tanh", &["x"]),
            case("Sigmoid", &["x"]),
            case("Relu", &["x"]),
            case("IsNaN", &["x"]),
            case("Greater", &["x", "c"]).init_f32("c", &[], &[0.0]),
            case("LessOrEqual", &["x", "c"]).init_f32("c", &[], &[0.0]),
            case("Equal", &["x", "x"]),
            case("Cast", &["x"]).int("to", DataType::Int64 as i64),
            case("Softmax", &["x"]).int("axis", -1),
            case("Softmax", &["x"]).opset(11).int("axis", 1),
            case("LogSoftmax", &["x"]),
            case("ReduceMean", &["x"]).ints("axes", &[-1]),
            case("ReduceMax", &["x"])
                .ints("axes", &[1])
                .int("keepdims", 0),
            case("ReduceSum", &["x", "a"]).init_i64("a", &[1], &[2]),
            case("ReduceL2", &["x"]).ints("axes", &[0, 2]),
            case("Shape", &["x"]),
            case("Shape", &["x"]).int("start", 1),
            case("Size", &["x"]),
            case("Unsqueeze", &["x", "a"]).init_i64("a", &[2], &[0, 3]),
            case("Unsqueeze", &["x"]).opset(11).ints("axes", &[1]),
            case("Squeeze", &["x", "a"]).init_i64("a", &[0], &[]),
            case("Reshape", &["x", "s"]).init_i64("s", &[2], &[6, -1]),
            case("Flatten", &["x"]).int("axis", 2),
            case("Transpose", &["x"]).ints("perm", &[2, 0, 1]),
            case("Expand", &["x", "s"]).init_i64("s", &[4], &[2, 2, 3, 4]),
            case("Tile", &["x", "r"]).init_i64("r", &[3], &[1, 2, 1]),
            case("Concat", &["x", "x"]).int("axis", 1),
            case("Split", &["x", "s"])
                .init_i64("s", &[2], &[1, 3])
                .int("axis", 2)
                .outputs(2),
            case("Split", &["x"]).int("axis", 1).outputs(3),
            case("Slice", &["x", "b", "e", "a", "s"])
                .init_i64("b", &[2], &[0, 1])
                .init_i64("e", &[2], &[2, 4])
                .init_i64("a", &[2], &[1, 2])
                .init_i64("s", &[2], &[2, 1]),
            case("Gather", &["x", "i"])
                .init_i64("i", &[2], &[2, 0])
                .int("axis", 1),
            case("GatherElements", &["x", "i"])
                .init_i64("i", &[2, 3, 1], &[0, 1, 2, 3, 0, 1])
                .int("axis", 2),
            case("GatherND", &["x", "i"]).init_i64("i", &[2, 2], &[0, 1, 1, 2]),
            // `Where` takes a bool condition: made from x.
            case("Where", &["c", "x", "y"])
                .init_f32("y", &[], &[7.0])
                .before(node("Greater", &["x", "y"], &["c"])),
            case("MatMul", &["x", "w"]).init_f32("w", &[4, 2], &[1., 2., 3., 4., 5., 6., 7., 8.]),
            case("Gemm", &["m", "w", "b"])
                .init_f32("m", &[2, 3], &[1., -2., 3., 0.5, 0., 1.])
                .init_f32("w", &[2, 3], &[1., 2., 3., 4., 5., 6.])
                .init_f32("b", &[2], &[0.5, -1.])
                .int("transB", 1)
                .float("alpha", 0.5),
            case("Gelu", &["x"]),
            case("Gelu", &["x"]).opset(20).string("approximate", "tanh"),
            case("LayerNormalization", &["x", "g", "b"])
                .init_f32("g", &[4], &[1., 2., 0.5, 1.])
                .init_f32("b", &[4], &[0., 1., 0., -1.]),
            case("LayerNormalization", &["x", "g"])
                .init_f32("g", &[3, 4], &[1.; 12])
                .int("axis", 1),
            case("Dropout", &["x"]),
            case("Dropout", &["x"]).outputs(2),
            case("Identity", &["x"]),
            case("QuantizeLinear", &["x", "s", "z"])
                .init_f32("s", &[], &[0.05])
                .init_u8("z", &[], &[128]),
            case("DynamicQuantizeLinear", &["x"]).outputs(3),
            case("DequantizeLinear", &["q", "s", "z"])
                .init_u8("q", &[4], &[0, 100, 128, 255])
                .init_f32("s", &[], &[0.05])
                .init_u8("z", &[], &[128]),
        ];
        for case in cases {
            let label = format!("{} (opset {}, {:?})", case.op, case.opset, case.inputs);
            let proto = case.proto();
            let expected = run(&tract, &proto).unwrap_or_else(|e| panic!("{label}: tract: {e:?}"));
            let got = run(&ours, &proto).unwrap_or_else(|e| panic!("{label}: ours: {e:?}"));
            assert_eq!(got, expected, "{label}");
        }
    }

    #[test]
    fn constants_match_tract_onnx() {
        let (ours, tract) = (ours(), tract_onnx::onnx());
        let values = [
            int("value_int", 3),
            pb::AttributeProto {
                f: -1.5,
                ..attr("value_float", AttributeType::Float)
            },
            pb::AttributeProto {
                ints: vec![1, 2, 3, 4],
                ..attr("value_ints", AttributeType::Ints)
            },
            pb::AttributeProto {
                floats: vec![0.5, 1.5, 2.5, 3.5],
                ..attr("value_floats", AttributeType::Floats)
            },
        ];
        for value in values {
            let name = value.name.clone();
            let proto = case("Add", &["x", "k"])
                .before(pb::NodeProto {
                    attribute: vec![value],
                    ..node("Constant", &[], &["k0"])
                })
                .before(pb::NodeProto {
                    attribute: vec![int("to", DataType::Float as i64)],
                    ..node("Cast", &["k0"], &["k"])
                })
                .proto();
            let (got, expected) = (run(&ours, &proto), run(&tract, &proto));
            assert_eq!(got.unwrap(), expected.unwrap(), "{name}");
        }
        // ConstantOfShape, with and without a value.
        for value in [None, Some(2.5f32)] {
            let mut c = case("ConstantOfShape", &["s"]).init_i64("s", &[2], &[2, 3]);
            if let Some(v) = value {
                let t = tensor("", &[1], DataType::Float, |t| t.float_data = vec![v]);
                c = c.attr(pb::AttributeProto {
                    t: Some(t),
                    ..attr("value", AttributeType::Tensor)
                });
            }
            let proto = c.proto();
            let (got, expected) = (run(&ours, &proto), run(&tract, &proto));
            assert_eq!(got.unwrap(), expected.unwrap(), "{value:?}");
        }
    }

    #[test]
    fn quantized_matmuls_match_tract_onnx() {
        let (ours, tract) = (ours(), tract_onnx::onnx());
        // The dynamic-quantisation pattern of int8 encoder exports:
        // DynamicQuantizeLinear(x) → MatMulInteger(xq, Wq, xz, Wz) → Cast → Mul(scale).
        let proto = case("Mul", &["accf", "xs"])
            .init_u8("wq", &[4, 2], &[3, 250, 128, 7, 90, 200, 1, 128])
            .init_u8("wz", &[], &[128])
            .before(node("DynamicQuantizeLinear", &["x"], &["xq", "xs", "xz"]))
            .before(node("MatMulInteger", &["xq", "wq", "xz", "wz"], &["acc"]))
            .before(pb::NodeProto {
                attribute: vec![int("to", DataType::Float as i64)],
                ..node("Cast", &["acc"], &["accf"])
            })
            .proto();
        assert_eq!(run(&ours, &proto).unwrap(), run(&tract, &proto).unwrap());
    }

    #[test]
    fn other_operators_are_refused_by_name() {
        let proto = case("Conv", &["x", "w"])
            .init_f32("w", &[1, 3, 1], &[1., 1., 1.])
            .proto();
        let err = run(&ours(), &proto).unwrap_err();
        assert!(format!("{err:?}").contains("Conv"), "{err:?}");
        // tract-onnx itself runs it.
        run(&tract_onnx::onnx(), &proto).unwrap();
    }
}
