//! SQLite store: one file, WAL, `busy_timeout`, embedded migrations tracked in `user_version`.
//!
//! Every [`Store::transact`] runs on `spawn_blocking` inside one `BEGIN IMMEDIATE` transaction
//! that re-reads the device's rows, runs the pure decision and writes its result, so concurrent
//! connects (from this or another process) serialise on the database write lock.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{Store, Transaction};
use crate::decision::DeviceChange;
use crate::error::{PairingError, StoreError};
use crate::records::{DeviceState, HistoryEntry, PairedDevice, PendingRequest};

/// Schema migrations; entry `i` moves `user_version` from `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE paired_devices (
    sandbox     TEXT NOT NULL,
    device_id   TEXT NOT NULL,
    record      TEXT NOT NULL,
    PRIMARY KEY (sandbox, device_id)
) WITHOUT ROWID;
CREATE TABLE pending_requests (
    sandbox     TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    device_id   TEXT NOT NULL,
    ts          INTEGER NOT NULL,
    record      TEXT NOT NULL,
    PRIMARY KEY (sandbox, request_id)
) WITHOUT ROWID;
CREATE INDEX pending_by_device ON pending_requests (sandbox, device_id);
CREATE TABLE request_history (
    sandbox     TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    device_id   TEXT NOT NULL,
    record      TEXT NOT NULL,
    PRIMARY KEY (sandbox, request_id)
) WITHOUT ROWID;
CREATE INDEX history_by_device ON request_history (sandbox, device_id);
"#];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// A [`Store`] in one SQLite file. Cheap to clone (shares one connection).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

fn blocking_err(e: tokio::task::JoinError) -> StoreError {
    StoreError(format!("store task failed: {e}"))
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and runs pending migrations.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let mut conn = Connection::open(&path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            path,
        })
    }

    /// Async form of [`SqliteStore::open`] (runs on the blocking pool).
    pub async fn open_async(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        tokio::task::spawn_blocking(move || SqliteStore::open(path))
            .await
            .map_err(blocking_err)?
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `PRAGMA integrity_check` and returns its first line (`ok` when healthy).
    pub async fn integrity_check(&self) -> Result<String, StoreError> {
        self.with_conn(|c| Ok(c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?))
            .await
    }

    /// The schema version recorded in the file.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        self.with_conn(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .await
    }

    async fn with_conn<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| StoreError("sqlite connection lock poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(blocking_err)?
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError(format!(
            "database schema version {version} is newer than this build ({SCHEMA_VERSION})"
        )));
    }
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(version).unwrap_or(0))
    {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

fn load(conn: &Connection, sandbox: &str, device_id: &str) -> Result<DeviceState, StoreError> {
    let paired: Option<String> = conn
        .prepare_cached("SELECT record FROM paired_devices WHERE sandbox = ?1 AND device_id = ?2")?
        .query_row(params![sandbox, device_id], |r| r.get(0))
        .optional()?;
    let paired = paired
        .map(|s| serde_json::from_str::<PairedDevice>(&s))
        .transpose()?;
    let mut pending = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT record FROM pending_requests WHERE sandbox = ?1 AND device_id = ?2 ORDER BY ts, request_id",
    )?;
    for row in stmt.query_map(params![sandbox, device_id], |r| r.get::<_, String>(0))? {
        let mut p: PendingRequest = serde_json::from_str(&row?)?;
        p.sandbox = sandbox.to_owned();
        pending.push(p);
    }
    let mut history = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT record FROM request_history WHERE sandbox = ?1 AND device_id = ?2",
    )?;
    for row in stmt.query_map(params![sandbox, device_id], |r| r.get::<_, String>(0))? {
        history.push(serde_json::from_str::<HistoryEntry>(&row?)?);
    }
    Ok(DeviceState {
        paired,
        pending,
        history: crate::history::History::from_entries(history),
    })
}

