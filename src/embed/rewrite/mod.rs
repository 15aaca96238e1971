//! Rewrites of the ONNX graph before tract loads it: exact, value-preserving changes that make
//! exported sentence encoders fast and small in tract — dequantize only the embedding rows
//! looked up, scale int8 matmuls after the sum, fuse the spelled-out exact GELU into one op, and
//! move scalar multiplications back next to the matmul that tract fuses them into.

use tract_onnx::pb::{self, ModelProto, NodeProto};

fn attr_i(node: &NodeProto, name: &str) -> Option<i64> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}

fn int_attr(name: &str, value: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i: value,
        ..Default::default()
    }
}

fn node(
    op: &str,
    name: String,
    inputs: Vec<String>,
    output: String,
    attrs: Vec<pb::AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name,
        input: inputs,
        output: vec![output],
        attribute: attrs,
        ..Default::default()
    }
}

/// The shapes of a graph's initializers, by name.
fn initializer_dims(graph: &pb::GraphProto) -> std::collections::HashMap<String, Vec<i64>> {
    graph
        .initializer
        .iter()
        .map(|t| (t.name.clone(), t.dims.clone()))
        .collect()
}

/// An initializer dequantized in the graph: `Mul(Cast(Wq), S)`, operands in either order.
struct Dequantized {
    /// The int initializer `Wq`.
    weights: String,
    /// The output of `Cast(Wq)` (f32).
    cast: String,
    /// The scale initializer `S`.
    scale: String,
    /// The outputs of the `Mul` and of the `Cast` nodes.
    mul_outputs: Vec<String>,
    cast_outputs: Vec<String>,
}

/// The `Mul(Cast(Wq), S)` producing `value`, when `Wq` is an initializer cast to f32 and `S` an
/// initializer whose shape `scale_fits(Wq dims, S dims)` accepts.
fn dequantized(
    nodes: &[NodeProto],
    inits: &std::collections::HashMap<String, Vec<i64>>,
    value: &str,
    scale_fits: impl Fn(&[i64], &[i64]) -> bool,
) -> Option<Dequantized> {
    let made_by = |out: &str| producer(nodes, out).map(|p| &nodes[p]);
    let mul = made_by(value)?;
    if mul.op_type != "Mul" || mul.input.len() != 2 {
        return None;
    }
    let float = pb::tensor_proto::DataType::Float as i64;
    for (cast_in, scale) in [
        (&mul.input[0], &mul.input[1]),
        (&mul.input[1], &mul.input[0]),
    ] {
        let Some(cast) = made_by(cast_in) else {
            continue;
        };
        if cast.op_type != "Cast" || attr_i(cast, "to") != Some(float) || cast.input.len() != 1 {
            continue;
        }
        let (Some(w), Some(s)) = (inits.get(&cast.input[0]), inits.get(scale.as_str())) else {
            continue;
        };
        if scale_fits(w, s) {
            return Some(Dequantized {
                weights: cast.input[0].clone(),
                cast: cast_in.clone(),
                scale: scale.clone(),
                mul_outputs: mul.output.clone(),
                cast_outputs: cast.output.clone(),
            });
        }
    }
    None
}

