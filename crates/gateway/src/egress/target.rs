//! Where a sandbox wants to go: the authority of a `CONNECT` or of an absolute-form request,
//! parsed once into a normalised host (a lowercase DNS name without trailing dot, or an IP
//! address, whatever spelling it came in) and a port.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a target did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// No port where one is required, or a port that is not 1–65535.
    #[error("`{0}` needs a port between 1 and 65535 (HOST:PORT)")]
    Port(String),
    /// Not a DNS name, IPv4 (in any inet_aton spelling) or bracketed IPv6 address.
    #[error("`{0}` is not a host name or IP address")]
    Host(String),
}

/// A normalised host.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Host {
    /// A DNS name: lowercase ASCII letters, digits, `-` and `.`, no trailing dot.
    Name(String),
    /// An IP address (IPv4-mapped IPv6 is kept as written; the address guard unwraps it).
    Ip(IpAddr),
}

impl Host {
    /// Parses a host as a CONNECT line or URL carries it (`[v6]` bracketed).
    pub fn parse(raw: &str) -> Result<Host, TargetError> {
        let bad = || TargetError::Host(raw.to_owned());
        if let Some(inner) = raw.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or_else(bad)?;
            return inner
                .parse::<Ipv6Addr>()
                .map(|ip| Host::Ip(IpAddr::V6(ip)))
                .map_err(|_| bad());
        }
        if let Ok(ip) = raw.parse::<Ipv6Addr>() {
            return Ok(Host::Ip(IpAddr::V6(ip)));
        }
        let name = raw.strip_suffix('.').unwrap_or(raw).to_ascii_lowercase();
        if name.is_empty() || name.len() > 253 {
            return Err(bad());
        }
        let labels: Vec<&str> = name.split('.').collect();
        let valid_label = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !labels.iter().all(valid_label) {
            return Err(bad());
        }
        // As browsers do (WHATWG URL): a name whose last label is numeric is an IPv4 address
        // in one of inet_aton's spellings (`2130706433`, `0x7f000001`, `0177.1`), or invalid.
        let last = labels.last().copied().unwrap_or_default();
        if looks_numeric(last) {
            return parse_inet_aton(&labels)
                .map(|ip| Host::Ip(IpAddr::V4(ip)))
                .ok_or_else(bad);
        }
        Ok(Host::Name(name))
    }

    /// The DNS name, if this host is one.
    pub fn name(&self) -> Option<&str> {
        match self {
            Host::Name(n) => Some(n),
            Host::Ip(_) => None,
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
        }
    }
}

fn looks_numeric(label: &str) -> bool {
    let l = label.strip_prefix("0x").unwrap_or(label);
    !label.is_empty()
        && (label.bytes().all(|b| b.is_ascii_digit())
            || (label.starts_with("0x") && l.bytes().all(|b| b.is_ascii_hexdigit())))
}

fn parse_part(p: &str) -> Option<u64> {
    if let Some(hex) = p.strip_prefix("0x") {
        return if hex.is_empty() {
            Some(0)
        } else {
            u64::from_str_radix(hex, 16).ok()
        };
    }
    if p.len() > 1 && p.starts_with('0') {
        return u64::from_str_radix(&p[1..], 8).ok();
    }
    p.parse().ok()
}

/// inet_aton: 1–4 parts, each decimal, octal (`0` prefix) or hex (`0x`); the last part fills
/// the remaining bytes.
fn parse_inet_aton(labels: &[&str]) -> Option<Ipv4Addr> {
    if labels.is_empty() || labels.len() > 4 {
        return None;
    }
    let parts: Vec<u64> = labels
        .iter()
        .map(|l| parse_part(l))
        .collect::<Option<_>>()?;
    let (head, last) = parts.split_at(parts.len() - 1);
    if head.iter().any(|&p| p > 255) {
        return None;
    }
    let last = *last.first()?;
    let room = 8 * (4 - head.len() as u32);
    if room < 64 && last >= (1u64 << room) {
        return None;
    }
    let mut v: u64 = 0;
    for (i, p) in head.iter().enumerate() {
        v |= p << (24 - 8 * i as u32);
    }
    Some(Ipv4Addr::from(u32::try_from(v | last).ok()?))
}

/// A host and port a sandbox asked for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target {
    /// The normalised host.
    pub host: Host,
    /// The port.
    pub port: u16,
}

