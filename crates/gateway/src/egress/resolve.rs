//! Name resolution for tunnels, done by the daemon (never by the sandbox), followed by the
//! address guard. A test-only override table maps `host:port` to a fixed address so tests can
//! point an allowed public name at a local server; it is test equipment, logged loudly.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::addr::{self, Internal};
use super::target::{Host, Target};

/// The environment variable the daemon reads the override table from:
/// `name:port=ip:port[,name:port=ip:port…]`. Test equipment only.
pub const OVERRIDE_ENV: &str = "SANDGATE_TEST_RESOLVE";

/// Why a tunnel target has no usable address.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// DNS failed.
    #[error("cannot resolve {target}: {source}")]
    Lookup {
        /// The target.
        target: String,
        /// The resolver's error.
        source: std::io::Error,
    },
    /// Every address is internal and the rule does not name it.
    #[error(
        "{target} resolves to {ip}, {class}; only `local-inference` or an explicit IP rule (`policy add --host IP:PORT`) opens internal addresses"
    )]
    Internal {
        /// The target.
        target: String,
        /// The first refused address.
        ip: std::net::IpAddr,
        /// Its class.
        class: Internal,
    },
}

/// Resolves targets, honouring the test override table.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    overrides: HashMap<(String, u16), SocketAddr>,
}

impl Resolver {
    /// A resolver with a test override table (empty for production).
    pub fn with_overrides(overrides: HashMap<(String, u16), SocketAddr>) -> Self {
        Resolver { overrides }
    }

    /// Parses [`OVERRIDE_ENV`]'s format. Bad entries are errors, not skipped.
    pub fn parse_overrides(spec: &str) -> Result<HashMap<(String, u16), SocketAddr>, String> {
        let mut map = HashMap::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (from, to) = entry
                .split_once('=')
                .ok_or_else(|| format!("`{entry}`: expected name:port=ip:port"))?;
            let target = Target::parse(from, None).map_err(|e| format!("`{entry}`: {e}"))?;
            let Host::Name(name) = target.host else {
                return Err(format!("`{entry}`: the left side must be a DNS name"));
            };
            let addr: SocketAddr = to.trim().parse().map_err(|e| format!("`{entry}`: {e}"))?;
            map.insert((name, target.port), addr);
        }
        Ok(map)
    }

    /// Whether any override is set (the daemon logs a warning at start when so).
    pub fn has_overrides(&self) -> bool {
        !self.overrides.is_empty()
    }

    /// Addresses for `target` that the guard lets through for a rule that does (or does not)
    /// trust internal addresses. Overridden names skip the guard: the override is the test's
    /// explicit statement of where the name lives.
    pub async fn vetted(
        &self,
        target: &Target,
        trusts_internal: bool,
    ) -> Result<Vec<SocketAddr>, ResolveError> {
        let shown = target.to_string();
        let addrs: Vec<SocketAddr> = match &target.host {
            Host::Ip(ip) => vec![SocketAddr::new(*ip, target.port)],
            Host::Name(name) => {
                if let Some(a) = self.overrides.get(&(name.clone(), target.port)) {
                    return Ok(vec![*a]);
                }
                tokio::net::lookup_host((name.as_str(), target.port))
                    .await
                    .map_err(|source| ResolveError::Lookup {
                        target: shown.clone(),
                        source,
                    })?
                    .collect()
            }
        };
        if trusts_internal {
            return Ok(addrs);
        }
        let mut refused = None;
        let ok: Vec<SocketAddr> = addrs
            .into_iter()
            .filter(|a| match addr::internal(a.ip()) {
                Some(class) => {
                    refused.get_or_insert((a.ip(), class));
                    false
                }
                None => true,
            })
            .collect();
        match (ok.is_empty(), refused) {
            (true, Some((ip, class))) => Err(ResolveError::Internal {
                target: shown,
                ip,
                class,
            }),
            _ => Ok(ok),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(s: &str) -> Target {
        Target::parse(s, None).unwrap_or(Target {
            host: Host::Name("invalid".into()),
            port: 1,
        })
    }

    #[test]
    fn override_table_parses_and_refuses_garbage() {
        let m = Resolver::parse_overrides(
            "registry.npmjs.org:443=127.0.0.1:9443, pypi.org:443=[::1]:9444",
        );
        assert_eq!(m.map(|m| m.len()), Ok(2));
        assert!(Resolver::parse_overrides("registry.npmjs.org=127.0.0.1:1").is_err());
        assert!(Resolver::parse_overrides("1.2.3.4:443=127.0.0.1:1").is_err());
        assert!(Resolver::parse_overrides("a.b:443=nowhere").is_err());
    }

    #[tokio::test]
    async fn literals_are_guarded_and_overrides_are_not() {
        let r = Resolver::default();
        for t in [
            "127.0.0.1:443",
            "[::1]:443",
            "169.254.169.254:80",
            "[::ffff:10.0.0.1]:443",
        ] {
            assert!(
                matches!(
                    r.vetted(&target(t), false).await,
                    Err(ResolveError::Internal { .. })
                ),
                "{t}"
            );
        }
        assert!(r.vetted(&target("127.0.0.1:443"), true).await.is_ok());
        assert!(r.vetted(&target("203.0.113.9:443"), false).await.is_ok());
        // `localhost` resolves through the system resolver to loopback: refused.
        assert!(r.vetted(&target("localhost:443"), false).await.is_err());
        let mut m = HashMap::new();
        m.insert(
            ("registry.npmjs.org".to_string(), 443),
            SocketAddr::from(([127, 0, 0, 1], 9)),
        );
        let r = Resolver::with_overrides(m);
        let got = r.vetted(&target("registry.npmjs.org:443"), false).await;
        assert_eq!(got.ok(), Some(vec![SocketAddr::from(([127, 0, 0, 1], 9))]));
    }
}