/// Rewrites `Gather(Mul(Cast(Wq), S), ids)` — a weight-only int8 embedding table dequantized
/// before the lookup — into `Mul(Cast(Gather(Wq, ids)), Gather(S, ids))` when `Wq` is an int
/// initializer and `S` a per-row scale initializer `[rows, 1]`. The output is bit-identical
/// (the same products, only of the rows looked up), but tract 0.23 does not constant-fold the
/// 47 MB f32 table, so without this every call dequantizes all of it (batch-1 latency ≈ 4×).
/// Nodes left unused are removed. Returns how many gathers were rewritten.
pub(super) fn rewrite_quantized_gathers(model: &mut ModelProto) -> usize {
    let Some(graph) = model.graph.as_mut() else {
        return 0;
    };
    let inits = initializer_dims(graph);
    let float = pb::tensor_proto::DataType::Float as i64;
    let mut rewritten = 0;
    let mut maybe_dead = std::collections::HashSet::new();
    let mut i = 0;
    while i < graph.node.len() {
        let g = &graph.node[i];
        let axis0 = attr_i(g, "axis").unwrap_or(0) == 0;
        if g.op_type != "Gather" || g.input.len() != 2 || g.output.len() != 1 || !axis0 {
            i += 1;
            continue;
        }
        // Per-row scales: `[rows, 1]`.
        let per_row = |_: &[i64], s: &[i64]| s.len() == 2 && s[1] == 1;
        let Some(found) = dequantized(&graph.node, &inits, &g.input[0], per_row) else {
            i += 1;
            continue;
        };
        let (wq, scale) = (found.weights, found.scale);
        let outputs = [found.mul_outputs, found.cast_outputs];
        let (ids, out, base) = (
            g.input[1].clone(),
            g.output[0].clone(),
            format!("{}__remdb_q", g.name),
        );
        let t = |s: &str| format!("{out}__remdb_{s}");
        let replacement = vec![
            node(
                "Gather",
                format!("{base}_gather_q"),
                vec![wq, ids.clone()],
                t("q"),
                vec![int_attr("axis", 0)],
            ),
            node(
                "Cast",
                format!("{base}_cast"),
                vec![t("q")],
                t("qf"),
                vec![int_attr("to", float)],
            ),
            node(
                "Gather",
                format!("{base}_gather_s"),
                vec![scale, ids],
                t("s"),
                vec![int_attr("axis", 0)],
            ),
            node(
                "Mul",
                format!("{base}_mul"),
                vec![t("qf"), t("s")],
                out,
                vec![],
            ),
        ];
        maybe_dead.extend(outputs.into_iter().flatten());
        let n = replacement.len();
        graph.node.splice(i..=i, replacement);
        i += n;
        rewritten += 1;
    }
    // Drop the full-table Mul and Cast when nothing else reads them any more.
    drop_dead_nodes(graph, &maybe_dead);
    rewritten
}

/// Removes nodes all of whose outputs are in `maybe_dead` and read by nothing, until none is left.
fn drop_dead_nodes(graph: &mut pb::GraphProto, maybe_dead: &std::collections::HashSet<String>) {
    loop {
        let used: std::collections::HashSet<&str> = graph
            .node
            .iter()
            .flat_map(|n| n.input.iter())
            .chain(graph.output.iter().map(|o| &o.name))
            .map(String::as_str)
            .collect();
        let dead: Vec<usize> = (0..graph.node.len())
            .filter(|&k| {
                graph.node[k]
                    .output
                    .iter()
                    .all(|o| maybe_dead.contains(o) && !used.contains(o.as_str()))
            })
            .collect();
        if dead.is_empty() {
            break;
        }
        for k in dead.into_iter().rev() {
            graph.node.remove(k);
        }
    }
}

/// Where in `nodes` the node producing `value` is.
fn producer(nodes: &[NodeProto], value: &str) -> Option<usize> {
    nodes
        .iter()
        .position(|n| n.output.iter().any(|o| o == value))
}

/// Whether `value` is one of the graph's outputs (which no rewrite may remove or rename away).
fn is_graph_output(graph: &pb::GraphProto, value: &str) -> bool {
    graph.output.iter().any(|o| o.name == value)
}

/// The value of a scalar f32 initializer (dims `[]` or `[1]`), when `name` is one.
fn scalar_initializer(graph: &pb::GraphProto, name: &str) -> Option<f32> {
    let t = graph.initializer.iter().find(|t| t.name == name)?;
    let scalar = t.dims.iter().product::<i64>() == 1;
    if !scalar || t.data_type != pb::tensor_proto::DataType::Float as i32 {
        return None;
    }
    match (t.float_data.as_slice(), t.raw_data.as_slice()) {
        ([v], _) => Some(*v),
        ([], raw) => Some(f32::from_le_bytes(raw.try_into().ok()?)),
        _ => None,
    }
}

