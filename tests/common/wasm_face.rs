//! The harness of the wasm32 tests of the JS face (`RemDb`), shared by the `faces` and `graph`
//! binaries: open a face on either in-memory backend, run a scenario on both, and convert
//! values the way JavaScript passes and reads them.

use js_sys::Reflect;
use serde::Serialize;
use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};

/// A fresh face, as `RemDb.openMemory()` / `RemDb.openRedbMemory()` build it.
macro_rules! open {
    (memory) => {
        ::remdb::Database::memory()
            .into_js_face(None)
            .expect("open memory")
    };
    (redb) => {
        ::remdb::Database::with_kv(::std::sync::Arc::new(
            ::remdb::kv::RedbKv::open_pages(::remdb::kv::MemoryPages::new())
                .expect("redb over pages"),
        ))
        .into_js_face(None)
        .expect("open redb")
    };
}

/// Defines each scenario once per backend: `memory::name` and `redb::name`.
macro_rules! on_both_backends {
    ($(fn $name:ident($db:ident) $body:block)*) => {
        mod memory {
            use super::*;
            $(#[::wasm_bindgen_test::wasm_bindgen_test] fn $name() { let $db = open!(memory); $body })*
        }
        mod redb {
            use super::*;
            $(#[::wasm_bindgen_test::wasm_bindgen_test] fn $name() { let $db = open!(redb); $body })*
        }
    };
}

/// A JSON value as the plain JS value a caller would pass.
pub fn js(value: Value) -> JsValue {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .expect("to js")
}

/// A JS value the face returned, read back as JSON; also checks objects are plain, not `Map`s.
pub fn rs(value: JsValue) -> Value {
    assert!(
        !value.is_instance_of::<js_sys::Map>(),
        "the face returned a Map: {value:?}"
    );
    serde_wasm_bindgen::from_value(value).expect("from js")
}

/// Property `name` of a JS object.
pub fn prop(obj: &JsValue, name: &str) -> JsValue {
    Reflect::get(obj, &JsValue::from_str(name)).expect("property")
}

/// The thrown value of a failed call: a JS `Error` with a message and a `code`; returns that code.
#[track_caller]
pub fn code_of<T>(result: Result<T, JsValue>) -> String {
    let Err(err) = result else {
        panic!("expected an error")
    };
    assert!(
        err.is_instance_of::<js_sys::Error>(),
        "not a JS Error: {err:?}"
    );
    let message = err.unchecked_ref::<js_sys::Error>().message();
    assert!(!String::from(message).is_empty());
    prop(&err, "code").as_string().expect("string code")
}
