//! The sandbox's OpenClaw configuration: `<state>/sandboxes/<name>/openclaw/openclaw.json`
//! (the sandbox's `OPENCLAW_STATE_DIR`; OpenClaw 2026.9.6 reads `openclaw.json` there).
//!
//! Onboarding and `inference set` point OpenClaw at the sandbox's managed route:
//! `models.providers.sandgate = {baseUrl, api, apiKey: "unused", models: [{id, name}]}` —
//! `https://inference.local/v1` with `openai-completions` by default,
//! `https://inference.local` with `anthropic-messages` on Anthropic routes (the SDK appends
//! `/v1/messages`) — `agents.defaults.model.primary = "sandgate/<model>"`, and
//! `gateway.mode = "local"` unless set (OpenClaw's own gateway, started inside the sandbox
//! in the NemoClaw layout, refuses to start without it). Nothing
//! secret is written (the proxy injects the route's credential). The file is read, these
//! keys replaced, everything else the user wrote kept, and written back atomically (a
//! temporary file renamed over it). A file that is not JSON is left alone (an error).

use std::path::{Path, PathBuf};

use sandgate_providers::{NativeApi, ProviderKind};
use serde::Serialize;
use serde_json::{Map, Value};

/// The provider key sandgate owns in `models.providers`.
pub const PROVIDER_KEY: &str = "sandgate";
/// The file OpenClaw reads in its state directory.
pub const FILE_NAME: &str = "openclaw.json";

/// Why the configuration could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OpenClawConfigError {
    /// The existing file is not a JSON object (e.g. JSON5 with comments).
    #[error("{path} is not a JSON object ({detail}); fix it or remove it to let sandgate write it")]
    NotJson {
        /// The file.
        path: PathBuf,
        /// The parse error.
        detail: String,
    },
    /// Reading or writing failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// `models.providers.sandgate`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ProviderEntry<'a> {
    base_url: &'static str,
    api: &'static str,
    api_key: &'static str,
    models: Vec<ModelEntry<'a>>,
}

#[derive(Debug, Serialize)]
struct ModelEntry<'a> {
    id: &'a str,
    name: &'a str,
}

/// `(baseUrl, api)` for a route on `provider`.
pub fn endpoint_for(provider: ProviderKind) -> (&'static str, &'static str) {
    if provider.profile().native_api == NativeApi::AnthropicMessages {
        ("https://inference.local", "anthropic-messages")
    } else {
        ("https://inference.local/v1", "openai-completions")
    }
}

/// The child object `key` of `obj`, made an object if it is missing or not one.
fn child<'a>(obj: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = obj
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(map) => map,
        _ => unreachable!("just made an object"),
    }
}

