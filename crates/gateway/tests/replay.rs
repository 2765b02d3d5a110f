#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Replays every recorded OpenClaw CLI ⇄ gateway exchange (`shared/reference/openclaw-wire`)
//! against sandgate and compares the shapes of the answers.
//!
//! The recordings redact signatures and tokens, so the client side is re-signed: every field
//! of the recorded `connect` params is kept (client id/mode/version/platform/deviceFamily,
//! role, scope order, auth shape) except that the shared token becomes our sandbox token,
//! each recorded device id gets one fresh identity per version (the README's "same home"
//! devices reconnect with it), `device.signedAt` is now (a recorded time is > 120 s old),
//! the signature is fresh over our challenge nonce, and `<redacted:device-token#N>` becomes
//! the device token our earlier `hello-ok` issued. Request ids and all other params are sent
//! exactly as recorded; a recorded pairing `requestId` is mapped to ours.
//!
//! Files of one version are replayed in recorded order (first challenge `ts`) against one
//! gateway, because later files depend on earlier ones (paired devices, pending requests).
//!
//! Where sandgate differs from OpenClaw on purpose, the test asserts sandgate's documented
//! behaviour instead and says so (see ../shared/DESIGN.md "Pairing and scope negotiation"):
//! * D1 — scopes within the sandbox ceiling (operator.read/write/approvals) are granted to a
//!   loopback client presenting the sandbox token, first pairing and scope upgrades alike,
//!   where OpenClaw refused with `NOT_PAIRED`/`PAIRING_REQUIRED` (5.28 always, 9.6 with
//!   `autoApproveLocal:false`).
//! * D2 — beyond the ceiling (operator.admin, operator.pairing) a device is granted the
//!   ceiling part and a pending request records the rest (partial grant,
//!   `device.pair.requested` on its own socket); a human approves it. OpenClaw 5.28 silently
//!   paired a first-time device asking `operator.admin`; the replay plays the host admin
//!   (`Gateway::devices_approve`, i.e. `sandgate alpha devices approve <id>`) at that point.
//! * D3 — a device-less connect with the sandbox token gets the requested scopes within the
//!   ceiling only, and never a pending request; OpenClaw 9.6 gave a device-less shared-token
//!   client whatever it asked for (`operator.admin`, `operator.pairing`). Pairing RPCs from
//!   such a client are therefore `FORBIDDEN` (the host admin approves through the admin
//!   socket instead).
//! * D4 — sandgate stores device tokens hashed, so a reconnect whose token is still valid
//!   gets no `auth.deviceToken` (OpenClaw re-sent the same token); a new token is sent only
//!   when one is minted.
//! * D5 — `health` and `status` payloads are sandgate's own (the OpenClaw ones describe
//!   plugins, channels, heartbeats); only `ok` and the payload's JSON type are compared.
//! * D6 — methods sandgate does not implement (`logs.tail`, `update.status`, …: anything not
//!   in our `hello-ok.features.methods`) fail with a typed error (`FORBIDDEN` when the
//!   session lacks the method's scope, else `INVALID_REQUEST` `unknown method`), where
//!   OpenClaw answered.
//! * D7 — when OpenClaw refused a scope upgrade that sandgate grants (D1), nothing is left
//!   pending; to replay the recorded `device.pair.approve` of that request, the replay creates
//!   the nearest sandgate equivalent right after the refused connect: the same device asking
//!   `operator.pairing` (beyond the ceiling), and maps the recorded requestId to that one.

mod support;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

use sandgate_core::identity::DeviceIdentity;
use sandgate_gateway::{Gateway, SandboxInfo};
use serde_json::{Value, json};
use support::*;

const WIRE_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/reference/openclaw-wire"
);
const CEILING: [&str; 3] = ["operator.read", "operator.write", "operator.approvals"];
const SHARED_TOKEN: &str = "<redacted:shared-gateway-token";
const DEVICE_TOKEN: &str = "<redacted:device-token#";

#[derive(Debug, Clone)]
struct Line {
    conn: u64,
    dir: String,
    frame: Value,
}

#[derive(Debug)]
struct Scenario {
    name: String,
    first_ts: u64,
    lines: Vec<Line>,
}

