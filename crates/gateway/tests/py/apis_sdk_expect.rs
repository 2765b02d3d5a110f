//! What `apis_sdk_check.py` must have seen on a route whose replies carry `marker`: shared
//! by the gateway-level test (`apis_sdk.rs`) and the in-sandbox one (`sandgate-cli`'s
//! `sdk_in_sandbox.rs`), so the script and its expectations exist once.
#![allow(dead_code)]

use serde_json::Value;

/// The script (its absolute path in this checkout).
pub const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../gateway/tests/py/apis_sdk_check.py"
);

/// Panics with `what` and the output when the script's result `v` misses anything.
pub fn check(v: &Value, marker: &str, what: &str) {
    let has = |key: &str| v[key].as_str().unwrap_or_default().contains(marker);
    for key in [
        "responses_text",
        "responses_stream_text",
        "responses_after_tool",
        "messages_text",
        "messages_stream_text",
        "messages_after_tool",
    ] {
        assert!(has(key), "{what}: `{key}` lacks {marker}: {v}");
    }
    assert!(v["responses_usage"].as_u64().unwrap() > 0, "{what}: {v}");
    let events: Vec<&str> = v["responses_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(events.first(), Some(&"response.created"), "{what}");
    assert_eq!(events.last(), Some(&"response.completed"), "{what}");
    assert!(events.contains(&"response.output_text.delta"), "{what}");
    assert_eq!(v["responses_tool_name"], "get_weather", "{what}");
    assert_eq!(v["messages_tool_name"], "get_weather", "{what}");
    assert_eq!(v["messages_tool_stop"], "tool_use", "{what}");
    assert_eq!(v["messages_stop"], "end_turn", "{what}");
    assert!(
        v["messages_stream_pieces"].as_u64().unwrap() > 1,
        "{what}: {v}"
    );
    assert!(
        v["messages_stream_final_usage"].as_u64().unwrap() > 0,
        "{what}: {v}"
    );
    assert_eq!(
        v["messages_bad_input"]["error"]["type"], "invalid_request_error",
        "{what}: {v}"
    );
    assert_eq!(v["messages_models_type"], "model", "{what}");
}
