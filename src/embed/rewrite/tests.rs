use super::super::local::onnx;
use super::*;
use pb::tensor_proto::DataType;
use tract_onnx::prelude::*;

fn tensor(name: &str, dims: &[i64], data_type: DataType, raw: Vec<u8>) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: data_type as i32,
        raw_data: raw,
        ..Default::default()
    }
}

fn value_info(name: &str, elem: Option<(DataType, &[i64])>) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension, Dimension};
    let r#type = elem.map(|(dt, dims)| pb::TypeProto {
        value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
            elem_type: dt as i32,
            shape: Some(pb::TensorShapeProto {
                dim: dims
                    .iter()
                    .map(|&len| Dimension {
                        value: Some(dimension::Value::DimValue(len)),
                        ..Default::default()
                    })
                    .collect(),
            }),
        })),
        ..Default::default()
    });
    pb::ValueInfoProto {
        name: name.into(),
        r#type,
        ..Default::default()
    }
}

/// A 5-row int8 table with per-row scales looked up by `ids`: the pattern of the MiniLM export.
fn quantized_lookup() -> ModelProto {
    let wq: Vec<u8> = (0..15)
        .map(|i| ((i * 37 % 255) as i8).wrapping_sub(100) as u8)
        .collect();
    let scales: Vec<u8> = [0.013f32, 0.5, -0.25, 1.0 / 3.0, 7.0]
        .iter()
        .flat_map(|s| s.to_le_bytes())
        .collect();
    let float = DataType::Float as i64;
    let graph = pb::GraphProto {
        name: "g".into(),
        initializer: vec![
            tensor("wq", &[5, 3], DataType::Int8, wq),
            tensor("s", &[5, 1], DataType::Float, scales),
        ],
        input: vec![value_info("ids", Some((DataType::Int64, &[4])))],
        output: vec![value_info("out", None)],
        node: vec![
            node(
                "Cast",
                "cast".into(),
                vec!["wq".into()],
                "wf".into(),
                vec![int_attr("to", float)],
            ),
            node(
                "Mul",
                "mul".into(),
                vec!["wf".into(), "s".into()],
                "w".into(),
                vec![],
            ),
            node(
                "Gather",
                "gather".into(),
                vec!["w".into(), "ids".into()],
                "out".into(),
                vec![int_attr("axis", 0)],
            ),
        ],
        ..Default::default()
    };
    ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        graph: Some(graph),
        ..Default::default()
    }
}

/// `proto` optimised by tract and run on one input.
fn run(proto: &ModelProto, input: TValue) -> Tensor {
    onnx()
        .model_for_proto_model(proto)
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap()
        .run(tvec![input])
        .unwrap()
        .remove(0)
        .into_tensor()
}

/// The op types of `proto`'s nodes, in order.
fn op_types(proto: &ModelProto) -> Vec<&str> {
    proto
        .graph
        .as_ref()
        .unwrap()
        .node
        .iter()
        .map(|n| n.op_type.as_str())
        .collect()
}

/// `x [2, 3] · (Cast(wq [3, 4]) ∘ s [1, 4])`: the MiniLM weight pattern.
fn scaled_matmul() -> ModelProto {
    let wq: Vec<u8> = (0..12)
        .map(|i| ((i * 53 % 255) as i8).wrapping_sub(90) as u8)
        .collect();
    let scales: Vec<u8> = [0.013f32, 0.5, -0.25, 7.0]
        .iter()
        .flat_map(|s| s.to_le_bytes())
        .collect();
    let float = DataType::Float as i64;
    let mut model = quantized_lookup();
    let graph = model.graph.as_mut().unwrap();
    graph.initializer = vec![
        tensor("wq", &[3, 4], DataType::Int8, wq),
        tensor("s", &[1, 4], DataType::Float, scales),
    ];
    graph.input = vec![value_info("x", Some((DataType::Float, &[2, 3])))];
    graph.node = vec![
        node(
            "Cast",
            "cast".into(),
            vec!["wq".into()],
            "wf".into(),
            vec![int_attr("to", float)],
        ),
        node(
            "Mul",
            "mul".into(),
            vec!["s".into(), "wf".into()],
            "w".into(),
            vec![],
        ),
        node(
            "MatMul",
            "matmul".into(),
            vec!["x".into(), "w".into()],
            "out".into(),
            vec![],
        ),
    ];
    model
}