fn wire_dir() -> PathBuf {
    let dir = PathBuf::from(WIRE_DIR);
    assert!(
        dir.is_dir(),
        "the OpenClaw wire recordings are missing: expected them at {}",
        dir.display()
    );
    dir
}

/// Every `*.jsonl` recording, with its version prefix (`v528`, `v906`).
fn recordings() -> Vec<(String, Scenario)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(wire_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".jsonl") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Line> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: Value =
                    serde_json::from_str(l).unwrap_or_else(|e| panic!("{name}: bad line {l}: {e}"));
                Line {
                    conn: v["conn"].as_u64().unwrap(),
                    dir: v["dir"].as_str().unwrap().to_owned(),
                    frame: v["frame"].clone(),
                }
            })
            .collect();
        let first_ts = lines
            .iter()
            .find(|l| l.frame["event"] == "connect.challenge")
            .and_then(|l| l.frame["payload"]["ts"].as_u64())
            .unwrap_or_else(|| panic!("{name}: no connect.challenge"));
        let version = name.split('-').next().unwrap().to_owned();
        out.push((
            version,
            Scenario {
                name,
                first_ts,
                lines,
            },
        ));
    }
    assert!(!out.is_empty(), "no *.jsonl recordings in {WIRE_DIR}");
    out
}

fn version_scenarios(version: &str) -> Vec<Scenario> {
    let mut v: Vec<Scenario> = recordings()
        .into_iter()
        .filter(|(ver, _)| ver == version)
        .map(|(_, s)| s)
        .collect();
    v.sort_by_key(|s| s.first_ts);
    assert!(!v.is_empty(), "no recordings for {version}");
    v
}

/// Does a held scope satisfy `required` (admin ⊇ operator.*, write ⊇ read)?
fn satisfies(held: &[String], required: &str) -> bool {
    held.iter().any(|h| {
        h == required
            || (h == "operator.admin" && required.starts_with("operator."))
            || (h == "operator.write" && required == "operator.read")
    })
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `<redacted:device-token#N len=43>` → `N`.
fn token_label(s: &str) -> Option<String> {
    s.strip_prefix(DEVICE_TOKEN)
        .map(|rest| rest.split(' ').next().unwrap_or_default().to_owned())
}

struct Replay<'a> {
    gw: &'a Gateway,
    info: SandboxInfo,
    /// Recorded device id → our identity for it.
    identities: HashMap<String, DeviceIdentity>,
    /// Recorded token label N → our device token.
    tokens: HashMap<String, String>,
    /// Recorded device id → it holds a device token we issued.
    has_token: HashSet<String>,
    /// Recorded device ids the host admin approved for operator.admin (D2).
    admin_approved: HashSet<String>,
    /// Recorded pairing requestId → ours.
    request_ids: HashMap<String, String>,
    /// Documented differences seen, for the log.
    notes: Vec<String>,
    /// Recordings replayed.
    replayed: usize,
}

/// The state of one replayed connection.
struct Conn {
    ws: Option<Ws>,
    nonce: String,
    /// Recorded device id of this connection, if it signed.
    device: Option<String>,
    /// Our granted scopes.
    scopes: Vec<String>,
    /// Our advertised methods.
    methods: Vec<String>,
}

impl<'a> Replay<'a> {
    fn note(&mut self, scen: &str, what: String) {
        self.notes.push(format!("{scen}: {what}"));
    }

    fn identity(&mut self, recorded_id: &str) -> &DeviceIdentity {
        self.identities
            .entry(recorded_id.to_owned())
            .or_insert_with(DeviceIdentity::generate)
    }

    fn substitute_token(&self, scen: &str, value: &str) -> String {
        if value.starts_with(SHARED_TOKEN) {
            return self.info.token.clone();
        }
        if let Some(n) = token_label(value) {
            return self
                .tokens
                .get(&n)
                .unwrap_or_else(|| {
                    panic!("{scen}: device token #{n} was never issued by our gateway")
                })
                .clone();
        }
        panic!("{scen}: unexpected unredacted credential in a recording");
    }

