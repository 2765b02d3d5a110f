//! The gateway's own tables in `<state>/sandgate.db`: sandboxes (with their routes and
//! tokens) and per-session agent history. Pairing state lives in the same file, in the tables
//! of `sandgate-pairing`. The file is kept at mode 0600 because it holds provider credentials
//! and sandbox tokens.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};
use sandgate_pairing::SandboxPolicy;
use sandgate_providers::ProviderKind;
use serde::{Deserialize, Serialize};

/// Errors from the registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// SQLite failed.
    #[error("state database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// The blocking task panicked or was cancelled.
    #[error("state database task failed: {0}")]
    Join(String),
    /// A stored JSON column did not parse.
    #[error("state database holds a corrupt record: {0}")]
    Corrupt(String),
}

/// One sandbox as stored (one JSON column), typed: provider and scope policy are parsed once,
/// when the row is read. `token` and `credential` are secrets: `Debug` redacts them.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SandboxRecord {
    /// Sandbox name (validated by the caller).
    pub name: String,
    /// The loopback port of its listener.
    pub port: u16,
    /// The sandbox's shared gateway token.
    pub token: String,
    /// Provider (stored as its id, `ollama-local`, …).
    pub provider: ProviderKind,
    /// Model the route forces.
    pub model: String,
    /// Upstream endpoint.
    pub endpoint: String,
    /// Provider credential, read from the environment at onboarding.
    pub credential: Option<String>,
    /// The environment variable the credential came from (for status output).
    pub credential_env: Option<String>,
    /// Egress presets (by name) enforced by the sandbox's proxy.
    pub network_policies: Vec<String>,
    /// Explicit egress host rules (`HOST:PORT`, `*.suffix:PORT`).
    #[serde(default)]
    pub egress_hosts: Vec<String>,
    /// Scope ceiling granted without a human to local clients with the sandbox token, and
    /// the mode beyond it (stored flat, as `ceiling: [scope…]` and `mode:
    /// "grant-within-ceiling" | "strict"`).
    #[serde(flatten)]
    pub policy: SandboxPolicy,
    /// Creation time.
    pub created_at_ms: u64,
}

