//! The wasm32 transport: `fetch` through gloo-net, awaited; retries with timers.

#[allow(unused_imports)]
use super::*;

#[cfg(target_arch = "wasm32")]
impl HttpEmbedder {
    /// [`HttpEmbedder::new`] for wasm32: when the vector length is unknown, learns it with one
    /// awaited probe request.
    pub async fn new_async(spec: EmbedderSpec, config: HttpConfig) -> Result<Self> {
        let mut embedder = HttpEmbedder::configure(spec, config)?;
        if embedder.dims == 0 {
            embedder.dims = embedder.probe_dimensions(
                embedder
                    .embed_batch_async(&[PROBE_TEXT], Input::Document)
                    .await?,
            )?;
        }
        Ok(embedder)
    }

    /// One vector per text, in order: the asynchronous [`Embedder::embed`] of wasm32.
    pub async fn embed_async(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.embed_batches_async(texts, Input::Document).await
    }

    /// Vectors for search queries, in order: the asynchronous [`Embedder::embed_query`] of
    /// wasm32.
    pub async fn embed_queries_async(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.embed_batches_async(texts, Input::Query).await
    }

    pub(super) async fn embed_batches_async(
        &self,
        texts: &[&str],
        input: Input,
    ) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.config.batch_size) {
            out.extend(self.embed_batch_async(batch, input).await?);
        }
        Ok(out)
    }

    pub(super) async fn embed_batch_async(
        &self,
        batch: &[&str],
        input: Input,
    ) -> Result<Vec<Vec<f32>>> {
        let body = self.request_body(batch, input);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.judge(self.send_async(&body).await?, attempt, batch.len())? {
                Verdict::Vectors(vectors) => return Ok(vectors),
                Verdict::RetryIn(delay) => crate::http_retry::sleep(delay)
                    .await
                    .map_err(|e| Error::Embedding(e.into()))?,
            }
        }
    }

    pub(super) async fn send_async(&self, body: &str) -> Result<Reply> {
        let ms = u32::try_from(self.config.timeout.as_millis()).unwrap_or(u32::MAX);
        let signal = web_sys::AbortSignal::timeout_with_u32(ms);
        let mut request = gloo_net::http::Request::post(&self.url).abort_signal(Some(&signal));
        for (name, value) in self.headers() {
            request = request.header(name, &value);
        }
        let request = request
            .body(body.to_string())
            .map_err(|e| self.transport_error(e))?;
        let response = request.send().await.map_err(|e| {
            if signal.aborted() {
                self.transport_error(format_args!("timed out after {:?}", self.config.timeout))
            } else {
                self.transport_error(e)
            }
        })?;
        let headers = response.headers();
        let retry_after = parse_retry_after(
            headers.get("retry-after-ms").as_deref(),
            headers.get("retry-after").as_deref(),
        );
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| self.transport_error(format_args!("reading the response failed: {e}")))?;
        Ok(Reply {
            status,
            retry_after,
            body,
        })
    }
}

#[cfg(target_arch = "wasm32")]
impl Embedder for HttpEmbedder {
    fn name(&self) -> &str {
        &self.name
    }

    fn dimensions(&self) -> usize {
        self.dims
    }

    fn is_sync(&self) -> bool {
        false
    }

    /// Always an error on wasm32: there is no blocking HTTP; use `embed_async`.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        Err(Error::Embedding(format!(
            "{}: HTTP embedders cannot block on wasm32; use HttpEmbedder::embed_async",
            self.name
        )))
    }
}
