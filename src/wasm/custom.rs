//! Custom embedders: a JavaScript function `embed(texts, {kind})` resolving to one
//! `Float32Array` per text, used for a `custom:NAME` provider (e.g. transformers.js on WebGPU).
//!
//! The function is awaited only here, at the edge: the store sees a provider that answers
//! asynchronously (its work is queued and drained by the async task of [`super::remote`]), and
//! what the function returns is checked before any of it is stored.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::convert::{invalid, to_usize};
use super::remote::AsyncEmbedder;
use super::RemDb;
use crate::embed::{EmbedderSpec, Provider};
use crate::Error;

/// What a text is embedded as: a stored document or a search query (`kind` in the function's
/// second argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// The text of a row's embedded field (queued work, `embed`).
    Document,
    /// A search text (`search`, SQL similarity).
    Query,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Document => "document",
            Kind::Query => "query",
        }
    }
}

/// A `custom:NAME` provider backed by a JavaScript function.
pub(super) struct JsEmbedder {
    name: String,
    dimensions: usize,
    function: js_sys::Function,
}

impl JsEmbedder {
    /// The provider spec it answers to.
    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// The length of every vector it returns.
    pub(super) fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// Calls the function with `texts` (a JS array of strings) and `{kind}`, awaits what it
    /// returns (a Promise or the array itself) and checks it: an array of one finite
    /// `Float32Array` of [`Self::dimensions`] values per text. Anything else, a throw or a
    /// rejection is an [`Error::Embedding`] naming the provider.
    pub(super) async fn embed(&self, texts: &[&str], kind: Kind) -> Result<Vec<Vec<f32>>, Error> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let args = js_sys::Array::new();
        for text in texts {
            args.push(&JsValue::from_str(text));
        }
        let options = js_sys::Object::new();
        js_sys::Reflect::set(&options, &"kind".into(), &kind.as_str().into())
            .map_err(|e| self.failure(format!("cannot build its options: {}", describe(&e))))?;
        let returned = self
            .function
            .call2(&JsValue::UNDEFINED, &args, &options)
            .map_err(|e| self.failure(format!("the embed function threw: {}", describe(&e))))?;
        // `Promise.resolve` adopts promises and thenables and wraps plain values.
        let value = wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(&returned))
            .await
            .map_err(|e| self.failure(format!("the embed function rejected: {}", describe(&e))))?;
        self.check(texts.len(), &value)
    }

    /// The vectors in `value`, if it holds `count` valid ones.
    fn check(&self, count: usize, value: &JsValue) -> Result<Vec<Vec<f32>>, Error> {
        if !js_sys::Array::is_array(value) {
            return Err(self.failure(format!(
                "the embed function must resolve to an array of Float32Array (one per text), got {}",
                type_name(value)
            )));
        }
        let items: &js_sys::Array = value.unchecked_ref();
        let returned = items.length() as usize;
        if returned != count {
            return Err(self.failure(format!(
                "the embed function returned {returned} vectors for {count} texts"
            )));
        }
        let mut out = Vec::with_capacity(count);
        for (i, item) in items.iter().enumerate() {
            let Some(array) = item.dyn_ref::<js_sys::Float32Array>() else {
                return Err(self.failure(format!(
                    "vector {i} is not a Float32Array (got {})",
                    type_name(&item)
                )));
            };
            let vector = array.to_vec();
            if vector.len() != self.dimensions {
                return Err(self.failure(format!(
                    "vector {i} has {} values, expected {}",
                    vector.len(),
                    self.dimensions
                )));
            }
            if let Some(at) = vector.iter().position(|x| !x.is_finite()) {
                return Err(self.failure(format!(
                    "vector {i} holds {} at index {at}, not a finite number",
                    vector[at]
                )));
            }
            out.push(vector);
        }
        Ok(out)
    }

    fn failure(&self, why: String) -> Error {
        Error::Embedding(format!("{}: {why}", self.name))
    }
}

/// A thrown or rejected value as text: an `Error`'s message, a string, else its type.
fn describe(e: &JsValue) -> String {
    if let Some(error) = e.dyn_ref::<js_sys::Error>() {
        return String::from(error.message());
    }
    e.as_string().unwrap_or_else(|| type_name(e))
}

/// What a JS value is, for messages: `null`, `undefined`, `an array`, the constructor of an
/// object (`Float64Array`, `Object`), else its `typeof`.
fn type_name(v: &JsValue) -> String {
    if v.is_null() {
        return "null".into();
    }
    if v.is_undefined() {
        return "undefined".into();
    }
    if js_sys::Array::is_array(v) {
        return "an array".into();
    }
    if v.is_object() {
        let constructor = js_sys::Reflect::get(v, &"constructor".into()).ok();
        let name = constructor
            .and_then(|c| c.dyn_into::<js_sys::Function>().ok())
            .map(|f| String::from(f.name()))
            .filter(|n| !n.is_empty());
        return name.unwrap_or_else(|| "object".into());
    }
    v.js_typeof()
        .as_string()
        .unwrap_or_else(|| "a value".into())
}

#[wasm_bindgen]
impl RemDb {
    /// Uses the JavaScript function `embed(texts, {kind: "document" | "query"})` for `spec`
    /// (`custom:NAME`); it returns (or resolves to) one `Float32Array` of `dimensions` values per
    /// text. Like an HTTP embedder, its work is queued by writes and embedded by the async task
    /// (`embeddingsIdle()` waits), and `embedAsync`, `searchAsync` and `sqlAsync` await it.
    #[wasm_bindgen(js_name = useCustomEmbedder)]
    pub fn use_custom_embedder(
        &self,
        spec: &str,
        dimensions: f64,
        embed: JsValue,
    ) -> Result<(), JsValue> {
        let parsed = EmbedderSpec::parse(spec).map_err(super::convert::js_error)?;
        if parsed.provider != Provider::Custom {
            return Err(invalid(format!(
                "a custom embedder's provider is named `custom:NAME`, got `{spec}`"
            )));
        }
        let dimensions = to_usize("dimensions", dimensions)?;
        if dimensions == 0 || dimensions > crate::vector::MAX_DIMENSIONS {
            return Err(invalid(format!(
                "dimensions must be 1–{}, got {dimensions}",
                crate::vector::MAX_DIMENSIONS
            )));
        }
        let Some(function) = embed.dyn_ref::<js_sys::Function>() else {
            return Err(invalid(
                "`embed` must be a function (texts, {kind}) => Float32Array[]".into(),
            ));
        };
        let embedder = JsEmbedder {
            name: parsed.to_string(),
            dimensions,
            function: function.clone(),
        };
        self.use_async_embedder(AsyncEmbedder::Js(std::rc::Rc::new(embedder)));
        Ok(())
    }
}