#[test]
fn scaled_matmul_rewrite_scales_after_the_sum() {
    let original = scaled_matmul();
    let mut rewritten = original.clone();
    assert_eq!(rewrite_scaled_matmuls(&mut rewritten), 1);
    assert_eq!(
        op_types(&rewritten),
        ["Cast", "MatMul", "Mul"],
        "the scaled weights are gone"
    );
    let product = |proto: &ModelProto| -> Vec<f32> {
        let x = tract_ndarray::arr2(&[[0.5f32, -1.25, 2.0], [3.0, 0.125, -0.75]]).into_tvalue();
        let out = run(proto, x);
        assert_eq!(out.shape(), &[2, 4]);
        out.to_plain_array_view::<f32>()
            .unwrap()
            .iter()
            .copied()
            .collect()
    };
    let (a, b) = (product(&original), product(&rewritten));
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() <= 1e-5 * x.abs().max(1.0), "{a:?} vs {b:?}");
    }
    assert!(a.iter().any(|x| x.abs() > 1.0), "a real product: {a:?}");
    assert_eq!(
        rewrite_scaled_matmuls(&mut rewritten),
        0,
        "nothing left to rewrite"
    );
}

#[test]
fn quantized_gather_rewrite_is_exact() {
    let original = quantized_lookup();
    let mut rewritten = original.clone();
    assert_eq!(rewrite_quantized_gathers(&mut rewritten), 1);
    assert_eq!(
        op_types(&rewritten),
        ["Gather", "Cast", "Gather", "Mul"],
        "the full-table Cast and Mul are gone"
    );
    let ids = || tract_ndarray::arr1(&[3i64, 0, 4, 3]).into_tvalue();
    let (a, b) = (run(&original, ids()), run(&rewritten, ids()));
    assert_eq!(a.shape(), &[4, 3]);
    assert_eq!(a, b, "bit-identical");
    // Nothing to rewrite the second time, nor in a graph without the pattern.
    assert_eq!(rewrite_quantized_gathers(&mut rewritten), 0);
}

/// A graph of `nodes` over the f32 input `x [2, 6]` with f32 scalar initializers `scalars`,
/// plus `extra` initializers; the output is `out`.
fn f32_graph(
    scalars: &[(&str, f32)],
    extra: Vec<pb::TensorProto>,
    nodes: Vec<NodeProto>,
) -> ModelProto {
    let mut model = quantized_lookup();
    let graph = model.graph.as_mut().unwrap();
    graph.initializer = scalars
        .iter()
        .map(|(name, v)| tensor(name, &[], DataType::Float, v.to_le_bytes().to_vec()))
        .chain(extra)
        .collect();
    graph.input = vec![value_info("x", Some((DataType::Float, &[2, 6])))];
    graph.node = nodes;
    model
}

fn x_2x6() -> TValue {
    tract_ndarray::Array2::from_shape_fn((2, 6), |(i, j)| (i as f32 - 0.6) * (j as f32 * 0.7 - 1.9))
        .into_tvalue()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.to_plain_array_view::<f32>()
        .unwrap()
        .iter()
        .copied()
        .collect()
}

fn assert_close(a: &[f32], b: &[f32], tolerance: f32) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x - y).abs() <= tolerance * x.abs().max(1.0),
            "{a:?} vs {b:?}"
        );
    }
}

#[test]
fn erf_gelu_chains_become_one_gelu() {
    let mul = |name: &str, a: &str, b: &str, out: &str| {
        node(
            "Mul",
            name.into(),
            vec![a.into(), b.into()],
            out.into(),
            vec![],
        )
    };
    let head = || {
        vec![
            node(
                "Div",
                "div".into(),
                vec!["x".into(), "sqrt2".into()],
                "d".into(),
                vec![],
            ),
            node("Erf", "erf".into(), vec!["d".into()], "e".into(), vec![]),
            node(
                "Add",
                "add".into(),
                vec!["one".into(), "e".into()],
                "ope".into(),
                vec![],
            ),
        ]
    };
    // The three groupings exporters use for x · 0.5 · (1 + erf(x / √2)).
    let groupings = [
        vec![mul("m1", "half", "ope", "h"), mul("m2", "x", "h", "out")],
        vec![mul("m1", "ope", "x", "h"), mul("m2", "h", "half", "out")],
        vec![mul("hx", "x", "half", "h"), mul("m2", "ope", "h", "out")],
    ];
    let scalars = [
        ("sqrt2", std::f32::consts::SQRT_2),
        ("one", 1.0),
        ("half", 0.5),
    ];
    for tail in groupings {
        let original = f32_graph(&scalars, vec![], head().into_iter().chain(tail).collect());
        let mut rewritten = original.clone();
        assert_eq!(rewrite_erf_gelus(&mut rewritten), 1);
        assert_eq!(op_types(&rewritten), ["Gelu"]);
        let (a, b) = (run(&original, x_2x6()), run(&rewritten, x_2x6()));
        assert_close(&values(&a), &values(&b), 1e-6);
        assert!(values(&a).iter().any(|v| *v > 0.5) && values(&a).iter().any(|v| *v < 0.0));
    }
    // A chain whose inner value is read elsewhere, or with other constants, stays.
    let mut shared = f32_graph(
        &scalars,
        vec![],
        head()
            .into_iter()
            .chain([mul("m1", "half", "ope", "h"), mul("m2", "x", "h", "out")])
            .chain([mul("m3", "e", "half", "other")])
            .collect(),
    );
    assert_eq!(rewrite_erf_gelus(&mut shared), 0);
    let mut off = f32_graph(
        &[("sqrt2", 1.5), ("one", 1.0), ("half", 0.5)],
        vec![],
        head()
            .into_iter()
            .chain([mul("m1", "half", "ope", "h"), mul("m2", "x", "h", "out")])
            .collect(),
    );
    assert_eq!(rewrite_erf_gelus(&mut off), 0);
}

