//! A sandbox's egress policy and the one function that decides a target against it.
//! Pure: no I/O, no clock. Resolution and the address guard come after an `Allow`.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::preset::{Preset, UnknownPreset};
use super::target::{Host, HostPattern, Target, TargetError};
use crate::ca::INFERENCE_HOST;

/// An explicit `policy add --host HOST[:PORT]` rule (port 443 when omitted).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HostRule {
    /// The host or `*.suffix`.
    pub pattern: HostPattern,
    /// The port.
    pub port: u16,
}

impl HostRule {
    fn matches(&self, t: &Target) -> bool {
        self.port == t.port && self.pattern.matches(&t.host)
    }
}

impl FromStr for HostRule {
    type Err = TargetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (host, port) = match s.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') || h.ends_with(']') => (h, Some(p)),
            _ => (s, None),
        };
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| TargetError::Port(s.to_owned()))?,
            None => 443,
        };
        Ok(HostRule {
            pattern: host.parse()?,
            port,
        })
    }
}

impl TryFrom<String> for HostRule {
    type Error = TargetError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<HostRule> for String {
    fn from(r: HostRule) -> String {
        r.to_string()
    }
}

impl fmt::Display for HostRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.pattern, self.port)
    }
}

/// What a sandbox may reach besides `inference.local:443`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressPolicy {
    /// Presets from the table in [`super::preset`].
    pub presets: BTreeSet<Preset>,
    /// Explicit host rules.
    pub hosts: BTreeSet<HostRule>,
}

/// The rule that let a connection through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// A preset's static host.
    Preset(Preset),
    /// An explicit host rule.
    Host(HostRule),
    /// `local-inference`: the sandbox's own provider endpoint.
    LocalInference,
}

impl Rule {
    /// Whether the rule names the destination itself, so internal addresses are acceptable:
    /// the sandbox's local provider, or an explicit rule for an IP literal.
    pub fn trusts_internal(&self) -> bool {
        match self {
            Rule::LocalInference => true,
            Rule::Host(h) => matches!(h.pattern, HostPattern::Exact(Host::Ip(_))),
            Rule::Preset(_) => false,
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Preset(p) => write!(f, "preset:{p}"),
            Rule::Host(h) => write!(f, "host:{h}"),
            Rule::LocalInference => f.write_str("preset:local-inference"),
        }
    }
}

/// The verdict for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `inference.local:443`: terminated and served by the inference route.
    Inference,
    /// Tunnel it, after resolving and guarding the address.
    Allow(Rule),
    /// Refuse it; `suggest` is the preset that would open it, if any.
    Deny {
        /// The preset that would allow the target.
        suggest: Option<Preset>,
    },
}

impl EgressPolicy {
    /// A policy of presets only.
    pub fn with_presets(presets: impl IntoIterator<Item = Preset>) -> Self {
        EgressPolicy {
            presets: presets.into_iter().collect(),
            hosts: BTreeSet::new(),
        }
    }

    /// Parses stored or typed preset names and host rules.
    pub fn parse(presets: &[String], hosts: &[String]) -> Result<Self, PolicyParseError> {
        Ok(EgressPolicy {
            presets: presets
                .iter()
                .map(|p| p.parse())
                .collect::<Result<_, _>>()?,
            hosts: hosts.iter().map(|h| h.parse()).collect::<Result<_, _>>()?,
        })
    }

    /// Preset names, in table order.
    pub fn preset_names(&self) -> Vec<String> {
        self.presets.iter().map(|p| p.as_str().to_owned()).collect()
    }

    /// Host rules as `HOST:PORT` strings.
    pub fn host_strings(&self) -> Vec<String> {
        self.hosts.iter().map(ToString::to_string).collect()
    }