    /// The recorded connect params with our credentials and a fresh device proof.
    fn connect_params(
        &mut self,
        scen: &str,
        recorded: &Value,
        nonce: &str,
    ) -> (Value, Option<String>) {
        let mut p = recorded.clone();
        if let Some(auth) = p.get_mut("auth").and_then(Value::as_object_mut) {
            for (_, v) in auth.iter_mut() {
                if let Some(s) = v.as_str() {
                    *v = json!(self.substitute_token(scen, s));
                }
            }
        }
        let device = recorded
            .get("device")
            .map(|d| d["id"].as_str().unwrap().to_owned());
        if let Some(rec_id) = &device {
            let id = self.identity(rec_id);
            let (our_id, pk) = (id.device_id(), id.public_key_b64url());
            // Re-sign exactly what is sent (sign_as keeps every other field of `p`).
            let id = self.identities.get(rec_id).unwrap();
            sign_as(&mut p, id, &our_id, &pk, nonce, now_ms());
        }
        (p, device)
    }

    /// Scopes sandgate must grant for `requested` on this connect (D1–D3).
    fn expected_grant(
        &self,
        requested: &[String],
        device: Option<&String>,
    ) -> (Vec<String>, Vec<String>) {
        let ceiling: Vec<String> = CEILING.iter().map(|s| (*s).to_owned()).collect();
        let admin = device.is_some_and(|d| self.admin_approved.contains(d));
        let mut must = Vec::new();
        let mut must_not = Vec::new();
        for r in requested {
            if satisfies(&ceiling, r) || admin {
                must.push(r.clone());
            } else {
                must_not.push(r.clone());
            }
        }
        (must, must_not)
    }

    async fn run(&mut self, scen: &Scenario) {
        let mut conns: Vec<u64> = Vec::new();
        for l in &scen.lines {
            if !conns.contains(&l.conn) {
                conns.push(l.conn);
            }
        }
        for c in conns {
            let lines: Vec<&Line> = scen.lines.iter().filter(|l| l.conn == c).collect();
            self.run_conn(&scen.name, &lines).await;
        }
        self.replayed += 1;
    }

    async fn run_conn(&mut self, scen: &str, lines: &[&Line]) {
        let mut conn = Conn {
            ws: None,
            nonce: String::new(),
            device: None,
            scopes: Vec::new(),
            methods: Vec::new(),
        };
        for (i, line) in lines.iter().enumerate() {
            let f = &line.frame;
            match line.dir.as_str() {
                "s2c" if f["event"] == "connect.challenge" => {
                    let (ws, nonce) = open(&self.info.url).await;
                    assert!(
                        f["payload"]["nonce"].is_string() && f["payload"]["ts"].is_u64(),
                        "{scen}: {f}"
                    );
                    conn.ws = Some(ws);
                    conn.nonce = nonce;
                }
                "c2s" if f["method"] == "connect" => {
                    let recorded = recorded_responses(lines, i, f["id"].as_str().unwrap());
                    self.connect(scen, &mut conn, f, &recorded).await;
                }
                "c2s" => {
                    let recorded = recorded_responses(lines, i, f["id"].as_str().unwrap());
                    let events = recorded_events_before(lines, i, f["id"].as_str().unwrap());
                    self.request(scen, &mut conn, f, &recorded, &events).await;
                }
                "close" => {
                    if let Some(ws) = conn.ws.take() {
                        bye(ws).await;
                    }
                }
                _ => {}
            }
        }
        if let Some(ws) = conn.ws.take() {
            bye(ws).await;
        }
    }

