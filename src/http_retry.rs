//! What the HTTP clients (the embedders' and the LLM client's) share about retries: reading a
//! server's `Retry-After`, and — on wasm32, where there is no blocking sleep — waiting on the
//! host's `setTimeout`.

use std::time::Duration;

/// The wait a `429`/`5xx` answer asks for: `retry-after-ms` (OpenAI's, milliseconds) when
/// readable, else `Retry-After` in seconds. HTTP dates and negative or non-numeric values are
/// ignored (`None`).
pub fn parse_retry_after(ms: Option<&str>, seconds: Option<&str>) -> Option<Duration> {
    let read = |v: Option<&str>, scale: f64| {
        v.and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|n| n.is_finite() && *n >= 0.0)
            .map(|n| Duration::from_secs_f64((n * scale).min(1e9)))
    };
    read(ms, 1e-3).or_else(|| read(seconds, 1.0))
}

/// Waits `delay` with the host's `setTimeout` (browsers, workers, Node and Deno all have it).
/// The error says why it could not wait; callers wrap it in their own error kind.
#[cfg(target_arch = "wasm32")]
pub(crate) async fn sleep(delay: Duration) -> Result<(), &'static str> {
    use wasm_bindgen::{JsCast, JsValue};
    let ms = delay.as_millis().min(i32::MAX as u128) as i32;
    let set_timeout = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("setTimeout"))
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .ok_or("no setTimeout in this JavaScript host; cannot wait to retry")?;
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        let _ = set_timeout.call2(&JsValue::UNDEFINED, &resolve, &JsValue::from(ms));
    });
    wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .map(|_| ())
        .map_err(|_| "waiting to retry failed")
}
