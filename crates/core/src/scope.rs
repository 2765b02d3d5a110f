//! Operator scopes and the implication rules between them.
//!
//! Rules (OpenClaw `roleScopesAllow`): `operator.admin` satisfies every `operator.*` scope,
//! known or not; `operator.write` satisfies `operator.read`; nothing else implies anything.
//! Scopes of other roles (`node.*`) must match exactly. Unknown scope strings are kept as
//! [`Scope::Unknown`] and reported by [`ScopeSet::unknown`], never dropped.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::role::Role;

/// One scope, parsed once at the edge. Ordered and compared by its wire string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `operator.admin`: satisfies every operator scope.
    Admin,
    /// `operator.read`
    Read,
    /// `operator.write`: also satisfies `operator.read`.
    Write,
    /// `operator.approvals`: exec and plugin approvals.
    Approvals,
    /// `operator.pairing`: device pairing and token management.
    Pairing,
    /// `operator.talk.secrets`
    TalkSecrets,
    /// Any other string, kept verbatim so it can be reported and round-tripped.
    Unknown(String),
}

impl Scope {
    /// Every scope this crate knows, in wire-string order.
    pub const KNOWN: [Scope; 6] = [
        Scope::Admin,
        Scope::Approvals,
        Scope::Pairing,
        Scope::Read,
        Scope::TalkSecrets,
        Scope::Write,
    ];

    /// Parses a wire string. Never fails: unrecognised strings become [`Scope::Unknown`].
    pub fn parse(s: &str) -> Scope {
        match s {
            "operator.admin" => Scope::Admin,
            "operator.read" => Scope::Read,
            "operator.write" => Scope::Write,
            "operator.approvals" => Scope::Approvals,
            "operator.pairing" => Scope::Pairing,
            "operator.talk.secrets" => Scope::TalkSecrets,
            other => Scope::Unknown(other.to_owned()),
        }
    }

    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Scope::Admin => "operator.admin",
            Scope::Read => "operator.read",
            Scope::Write => "operator.write",
            Scope::Approvals => "operator.approvals",
            Scope::Pairing => "operator.pairing",
            Scope::TalkSecrets => "operator.talk.secrets",
            Scope::Unknown(s) => s,
        }
    }

    /// True when this scope was not recognised.
    pub fn is_unknown(&self) -> bool {
        matches!(self, Scope::Unknown(_))
    }

    /// True for `operator.*` scopes (known or unknown).
    pub fn is_operator(&self) -> bool {
        self.as_str().starts_with("operator.")
    }

    /// True when a scope belongs to `role` (`operator.*` for operator, `node.*` for node).
    pub fn belongs_to(&self, role: Role) -> bool {
        self.as_str().starts_with(role.as_str())
            && self.as_str()[role.as_str().len()..].starts_with('.')
    }

    /// Does holding `self` satisfy a requirement for `required`?
    pub fn satisfies(&self, required: &Scope) -> bool {
        if self == required {
            return true;
        }
        match self {
            Scope::Admin => required.is_operator(),
            Scope::Write => *required == Scope::Read,
            _ => false,
        }
    }
}

impl PartialOrd for Scope {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scope {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Scope {
    fn from(s: &str) -> Self {
        Scope::parse(s)
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Scope::parse(&s))
    }
}

/// A set of scopes, sorted by wire string. Serialises as a sorted JSON array of strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ScopeSet(BTreeSet<Scope>);

impl ScopeSet {
    /// The empty set: grants no permissions (only `health`).
    pub fn new() -> Self {
        ScopeSet(BTreeSet::new())
    }

    /// Number of distinct scopes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no scope is held.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds one scope; returns true if it was new.
    pub fn insert(&mut self, scope: Scope) -> bool {
        self.0.insert(scope)
    }

    /// True when `scope` is literally in the set (no implication).
    pub fn contains(&self, scope: &Scope) -> bool {
        self.0.contains(scope)
    }

    /// Iterates in wire-string order.
    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }

    /// Does this set satisfy one required scope, under the implication rules?
    pub fn satisfies(&self, required: &Scope) -> bool {
        self.0.iter().any(|held| held.satisfies(required))
    }

    /// Does this set satisfy every scope of `requested`? (An empty request is always allowed.)
    pub fn allows(&self, requested: &ScopeSet) -> bool {
        requested.iter().all(|r| self.satisfies(r))
    }

    /// The scopes of `requested` that this set does not satisfy.
    pub fn missing(&self, requested: &ScopeSet) -> ScopeSet {
        requested
            .iter()
            .filter(|r| !self.satisfies(r))
            .cloned()
            .collect()
    }

    /// The scopes of `requested` that this set satisfies.
    pub fn granted(&self, requested: &ScopeSet) -> ScopeSet {
        requested
            .iter()
            .filter(|r| self.satisfies(r))
            .cloned()
            .collect()
    }

    /// The scopes of `self` (a grant ceiling) that `requested` covers, literally or by
    /// implication, plus the literal matches: what a policy grants for a request. A request for
    /// `operator.admin` under a read/write/approvals ceiling yields all three.
    pub fn grantable_for(&self, requested: &ScopeSet) -> ScopeSet {
        self.iter()
            .filter(|c| requested.satisfies(c))
            .cloned()
            .collect::<ScopeSet>()
            .union(&self.granted(requested))
    }

    /// Union of two sets.
    pub fn union(&self, other: &ScopeSet) -> ScopeSet {
        self.0.union(&other.0).cloned().collect()
    }

