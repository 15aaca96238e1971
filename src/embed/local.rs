//! [`LocalEmbedder`]: a sentence-transformers model (all-MiniLM-L6-v2) run in-module by
//! tract-onnx, tokenized by `tokenizers`. The same code runs natively and in wasm32.

use std::path::Path;
use std::sync::Arc;

use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};
use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

use super::rewrite::{
    rewrite_erf_gelus, rewrite_quantized_gathers, rewrite_scalar_muls_behind_reshapes,
    rewrite_scaled_matmuls,
};
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
        check_vocabulary(&tokenizer, &proto)?;
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

    fn count_tokens(&self, text: &str) -> Option<usize> {
        // Truncation (256 tokens) moves the rest into overflowing encodings, with no stride:
        // together they are every token of the text.
        let encoding = self.tokenizer.encode(text, false).ok()?;
        Some(
            encoding.len()
                + encoding
                    .get_overflowing()
                    .iter()
                    .map(|e| e.len())
                    .sum::<usize>(),
        )
    }
}

/// Refuses a tokenizer that can produce a token id the model's embedding table has no row for
/// (tract would panic looking it up, on whatever text first produces that id).
fn check_vocabulary(tokenizer: &Tokenizer, proto: &ModelProto) -> Result<()> {
    let Some(rows) = embedding_rows(proto) else {
        // No embedding lookup of the token ids recognised: nothing to compare against.
        return Ok(());
    };
    let Some(highest) = highest_token_id(tokenizer) else {
        return Ok(());
    };
    if u64::from(highest) >= rows {
        return Err(Error::Embedding(format!(
            "tokenizer.json does not fit the model: it has token ids up to {highest}, but the \
             model's embedding table has {rows} rows (ids 0–{}); use the tokenizer.json that \
             belongs to this model.onnx",
            rows.saturating_sub(1)
        )));
    }
    Ok(())
}

/// The highest id the tokenizer can emit: its vocabulary, added tokens and padding token.
fn highest_token_id(tokenizer: &Tokenizer) -> Option<u32> {
    let vocab = tokenizer.get_vocab(true).into_values().max();
    let pad = tokenizer.get_padding().map(|p| p.pad_id);
    vocab.into_iter().chain(pad).max()
}

/// Rows of the table the model looks token ids up in: the smallest first dimension of the tables
/// of every axis-0 `Gather` whose indices are the `input_ids` input (directly or through casts),
/// found through a dequantizing `Cast`/`Mul`/`DequantizeLinear` chain. `None` when there is none.
pub(crate) fn embedding_rows(proto: &ModelProto) -> Option<u64> {
    let graph = proto.graph.as_ref()?;
    let ids_input = graph
        .input
        .iter()
        .find(|i| i.name == "input_ids")
        .or_else(|| graph.input.first())?;
    // Values that carry the token ids unchanged.
    let mut ids: std::collections::HashSet<&str> = [ids_input.name.as_str()].into();
    loop {
        let before = ids.len();
        for n in &graph.node {
            if matches!(n.op_type.as_str(), "Cast" | "Identity")
                && n.input.first().is_some_and(|i| ids.contains(i.as_str()))
            {
                ids.extend(n.output.iter().map(String::as_str));
            }
        }
        if ids.len() == before {
            break;
        }
    }
    graph
        .node
        .iter()
        .filter(|n| {
            n.op_type == "Gather"
                && n.input.len() == 2
                && ids.contains(n.input[1].as_str())
                && n.attribute
                    .iter()
                    .find(|a| a.name == "axis")
                    .map_or(true, |a| a.i == 0)
        })
        .filter_map(|n| table_rows(graph, &n.input[0]))
        .min()
}

