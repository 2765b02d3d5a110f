//! Method handlers, registered in the method catalog. Authorization has already run; handlers
//! only validate their params and do the work.

use sandgate_core::codes::CloseCode;
use sandgate_core::codes::close_reasons;
use sandgate_core::frame::ErrorShape;
use sandgate_core::{Role, Scope};
use sandgate_pairing::{Approver, PairingError};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::sandbox::SandboxCtx;
use crate::ws::conn::{Call, Caller, Reply};

/// `health`.
pub fn health(c: Call) -> Reply {
    Box::pin(
        async move { Ok(json!({"ok": true, "ts": c.ctx.shared.now_ms(), "sandbox": c.ctx.name})) },
    )
}

/// `status`.
pub fn status(c: Call) -> Reply {
    Box::pin(async move { Ok(status_of(&c.ctx).await) })
}

/// `models.list`: the sandbox's one routed model.
pub fn models_list(c: Call) -> Reply {
    Box::pin(async move {
        let route = c.ctx.route();
        Ok(
            json!({"models": [{"id": route.model, "name": route.model, "provider": route.kind.as_str()}]}),
        )
    })
}

/// `sessions.list`.
pub fn sessions_list(c: Call) -> Reply {
    Box::pin(async move { sessions_of(&c.ctx).await })
}

/// `sessions.get` and `chat.history`.
pub fn session_get(c: Call) -> Reply {
    Box::pin(async move { session_get_impl(&c.ctx, c.params).await })
}

/// `device.pair.list`.
pub fn pair_list(c: Call) -> Reply {
    Box::pin(async move {
        pairing(
            c.ctx
                .shared
                .pairing
                .list(&c.ctx.name)
                .await
                .map(|l| json!(l)),
        )
    })
}

/// `device.pair.approve`.
pub fn approve(c: Call) -> Reply {
    Box::pin(async move { approve_impl(&c.ctx, &c.caller, c.params).await })
}

/// `device.pair.reject`.
pub fn reject(c: Call) -> Reply {
    Box::pin(async move { reject_impl(&c.ctx, &c.caller, c.params).await })
}

/// `device.pair.remove`.
pub fn remove(c: Call) -> Reply {
    Box::pin(async move { remove_impl(&c.ctx, &c.caller, c.params).await })
}

/// `device.token.rotate`.
pub fn rotate(c: Call) -> Reply {
    Box::pin(async move { rotate_impl(&c.ctx, &c.caller, c.params).await })
}

/// `device.token.revoke`.
pub fn revoke(c: Call) -> Reply {
    Box::pin(async move { revoke_impl(&c.ctx, &c.caller, c.params).await })
}

fn approver(caller: &Caller) -> Approver {
    Approver::Session {
        scopes: caller.scopes.clone(),
        device_id: caller.device_id.clone(),
    }
}

fn pairing(result: Result<Value, PairingError>) -> Result<Value, ErrorShape> {
    result.map_err(|e| ErrorShape::invalid_request(e.to_string()))
}

fn parse<T: for<'de> Deserialize<'de>>(method: &str, params: Value) -> Result<T, ErrorShape> {
    serde_json::from_value(params)
        .map_err(|e| ErrorShape::invalid_request(format!("invalid {method} params: {e}")))
}

async fn status_of(ctx: &SandboxCtx) -> Value {
    let route = ctx.route();
    json!({
        "runtimeVersion": crate::shared::VERSION,
        "sandbox": ctx.name,
        "gatewayId": ctx.shared.gateway_id,
        "inference": {"provider": route.kind.as_str(), "model": route.model},
        "connections": ctx.live_connections(),
        "uptimeMs": ctx.shared.started.elapsed().as_millis() as u64,
    })
}