fn write(
    conn: &Connection,
    sandbox: &str,
    device_id: &str,
    old: &DeviceState,
    next: &DeviceState,
) -> Result<(), StoreError> {
    if old.paired != next.paired {
        match &next.paired {
            Some(rec) => {
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO paired_devices (sandbox, device_id, record) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![sandbox, device_id, serde_json::to_string(rec)?])?;
            }
            None => {
                conn.prepare_cached(
                    "DELETE FROM paired_devices WHERE sandbox = ?1 AND device_id = ?2",
                )?
                .execute(params![sandbox, device_id])?;
            }
        }
    }
    if old.pending != next.pending {
        conn.prepare_cached("DELETE FROM pending_requests WHERE sandbox = ?1 AND device_id = ?2")?
            .execute(params![sandbox, device_id])?;
        let mut ins = conn.prepare_cached(
            "INSERT INTO pending_requests (sandbox, request_id, device_id, ts, record) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for p in &next.pending {
            let ts = i64::try_from(p.ts).unwrap_or(i64::MAX);
            ins.execute(params![
                sandbox,
                p.request_id,
                device_id,
                ts,
                serde_json::to_string(p)?
            ])?;
        }
    }
    if old.history != next.history {
        conn.prepare_cached("DELETE FROM request_history WHERE sandbox = ?1 AND device_id = ?2")?
            .execute(params![sandbox, device_id])?;
        let mut ins = conn.prepare_cached(
            "INSERT OR REPLACE INTO request_history (sandbox, request_id, device_id, record) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for h in &next.history {
            ins.execute(params![
                sandbox,
                h.request_id,
                device_id,
                serde_json::to_string(h)?
            ])?;
        }
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn transact<T: Send + 'static>(
        &self,
        sandbox: &str,
        device_id: &str,
        f: Transaction<T>,
    ) -> Result<T, PairingError> {
        let conn = Arc::clone(&self.conn);
        let sandbox = sandbox.to_owned();
        let device_id = device_id.to_owned();
        tokio::task::spawn_blocking(move || -> Result<T, PairingError> {
            let mut guard = conn
                .lock()
                .map_err(|_| StoreError("sqlite connection lock poisoned".into()))?;
            let tx = guard
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(StoreError::from)?;
            let current = load(&tx, &sandbox, &device_id)?;
            let (value, change) = f(&current)?;
            if let DeviceChange::Replace(next) = change {
                write(&tx, &sandbox, &device_id, &current, &next)?;
            }
            tx.commit().map_err(StoreError::from)?;
            Ok(value)
        })
        .await
        .map_err(blocking_err)?
    }

    async fn load_device(&self, sandbox: &str, device_id: &str) -> Result<DeviceState, StoreError> {
        let (sandbox, device_id) = (sandbox.to_owned(), device_id.to_owned());
        self.with_conn(move |c| load(c, &sandbox, &device_id)).await
    }

    async fn find_request(
        &self,
        sandbox: &str,
        request_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let (sandbox, request_id) = (sandbox.to_owned(), request_id.to_owned());
        self.with_conn(move |c| {
            Ok(c.prepare_cached(
                "SELECT device_id FROM pending_requests WHERE sandbox = ?1 AND request_id = ?2
                 UNION ALL
                 SELECT device_id FROM request_history WHERE sandbox = ?1 AND request_id = ?2
                 LIMIT 1",
            )?
            .query_row(params![sandbox, request_id], |r| r.get(0))
            .optional()?)
        })
        .await
    }

    async fn load_sandbox(&self, sandbox: &str) -> Result<Vec<DeviceState>, StoreError> {
        let sandbox = sandbox.to_owned();
        self.with_conn(move |c| {
            let tx = c.transaction()?;
            let ids: Vec<String> = {
                let mut stmt = tx.prepare_cached(
                    "SELECT device_id FROM paired_devices WHERE sandbox = ?1
                     UNION SELECT device_id FROM pending_requests WHERE sandbox = ?1
                     ORDER BY 1",
                )?;
                let rows = stmt.query_map(params![sandbox], |r| r.get(0))?;
                rows.collect::<Result<_, _>>()?
            };
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                out.push(load(&tx, &sandbox, &id)?);
            }
            tx.commit()?;
            Ok(out)
        })
        .await
    }
}