    async fn connect(&mut self, scen: &str, conn: &mut Conn, req: &Value, recorded: &[Value]) {
        assert_eq!(
            recorded.len(),
            1,
            "{scen}: one recorded response to connect"
        );
        let rec = &recorded[0];
        let (params, device) = self.connect_params(scen, &req["params"], &conn.nonce.clone());
        conn.device = device.clone();
        let mut frame = req.clone();
        frame["params"] = params;
        let ws = conn.ws.as_mut().expect("socket");
        send(ws, &frame).await;
        let ours = response(ws, req["id"].as_str().unwrap()).await;
        let requested = strings(&req["params"]["scopes"]);

        if rec["ok"] == false {
            let details = &rec["error"]["details"];
            if rec["error"]["code"] == "NOT_PAIRED" && details["code"] == "PAIRING_REQUIRED" {
                // D1: within the ceiling, sandgate grants what OpenClaw held for approval.
                let (must, must_not) = self.expected_grant(&requested, device.as_ref());
                assert!(
                    must_not.is_empty(),
                    "{scen}: recorded refusal outside the ceiling is not expected: {requested:?}"
                );
                assert_eq!(
                    ours["ok"], true,
                    "{scen}: sandgate grants within the ceiling (D1): {ours}"
                );
                self.check_hello(scen, conn, &ours, None, &must, &[]);
                self.note(
                    scen,
                    format!(
                        "OpenClaw refused ({}), sandgate granted {:?} by policy (D1)",
                        details["reason"], conn.scopes
                    ),
                );
                if let (Some(rec_req), Some(dev)) = (details["requestId"].as_str(), device.as_ref())
                {
                    let ours_id = self.equivalent_pending(scen, dev).await;
                    self.request_ids.insert(rec_req.to_owned(), ours_id);
                }
                return;
            }
            // Any other refusal must be refused the same way.
            assert_eq!(ours["ok"], false, "{scen}: {ours}");
            assert_eq!(
                ours["error"]["code"], rec["error"]["code"],
                "{scen}: {ours}"
            );
            assert_eq!(
                ours["error"]["details"]["code"], details["code"],
                "{scen}: {ours}"
            );
            let (code, _) = expect_close(conn.ws.as_mut().unwrap()).await;
            assert_eq!(code, 1008, "{scen}");
            conn.ws = None;
            return;
        }

        assert_eq!(
            ours["ok"], true,
            "{scen}: OpenClaw accepted this connect, sandgate must too: {ours}"
        );
        let (must, must_not) = self.expected_grant(&requested, device.as_ref());
        self.check_hello(scen, conn, &ours, Some(rec), &must, &must_not);
        if !must_not.is_empty() {
            if device.is_some() {
                // D2: partial grant; the pending request is announced on the same socket.
                let ev = event(conn.ws.as_mut().unwrap(), "device.pair.requested").await;
                let id = ev["payload"]["requestId"]
                    .as_str()
                    .expect("requestId")
                    .to_owned();
                let remedy = ev["payload"]["remedy"].as_str().unwrap_or_default();
                assert!(
                    remedy.contains(&format!("devices approve {id}")),
                    "{scen}: {ev}"
                );
                if must_not.iter().any(|s| s == "operator.admin")
                    && satisfies(
                        &strings(&rec["payload"]["auth"]["scopes"]),
                        "operator.admin",
                    )
                {
                    // OpenClaw paired this device with admin silently; sandgate needs a human:
                    // the replay plays the host admin.
                    let approved = self.gw.devices_approve("alpha", &id).await.unwrap();
                    assert_eq!(approved.request_id, id);
                    self.admin_approved.insert(device.clone().unwrap());
                    self.note(scen, format!("partial grant {:?} + pending {id}; host admin approved operator.admin (D2)", conn.scopes));
                } else {
                    self.note(
                        scen,
                        format!("partial grant {:?} + pending {id} (D2)", conn.scopes),
                    );
                }
            } else {
                self.note(
                    scen,
                    format!(
                        "device-less {requested:?} granted {:?} only (D3)",
                        conn.scopes
                    ),
                );
            }
        }
    }