/// The first dimension of the 2-d table `value` is, or is computed from a few steps back through
/// the nodes that dequantize a table (`Cast`, `Mul` by a scale, `DequantizeLinear`).
fn table_rows<'g>(graph: &'g tract_onnx::pb::GraphProto, mut value: &'g str) -> Option<u64> {
    let initializer = |name: &str| graph.initializer.iter().find(|t| t.name == name);
    for _ in 0..4 {
        if let Some(t) = initializer(value) {
            return (t.dims.len() == 2 && t.dims[0] > 0).then(|| t.dims[0] as u64);
        }
        let n = graph
            .node
            .iter()
            .find(|n| n.output.iter().any(|o| o == value))?;
        if !matches!(
            n.op_type.as_str(),
            "Cast" | "Mul" | "DequantizeLinear" | "Identity"
        ) {
            return None;
        }
        // Of a `Mul`, the operand that is (or comes from) the table, not the per-row scale.
        value = n
            .input
            .iter()
            .find(|i| initializer(i).map_or(true, |t| t.dims.len() == 2 && t.dims[1] > 1))
            .or(n.input.first())?;
    }
    None
}

/// tract-onnx's ONNX parser with remdb's last-axis layer norm. The exported value_info
/// claims shapes tract cannot reconcile with broadcasting (the attention-mask `Where`), so tract
/// infers every intermediate shape itself.
pub(super) fn onnx() -> tract_onnx::Onnx {
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

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::pb::{self, NodeProto};

    /// A graph looking `input_ids` up in a `[rows, 4]` table, through a cast as exporters do.
    fn lookup_model(rows: i64) -> ModelProto {
        let value = |name: &str| pb::ValueInfoProto {
            name: name.into(),
            ..Default::default()
        };
        let node = |op: &str, inputs: &[&str], output: &str| NodeProto {
            op_type: op.into(),
            name: format!("{op}_{output}"),
            input: inputs.iter().map(|i| i.to_string()).collect(),
            output: vec![output.into()],
            ..Default::default()
        };
        ModelProto {
            graph: Some(pb::GraphProto {
                input: vec![value("input_ids"), value("attention_mask")],
                output: vec![value("hidden")],
                initializer: vec![pb::TensorProto {
                    name: "word_embeddings".into(),
                    dims: vec![rows, 4],
                    ..Default::default()
                }],
                node: vec![
                    node("Cast", &["input_ids"], "ids32"),
                    node("Gather", &["word_embeddings", "ids32"], "hidden"),
                ],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// A whitespace word-level tokenizer whose highest id is `highest`.
    fn tokenizer(highest: u32) -> Tokenizer {
        let json = format!(
            r#"{{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],
               "normalizer":null,"pre_tokenizer":{{"type":"Whitespace"}},"post_processor":null,
               "decoder":null,"model":{{"type":"WordLevel",
               "vocab":{{"[UNK]":0,"cat":1,"猫":{highest}}},"unk_token":"[UNK]"}}}}"#
        );
        Tokenizer::from_bytes(json.as_bytes()).expect("crafted tokenizer parses")
    }

    #[test]
    fn finds_the_rows_of_the_token_embedding_table() {
        assert_eq!(embedding_rows(&lookup_model(10)), Some(10));
        assert_eq!(embedding_rows(&ModelProto::default()), None);
    }

    #[test]
    fn a_tokenizer_within_the_table_is_accepted() {
        assert_eq!(highest_token_id(&tokenizer(9)), Some(9));
        check_vocabulary(&tokenizer(9), &lookup_model(10)).expect("ids 0..=9 fit 10 rows");
    }

    #[test]
    fn a_tokenizer_beyond_the_table_is_refused_at_load() {
        let e = check_vocabulary(&tokenizer(25), &lookup_model(10)).unwrap_err();
        assert_eq!(e.code(), "EMBEDDING");
        let message = e.to_string();
        assert!(message.contains("up to 25"), "{message}");
        assert!(message.contains("10 rows"), "{message}");
        // The whole load refuses it too, before the model is built or run.
        let json = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],
            "normalizer":null,"pre_tokenizer":{"type":"Whitespace"},"post_processor":null,
            "decoder":null,"model":{"type":"WordLevel","vocab":{"[UNK]":0,"猫":25},
            "unk_token":"[UNK]"}}"#;
        let e = LocalEmbedder::from_proto(lookup_model(10), json.as_bytes()).unwrap_err();
        assert_eq!(e.code(), "EMBEDDING", "{e}");
        assert!(e.to_string().contains("does not fit the model"), "{e}");
    }
}
