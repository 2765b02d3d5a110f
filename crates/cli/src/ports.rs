//! Sandbox port allocation (18789 upwards) and finding who holds a port.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, TcpListener};

use crate::error::{CliError, ErrorKind};

/// First port tried for a new sandbox (OpenClaw's dashboard port).
pub const FIRST_PORT: u16 = 18789;
/// How many ports are scanned before giving up.
pub const SCAN: u16 = 200;

/// Whether 127.0.0.1:`port` can be bound right now.
pub fn bindable(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// Picks the port for a new sandbox. `recorded` maps ports to the sandboxes that own them;
/// `is_free` says whether nothing else holds a port.
pub fn allocate(
    requested: Option<u16>,
    recorded: &BTreeMap<u16, String>,
    is_free: impl Fn(u16) -> bool,
) -> Result<u16, CliError> {
    if let Some(port) = requested {
        if port == 0 {
            return Err(CliError::new(
                ErrorKind::InvalidPort,
                "port 0 is not a valid sandbox port",
                "pass a port between 1024 and 65535 with --port, or omit --port",
            ));
        }
        if let Some(owner) = recorded.get(&port) {
            return Err(CliError::new(
                ErrorKind::PortInUse,
                format!("port {port} is already used by sandbox `{owner}`"),
                "omit --port to take the next free port, or pick another with --port",
            ));
        }
        if !is_free(port) {
            return Err(port_taken(port));
        }
        return Ok(port);
    }
    (FIRST_PORT..FIRST_PORT.saturating_add(SCAN))
        .find(|p| !recorded.contains_key(p) && is_free(*p))
        .ok_or_else(|| {
            CliError::new(
                ErrorKind::NoFreePort,
                format!(
                    "no free port between {FIRST_PORT} and {}",
                    FIRST_PORT.saturating_add(SCAN - 1)
                ),
                "free a port or pass one with --port",
            )
        })
}

/// The error for a port another program holds, naming that program when it can be found.
pub fn port_taken(port: u16) -> CliError {
    let who = owner(port)
        .map(|(pid, name)| format!("by `{name}` (pid {pid})"))
        .unwrap_or_else(|| "by another program".to_string());
    CliError::new(
        ErrorKind::PortInUse,
        format!("port {port} is already in use {who}"),
        "stop that program, pick another port with --port, or omit --port to take the next free one",
    )
}

/// Finds the process listening on TCP `port` (Linux, same user): (pid, command name).
pub fn owner(port: u16) -> Option<(u32, String)> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        inodes.extend(listening_inodes(&text, port));
    }
    if inodes.is_empty() {
        return None;
    }
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let target = target.to_string_lossy();
            if inodes.iter().any(|i| target == format!("socket:[{i}]")) {
                let name = crate::sys::process_name(pid).unwrap_or_else(|| "?".into());
                return Some((pid, name));
            }
        }
    }
    None
}

/// Socket inodes in a `/proc/net/tcp` table listening on `port`.
fn listening_inodes(table: &str, port: u16) -> Vec<String> {
    const LISTEN: &str = "0A";
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let local = cols.get(1)?;
            let (_, hex_port) = local.rsplit_once(':')?;
            let p = u16::from_str_radix(hex_port, 16).ok()?;
            (p == port && cols.get(3) == Some(&LISTEN))
                .then(|| cols.get(9).map(|s| s.to_string()))?
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_recorded_and_busy_ports() {
        let mut rec = BTreeMap::new();
        rec.insert(FIRST_PORT, "alpha".to_string());
        let p = allocate(None, &rec, |p| p != FIRST_PORT + 1);
        assert_eq!(p, Ok(FIRST_PORT + 2));
        assert_eq!(allocate(None, &BTreeMap::new(), |_| true), Ok(FIRST_PORT));
    }

    #[test]
    fn requested_port_conflicts_name_the_holder() {
        let mut rec = BTreeMap::new();
        rec.insert(20000, "alpha".to_string());
        let e = allocate(Some(20000), &rec, |_| true)
            .err()
            .map(|e| e.message);
        assert_eq!(
            e.as_deref(),
            Some("port 20000 is already used by sandbox `alpha`")
        );
        assert_eq!(allocate(Some(20001), &rec, |_| true), Ok(20001));
    }

    #[test]
    fn finds_our_own_listener() {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0));
        let Ok(l) = l else { return };
        let port = l.local_addr().map(|a| a.port()).unwrap_or(0);
        assert!(!bindable(port));
        let e = allocate(Some(port), &BTreeMap::new(), bindable).err();
        let msg = e.map(|e| e.message).unwrap_or_default();
        assert!(
            msg.contains(&format!("port {port} is already in use")),
            "{msg}"
        );
        if let Some((pid, _)) = owner(port) {
            assert_eq!(pid, std::process::id());
        }
    }

    #[test]
    fn parses_proc_net_tcp() {
        let t = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:4965 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 12345 1 0000000000000000 100 0 0 10 0\n";
        assert_eq!(listening_inodes(t, 0x4965), vec!["12345".to_string()]);
        assert!(listening_inodes(t, 80).is_empty());
    }
}
