//! Sync in JavaScript: the round's steps run here, where the database is; js/api.js's
//! `RemDB.sync` sends the pushes and pulls with `fetch` from the calling code, between them.

use wasm_bindgen::prelude::*;

use super::convert::{from_js, invalid, js_error, to_js, to_u64};
use super::RemDb;
use crate::sync::{PullResponse, PushPlan, PushResponse, SnapshotPage};

/// A JS value as a typed body.
fn typed<T: serde::de::DeserializeOwned>(what: &str, value: JsValue) -> Result<T, JsValue> {
    serde_json::from_value(from_js(what, value)?)
        .map_err(|e| invalid(format!("{what} is not a valid sync message: {e}")))
}

#[wasm_bindgen]
impl RemDb {
    /// The next push of the outbox: `{request, pushed, scanned, seenAt}` (send `request` to the
    /// hub's `/v1/push`), or `null` when everything local has been pushed.
    #[wasm_bindgen(js_name = syncNextPush)]
    pub fn sync_next_push(&self) -> Result<JsValue, JsValue> {
        to_js(&self.tenant.sync_steps().next_push().map_err(js_error)?)
    }

    /// Takes the hub's answer to a planned push; returns how many ops the hub took.
    #[wasm_bindgen(js_name = syncTakePush)]
    pub fn sync_take_push(&self, plan: JsValue, answer: JsValue) -> Result<f64, JsValue> {
        let plan: PushPlan = typed("push plan", plan)?;
        let answer: PushResponse = typed("push answer", answer)?;
        Ok(self
            .tenant
            .sync_steps()
            .take_push(&plan, &answer)
            .map_err(js_error)? as f64)
    }

    /// What to ask the hub for next while pulling: `{device, since, snapshot, after, path}`
    /// (send a GET to `path`: the log after `since`, or a snapshot page when `snapshot`).
    #[wasm_bindgen(js_name = syncNextPull)]
    pub fn sync_next_pull(&self) -> Result<JsValue, JsValue> {
        to_js(&self.tenant.sync_steps().next_pull().map_err(js_error)?)
    }

    /// Applies a snapshot page asked after `after` (the plan's, `null` for the first):
    /// `{loaded, done}`.
    #[wasm_bindgen(js_name = syncTakeSnapshot)]
    pub fn sync_take_snapshot(&self, after: JsValue, page: JsValue) -> Result<JsValue, JsValue> {
        let after: Option<String> = typed("snapshot cursor", after)?;
        let page: SnapshotPage = typed("snapshot page", page)?;
        let (loaded, done) = self
            .tenant
            .sync_steps()
            .take_snapshot(after.as_deref(), &page)
            .map_err(js_error)?;
        to_js(&serde_json::json!({"loaded": loaded, "done": done}))
    }

    /// Applies the hub's answer to a pull asked with `since`: `{pulled, caughtUp}`.
    #[wasm_bindgen(js_name = syncTakePull)]
    pub fn sync_take_pull(&self, since: f64, answer: JsValue) -> Result<JsValue, JsValue> {
        let since = to_u64("since", since)?;
        let answer: PullResponse = typed("pull answer", answer)?;
        let (pulled, caught_up) = self
            .tenant
            .sync_steps()
            .take_pull(since, &answer)
            .map_err(js_error)?;
        to_js(&serde_json::json!({"pulled": pulled, "caughtUp": caught_up}))
    }

    /// Where this device stands: `{device, pushed, pulled, outbox, rejected, conflicts}`.
    #[wasm_bindgen(js_name = syncStatus)]
    pub fn sync_status(&self) -> Result<JsValue, JsValue> {
        to_js(&self.tenant.sync_status().map_err(js_error)?)
    }

    /// Concurrent writes to one field this device took part in.
    pub fn conflicts(&self) -> Result<JsValue, JsValue> {
        to_js(&self.tenant.conflicts().map_err(js_error)?)
    }

    /// Local changes the hub refused, with the reason.
    pub fn rejected(&self) -> Result<JsValue, JsValue> {
        to_js(&self.tenant.rejected().map_err(js_error)?)
    }
}