    /// Decides `target`. `local_endpoint` is the sandbox's provider endpoint when it is on a
    /// loopback or private address (what `local-inference` opens).
    pub fn decide(&self, target: &Target, local_endpoint: Option<&Target>) -> Verdict {
        if target.host.name() == Some(INFERENCE_HOST) {
            return if target.port == 443 {
                Verdict::Inference
            } else {
                Verdict::Deny { suggest: None }
            };
        }
        if self.presets.contains(&Preset::LocalInference) && local_endpoint == Some(target) {
            return Verdict::Allow(Rule::LocalInference);
        }
        if let Some(name) = target.host.name()
            && let Some(p) = self.presets.iter().find(|p| p.allows(name, target.port))
        {
            return Verdict::Allow(Rule::Preset(*p));
        }
        if let Some(h) = self.hosts.iter().find(|h| h.matches(target)) {
            return Verdict::Allow(Rule::Host(h.clone()));
        }
        let suggest = target
            .host
            .name()
            .and_then(|n| Preset::opening(n, target.port));
        Verdict::Deny { suggest }
    }
}

/// A stored or typed policy that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyParseError {
    /// Unknown preset.
    #[error(transparent)]
    Preset(#[from] UnknownPreset),
    /// Bad host rule.
    #[error("bad host rule: {0}")]
    Host(#[from] TargetError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Target {
        Target::parse(s, None).unwrap_or(Target {
            host: Host::Name("invalid".into()),
            port: 1,
        })
    }

    #[test]
    fn decisions() {
        let mut p = EgressPolicy::with_presets([Preset::Npm]);
        assert_eq!(
            p.decide(&t("inference.local:443"), None),
            Verdict::Inference
        );
        assert_eq!(
            p.decide(&t("inference.local:80"), None),
            Verdict::Deny { suggest: None }
        );
        assert_eq!(
            p.decide(&t("REGISTRY.npmjs.org.:443"), None),
            Verdict::Allow(Rule::Preset(Preset::Npm))
        );
        assert_eq!(
            p.decide(&t("pypi.org:443"), None),
            Verdict::Deny {
                suggest: Some(Preset::Pypi)
            }
        );
        assert_eq!(
            p.decide(&t("2130706433:443"), None),
            Verdict::Deny { suggest: None }
        );
        let local = t("127.0.0.1:11434");
        assert_eq!(
            p.decide(&local, Some(&local)),
            Verdict::Deny { suggest: None }
        );
        p.presets.insert(Preset::LocalInference);
        assert_eq!(
            p.decide(&local, Some(&local)),
            Verdict::Allow(Rule::LocalInference)
        );
        assert_eq!(
            p.decide(&t("127.0.0.1:22"), Some(&local)),
            Verdict::Deny { suggest: None }
        );
        let rule: HostRule = "*.example.com".parse().unwrap_or_else(|_| HostRule {
            pattern: HostPattern::Suffix("x.y".into()),
            port: 1,
        });
        assert_eq!(rule.to_string(), "*.example.com:443");
        p.hosts.insert(rule.clone());
        assert_eq!(
            p.decide(&t("api.example.com:443"), None),
            Verdict::Allow(Rule::Host(rule))
        );
        assert!(matches!(
            p.decide(&t("api.example.com:80"), None),
            Verdict::Deny { .. }
        ));
    }

    #[test]
    fn internal_trust() {
        assert!(Rule::LocalInference.trusts_internal());
        assert!(!Rule::Preset(Preset::Npm).trusts_internal());
        let ip: HostRule = "10.0.0.5:8000".parse().unwrap_or_else(|_| HostRule {
            pattern: HostPattern::Suffix("x.y".into()),
            port: 1,
        });
        assert!(Rule::Host(ip).trusts_internal());
        let name: HostRule = "models.lan:8000".parse().unwrap_or_else(|_| HostRule {
            pattern: HostPattern::Suffix("x.y".into()),
            port: 1,
        });
        assert!(!Rule::Host(name).trusts_internal());
    }

    #[test]
    fn parse_and_serde() {
        let p = EgressPolicy::parse(&["pypi".into(), "npm".into()], &["[::1]:8080".into()]);
        let Ok(p) = p else { panic!("{p:?}") };
        assert_eq!(p.preset_names(), ["npm", "pypi"]);
        assert_eq!(p.host_strings(), ["[::1]:8080"]);
        let json = serde_json::to_string(&p).unwrap_or_default();
        assert_eq!(json, r#"{"presets":["npm","pypi"],"hosts":["[::1]:8080"]}"#);
        assert!(EgressPolicy::parse(&["ftp".into()], &[]).is_err());
        assert!(EgressPolicy::parse(&[], &["a b".into()]).is_err());
    }
}