    /// The normal form used for storage and tokens: adds `read`+`write` when `admin` is held,
    /// and `read` when `write` is held (OpenClaw `normalizeDeviceAuthScopes`).
    pub fn normalized(&self) -> ScopeSet {
        let mut out = self.clone();
        if out.contains(&Scope::Admin) {
            out.insert(Scope::Read);
            out.insert(Scope::Write);
        }
        if out.contains(&Scope::Write) {
            out.insert(Scope::Read);
        }
        out
    }

    /// The unrecognised scope strings in this set, so callers can report them.
    pub fn unknown(&self) -> Vec<&str> {
        self.0
            .iter()
            .filter(|s| s.is_unknown())
            .map(Scope::as_str)
            .collect()
    }

    /// The scopes as wire strings, sorted.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|s| s.as_str().to_owned()).collect()
    }

    /// Comma-joined, sorted (for logs and audit lines).
    pub fn to_csv(&self) -> String {
        self.to_strings().join(",")
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        ScopeSet(iter.into_iter().collect())
    }
}

impl<'a> FromIterator<&'a Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = &'a Scope>>(iter: I) -> Self {
        ScopeSet(iter.into_iter().cloned().collect())
    }
}

impl<'a> FromIterator<&'a str> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Self {
        ScopeSet(iter.into_iter().map(Scope::parse).collect())
    }
}

impl IntoIterator for ScopeSet {
    type Item = Scope;
    type IntoIter = std::collections::btree_set::IntoIter<Scope>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ScopeSet {
    type Item = &'a Scope;
    type IntoIter = std::collections::btree_set::Iter<'a, Scope>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_csv())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> ScopeSet {
        items.iter().copied().collect()
    }

    #[test]
    fn admin_satisfies_every_operator_scope_including_unknown_ones() {
        let admin = set(&["operator.admin"]);
        for s in Scope::KNOWN {
            assert!(admin.satisfies(&s), "{s}");
        }
        assert!(admin.satisfies(&Scope::parse("operator.talk")));
        assert!(!admin.satisfies(&Scope::parse("node.camera")));
    }

    #[test]
    fn write_satisfies_read_and_nothing_else_implies() {
        let write = set(&["operator.write"]);
        assert!(write.satisfies(&Scope::Read));
        assert!(!write.satisfies(&Scope::Approvals));
        assert!(!write.satisfies(&Scope::Pairing));
        assert!(!write.satisfies(&Scope::TalkSecrets));
        assert!(!write.satisfies(&Scope::Admin));
        let read = set(&["operator.read"]);
        assert!(!read.satisfies(&Scope::Write));
        let pairing = set(&["operator.pairing"]);
        assert!(!pairing.satisfies(&Scope::Read));
        assert!(!set(&["operator.approvals"]).satisfies(&Scope::Read));
    }

    #[test]
    fn empty_request_is_allowed_and_empty_grant_allows_nothing() {
        assert!(ScopeSet::new().allows(&ScopeSet::new()));
        assert!(!ScopeSet::new().allows(&set(&["operator.read"])));
    }

    #[test]
    fn unknown_scopes_are_kept_and_reported() {
        let s = set(&["operator.read", "operator.frobnicate", "weird"]);
        assert_eq!(s.len(), 3);
        assert_eq!(s.unknown(), vec!["operator.frobnicate", "weird"]);
        let json = serde_json::to_string(&s).unwrap_or_default();
        assert_eq!(json, r#"["operator.frobnicate","operator.read","weird"]"#);
    }

    #[test]
    fn normalization_adds_implied_and_sorts() {
        let n = set(&["operator.admin"]).normalized();
        assert_eq!(
            n.to_strings(),
            vec!["operator.admin", "operator.read", "operator.write"]
        );
        let n = set(&["operator.write", "operator.pairing"]).normalized();
        assert_eq!(
            n.to_strings(),
            vec!["operator.pairing", "operator.read", "operator.write"]
        );
    }

    #[test]
    fn missing_and_granted_partition_a_request() {
        let ceiling = set(&["operator.read", "operator.write", "operator.approvals"]);
        let req = set(&["operator.admin", "operator.read", "operator.pairing"]);
        assert_eq!(ceiling.granted(&req).to_strings(), vec!["operator.read"]);
        assert_eq!(
            ceiling.missing(&req).to_strings(),
            vec!["operator.admin", "operator.pairing"]
        );
    }

    #[test]
    fn a_broad_request_gets_everything_it_implies_within_the_ceiling() {
        let ceiling = set(&["operator.read", "operator.write", "operator.approvals"]);
        let got = ceiling.grantable_for(&set(&["operator.admin"]).normalized());
        assert_eq!(
            got.to_strings(),
            vec!["operator.approvals", "operator.read", "operator.write"]
        );
        let got = ceiling.grantable_for(&set(&["operator.write"]).normalized());
        assert_eq!(got.to_strings(), vec!["operator.read", "operator.write"]);
        let got = ceiling.grantable_for(&set(&["operator.pairing"]));
        assert!(got.is_empty());
    }

    #[test]
    fn role_membership() {
        assert!(Scope::Read.belongs_to(Role::Operator));
        assert!(!Scope::Read.belongs_to(Role::Node));
        assert!(Scope::parse("node.camera").belongs_to(Role::Node));
        assert!(!Scope::parse("nodex.camera").belongs_to(Role::Node));
    }
}
