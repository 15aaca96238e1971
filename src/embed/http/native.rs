//! The native transport: blocking HTTPS with ureq, retries with backoff.

#[allow(unused_imports)]
use super::*;

#[cfg(not(target_arch = "wasm32"))]
impl HttpEmbedder {
    /// Embeds one batch, retrying as [`HttpEmbedder::judge`] decides.
    pub(super) fn embed_batch(&self, batch: &[&str], input: Input) -> Result<Vec<Vec<f32>>> {
        let body = self.request_body(batch, input);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.judge(self.send(&body)?, attempt, batch.len())? {
                Verdict::Vectors(vectors) => return Ok(vectors),
                Verdict::RetryIn(delay) => std::thread::sleep(delay),
            }
        }
    }

    fn send(&self, body: &str) -> Result<Reply> {
        let mut request = self.agent.post(&self.url);
        for (name, value) in self.headers() {
            request = request.header(name, value);
        }
        let mut response = request.send(body).map_err(|e| match e {
            ureq::Error::Timeout(_) => {
                self.transport_error(format_args!("timed out after {:?}", self.config.timeout))
            }
            e => self.transport_error(e),
        })?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after = parse_retry_after(
            header("retry-after-ms").as_deref(),
            header("retry-after").as_deref(),
        );
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_string()
            .map_err(|e| self.transport_error(format_args!("reading the response failed: {e}")))?;
        Ok(Reply {
            status,
            retry_after,
            body,
        })
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Embedder for HttpEmbedder {
    fn name(&self) -> &str {
        &self.name
    }

    fn dimensions(&self) -> usize {
        self.dims
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.config.batch_size) {
            out.extend(self.embed_batch(batch, Input::Document)?);
        }
        Ok(out)
    }

    fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        self.embed_batch(&[text], Input::Query)?
            .pop()
            .ok_or_else(|| Error::Embedding(format!("{}: no vector for the query", self.name)))
    }
}

// ---- wasm32 transport: fetch through gloo-net, async ----