#[test]
fn scalar_mul_moves_back_through_reshape_and_transpose() {
    let w: Vec<u8> = (0..24)
        .flat_map(|i| (i as f32 * 0.25 - 2.0).to_le_bytes())
        .collect();
    let shape: Vec<u8> = [2i64, 2, 2].iter().flat_map(|d| d.to_le_bytes()).collect();
    let extra = vec![
        tensor("w", &[6, 4], DataType::Float, w),
        tensor("shape", &[3], DataType::Int64, shape),
    ];
    let nodes = vec![
        node(
            "MatMul",
            "mm".into(),
            vec!["x".into(), "w".into()],
            "y".into(),
            vec![],
        ),
        node(
            "Reshape",
            "r".into(),
            vec!["y".into(), "shape".into()],
            "z".into(),
            vec![],
        ),
        node(
            "Transpose",
            "t".into(),
            vec!["z".into()],
            "zt".into(),
            vec![],
        ),
        node(
            "Mul",
            "scale".into(),
            vec!["zt".into(), "c".into()],
            "out".into(),
            vec![],
        ),
    ];
    let original = f32_graph(&[("c", 0.42)], extra, nodes);
    let mut rewritten = original.clone();
    assert_eq!(rewrite_scalar_muls_behind_reshapes(&mut rewritten), 1);
    assert_eq!(
        op_types(&rewritten),
        ["MatMul", "Mul", "Reshape", "Transpose"]
    );
    let graph = rewritten.graph.as_ref().unwrap();
    assert_eq!(
        graph.node[3].output,
        ["zt"],
        "the chain's end is now the graph's output"
    );
    assert_eq!(graph.output[0].name, "zt");
    let (a, b) = (run(&original, x_2x6()), run(&rewritten, x_2x6()));
    assert_eq!(a.shape(), &[2, 2, 2]);
    assert_close(&values(&a), &values(&b), 1e-6);
    // Once moved, the Mul sits right behind the MatMul: nothing more to do.
    assert_eq!(rewrite_scalar_muls_behind_reshapes(&mut rewritten), 0);
}

#[test]
fn last_axis_layer_norm_matches_tract_expansion() {
    let scale: Vec<u8> = (0..6)
        .flat_map(|i| (0.5 + i as f32 * 0.3).to_le_bytes())
        .collect();
    let bias: Vec<u8> = (0..6)
        .flat_map(|i| (i as f32 * 0.1 - 0.2).to_le_bytes())
        .collect();
    let extra = vec![
        tensor("scale", &[6], DataType::Float, scale),
        tensor("bias", &[6], DataType::Float, bias),
    ];
    let mut ln = node(
        "LayerNormalization",
        "ln".into(),
        vec!["x".into(), "scale".into(), "bias".into()],
        "out".into(),
        vec![int_attr("axis", -1)],
    );
    ln.attribute.push(pb::AttributeProto {
        name: "epsilon".into(),
        r#type: pb::attribute_proto::AttributeType::Float as i32,
        f: 1e-5,
        ..Default::default()
    });
    let proto = f32_graph(&[], extra, vec![ln]);
    let (used, ours) = with_our_parser(&proto);
    assert!(used, "the last-axis norm is remdb's op");
    assert_close(&values(&ours), &values(&run(&proto, x_2x6())), 1e-5);
    // Another axis is left to tract's own expansion.
    let mut first_axis = proto.clone();
    first_axis.graph.as_mut().unwrap().node[0].attribute[0].i = 0;
    let (used, expanded) = with_our_parser(&first_axis);
    assert!(!used, "another axis goes to tract");
    assert_close(
        &values(&expanded),
        &values(&run(&first_axis, x_2x6())),
        1e-5,
    );
}

/// `proto` loaded with remdb's parser, optimised and run on `x_2x6()`: whether the plan holds
/// remdb's layer-norm op, and the output.
fn with_our_parser(proto: &ModelProto) -> (bool, Tensor) {
    let model = onnx()
        .model_for_proto_model(proto)
        .unwrap()
        .into_optimized()
        .unwrap();
    let used = model
        .nodes
        .iter()
        .any(|n| n.op.name() == "LastAxisLayerNorm");
    let out = model
        .into_runnable()
        .unwrap()
        .run(tvec![x_2x6()])
        .unwrap()
        .remove(0)
        .into_tensor();
    (used, out)
}
