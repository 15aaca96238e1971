//! [`LocalEmbedder`]: a sentence-transformers model (all-MiniLM-L6-v2) run in-module by
//! tract-onnx, tokenized by `tokenizers`. The same code runs natively and in wasm32.

use std::path::Path;
use std::sync::Arc;

use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};
use tract_onnx::pb::{self, ModelProto, NodeProto};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

use super::{Embedder, EmbedderSpec, Provider, DEFAULT_LOCAL_MODEL};
use crate::error::{Error, Result};

/// Tokens per text, [CLS] and [SEP] included; longer texts are truncated (sentence-transformers'
/// `max_seq_length` for all-MiniLM-L6-v2).
pub const MAX_TOKENS: usize = 256;
/// Texts per inference run; a longer input is cut into batches of this size.
pub const BATCH_SIZE: usize = 32;

type Plan = Arc<TypedRunnableModel>;

/// A local ONNX sentence-embedding model: tokenize (padding to the longest text of the batch,
/// truncation to [`MAX_TOKENS`]), run the encoder, mean-pool the last hidden state over the
/// attention mask, L2-normalise.
///
/// ```no_run
/// # #[cfg(feature = "embeddings")] {
/// use remdb::embed::{Embedder, LocalEmbedder, default_model_dir};
/// let embedder = LocalEmbedder::from_files(default_model_dir())?; // models/all-MiniLM-L6-v2
/// let vectors = embedder.embed(&["a cat sits on the mat", "quarterly revenue grew 5%"])?;
/// assert_eq!(vectors[0].len(), 384);
/// # }
/// # Ok::<(), remdb::Error>(())
/// ```
pub struct LocalEmbedder {
    name: String,
    tokenizer: Tokenizer,
    plan: Plan,
    dimensions: usize,
    batch_size: usize,
}

impl std::fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEmbedder")
            .field("name", &self.name)
            .field("dimensions", &self.dimensions)
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

fn err(context: &str, e: impl std::fmt::Display) -> Error {
    Error::Embedding(format!("{context}: {e}"))
}

fn tract_err(context: &str, e: TractError) -> Error {
    Error::Embedding(format!("{context}: {e:#}"))
}

