//! The browser origin check of the handshake (reference §2.3 step 4): a WebSocket upgrade
//! that carries an `Origin` header must come from a loopback page, so that a web page the
//! host's user happens to visit cannot drive a sandbox's gateway. CLIs send no `Origin`.

use http::HeaderMap;

/// `reason` for an origin that is not loopback (as OpenClaw reports it).
pub const NOT_ALLOWED: &str = "origin not allowed";
/// `reason` for an `Origin` that is `null` or does not parse.
pub const INVALID: &str = "origin missing or invalid";

/// `Ok` when there is no `Origin` header or it is `http(s)://127.0.0.1`, `localhost` or
/// `[::1]` on any port; otherwise the reason for the refusal.
pub fn check(headers: &HeaderMap) -> Result<(), &'static str> {
    let Some(value) = headers.get(http::header::ORIGIN) else {
        return Ok(());
    };
    let origin = value.to_str().map_err(|_| INVALID)?;
    match loopback(origin) {
        Some(true) => Ok(()),
        Some(false) => Err(NOT_ALLOWED),
        None => Err(INVALID),
    }
}

/// `Some(is_loopback)` for a parseable `scheme://host[:port]`, `None` otherwise.
fn loopback(origin: &str) -> Option<bool> {
    let (scheme, rest) = origin.trim().split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() || authority.contains(['/', '@', '?', '#']) {
        return None;
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        port_ok(after)?;
        return Some(host == "::1");
    } else {
        match authority.split_once(':') {
            Some((host, port)) => {
                port_ok(&format!(":{port}"))?;
                host
            }
            None => authority,
        }
    };
    Some(host == "127.0.0.1" || host.eq_ignore_ascii_case("localhost"))
}

/// `Some(())` for an empty suffix or `:<digits>`.
fn port_ok(after_host: &str) -> Option<()> {
    if after_host.is_empty() {
        return Some(());
    }
    let port = after_host.strip_prefix(':')?;
    (!port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit())).then_some(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn with(origin: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::ORIGIN, origin.parse().unwrap());
        h
    }

    #[test]
    fn no_origin_and_loopback_origins_pass() {
        assert_eq!(check(&HeaderMap::new()), Ok(()));
        for o in [
            "http://127.0.0.1:18789",
            "https://127.0.0.1:1",
            "http://localhost:3000",
            "HTTP://LOCALHOST",
            "http://[::1]:8080",
            "https://[::1]",
            "http://127.0.0.1",
        ] {
            assert_eq!(check(&with(o)), Ok(()), "{o}");
        }
    }

    #[test]
    fn other_origins_are_refused() {
        for o in [
            "http://evil.example",
            "https://evil.example:443",
            "http://127.0.0.1.evil.example",
            "http://localhost.evil.example:80",
            "http://[::2]:80",
            "http://10.0.0.1:18789",
        ] {
            assert_eq!(check(&with(o)), Err(NOT_ALLOWED), "{o}");
        }
        for o in [
            "null",
            "file://",
            "ws://127.0.0.1:1",
            "http://127.0.0.1:x",
            "http://user@127.0.0.1",
            "http://127.0.0.1/path",
        ] {
            assert_eq!(check(&with(o)), Err(INVALID), "{o}");
        }
    }
}
