//! The environment a sandbox process runs in (`connect`, `exec`), and the files that carry
//! a sandbox's description between the daemon and the CLI.

use std::path::{Path, PathBuf};

use sandgate_providers::ProviderKind;

use crate::admin::proto::SandboxView;
use crate::error::{CliError, CliResult, ErrorKind};
use crate::paths::{ENV_FILE, RECORD_FILE, StateDir, TOKEN_FILE, shell_quote, write_atomic};

/// Host variables a sandbox process keeps; everything else of the host's environment is
/// dropped (the sandbox's environment is built from this allowlist, never by removing names).
const HOST_ALLOWLIST: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "TERM",
    "COLORTERM",
    "LANG",
    "LANGUAGE",
    "TZ",
];

/// The variables that point clients replacing their trust roots at the combined bundle.
pub const CA_BUNDLE_VARS: &[&str] = &[
    "SSL_CERT_FILE",
    "CURL_CA_BUNDLE",
    "REQUESTS_CA_BUNDLE",
    "PIP_CERT",
    "npm_config_cafile",
    "GIT_SSL_CAINFO",
    "CARGO_HTTP_CAINFO",
];

/// Where system trust roots live on common distributions (the first that exists is used).
const SYSTEM_ROOTS: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// Writes `tls/ca-bundle.pem` = system roots + the gateway CA (`gateway_ca`). Without system
/// roots the bundle holds the gateway CA only, and tunnels to real hosts fail verification.
pub fn write_combined_ca_bundle(state: &StateDir, gateway_ca: &Path) -> CliResult<bool> {
    let ca = std::fs::read(gateway_ca).map_err(|e| CliError::io(gateway_ca.display(), &e))?;
    let roots = SYSTEM_ROOTS.iter().find_map(|p| std::fs::read(p).ok());
    let mut bundle = roots.clone().unwrap_or_default();
    if !bundle.is_empty() && !bundle.ends_with(b"\n") {
        bundle.push(b'\n');
    }
    bundle.extend_from_slice(&ca);
    let path = state.combined_ca_bundle();
    write_atomic(&path, &bundle, 0o644).map_err(|e| CliError::io(path.display(), &e))?;
    Ok(roots.is_some())
}

/// The host variables from [`HOST_ALLOWLIST`] (and `LC_*`) that are set.
pub fn host_allowlisted(host: impl Iterator<Item = (String, String)>) -> Vec<(String, String)> {
    host.filter(|(k, _)| HOST_ALLOWLIST.contains(&k.as_str()) || k.starts_with("LC_"))
        .collect()
}

/// Where a sandbox process finds its files: host paths for `--isolation none` and the env
/// file, the sandbox's own view otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvPaths {
    /// System roots + gateway CA.
    pub bundle: PathBuf,
    /// The gateway CA alone (`NODE_EXTRA_CA_CERTS`).
    pub gateway_ca: PathBuf,
    /// The sandbox's OpenClaw state directory.
    pub openclaw_dir: PathBuf,
    /// The state directory as the process sees it (`SANDGATE_STATE_DIR`).
    pub state_dir: PathBuf,
}

impl EnvPaths {
    /// The host's paths.
    pub fn host(state: &StateDir, view: &SandboxView) -> Self {
        EnvPaths {
            bundle: state.combined_ca_bundle(),
            gateway_ca: view.ca_bundle.clone(),
            openclaw_dir: state.sandbox_openclaw_dir(&view.name),
            state_dir: state.root().to_path_buf(),
        }
    }
}