impl LocalEmbedder {
    /// Loads `model.onnx` and `tokenizer.json` from `dir`. The embedder is named
    /// `local:<directory name>`.
    pub fn from_files(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let read = |file: &str| {
            let path = dir.join(file);
            std::fs::read(&path).map_err(|e| {
                if e.kind() == std::io::ErrorKind::Unsupported {
                    // No file system here (wasm32 in a browser or worker): bytes are the only way.
                    return Error::Embedding(
                        "no model loaded: this platform cannot read model files; give the model's bytes \
                         (JavaScript: open with `embedding: {model, tokenizer}` or call `loadModel`)"
                            .into(),
                    );
                }
                err(
                    &format!(
                        "cannot read {} (fetch the model with .ci/fetch-models or set REM_MODEL_DIR)",
                        path.display()
                    ),
                    e,
                )
            })
        };
        let model = read("model.onnx")?;
        let tokenizer = read("tokenizer.json")?;
        let model_name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| !n.is_empty() && *n != "." && *n != "..")
            .unwrap_or(DEFAULT_LOCAL_MODEL);
        let mut embedder = Self::from_owned_bytes(model, &tokenizer)?;
        embedder.name = EmbedderSpec {
            provider: Provider::Local,
            model: model_name.to_string(),
        }
        .to_string();
        Ok(embedder)
    }

    /// Loads the model for a `local:` spec from [`EmbedderSpec::local_model_dir`].
    pub fn from_spec(spec: &EmbedderSpec) -> Result<Self> {
        if spec.provider != Provider::Local {
            return Err(Error::Embedding(format!(
                "`{spec}` is not a local embedder"
            )));
        }
        let mut embedder = Self::from_files(spec.local_model_dir())?;
        embedder.name = spec.to_string();
        Ok(embedder)
    }

    /// Loads from the bytes of an ONNX model (inputs `input_ids`, `attention_mask`, optionally
    /// `token_type_ids`, int64 `[batch, seq]`; first output `[batch, seq, dim]`) and of a
    /// `tokenizer.json`. This is the wasm path. Named `local:all-MiniLM-L6-v2` unless renamed with
    /// [`LocalEmbedder::with_name`].
    pub fn from_bytes(model_onnx: &[u8], tokenizer_json: &[u8]) -> Result<Self> {
        Self::from_proto(read_proto(model_onnx)?, tokenizer_json)
    }

    /// [`LocalEmbedder::from_bytes`] taking the model bytes by value: they are freed as soon as
    /// they are parsed, before the model is built and optimised, which lowers the peak memory
    /// of a load by their size (in wasm linear memory never shrinks, so the peak is what stays).
    pub fn from_owned_bytes(model_onnx: Vec<u8>, tokenizer_json: &[u8]) -> Result<Self> {
        let proto = read_proto(&model_onnx)?;
        drop(model_onnx);
        Self::from_proto(proto, tokenizer_json)
    }

    fn from_proto(proto: ModelProto, tokenizer_json: &[u8]) -> Result<Self> {
        let mut tokenizer =
            Tokenizer::from_bytes(tokenizer_json).map_err(|e| err("invalid tokenizer.json", e))?;
        // tokenizer.json ships fixed padding to 128: pad to the longest text of each batch instead.
        let pad = tokenizer.get_padding().cloned().unwrap_or_default();
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_to_multiple_of: None,
            ..pad
        }));
        let trunc = tokenizer.get_truncation().cloned().unwrap_or_default();
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..trunc
            }))
            .map_err(|e| err("tokenizer truncation", e))?;

        // The wasm GEMM kernel registers itself with tract; naming it keeps the linker from
        // dropping it (and its registration) from a build that links remdb as a library.
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        super::wasm_gemm::link();
        let plan = load_plan(proto)?;
        let mut embedder = LocalEmbedder {
            name: format!("local:{DEFAULT_LOCAL_MODEL}"),
            tokenizer,
            plan,
            dimensions: 0,
            batch_size: BATCH_SIZE,
        };
        // One run checks the model end to end and tells its dimension.
        let probe = embedder.run_batch(&["probe"])?;
        embedder.dimensions = probe[0].len();
        if embedder.dimensions == 0 {
            return Err(Error::Embedding("model produces empty vectors".into()));
        }
        Ok(embedder)
    }

    /// Renames the embedder (what [`Embedder::name`] reports).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Texts per inference run (default [`BATCH_SIZE`]; at least 1).
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// Tokenizes, runs and pools one batch.
    fn run_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| err("tokenization failed", e))?;
        let batch = encodings.len();
        let seq = encodings
            .iter()
            .map(|e| e.get_ids().len())
            .max()
            .unwrap_or(0);
        if batch == 0 || seq == 0 {
            return Err(Error::Embedding("tokenizer produced no tokens".into()));
        }
        let mut ids = vec![0i64; batch * seq];
        let mut mask = vec![0i64; batch * seq];
        let mut types = vec![0i64; batch * seq];
        for (row, enc) in encodings.iter().enumerate() {
            let at = row * seq;
            for (i, ((id, m), t)) in enc
                .get_ids()
                .iter()
                .zip(enc.get_attention_mask())
                .zip(enc.get_type_ids())
                .enumerate()
            {
                ids[at + i] = i64::from(*id);
                mask[at + i] = i64::from(*m);
                types[at + i] = i64::from(*t);
            }
        }
        let tensor = |v: Vec<i64>| -> Result<TValue> {
            Ok(tract_ndarray::Array2::from_shape_vec((batch, seq), v)
                .map_err(|e| err("input shape", e))?
                .into_tvalue())
        };
        let mask_values = mask.clone();
        let mut inputs: TVec<TValue> = tvec![tensor(ids)?, tensor(mask)?];
        if self.plan.model().inputs.len() > 2 {
            inputs.push(tensor(types)?);
        }
        let outputs = self
            .plan
            .run(inputs)
            .map_err(|e| tract_err("inference failed", e))?;
        let hidden = outputs
            .first()
            .ok_or_else(|| Error::Embedding("model has no output".into()))?
            .to_plain_array_view::<f32>()
            .map_err(|e| tract_err("model output is not f32", e))?;
        let shape = hidden.shape();
        if shape.len() != 3 || shape[0] != batch || shape[1] != seq {
            return Err(Error::Embedding(format!(
                "model output has shape {shape:?}; expected [{batch}, {seq}, dim] (last_hidden_state)"
            )));
        }
        let dim = shape[2];
        let hidden = hidden
            .into_shape_with_order((batch, seq, dim))
            .map_err(|e| err("model output", e))?;
        let mut out = Vec::with_capacity(batch);
        for b in 0..batch {
            // Mean over the tokens the attention mask keeps, then L2 normalisation.
            let mut sum = vec![0f32; dim];
            let mut count = 0f32;
            for s in 0..seq {
                if mask_values[b * seq + s] != 0 {
                    count += 1.0;
                    for (acc, x) in sum
                        .iter_mut()
                        .zip(hidden.slice(tract_ndarray::s![b, s, ..]))
                    {
                        *acc += *x;
                    }
                }
            }
            let count = count.max(1.0);
            sum.iter_mut().for_each(|x| *x /= count);
            let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            sum.iter_mut().for_each(|x| *x /= norm);
            if sum.iter().any(|x| !x.is_finite()) {
                return Err(Error::Embedding(
                    "model produced a non-finite vector".into(),
                ));
            }
            out.push(sum);
        }
        Ok(out)
    }
}