impl Target {
    /// Parses `host:port` (or `host` with `default_port`), `[v6]:port` included.
    pub fn parse(raw: &str, default_port: Option<u16>) -> Result<Target, TargetError> {
        let raw = raw.trim();
        let (host, port) = match raw.rsplit_once(':') {
            // A bare IPv6 address has colons but no port.
            Some((h, p)) if !h.contains(':') || h.ends_with(']') => (h, Some(p)),
            _ => (raw, None),
        };
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| TargetError::Port(raw.to_owned()))?,
            None => default_port.ok_or_else(|| TargetError::Port(raw.to_owned()))?,
        };
        Ok(Target {
            host: Host::parse(host)?,
            port,
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// A host rule: an exact host, or `*.suffix` for any name below the suffix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum HostPattern {
    /// Exactly this host.
    Exact(Host),
    /// Any DNS name ending in `.<suffix>` (not the suffix itself).
    Suffix(String),
}

impl HostPattern {
    /// Whether a static pattern (from the preset table) matches a normalised name.
    pub fn static_matches(pattern: &str, name: &str) -> bool {
        match pattern.strip_prefix("*.") {
            Some(suffix) => {
                name.len() > suffix.len() + 1
                    && name.ends_with(suffix)
                    && name.as_bytes()[name.len() - suffix.len() - 1] == b'.'
            }
            None => pattern == name,
        }
    }

    /// Whether this pattern matches `host`.
    pub fn matches(&self, host: &Host) -> bool {
        match (self, host) {
            (HostPattern::Exact(h), _) => h == host,
            (HostPattern::Suffix(s), Host::Name(n)) => Self::static_matches(&format!("*.{s}"), n),
            (HostPattern::Suffix(_), Host::Ip(_)) => false,
        }
    }
}

impl FromStr for HostPattern {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix("*.") {
            Some(suffix) => match Host::parse(suffix)? {
                Host::Name(n) if n.contains('.') => Ok(HostPattern::Suffix(n)),
                _ => Err(TargetError::Host(s.to_owned())),
            },
            None => Ok(HostPattern::Exact(Host::parse(s)?)),
        }
    }
}

impl TryFrom<String> for HostPattern {
    type Error = TargetError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<HostPattern> for String {
    fn from(p: HostPattern) -> String {
        p.to_string()
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(h) => write!(f, "{h}"),
            HostPattern::Suffix(s) => write!(f, "*.{s}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Host {
        Host::Ip(s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
    }

    #[test]
    fn names_are_normalised() {
        assert_eq!(
            Host::parse("Registry.NPMJS.org."),
            Ok(Host::Name("registry.npmjs.org".into()))
        );
        for bad in [
            "",
            ".",
            "a..b",
            "-a.com",
            "a_b.com",
            "exa mple.com",
            "é.com",
            "1.2.3.4.5",
        ] {
            assert!(Host::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn odd_ipv4_spellings_are_addresses() {
        for (raw, want) in [
            ("127.0.0.1", "127.0.0.1"),
            ("2130706433", "127.0.0.1"),
            ("0x7f000001", "127.0.0.1"),
            ("0x7F000001", "127.0.0.1"),
            ("0177.0.0.1", "127.0.0.1"),
            ("127.1", "127.0.0.1"),
            ("169.254.43518", "169.254.169.254"),
            ("0", "0.0.0.0"),
        ] {
            assert_eq!(Host::parse(raw), Ok(ip(want)), "{raw}");
        }
        assert!(Host::parse("256.0.0.1").is_err());
        assert!(Host::parse("4294967296").is_err());
    }

    #[test]
    fn targets() {
        let t = Target::parse("[::1]:443", None);
        assert_eq!(t.map(|t| t.to_string()), Ok("[::1]:443".to_string()));
        assert_eq!(Target::parse("::1", Some(80)).map(|t| t.port), Ok(80));
        assert!(Target::parse("example.com", None).is_err());
        assert!(Target::parse("example.com:0", None).is_err());
        assert!(Target::parse("example.com:99999", None).is_err());
        assert_eq!(
            Target::parse("Example.COM.:8443", None).map(|t| t.to_string()),
            Ok("example.com:8443".to_string())
        );
    }

    #[test]
    fn patterns() {
        let p: HostPattern = "*.example.com"
            .parse()
            .unwrap_or(HostPattern::Suffix(String::new()));
        assert!(p.matches(&Host::Name("a.example.com".into())));
        assert!(!p.matches(&Host::Name("example.com".into())));
        assert!(!p.matches(&Host::Name("aexample.com".into())));
        assert!("*.com".parse::<HostPattern>().is_err());
        assert!("*.1.2.3.4".parse::<HostPattern>().is_err());
        let e: HostPattern = "10.0.0.5"
            .parse()
            .unwrap_or(HostPattern::Suffix(String::new()));
        assert!(e.matches(&ip("10.0.0.5")));
        assert_eq!(e.to_string(), "10.0.0.5");
    }
}