    /// Checks `hello-ok` against the recorded one (when given) and sandgate's grant rules.
    fn check_hello(
        &mut self,
        scen: &str,
        conn: &mut Conn,
        ours: &Value,
        rec: Option<&Value>,
        must: &[String],
        must_not: &[String],
    ) {
        let p = &ours["payload"];
        for k in [
            "type", "protocol", "server", "features", "snapshot", "auth", "policy",
        ] {
            assert!(p.get(k).is_some(), "{scen}: hello-ok.{k} missing: {p}");
        }
        assert_eq!(p["type"], "hello-ok");
        assert_eq!(p["auth"]["role"], "operator", "{scen}");
        conn.scopes = strings(&p["auth"]["scopes"]);
        conn.methods = strings(&p["features"]["methods"]);
        for s in must {
            assert!(
                satisfies(&conn.scopes, s),
                "{scen}: {s} must be granted, got {:?}",
                conn.scopes
            );
        }
        for s in must_not {
            assert!(
                !satisfies(&conn.scopes, s),
                "{scen}: {s} must not be granted without a human, got {:?}",
                conn.scopes
            );
        }
        let token = p["auth"]["deviceToken"].as_str();
        if let Some(t) = token
            && let Some(d) = &conn.device
        {
            self.has_token.insert(d.clone());
            assert!(!t.is_empty());
        }
        let Some(rec) = rec else { return };
        let rp = &rec["payload"];
        for k in [
            "type", "protocol", "server", "features", "snapshot", "auth", "policy",
        ] {
            assert_eq!(
                json_type(&p[k]),
                json_type(&rp[k]),
                "{scen}: hello-ok.{k} type"
            );
        }
        assert_eq!(p["protocol"], rp["protocol"], "{scen}: negotiated protocol");
        for k in ["version", "connId"] {
            assert_eq!(
                json_type(&p["server"][k]),
                json_type(&rp["server"][k]),
                "{scen}: server.{k}"
            );
        }
        for k in ["methods", "events"] {
            assert_eq!(
                json_type(&p["features"][k]),
                "array",
                "{scen}: features.{k}"
            );
        }
        for k in [
            "presence",
            "stateVersion",
            "uptimeMs",
            "sessionDefaults",
            "health",
        ] {
            assert_eq!(
                json_type(&p["snapshot"][k]),
                json_type(&rp["snapshot"][k]),
                "{scen}: snapshot.{k}"
            );
        }
        for k in ["maxPayload", "maxBufferedBytes", "tickIntervalMs"] {
            assert_eq!(p["policy"][k], rp["policy"][k], "{scen}: policy.{k}");
        }
        assert_eq!(json_type(&p["auth"]["scopes"]), "array");
        match (rp["auth"]["deviceToken"].as_str(), token) {
            (None, ours) => assert!(
                ours.is_none(),
                "{scen}: no device token for a device-less connect"
            ),
            (Some(label), Some(t)) => {
                let n = token_label(label).expect("redacted token label");
                self.tokens.insert(n, t.to_owned());
            }
            (Some(label), None) => {
                // D4: a still-valid token is not re-sent; the device must already hold one.
                let d = conn.device.as_ref().expect("device tokens go to devices");
                assert!(
                    self.has_token.contains(d),
                    "{scen}: OpenClaw issued {label}, sandgate issued none ever"
                );
                let n = token_label(label).unwrap();
                if !self.tokens.contains_key(&n) {
                    self.note(scen, "OpenClaw issued a new token here; sandgate's earlier token still covers it (D4)".into());
                }
            }
        }
        if token.is_some() {
            assert!(
                p["auth"]["issuedAtMs"].is_u64(),
                "{scen}: issuedAtMs comes with the token"
            );
        }
    }

    /// D7: the same device asks beyond the ceiling, creating a real pending request.
    async fn equivalent_pending(&mut self, scen: &str, rec_device: &str) -> String {
        let identity = self.identities.get(rec_device).unwrap();
        let (mut ws, hello) = connect_device(
            &self.info.url,
            identity,
            token_auth(&self.info.token),
            &["operator.pairing"],
        )
        .await;
        assert_eq!(hello["ok"], true, "{scen}: partial grant expected: {hello}");
        let ev = event(&mut ws, "device.pair.requested").await;
        let id = ev["payload"]["requestId"].as_str().unwrap().to_owned();
        bye(ws).await;
        self.note(
            scen,
            format!("created the equivalent pending request {id} (operator.pairing) (D7)"),
        );
        id
    }