/// The variables `connect` and `exec` set. Holds the sandbox token, never a provider key.
pub fn sandbox_env(paths: &EnvPaths, view: &SandboxView, token: &str) -> Vec<(String, String)> {
    let port = view.port;
    let proxy = format!("http://127.0.0.1:{port}");
    let gateway_ca = paths.gateway_ca.display().to_string();
    let bundle = paths.bundle.display().to_string();
    // Never `inference.local`: it must go through the proxy.
    let no_proxy = "127.0.0.1,localhost,::1".to_string();
    let mut vars: Vec<(String, String)> = vec![
        (
            "OPENCLAW_GATEWAY_URL".into(),
            format!("ws://127.0.0.1:{port}"),
        ),
        ("OPENCLAW_GATEWAY_PORT".into(), port.to_string()),
        ("OPENCLAW_GATEWAY_TOKEN".into(), token.to_string()),
    ];
    for k in ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"] {
        vars.push((k.into(), proxy.clone()));
    }
    vars.push(("NO_PROXY".into(), no_proxy.clone()));
    vars.push(("no_proxy".into(), no_proxy));
    // Node's fetch ignores HTTPS_PROXY without it (the OpenAI Node SDK included).
    vars.push(("NODE_USE_ENV_PROXY".into(), "1".into()));
    for k in CA_BUNDLE_VARS {
        vars.push(((*k).into(), bundle.clone()));
    }
    // Node adds these to its built-in roots.
    vars.push(("NODE_EXTRA_CA_CERTS".into(), gateway_ca));
    vars.push((
        "OPENCLAW_STATE_DIR".into(),
        paths.openclaw_dir.display().to_string(),
    ));
    vars.push(("SANDGATE_SANDBOX".into(), view.name.clone()));
    vars.push((
        "SANDGATE_STATE_DIR".into(),
        paths.state_dir.display().to_string(),
    ));
    vars
}

/// Provider credential variables (named so tests can check none reaches a sandbox).
pub fn credential_vars() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = ProviderKind::ALL
        .iter()
        .filter_map(|k| k.profile().credential_env)
        .collect();
    v.extend(["GOOGLE_API_KEY", "OPENROUTER_API_KEY"]);
    v
}

/// The env file (`export K='v'` lines).
pub fn env_file_contents(vars: &[(String, String)]) -> String {
    vars.iter()
        .map(|(k, v)| format!("export {k}={}\n", shell_quote(v)))
        .collect()
}

/// Writes `sandbox.json`, `gateway-token` (0600) and `env` (0600) into `dir`, the sandbox's
/// directory (which the gateway owns: the daemon writes through `Gateway::with_sandbox_dir`).
pub fn write_sandbox_files(
    dir: &Path,
    state: &StateDir,
    view: &SandboxView,
    token: &str,
) -> CliResult<()> {
    write_record(dir, view)?;
    let tok = dir.join(TOKEN_FILE);
    write_atomic(&tok, token.as_bytes(), 0o600).map_err(|e| CliError::io(tok.display(), &e))?;
    let envf = dir.join(ENV_FILE);
    let contents = env_file_contents(&sandbox_env(&EnvPaths::host(state, view), view, token));
    write_atomic(&envf, contents.as_bytes(), 0o600).map_err(|e| CliError::io(envf.display(), &e))
}

/// Writes `sandbox.json` only, into the sandbox's directory `dir`.
pub fn write_record(dir: &Path, view: &SandboxView) -> CliResult<()> {
    let path = dir.join(RECORD_FILE);
    let mut stored = view.clone();
    // Live state is the daemon's to report; on disk it would go stale when the gateway stops.
    stored.inference = None;
    stored.sandbox_running = false;
    stored.usage = None;
    let json = serde_json::to_vec_pretty(&stored).map_err(CliError::internal)?;
    write_atomic(&path, &json, 0o644).map_err(|e| CliError::io(path.display(), &e))
}