/// Writes the route into `<openclaw_dir>/openclaw.json`; returns the file's path.
pub fn write(
    openclaw_dir: &Path,
    provider: ProviderKind,
    model: &str,
) -> Result<PathBuf, OpenClawConfigError> {
    let path = openclaw_dir.join(FILE_NAME);
    let io = |source| OpenClawConfigError::Io {
        path: path.clone(),
        source,
    };
    let mut root: Map<String, Value> = match std::fs::read(&path) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Map::new(),
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| OpenClawConfigError::NotJson {
            path: path.clone(),
            detail: e.to_string(),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
        Err(e) => return Err(io(e)),
    };
    let (base_url, api) = endpoint_for(provider);
    let entry = ProviderEntry {
        base_url,
        api,
        api_key: "unused",
        models: vec![ModelEntry {
            id: model,
            name: model,
        }],
    };
    let entry = serde_json::to_value(&entry).map_err(|e| io(std::io::Error::other(e)))?;
    let providers = child(child(&mut root, "models"), "providers");
    providers.insert(PROVIDER_KEY.to_string(), entry);
    // OpenClaw's own gateway refuses a configuration without `gateway.mode` (it reads it as
    // clobbered); the user's value, if any, is kept.
    child(&mut root, "gateway")
        .entry("mode")
        .or_insert_with(|| Value::String("local".into()));
    let agent_model = child(child(child(&mut root, "agents"), "defaults"), "model");
    agent_model.insert(
        "primary".to_string(),
        Value::String(format!("{PROVIDER_KEY}/{model}")),
    );
    let mut text = serde_json::to_vec_pretty(&Value::Object(root))
        .map_err(|e| io(std::io::Error::other(e)))?;
    text.push(b'\n');
    std::fs::create_dir_all(openclaw_dir).map_err(io)?;
    let tmp = openclaw_dir.join(format!(".{FILE_NAME}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, &text).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })?;
    Ok(path)
}

/// [`write`] for a sandbox of the daemon (after `create` and `SetRoute`): a failure is
/// logged, not fatal — the sandbox and its route work without OpenClaw's file.
pub fn write_for_sandbox(openclaw_dir: &Path, sandbox: &str, provider: ProviderKind, model: &str) {
    match write(openclaw_dir, provider, model) {
        Ok(path) => {
            tracing::info!(%sandbox, path = %path.display(), "OpenClaw configuration written")
        }
        Err(e) => tracing::warn!(%sandbox, error = %e, "OpenClaw configuration not written"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(dir: &Path) -> Value {
        serde_json::from_slice(&std::fs::read(dir.join(FILE_NAME)).unwrap()).unwrap()
    }

    #[test]
    fn writes_openai_completions_by_default_and_anthropic_messages_for_anthropic() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), ProviderKind::OllamaLocal, "qwen3:8b").unwrap();
        let v = read(dir.path());
        assert_eq!(
            v["models"]["providers"]["sandgate"],
            json!({"baseUrl": "https://inference.local/v1", "api": "openai-completions",
                   "apiKey": "unused", "models": [{"id": "qwen3:8b", "name": "qwen3:8b"}]})
        );
        assert_eq!(
            v["agents"]["defaults"]["model"]["primary"],
            "sandgate/qwen3:8b"
        );
        assert_eq!(v["gateway"]["mode"], "local");
        write(dir.path(), ProviderKind::AnthropicProd, "claude-x").unwrap();
        let v = read(dir.path());
        assert_eq!(
            v["models"]["providers"]["sandgate"]["baseUrl"],
            "https://inference.local"
        );
        assert_eq!(
            v["models"]["providers"]["sandgate"]["api"],
            "anthropic-messages"
        );
        assert_eq!(
            v["agents"]["defaults"]["model"]["primary"],
            "sandgate/claude-x"
        );
    }

    #[test]
    fn keeps_the_users_other_keys_and_refuses_non_json() {
        let dir = tempfile::tempdir().unwrap();
        let mine = json!({"gateway": {"mode": "remote", "port": 19001},
            "models": {"providers": {"mine": {"baseUrl": "http://x"}}},
            "agents": {"defaults": {"workspace": "/w", "model": {"fallbacks": ["mine/a"]}}}});
        std::fs::write(dir.path().join(FILE_NAME), mine.to_string()).unwrap();
        write(dir.path(), ProviderKind::GeminiApi, "gemini-2.5-flash").unwrap();
        let v = read(dir.path());
        assert_eq!(v["gateway"], json!({"mode": "remote", "port": 19001}));
        assert_eq!(v["models"]["providers"]["mine"]["baseUrl"], "http://x");
        assert_eq!(v["agents"]["defaults"]["workspace"], "/w");
        assert_eq!(
            v["agents"]["defaults"]["model"]["fallbacks"],
            json!(["mine/a"])
        );
        assert_eq!(
            v["agents"]["defaults"]["model"]["primary"],
            "sandgate/gemini-2.5-flash"
        );
        let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert!(!text.contains("secret") && text.contains("\"apiKey\": \"unused\""));

        std::fs::write(dir.path().join(FILE_NAME), "{ // json5\n}").unwrap();
        let err = write(dir.path(), ProviderKind::Mock, "m").unwrap_err();
        assert!(matches!(err, OpenClawConfigError::NotJson { .. }), "{err}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap(),
            "{ // json5\n}"
        );
    }
}