impl std::fmt::Debug for SandboxRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxRecord")
            .field("name", &self.name)
            .field("port", &self.port)
            .field("provider", &self.provider)
            .field("model", &self.model)
            .field("endpoint", &self.endpoint)
            .field("token", &"<redacted>")
            .field(
                "credential",
                &self.credential.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// One stored chat message of an agent session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryMessage {
    /// `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

/// Handle on the gateway tables. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("path", &self.path)
            .finish()
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS gw_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS gw_sandboxes (
    name TEXT PRIMARY KEY,
    port INTEGER NOT NULL UNIQUE,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS gw_history (
    sandbox TEXT NOT NULL,
    session_key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    PRIMARY KEY (sandbox, session_key, seq)
);
INSERT OR IGNORE INTO gw_meta (key, value) VALUES ('schema_version', '1');
";

impl Registry {
    /// Opens (creating if needed) the registry tables in `path`, WAL mode, file mode 0600.
    pub fn open(path: &Path) -> Result<Registry, RegistryError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        Ok(Registry {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_path_buf(),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, RegistryError> + Send + 'static,
    ) -> Result<T, RegistryError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| RegistryError::Join("registry lock poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| RegistryError::Join(e.to_string()))?
    }

    /// The persistent gateway id, created on first use.
    pub async fn gateway_id(&self) -> Result<String, RegistryError> {
        self.run(|c| {
            let tx = c.transaction()?;
            let id: Option<String> = tx
                .query_row(
                    "SELECT value FROM gw_meta WHERE key = 'gateway_id'",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            let id = match id {
                Some(id) => id,
                None => {
                    let id = format!("gw-{}", uuid::Uuid::new_v4().simple());
                    tx.execute(
                        "INSERT INTO gw_meta (key, value) VALUES ('gateway_id', ?1)",
                        params![id],
                    )?;
                    id
                }
            };
            tx.commit()?;
            Ok(id)
        })
        .await
    }

    /// All sandboxes, by name.
    pub async fn sandboxes(&self) -> Result<Vec<SandboxRecord>, RegistryError> {
        self.run(|c| {
            let mut stmt = c.prepare("SELECT record FROM gw_sandboxes ORDER BY name")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for row in rows {
                let text = row?;
                out.push(
                    serde_json::from_str(&text)
                        .map_err(|e| RegistryError::Corrupt(e.to_string()))?,
                );
            }
            Ok(out)
        })
        .await
    }

    /// Inserts a new sandbox; fails if the name or port is taken.
    pub async fn insert(&self, rec: SandboxRecord) -> Result<(), RegistryError> {
        self.run(move |c| {
            let text =
                serde_json::to_string(&rec).map_err(|e| RegistryError::Corrupt(e.to_string()))?;
            c.execute(
                "INSERT INTO gw_sandboxes (name, port, record) VALUES (?1, ?2, ?3)",
                params![rec.name, rec.port, text],
            )?;
            Ok(())
        })
        .await
    }

    /// Replaces a sandbox's record (same name).
    pub async fn update(&self, rec: SandboxRecord) -> Result<(), RegistryError> {
        self.run(move |c| {
            let text =
                serde_json::to_string(&rec).map_err(|e| RegistryError::Corrupt(e.to_string()))?;
            c.execute(
                "UPDATE gw_sandboxes SET port = ?2, record = ?3 WHERE name = ?1",
                params![rec.name, rec.port, text],
            )?;
            Ok(())
        })
        .await
    }

    /// Deletes a sandbox and its history in one transaction.
    pub async fn delete(&self, name: &str) -> Result<(), RegistryError> {
        let name = name.to_owned();
        self.run(move |c| {
            let tx = c.transaction()?;
            tx.execute("DELETE FROM gw_sandboxes WHERE name = ?1", params![name])?;
            tx.execute("DELETE FROM gw_history WHERE sandbox = ?1", params![name])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// The last `limit` messages of a session, oldest first.
    pub async fn history(
        &self,
        sandbox: &str,
        session_key: &str,
        limit: usize,
    ) -> Result<Vec<HistoryMessage>, RegistryError> {
        let (sandbox, key) = (sandbox.to_owned(), session_key.to_owned());
        self.run(move |c| {
            let mut stmt = c.prepare(
                "SELECT role, content FROM (SELECT seq, role, content FROM gw_history WHERE sandbox = ?1 AND session_key = ?2 ORDER BY seq DESC LIMIT ?3) ORDER BY seq ASC",
            )?;
            let rows = stmt.query_map(params![sandbox, key, limit as i64], |r| {
                Ok(HistoryMessage { role: r.get(0)?, content: r.get(1)? })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// Appends one exchange (user message and assistant reply) to a session atomically.
    pub async fn append_exchange(
        &self,
        sandbox: &str,
        session_key: &str,
        user: &str,
        assistant: &str,
        ts_ms: u64,
    ) -> Result<(), RegistryError> {
        let (sandbox, key, user, assistant) = (
            sandbox.to_owned(),
            session_key.to_owned(),
            user.to_owned(),
            assistant.to_owned(),
        );
        self.run(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let next: i64 = tx.query_row(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM gw_history WHERE sandbox = ?1 AND session_key = ?2",
                params![sandbox, key],
                |r| r.get(0),
            )?;
            let ts = ts_ms as i64;
            tx.execute("INSERT INTO gw_history VALUES (?1, ?2, ?3, 'user', ?4, ?5)", params![sandbox, key, next, user, ts])?;
            tx.execute("INSERT INTO gw_history VALUES (?1, ?2, ?3, 'assistant', ?4, ?5)", params![sandbox, key, next + 1, assistant, ts])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Session keys of a sandbox with their message counts (for `sessions.list`).
    pub async fn sessions(&self, sandbox: &str) -> Result<Vec<(String, u64, u64)>, RegistryError> {
        let sandbox = sandbox.to_owned();
        self.run(move |c| {
            let mut stmt = c.prepare(
                "SELECT session_key, COUNT(*), MAX(ts_ms) FROM gw_history WHERE sandbox = ?1 GROUP BY session_key ORDER BY MAX(ts_ms) DESC",
            )?;
            let rows = stmt.query_map(params![sandbox], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use sandgate_core::Scope;
    use sandgate_pairing::PolicyMode;

    use super::*;

    /// A row as the registry stored it before provider and policy were typed (strings).
    const OLD_ROW: &str = r#"{"name":"old","port":18790,"token":"tok","provider":"gemini-api","model":"m","endpoint":"https://e","credential":"sk","credential_env":"GEMINI_API_KEY","network_policies":["pypi"],"egress_hosts":["api.x.com:443"],"ceiling":["operator.read","operator.write"],"mode":"strict","created_at_ms":7}"#;

    #[tokio::test]
    async fn an_old_format_record_loads_typed_and_is_stored_in_the_same_shape() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::open(&dir.path().join("sandgate.db")).unwrap();
        let conn = Connection::open(dir.path().join("sandgate.db")).unwrap();
        conn.execute(
            "INSERT INTO gw_sandboxes (name, port, record) VALUES ('old', 18790, ?1)",
            params![OLD_ROW],
        )
        .unwrap();
        let recs = reg.sandboxes().await.unwrap();
        let rec = recs.first().expect("the old row loads");
        assert_eq!(rec.provider, ProviderKind::GeminiApi);
        assert_eq!(rec.policy.mode, PolicyMode::Strict);
        assert_eq!(
            rec.policy.ceiling,
            [Scope::Read, Scope::Write].into_iter().collect()
        );
        assert_eq!(rec.network_policies, vec!["pypi".to_string()]);
        // Written back, the record has the old shape: an older gateway could still read it.
        let old: serde_json::Value = serde_json::from_str(OLD_ROW).unwrap();
        let new = serde_json::to_value(rec).unwrap();
        assert_eq!(new, old);
    }

    #[test]
    fn an_unknown_provider_is_a_corrupt_record() {
        let bad = OLD_ROW.replace("gemini-api", "bedrock");
        assert!(serde_json::from_str::<SandboxRecord>(&bad).is_err());
    }
}