/// Reads `sandbox.json`, if the sandbox exists.
pub fn read_record(state: &StateDir, name: &str) -> Option<SandboxView> {
    let text = std::fs::read_to_string(state.sandbox_record(name)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Every sandbox recorded on disk (used when the gateway is down).
pub fn read_all_records(state: &StateDir) -> Vec<SandboxView> {
    let Ok(dir) = std::fs::read_dir(state.sandboxes_dir()) else {
        return Vec::new();
    };
    let mut v: Vec<SandboxView> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| read_record(state, n)))
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// Reads the sandbox token.
pub fn read_token(state: &StateDir, name: &str) -> Option<String> {
    read_trimmed(&state.sandbox_token(name))
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The error for a sandbox name nobody onboarded.
pub fn unknown_sandbox(state: &StateDir, name: &str) -> CliError {
    let known: Vec<String> = read_all_records(state)
        .into_iter()
        .map(|v| v.name)
        .collect();
    let list = if known.is_empty() {
        "no sandboxes are onboarded".to_string()
    } else {
        format!("sandboxes: {}", known.join(", "))
    };
    CliError::new(
        ErrorKind::UnknownSandbox,
        format!("no sandbox named `{name}` ({list})"),
        format!(
            "onboard it with `{}`, or see `{}`",
            state.cmd(&format!(
                "onboard --name {name} --provider mock --model mock-model"
            )),
            state.cmd("list")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn view() -> SandboxView {
        SandboxView {
            name: "alpha".into(),
            port: 18789,
            provider: ProviderKind::GeminiApi,
            model: "m".into(),
            endpoint: "e".into(),
            url: "ws://127.0.0.1:18789".into(),
            created_at_ms: 0,
            policies: vec![],
            egress_hosts: vec![],
            egress_denied: 0,
            isolation: None,
            sandbox_running: false,
            device_dir: PathBuf::from("/s/sandboxes/alpha"),
            ca_bundle: PathBuf::from("/s/tls/ca.pem"),
            verified: true,
            verify_error: None,
            inference: None,
            usage: None,
        }
    }

    #[test]
    fn env_has_the_contract_and_no_provider_key() {
        let s = StateDir::new(PathBuf::from("/s"));
        let env = sandbox_env(&EnvPaths::host(&s, &view()), &view(), "tok");
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("OPENCLAW_GATEWAY_URL"), Some("ws://127.0.0.1:18789"));
        assert_eq!(get("OPENCLAW_GATEWAY_TOKEN"), Some("tok"));
        assert_eq!(get("https_proxy"), Some("http://127.0.0.1:18789"));
        assert_eq!(get("NODE_EXTRA_CA_CERTS"), Some("/s/tls/ca.pem"));
        for k in CA_BUNDLE_VARS {
            assert_eq!(get(k), Some("/s/tls/ca-bundle.pem"), "{k}");
        }
        assert_eq!(get("HTTP_PROXY"), Some("http://127.0.0.1:18789"));
        assert_eq!(get("NODE_USE_ENV_PROXY"), Some("1"));
        assert_eq!(
            get("OPENCLAW_STATE_DIR"),
            Some("/s/sandboxes/alpha/openclaw")
        );
        assert_eq!(get("SANDGATE_SANDBOX"), Some("alpha"));
        for var in credential_vars() {
            assert!(get(var).is_none(), "{var}");
        }
        assert!(env_file_contents(&env).contains("export NO_PROXY=127.0.0.1,localhost,::1\n"));
        let host = [
            ("PATH", "/bin"),
            ("GEMINI_API_KEY", "k"),
            ("LC_ALL", "C"),
            ("CURL_CA_BUNDLE", "/x"),
        ];
        let kept = host_allowlisted(host.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        assert_eq!(kept.len(), 2, "{kept:?}");
    }

    #[test]
    fn records_round_trip() {
        let Ok(dir) = tempfile::tempdir() else { return };
        let s = StateDir::new(dir.path().to_path_buf());
        let sandbox_dir = s.sandbox_dir("alpha");
        assert!(std::fs::create_dir_all(&sandbox_dir).is_ok());
        assert!(write_sandbox_files(&sandbox_dir, &s, &view(), "tok").is_ok());
        assert_eq!(read_record(&s, "alpha"), Some(view()));
        assert_eq!(read_token(&s, "alpha").as_deref(), Some("tok"));
        assert_eq!(read_all_records(&s).len(), 1);
        let e = unknown_sandbox(&s, "beta");
        assert!(e.message.contains("sandboxes: alpha"), "{}", e.message);
    }
}