    async fn request(
        &mut self,
        scen: &str,
        conn: &mut Conn,
        req: &Value,
        recorded: &[Value],
        recorded_events: &[String],
    ) {
        let method = req["method"].as_str().unwrap().to_owned();
        let id = req["id"].as_str().unwrap().to_owned();
        let mut frame = req.clone();
        if let Some(rid) = req["params"]["requestId"].as_str() {
            let ours = self
                .request_ids
                .get(rid)
                .unwrap_or_else(|| panic!("{scen}: no request of ours for {rid}"))
                .clone();
            frame["params"]["requestId"] = json!(ours);
        }
        let ws = conn
            .ws
            .as_mut()
            .unwrap_or_else(|| panic!("{scen}: {method} on a closed connection"));
        send(ws, &frame).await;
        // Our responses to this id, until a final one (error, or a non-"accepted" status).
        let mut ours = Vec::new();
        let mut events = Vec::new();
        loop {
            match next(ws).await {
                In::Frame(f) if f["type"] == "res" && f["id"] == id.as_str() => {
                    let done = f["ok"] == false || f["payload"]["status"] != "accepted";
                    ours.push(f);
                    if done {
                        break;
                    }
                }
                In::Frame(f) if f["type"] == "event" => {
                    events.push(f["event"].as_str().unwrap_or_default().to_owned())
                }
                In::Frame(f) => panic!("{scen}: unexpected frame {f}"),
                other => panic!("{scen}: {method} got no answer: {other:?}"),
            }
        }
        let rec_last = recorded.last().expect("recorded response");
        let last = ours.last().unwrap();

        if !conn.methods.contains(&method) {
            // D6: not implemented here: a typed error, never a hang.
            assert_eq!(ours.len(), 1, "{scen}: {method}");
            assert_eq!(last["ok"], false, "{scen}: {method}: {last}");
            let code = last["error"]["code"].as_str().unwrap();
            assert!(
                code == "FORBIDDEN" || code == "INVALID_REQUEST",
                "{scen}: {method}: {last}"
            );
            if code == "INVALID_REQUEST" {
                assert_eq!(
                    last["error"]["message"],
                    format!("unknown method: {method}"),
                    "{scen}"
                );
            }
            self.note(
                scen,
                format!(
                    "{method}: not implemented, {code} (OpenClaw ok={}) (D6)",
                    rec_last["ok"]
                ),
            );
            return;
        }

        let needed = match method.as_str() {
            "device.pair.list" | "device.pair.approve" => Some("operator.pairing"),
            "agent" => Some("operator.write"),
            "status" => Some("operator.read"),
            _ => None,
        };
        if let Some(scope) = needed
            && !satisfies(&conn.scopes, scope)
        {
            // D3: the session was not granted the scope OpenClaw gave (device-less, beyond
            // the ceiling): refused before dispatch.
            assert_eq!(last["ok"], false, "{scen}: {last}");
            assert_eq!(last["error"]["code"], "FORBIDDEN", "{scen}: {last}");
            assert_eq!(
                last["error"]["details"]["code"], "MISSING_SCOPE",
                "{scen}: {last}"
            );
            assert_eq!(
                last["error"]["details"]["missingScope"], scope,
                "{scen}: {last}"
            );
            self.note(
                scen,
                format!(
                    "{method}: FORBIDDEN missing {scope} (session {:?}) (D3)",
                    conn.scopes
                ),
            );
            return;
        }

        assert_eq!(
            ours.len(),
            recorded.len(),
            "{scen}: {method}: responses {ours:?}"
        );
        for (o, r) in ours.iter().zip(recorded) {
            assert_eq!(o["ok"], r["ok"], "{scen}: {method}: {o}");
            if r["ok"] == false {
                assert_eq!(o["error"]["code"], r["error"]["code"], "{scen}: {method}");
                assert_eq!(
                    o["error"]["details"]["code"], r["error"]["details"]["code"],
                    "{scen}: {method}"
                );
            }
        }
        match method.as_str() {
            "health" | "status" => {
                // D5: sandgate's own payloads.
                assert_eq!(json_type(&last["payload"]), "object", "{scen}");
                if method == "health" {
                    assert_eq!(last["payload"]["ok"], true, "{scen}: {last}");
                } else {
                    assert!(
                        last["payload"]["runtimeVersion"].is_string(),
                        "{scen}: {last}"
                    );
                }
            }
            "agent" => {
                let run_id = &req["params"]["idempotencyKey"];
                let (acc, rec_acc) = (&ours[0]["payload"], &recorded[0]["payload"]);
                assert_eq!(acc["status"], "accepted");
                assert!(
                    keys(rec_acc).is_subset(&keys(acc)),
                    "{scen}: accepted keys {acc} vs {rec_acc}"
                );
                assert_eq!(&acc["runId"], run_id, "{scen}: runId is the idempotencyKey");
                assert_eq!(acc["sessionKey"], rec_acc["sessionKey"], "{scen}");
                let (fin, rec_fin) = (&last["payload"], &rec_last["payload"]);
                assert_eq!(keys(fin), keys(rec_fin), "{scen}: final keys");
                assert_eq!(&fin["runId"], run_id);
                assert_eq!(fin["status"], rec_fin["status"]);
                assert_eq!(fin["summary"], rec_fin["summary"]);
                let texts = fin["result"]["payloads"].as_array().unwrap();
                assert_eq!(
                    texts.len(),
                    rec_fin["result"]["payloads"].as_array().unwrap().len(),
                    "{scen}"
                );
                assert!(
                    texts
                        .iter()
                        .all(|t| t["text"].as_str().is_some_and(|s| !s.is_empty())),
                    "{scen}: {fin}"
                );
                assert!(
                    events.iter().any(|e| e == "agent") && events.iter().any(|e| e == "chat"),
                    "{scen}: {events:?}"
                );
            }
            "device.pair.list" => {
                let (p, rp) = (&last["payload"], &rec_last["payload"]);
                assert_eq!(keys(p), keys(rp), "{scen}");
                assert!(
                    p["pending"].is_array() && p["paired"].is_array(),
                    "{scen}: {p}"
                );
                for entry in p["pending"].as_array().unwrap() {
                    for k in ["requestId", "deviceId", "publicKey", "role", "scopes", "ts"] {
                        assert!(entry.get(k).is_some(), "{scen}: pending.{k}: {entry}");
                    }
                }
            }
            "device.pair.approve" => {
                let (p, rp) = (&last["payload"], &rec_last["payload"]);
                assert_eq!(keys(p), keys(rp), "{scen}");
                assert_eq!(p["requestId"], frame["params"]["requestId"], "{scen}");
                let rec_dev = rp["device"]["deviceId"].as_str().unwrap();
                let our_dev = self.identity(rec_dev).device_id();
                assert_eq!(p["device"]["deviceId"], our_dev.as_str(), "{scen}: {p}");
                if recorded_events.iter().any(|e| e == "device.pair.resolved")
                    && !events.iter().any(|e| e == "device.pair.resolved")
                {
                    let ev = event(conn.ws.as_mut().unwrap(), "device.pair.resolved").await;
                    assert_eq!(
                        ev["payload"]["requestId"], frame["params"]["requestId"],
                        "{scen}: {ev}"
                    );
                }
            }
            other => panic!("{scen}: no shape check for implemented method {other}"),
        }
    }
}