/// Rewrites the exact GELU that exporters spell out, `x · 0.5 · (1 + erf(x / √2))` (a `Div` by
/// √2 or a `Mul` by 1/√2, then `Erf`, `Add` 1, and two `Mul`s by `x` and 0.5 in any grouping),
/// into one ONNX `Gelu` node. tract runs that as a single fused element-wise pass; the spelled-out
/// chain ran as four separate broadcasting binary ops over the `[batch, seq, 4·hidden]` activations
/// of every layer, 15–20 % of an all-MiniLM-L6-v2 embedding in wasm.
pub(super) fn rewrite_erf_gelus(model: &mut ModelProto) -> usize {
    let Some(graph) = model.graph.as_mut() else {
        return 0;
    };
    let near = |name: &str, want: f32| {
        scalar_initializer(graph, name).is_some_and(|v| (v - want).abs() <= 1e-6 * want)
    };
    // The node reading `value`, when it is the only reader (and `value` no graph output).
    let sole_reader = |value: &str| -> Option<usize> {
        if is_graph_output(graph, value) {
            return None;
        }
        let mut readers =
            (0..graph.node.len()).filter(|&k| graph.node[k].input.iter().any(|i| i == value));
        let first = readers.next()?;
        readers.next().is_none().then_some(first)
    };
    // `op(a, b)` with `a`/`b` in either order: the operand other than `known`.
    let other = |n: &NodeProto, op: &str, known: &str| -> Option<String> {
        if n.op_type != op || n.input.len() != 2 || n.output.len() != 1 {
            return None;
        }
        match (n.input[0] == known, n.input[1] == known) {
            (true, _) => Some(n.input[1].clone()),
            (_, true) => Some(n.input[0].clone()),
            _ => None,
        }
    };
    let (sqrt2, half) = (std::f32::consts::SQRT_2, 0.5f32);
    let mut found = Vec::new();
    for erf in &graph.node {
        if erf.op_type != "Erf" || erf.input.len() != 1 || erf.output.len() != 1 {
            continue;
        }
        let Some(p) = producer(&graph.node, &erf.input[0]) else {
            continue;
        };
        let scale = &graph.node[p];
        let x = match (scale.op_type.as_str(), scale.input.as_slice()) {
            ("Div", [x, c]) if near(c, sqrt2) => x.clone(),
            ("Mul", [x, c]) | ("Mul", [c, x]) if near(c, sqrt2.recip()) => x.clone(),
            _ => continue,
        };
        let Some(a) = sole_reader(&erf.output[0]) else {
            continue;
        };
        if !other(&graph.node[a], "Add", &erf.output[0]).is_some_and(|c| near(&c, 1.0)) {
            continue;
        }
        let one_plus_erf = &graph.node[a].output[0];
        let Some(m1) = sole_reader(one_plus_erf) else {
            continue;
        };
        let Some(with) = other(&graph.node[m1], "Mul", one_plus_erf) else {
            continue;
        };
        let m1_out = &graph.node[m1].output[0];
        // The Mul that completes the product, and the values only the chain reads.
        let mut chain = vec![
            scale.output[0].clone(),
            erf.output[0].clone(),
            one_plus_erf.clone(),
        ];
        let last = if near(&with, half) || with == x {
            // (0.5 · (1 + erf)) · x, or ((1 + erf) · x) · 0.5
            let Some(m2) = sole_reader(m1_out) else {
                continue;
            };
            let want = |c: &str| if with == x { near(c, half) } else { c == x };
            if !other(&graph.node[m2], "Mul", m1_out).is_some_and(|c| want(&c)) {
                continue;
            }
            chain.push(m1_out.clone());
            m2
        } else {
            // (1 + erf) · (0.5 · x)
            let Some(h) = producer(&graph.node, &with) else {
                continue;
            };
            if !other(&graph.node[h], "Mul", &x).is_some_and(|c| near(&c, half)) {
                continue;
            }
            chain.push(with);
            m1
        };
        found.push((last, x, chain));
    }
    let mut maybe_dead = std::collections::HashSet::new();
    for (last, x, chain) in &found {
        let n = &mut graph.node[*last];
        let name = format!("{}__remdb_gelu", n.name);
        *n = node("Gelu", name, vec![x.clone()], n.output[0].clone(), vec![]);
        maybe_dead.extend(chain.iter().cloned());
    }
    drop_dead_nodes(graph, &maybe_dead);
    found.len()
}