async fn sessions_of(ctx: &SandboxCtx) -> Result<Value, ErrorShape> {
    let rows = ctx
        .shared
        .registry
        .sessions(&ctx.name)
        .await
        .map_err(|e| ErrorShape::unavailable(e.to_string(), 500))?;
    let sessions: Vec<Value> = rows
        .into_iter()
        .map(|(key, n, ts)| json!({"key": key, "messageCount": n, "updatedAt": ts}))
        .collect();
    Ok(json!({"sessions": sessions}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionParams {
    session_key: Option<String>,
    key: Option<String>,
    limit: Option<usize>,
}

async fn session_get_impl(ctx: &SandboxCtx, params: Value) -> Result<Value, ErrorShape> {
    let p: SessionParams = parse("sessions.get", params)?;
    let key = p
        .session_key
        .or(p.key)
        .ok_or_else(|| ErrorShape::invalid_request("sessionKey required"))?;
    let msgs = ctx
        .shared
        .registry
        .history(&ctx.name, &key, p.limit.unwrap_or(200).min(1000))
        .await
        .map_err(|e| ErrorShape::unavailable(e.to_string(), 500))?;
    let messages: Vec<Value> = msgs
        .into_iter()
        .map(|m| json!({"role": m.role, "content": [{"type": "text", "text": m.content}]}))
        .collect();
    Ok(json!({"sessionKey": key, "messages": messages}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RequestIdParams {
    request_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DeviceParams {
    device_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TokenParams {
    device_id: String,
    role: Role,
    #[serde(default)]
    scopes: Option<Vec<Scope>>,
}

async fn approve_impl(
    ctx: &SandboxCtx,
    caller: &Caller,
    params: Value,
) -> Result<Value, ErrorShape> {
    let p: RequestIdParams = parse("device.pair.approve", params)?;
    let approval = ctx
        .shared
        .pairing
        .approve(&ctx.name, &p.request_id, &approver(caller))
        .await;
    let approval = approval.map_err(|e| ErrorShape::invalid_request(e.to_string()))?;
    Ok(json!({"requestId": p.request_id, "device": approval.device}))
}

async fn reject_impl(
    ctx: &SandboxCtx,
    caller: &Caller,
    params: Value,
) -> Result<Value, ErrorShape> {
    let p: RequestIdParams = parse("device.pair.reject", params)?;
    let r = ctx
        .shared
        .pairing
        .reject(&ctx.name, &p.request_id, &approver(caller))
        .await;
    let r = r.map_err(|e| ErrorShape::invalid_request(e.to_string()))?;
    Ok(json!({"requestId": p.request_id, "deviceId": r.device_id}))
}

async fn remove_impl(
    ctx: &SandboxCtx,
    caller: &Caller,
    params: Value,
) -> Result<Value, ErrorShape> {
    let p: DeviceParams = parse("device.pair.remove", params)?;
    ctx.shared
        .pairing
        .remove_device(&ctx.name, &p.device_id, &approver(caller))
        .await
        .map_err(|_| ErrorShape::invalid_request("device pairing removal denied"))?;
    ctx.close_device(
        &p.device_id,
        None,
        CloseCode::AuthChanged,
        close_reasons::DEVICE_REMOVED,
    );
    Ok(json!({"deviceId": p.device_id}))
}

async fn rotate_impl(
    ctx: &SandboxCtx,
    caller: &Caller,
    params: Value,
) -> Result<Value, ErrorShape> {
    let p: TokenParams = parse("device.token.rotate", params)?;
    let rotated = ctx
        .shared
        .pairing
        .rotate_token(&ctx.name, &p.device_id, p.role, p.scopes, &approver(caller))
        .await
        .map_err(|e| {
            tracing::info!(error = %e, "device token rotation denied");
            ErrorShape::invalid_request("device token rotation denied")
        })?;
    ctx.close_device(
        &p.device_id,
        Some(p.role),
        CloseCode::AuthChanged,
        close_reasons::DEVICE_REMOVED,
    );
    Ok(json!({
        "deviceId": p.device_id,
        "role": p.role,
        "token": rotated.token.token(),
        "scopes": rotated.token.scopes,
        "rotatedAtMs": rotated.token.issued_at_ms,
    }))
}

async fn revoke_impl(
    ctx: &SandboxCtx,
    caller: &Caller,
    params: Value,
) -> Result<Value, ErrorShape> {
    let p: TokenParams = parse("device.token.revoke", params)?;
    let revoked = ctx
        .shared
        .pairing
        .revoke_token(&ctx.name, &p.device_id, p.role, &approver(caller))
        .await
        .map_err(|e| {
            tracing::info!(error = %e, "device token revocation denied");
            ErrorShape::invalid_request("device token revocation denied")
        })?;
    ctx.close_device(
        &p.device_id,
        Some(p.role),
        CloseCode::AuthChanged,
        close_reasons::DEVICE_REMOVED,
    );
    Ok(json!({"deviceId": p.device_id, "role": p.role, "revokedAtMs": revoked.revoked_at_ms}))
}
