//! Sandboxes whose routes point at fake upstreams (`sandgate_providers::fake`): a runtime
//! that serves the fakes while a synchronous test drives the real binaries, and onboarding
//! a sandbox on one of them with a credential that only the gateway holds.

use sandgate_providers::fake::{FakeConfig, FakeKind, FakeUpstream};

use super::{Out, Sg};

/// The variable onboarding reads the route's credential from (never a provider's own, so
/// nothing of the developer's environment is involved).
pub const ROUTE_KEY_VAR: &str = "SG_TEST_ROUTE_KEY";

/// Every native adapter's fake kind.
pub const ALL: [FakeKind; 4] = [
    FakeKind::OpenAi,
    FakeKind::Ollama,
    FakeKind::Gemini,
    FakeKind::Anthropic,
];

/// Fake upstreams served by their own runtime; dropping it stops them.
pub struct Fakes {
    rt: tokio::runtime::Runtime,
}

impl Fakes {
    pub fn new() -> Fakes {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("fake runtime");
        Fakes { rt }
    }

    /// Starts a fake of `kind` labelled `label`; all but Ollama (which takes no key) require
    /// [`route_key`]`(kind)`.
    pub fn spawn(&self, kind: FakeKind, label: &str) -> FakeUpstream {
        let mut config = FakeConfig::new(kind).label(label);
        if kind != FakeKind::Ollama {
            config = config.credential(route_key(kind));
        }
        self.rt
            .block_on(FakeUpstream::spawn(config))
            .expect("start a fake upstream")
    }
}

/// The credential a fake of `kind` requires.
pub fn route_key(kind: FakeKind) -> String {
    format!("{kind}-route-secret")
}

/// The text every reply of a fake of `kind` labelled `label` starts with.
pub fn marker(kind: FakeKind, label: &str) -> String {
    format!("[fake-{kind}:{label}]")
}

impl Sg {
    /// Onboards `name` on a route to `fake` forcing `model`.
    pub fn onboard_fake(&self, name: &str, fake: &FakeUpstream, model: &str) -> (Out, u16) {
        let kind = fake.kind();
        let provider = kind.provider_kind().to_string();
        let endpoint = fake.base_url();
        let mut route = vec![
            "--provider",
            &provider,
            "--model",
            model,
            "--endpoint",
            &endpoint,
        ];
        let key = route_key(kind);
        let mut env = Vec::new();
        if kind != FakeKind::Ollama {
            route.extend(["--credential-env", ROUTE_KEY_VAR]);
            env.push((ROUTE_KEY_VAR, key.as_str()));
        }
        self.onboard(name, &route, &env)
    }
}

/// Asserts that `fake` saw requests and that each carried the route's key (Ollama takes
/// none) and never the caller's placeholder credential (`unused`, which the SDKs and
/// OpenClaw send): the proxy strips what the caller sends and injects the route's.
pub fn assert_route_credential_only(what: &str, fake: &FakeUpstream) {
    let requests = fake.requests();
    assert!(
        !requests.is_empty(),
        "{what}: the route's upstream saw nothing"
    );
    let key = route_key(fake.kind());
    for req in requests {
        let headers = format!("{:?}", req.headers);
        assert!(
            !headers.contains("unused"),
            "{what}: the caller's credential was forwarded: {headers}"
        );
        if fake.kind() != FakeKind::Ollama {
            assert!(headers.contains(&key), "{what}: no route key: {headers}");
        }
    }
}