/// Moves a multiplication by a scalar constant, `Mul(T, c)`, back through the `Reshape`s and
/// `Transpose`s that produced `T`, to the op that computed their input (in attention exports, the
/// key projection: `Reshape → Transpose → Reshape → Transpose → Reshape → Mul(·, c)`). A scalar
/// commutes with both, so the value is the same; right behind a `MatMul` tract fuses it into the
/// product's epilogue, where behind the reshapes it ran as a broadcasting op of its own.
pub(super) fn rewrite_scalar_muls_behind_reshapes(model: &mut ModelProto) -> usize {
    let Some(graph) = model.graph.as_mut() else {
        return 0;
    };
    let mut moved = 0;
    let mut i = 0;
    while i < graph.node.len() {
        let m = &graph.node[i];
        let scalar = |name: &str| scalar_initializer(graph, name).is_some();
        let (t, c) = match (m.op_type.as_str(), m.input.as_slice()) {
            ("Mul", [t, c]) | ("Mul", [c, t]) if scalar(c) && !scalar(t) => (t.clone(), c.clone()),
            _ => {
                i += 1;
                continue;
            }
        };
        // Walk back while the value is a Reshape's data or a Transpose's input that nothing but
        // the next step of the chain (and Shape ops) reads.
        let only_chain_reads = |value: &str, reader: usize| {
            !is_graph_output(graph, value)
                && graph.node.iter().enumerate().all(|(k, n)| {
                    k == reader || n.op_type == "Shape" || !n.input.iter().any(|x| x == value)
                })
        };
        let mut first = None; // the chain node reading the product
        let mut value = t.clone();
        let mut reader = i;
        while let Some(p) = producer(&graph.node, &value) {
            let n = &graph.node[p];
            if n.output.len() != 1
                || !matches!(n.op_type.as_str(), "Reshape" | "Transpose")
                || !only_chain_reads(&value, reader)
            {
                break;
            }
            first = Some(p);
            reader = p;
            value = n.input[0].clone();
        }
        let Some(first) = first else {
            i += 1;
            continue;
        };
        if !only_chain_reads(&value, first) {
            i += 1;
            continue;
        }
        // value → Mul(value, c) → the chain; the old Mul's readers read the chain's end.
        let m_out = graph.node[i].output[0].clone();
        let m_name = graph.node[i].name.clone();
        let scaled = format!("{value}__remdb_scaled");
        for n in graph.node.iter_mut() {
            for x in n.input.iter_mut() {
                if *x == m_out {
                    *x = t.clone();
                }
            }
        }
        for o in graph.output.iter_mut() {
            if o.name == m_out {
                o.name = t.clone();
            }
        }
        graph.node[first].input[0] = scaled.clone();
        graph.node.remove(i);
        let at = if first > i { first - 1 } else { first };
        graph.node.insert(
            at,
            node(
                "Mul",
                format!("{m_name}__remdb_moved"),
                vec![value, c],
                scaled,
                vec![],
            ),
        );
        moved += 1;
        i += 1;
    }
    moved
}

/// Rewrites `MatMul(X, Mul(Cast(Wq), S))` — int8 weights `[K, N]` dequantized by per-column
/// scales `S` (`[1, N]` or `[N]`), the pattern of the MiniLM export — into
/// `Mul(MatMul(X, Cast(Wq)), S)`: each output column is scaled after its sum instead of each
/// term before it (the same value up to float rounding). tract folds constant subgraphs when it
/// loads a model and keeps every folded value until the load is done; folding `Mul(Cast(Wq), S)`
/// made two f32 copies of all the weights, this makes one — about 45 MB less at the peak of a
/// load (in wasm, linear memory never shrinks, so the peak is what stays).
pub(super) fn rewrite_scaled_matmuls(model: &mut ModelProto) -> usize {
    let Some(graph) = model.graph.as_mut() else {
        return 0;
    };
    let inits = initializer_dims(graph);
    let mut rewritten = 0;
    let mut maybe_dead = std::collections::HashSet::new();
    let mut i = 0;
    while i < graph.node.len() {
        let m = &graph.node[i];
        if m.op_type != "MatMul" || m.input.len() != 2 || m.output.len() != 1 {
            i += 1;
            continue;
        }
        // Weights `[K, N]` with per-column scales: `[1, N]` or `[N]`.
        let per_column = |w: &[i64], s: &[i64]| match (w, s) {
            ([_, n], [1, m] | [m]) => n == m,
            _ => false,
        };
        let Some(found) = dequantized(&graph.node, &inits, &m.input[1], per_column) else {
            i += 1;
            continue;
        };
        let (weights, scale, mul_outputs) = (found.cast, found.scale, found.mul_outputs);
        let m = &mut graph.node[i];
        let out = m.output[0].clone();
        let unscaled = format!("{out}__remdb_unscaled");
        m.input[1] = weights;
        m.output[0] = unscaled.clone();
        let name = format!("{}__remdb_scale", m.name);
        graph
            .node
            .insert(i + 1, node("Mul", name, vec![unscaled, scale], out, vec![]));
        maybe_dead.extend(mul_outputs);
        i += 2;
        rewritten += 1;
    }
    drop_dead_nodes(graph, &maybe_dead);
    rewritten
}

#[cfg(test)]
mod tests;