impl Embedder for LocalEmbedder {
    fn name(&self) -> &str {
        &self.name
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.batch_size) {
            out.extend(self.run_batch(chunk)?);
        }
        Ok(out)
    }
}

/// tract-onnx's ONNX parser with remdb's last-axis layer norm. The exported value_info
/// claims shapes tract cannot reconcile with broadcasting (the attention-mask `Where`), so tract
/// infers every intermediate shape itself.
fn onnx() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx().with_ignore_value_info(true);
    super::layer_norm::register(&mut onnx.op_register);
    onnx
}

/// Decodes the ONNX protobuf straight from `model_onnx` (tract's own reader copies it first).
fn read_proto(model_onnx: &[u8]) -> Result<ModelProto> {
    <ModelProto as prost::Message>::decode(model_onnx)
        .map_err(|e| Error::Embedding(format!("invalid ONNX model: {e}")))
}

/// Rewrites and optimises the ONNX model for inputs of shape `[batch, seq]`. The protobuf (its
/// weights as raw bytes) is dropped as soon as tract holds the weights as tensors.
fn load_plan(mut proto: ModelProto) -> Result<Plan> {
    rewrite_quantized_gathers(&mut proto);
    rewrite_scaled_matmuls(&mut proto);
    rewrite_erf_gelus(&mut proto);
    rewrite_scalar_muls_behind_reshapes(&mut proto);
    let mut model = onnx()
        .model_for_proto_model(&proto)
        .map_err(|e| tract_err("unsupported ONNX model", e))?;
    drop(proto);
    let n_inputs = model.inputs.len();
    if !(2..=3).contains(&n_inputs) {
        return Err(Error::Embedding(format!(
            "model has {n_inputs} inputs; expected input_ids, attention_mask[, token_type_ids]"
        )));
    }
    // Keep the model's own `[batch, sequence]` dims when it declares them (symbols must match
    // the ones its graph uses); otherwise declare two symbolic dims.
    let (batch, seq) = (model.symbols.sym("batch"), model.symbols.sym("sequence"));
    for i in 0..n_inputs {
        let declared = model
            .input_fact(i)
            .map_err(|e| tract_err("model input", e))?;
        let dims: Option<TVec<TDim>> = if declared.shape.is_open() {
            None
        } else {
            declared.shape.dims().map(|d| d.concretize()).collect()
        };
        let dims = match dims {
            Some(dims) if dims.len() == 2 => dims,
            _ => tvec![batch.clone().to_dim(), seq.clone().to_dim()],
        };
        let fact = InferenceFact::dt_shape(i64::datum_type(), dims);
        model
            .set_input_fact(i, fact)
            .map_err(|e| tract_err("model input", e))?;
    }
    let typed = model
        .into_optimized()
        .map_err(|e| tract_err("cannot optimise ONNX model", e))?;
    typed
        .into_runnable()
        .map_err(|e| tract_err("cannot plan ONNX model", e))
}

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
fn rewrite_quantized_gathers(model: &mut ModelProto) -> usize {
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
fn rewrite_erf_gelus(model: &mut ModelProto) -> usize {
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
fn rewrite_scalar_muls_behind_reshapes(model: &mut ModelProto) -> usize {
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
fn rewrite_scaled_matmuls(model: &mut ModelProto) -> usize {
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
mod tests {
    use super::*;
    use pb::tensor_proto::DataType;

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
        tract_ndarray::Array2::from_shape_fn((2, 6), |(i, j)| {
            (i as f32 - 0.6) * (j as f32 * 0.7 - 1.9)
        })
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
}
