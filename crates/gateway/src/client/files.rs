//! The client's local files: `device.json` (identity) and `device-auth.json` (the device token
//! the gateway issued, in OpenClaw's layout).

use std::path::Path;

use sandgate_core::hello::HelloAuth;
use sandgate_core::identity::DeviceIdentity;
use serde_json::{Value, json};

use super::ClientError;
use crate::fsutil;
use crate::shared::now_ms;

/// The stored operator token of `device_id`, if any.
pub(crate) fn load_stored_token(dir: &Path, device_id: &str) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("device-auth.json")).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    if v.get("deviceId")?.as_str()? != device_id {
        return None;
    }
    v.pointer("/tokens/operator/token")?
        .as_str()
        .map(str::to_owned)
}

/// Stores the device token of `hello-ok.auth`, when one was issued.
pub(crate) fn store_token(
    dir: &Path,
    device_id: &str,
    auth: &HelloAuth,
) -> Result<(), ClientError> {
    let Some(token) = &auth.device_token else {
        return Ok(());
    };
    let doc = json!({
        "version": 1,
        "deviceId": device_id,
        "tokens": {"operator": {"token": token, "role": "operator", "scopes": auth.scopes, "updatedAtMs": now_ms()}},
    });
    fsutil::write_private(&dir.join("device-auth.json"), doc.to_string().as_bytes())
        .map_err(|e| ClientError::Identity(e.to_string()))
}

/// Loads `device.json` from `dir`, creating a fresh identity when there is none.
pub(crate) fn load_or_create_identity(dir: &Path) -> Result<DeviceIdentity, ClientError> {
    let path = dir.join("device.json");
    if path.exists() {
        return DeviceIdentity::load(&path)
            .map_err(|e| ClientError::Identity(format!("{}: {e}", path.display())));
    }
    std::fs::create_dir_all(dir).map_err(|e| ClientError::Identity(e.to_string()))?;
    let id = DeviceIdentity::generate();
    id.save(&path)
        .map_err(|e| ClientError::Identity(e.to_string()))?;
    Ok(id)
}
