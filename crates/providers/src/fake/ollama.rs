//! Stub.
use axum::body::Body;
use http::Response;
use serde_json::json;

use super::Call;
use super::wire::json_response;

pub(crate) async fn handle(_call: Call) -> Response<Body> {
    json_response(404, &json!({"error": "not yet"}))
}
