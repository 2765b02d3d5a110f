//! Fuzz target bodies. Each takes arbitrary bytes, feeds them to one parser that faces
//! untrusted input, and asserts what must hold for any input (no panic, and round trips
//! where the type can be printed back). Compiled by the fuzz crate (one libFuzzer binary per
//! function) and by the main test suite (`tests/fuzz_corpus.rs`), which replays the committed
//! corpus through these same functions so that a fixed crash stays fixed.

use sandgate_core::connect::ConnectParams;
use sandgate_core::frame::Frame;
use sandgate_core::signature::verify_device_proof;
use sandgate_gateway::egress::{Host, HostRule, Target};
use sandgate_providers::fuzzing::{self, Wire};

/// A target: its name (as `fuzz/corpus/<name>/` and `cargo fuzz run <name>` spell it) and body.
pub type FuzzTarget = (&'static str, fn(&[u8]));

/// Every target.
pub const TARGETS: &[FuzzTarget] = &[
    ("frame", frame),
    ("connect_params", connect_params),
    ("device_proof", device_proof),
    ("egress_target", egress_target),
    ("admin_request", admin_request),
    ("stream", stream),
    ("api_request", api_request),
];

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// `Frame::parse` and the pre-auth parse; a parsed frame serialises and parses back equal.
pub fn frame(data: &[u8]) {
    let Some(s) = text(data) else { return };
    for parsed in [Frame::parse(s), Frame::parse_preauth(s)] {
        if let Ok(f) = parsed
            && let Ok(back) = serde_json::to_string(&f)
        {
            let again = Frame::parse(&back);
            assert!(again.is_ok(), "a serialised frame does not parse: {back}");
        }
    }
}

/// `connect` params: schema parse, then validation.
pub fn connect_params(data: &[u8]) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(p) = ConnectParams::from_value(v.clone()) {
        let _ = p.validate();
        let round = serde_json::to_value(&p).map(ConnectParams::from_value);
        assert!(
            matches!(round, Ok(Ok(_))),
            "parsed connect params do not round-trip: {v}"
        );
    }
    let _ = ConnectParams::parse(v);
}

/// Device-proof verification over parsed params, with the proof's own nonce and time (so
/// the checks past skew and nonce — key decoding, signature decoding, payloads — are reached).
pub fn device_proof(data: &[u8]) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(p) = ConnectParams::from_value(v) else {
        return;
    };
    let (nonce, at) = match &p.device {
        Some(d) => (d.nonce.clone(), d.signed_at),
        None => (String::new(), 0),
    };
    let _ = verify_device_proof(&p, &nonce, at);
    let _ = verify_device_proof(&p, "other-nonce", at.wrapping_add(1));
}

/// The egress target parsers (CONNECT authority / absolute URI, host, host rule); printed
/// values parse back to the same value.
pub fn egress_target(data: &[u8]) {
    let Some(s) = text(data) else { return };
    if let Ok(t) = Target::parse(s, Some(443)) {
        let back = t.to_string();
        assert!(
            Target::parse(&back, Some(443)).is_ok(),
            "target {s:?} prints as {back:?}, which does not parse"
        );
    }
    let _ = Target::parse(s, None);
    if let Ok(h) = Host::parse(s) {
        let back = h.to_string();
        assert_eq!(Host::parse(&back).ok(), Some(h), "host {s:?} → {back:?}");
    }
    if let Ok(r) = s.parse::<HostRule>() {
        let back = r.to_string();
        assert_eq!(
            back.parse::<HostRule>().ok(),
            Some(r),
            "rule {s:?} → {back:?}"
        );
    }
}

/// The admin-socket request line parser; a parsed request serialises and parses back equal.
pub fn admin_request(data: &[u8]) {
    use sandgate_cli::admin::proto::Request;
    let Some(s) = text(data) else { return };
    if let Ok(r) = serde_json::from_str::<Request>(s)
        && let Ok(back) = serde_json::to_string(&r)
    {
        let again = serde_json::from_str::<Request>(&back);
        assert_eq!(
            again.ok(),
            Some(r),
            "admin request does not round-trip: {back}"
        );
    }
}

/// The four upstream stream translators (OpenAI SSE pass-through, Ollama NDJSON, Gemini SSE,
/// Anthropic SSE): the first byte picks the wire, the second the piece length the rest arrives
/// in. Any body ends the stream (normally or with an error), never a panic or a hang.
pub fn stream(data: &[u8]) {
    let Some((&wire, rest)) = data.split_first() else {
        return;
    };
    let _ = fuzzing::translate(Wire::from_byte(wire), fuzzing::split(rest));
}

/// The `/v1/responses` and `/v1/messages` request parsers (first byte picks), through their
/// translation to a chat request.
pub fn api_request(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    if which % 2 == 0 {
        let _ = fuzzing::responses_request(body);
    } else {
        let _ = fuzzing::messages_request(body);
    }
}
