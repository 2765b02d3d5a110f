//! Crash recovery at open: completes what a SIGKILL (or power loss) interrupted so that every
//! sandbox is either whole or absent, in the database and on disk alike.
//!
//! The commit point of a create and of a destroy is the sandbox's row in `gw_sandboxes`:
//! - a row without a complete CLI device (killed between the insert and the end of
//!   `preapprove_cli_device`) is completed: the device is (re)paired and its files written;
//! - a `sandboxes/<name>` directory without a row (killed after the delete of a destroy, or a
//!   directory left by an interrupted create before the insert) is a destroy to finish: the
//!   name's pairing state is purged (so a later sandbox of the same name never inherits its
//!   devices or pending requests) and the directory removed.

use std::collections::BTreeSet;
use std::path::Path;

use sandgate_core::identity::DeviceIdentity;
use sandgate_pairing::Approver;

use super::{Gateway, GatewayError, io, valid_name};
use crate::registry::SandboxRecord;

/// Whether `dir` holds the CLI device of a finished create: a loadable `device.json` and a
/// `device-auth.json` naming the same device with an operator token.
pub(super) fn cli_device_complete(dir: &Path) -> bool {
    let Ok(identity) = DeviceIdentity::load(&dir.join("device.json")) else {
        return false;
    };
    let Ok(text) = std::fs::read_to_string(dir.join("device-auth.json")) else {
        return false;
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return false;
    };
    v.get("deviceId").and_then(|d| d.as_str()) == Some(identity.device_id().as_str())
        && v.pointer("/tokens/operator/token")
            .and_then(|t| t.as_str())
            .is_some_and(|t| !t.is_empty())
}

impl Gateway {
    /// Repairs interrupted creates and destroys; see the module docs. Called by `open` after
    /// every stored sandbox's listener started.
    pub(super) async fn recover(&self, stored: &[SandboxRecord]) -> Result<(), GatewayError> {
        for rec in stored {
            if !cli_device_complete(&self.device_dir(&rec.name)) {
                tracing::warn!(sandbox = %rec.name, "completing a create interrupted by a crash");
                self.preapprove_cli_device(rec).await?;
            }
        }
        let names: BTreeSet<&str> = stored.iter().map(|r| r.name.as_str()).collect();
        let root = self.opts.state_dir.join("sandboxes");
        let entries = std::fs::read_dir(&root).map_err(io(format!("read {}", root.display())))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !valid_name(&name) || names.contains(name.as_str()) || !entry.path().is_dir() {
                continue;
            }
            tracing::warn!(sandbox = %name, "finishing a destroy interrupted by a crash");
            self.purge_pairing(&name).await;
            std::fs::remove_dir_all(entry.path())
                .map_err(io(format!("remove {}", entry.path().display())))?;
        }
        Ok(())
    }

    /// Removes every device of a sandbox that no longer exists: paired ones and those with
    /// only pending requests (a strict-mode device is pending without being paired).
    pub(super) async fn purge_pairing(&self, name: &str) {
        let Ok(list) = self.shared.pairing.list(name).await else {
            return;
        };
        let devices: BTreeSet<String> = list
            .paired
            .into_iter()
            .map(|d| d.device_id)
            .chain(list.pending.into_iter().map(|p| p.device_id))
            .collect();
        for dev in devices {
            if let Err(e) = self
                .shared
                .pairing
                .remove_device(name, &dev, &Approver::HostAdmin)
                .await
            {
                tracing::warn!(sandbox = %name, device = %dev, error = %e, "cannot remove device");
            }
        }
    }
}