/// The recorded `res` frames answering request `id` (after line `i`).
fn recorded_responses(lines: &[&Line], i: usize, id: &str) -> Vec<Value> {
    lines[i + 1..]
        .iter()
        .filter(|l| l.dir == "s2c" && l.frame["type"] == "res" && l.frame["id"] == id)
        .map(|l| l.frame.clone())
        .collect()
}

/// The recorded event names between request `id` (line `i`) and its last response.
fn recorded_events_before(lines: &[&Line], i: usize, id: &str) -> Vec<String> {
    let last = lines
        .iter()
        .rposition(|l| l.dir == "s2c" && l.frame["type"] == "res" && l.frame["id"] == id)
        .unwrap_or(i);
    lines[i + 1..last.max(i + 1)]
        .iter()
        .filter(|l| l.frame["type"] == "event")
        .filter_map(|l| l.frame["event"].as_str().map(str::to_owned))
        .collect()
}

async fn replay_version(version: &str) {
    let scenarios = version_scenarios(version);
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path()).await;
    let info = mock_sandbox(&gw, "alpha").await;
    let mut r = Replay {
        gw: &gw,
        info,
        identities: HashMap::new(),
        tokens: HashMap::new(),
        has_token: HashSet::new(),
        admin_approved: HashSet::new(),
        request_ids: HashMap::new(),
        notes: Vec::new(),
        replayed: 0,
    };
    for s in &scenarios {
        r.run(s).await;
    }
    assert_eq!(r.replayed, scenarios.len());
    for n in &r.notes {
        eprintln!("[documented difference] {n}");
    }
    gw.shutdown().await;
}

#[test]
fn every_recording_belongs_to_a_replayed_version() {
    let all = recordings();
    for (version, s) in &all {
        assert!(
            version == "v528" || version == "v906",
            "{}: a recording of a version no test replays",
            s.name
        );
    }
    assert!(
        all.iter().filter(|(v, _)| v == "v528").count() >= 11,
        "v528 recordings missing"
    );
    assert!(
        all.iter().filter(|(v, _)| v == "v906").count() >= 12,
        "v906 recordings missing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_openclaw_2026_5_28() {
    replay_version("v528").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_openclaw_2026_9_6() {
    replay_version("v906").await;
}
