//! The answers of the admin socket: one typed [`Reply`] per request, the `{"ok",…}` line
//! that carries it, and the one table that says which request answers which shape.

use sandgate_gateway::{DeviceApproved, DeviceRejected, DeviceRevoked, PairingList};
use serde::{Deserialize, Serialize};

use super::proto::{Denials, ErrorBody, Health, PolicyReply, Request, SandboxView, StatusReply};
use crate::error::CliError;

/// The answer to [`Request::AttachSandbox`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attached {
    /// The listener's address inside the sandbox, when this call attached it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    /// True when a listener was already served and `replace` was not asked.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub already: bool,
    /// Sandbox name.
    pub attached: String,
}

/// The answer to [`Request::DetachSandbox`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detached {
    /// Whether a listener was served (and is now stopped).
    pub detached: bool,
}

/// The answer to [`Request::DestroySandbox`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destroyed {
    /// Sandbox name.
    pub destroyed: String,
}

impl Reply {
    /// Decodes the `result` of the answer to `req`.
    pub fn decode(req: &Request, result: serde_json::Value) -> Result<Reply, serde_json::Error> {
        use serde_json::from_value as de;
        Ok(match req {
            Request::Health => Reply::Health(de(result)?),
            Request::Status { .. } => Reply::Status(de(result)?),
            Request::CreateSandbox { .. }
            | Request::SetRoute { .. }
            | Request::MarkVerified { .. } => Reply::Sandbox(de(result)?),
            Request::AttachSandbox { .. } => Reply::Attached(de(result)?),
            Request::DetachSandbox { .. } => Reply::Detached(de(result)?),
            Request::DestroySandbox { .. } => Reply::Destroyed(de(result)?),
            Request::PolicyList { .. } | Request::PolicyChange { .. } => Reply::Policy(de(result)?),
            Request::EgressDenials { .. } => Reply::Denials(de(result)?),
            Request::DevicesList { .. } => Reply::Devices(de(result)?),
            Request::DevicesApprove { .. } => Reply::DeviceApproved(de(result)?),
            Request::DevicesReject { .. } => Reply::DeviceRejected(de(result)?),
            Request::DevicesRevoke { .. } => Reply::DeviceRevoked(de(result)?),
        })
    }
}

/// A type one [`Reply`] variant holds: what a typed admin call returns.
pub trait FromReply: Sized {
    /// The value, when `reply` holds this type.
    fn from_reply(reply: Reply) -> Option<Self>;
}

/// Declares [`Reply`] from one list of `Variant(Type)` (and, after `; boxed:`, variants that
/// hold a `Box<Type>`, the large ones), with `From<Type> for Reply` and `FromReply for Type`.
macro_rules! replies {
    (
        $($(#[$doc:meta])* $variant:ident($ty:ty),)+
        ; boxed: $($(#[$bdoc:meta])* $bvariant:ident($bty:ty),)+
    ) => {
        /// The result of one admin request. The wire carries the inner value alone
        /// (untagged): the request names the shape, see [`Reply::decode`].
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum Reply {
            $($(#[$doc])* $variant($ty),)+
            $($(#[$bdoc])* $bvariant(Box<$bty>),)+
        }
        $(
            impl From<$ty> for Reply {
                fn from(v: $ty) -> Reply {
                    Reply::$variant(v)
                }
            }
            impl FromReply for $ty {
                fn from_reply(reply: Reply) -> Option<Self> {
                    match reply {
                        Reply::$variant(v) => Some(v),
                        _ => None,
                    }
                }
            }
        )+
        $(
            impl From<$bty> for Reply {
                fn from(v: $bty) -> Reply {
                    Reply::$bvariant(Box::new(v))
                }
            }
            impl FromReply for $bty {
                fn from_reply(reply: Reply) -> Option<Self> {
                    match reply {
                        Reply::$bvariant(v) => Some(*v),
                        _ => None,
                    }
                }
            }
        )+
    };
}

replies! {
    /// [`Request::Health`].
    Health(Health),
    /// [`Request::Status`].
    Status(StatusReply),
    /// [`Request::AttachSandbox`].
    Attached(Attached),
    /// [`Request::DetachSandbox`].
    Detached(Detached),
    /// [`Request::DestroySandbox`].
    Destroyed(Destroyed),
    /// [`Request::PolicyList`], [`Request::PolicyChange`].
    Policy(PolicyReply),
    /// [`Request::EgressDenials`].
    Denials(Denials),
    /// [`Request::DevicesList`].
    Devices(PairingList),
    /// [`Request::DevicesReject`].
    DeviceRejected(DeviceRejected),
    /// [`Request::DevicesRevoke`].
    DeviceRevoked(DeviceRevoked),
    ; boxed:
    /// [`Request::CreateSandbox`], [`Request::SetRoute`], [`Request::MarkVerified`].
    Sandbox(SandboxView),
    /// [`Request::DevicesApprove`].
    DeviceApproved(DeviceApproved),
}

/// A response line: `{"ok":true,"result":…}` or `{"ok":false,"error":{…}}`. The daemon
/// writes a `Response<Reply>`; the client reads the result raw and decodes it by request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response<T = Reply> {
    /// Success?
    pub ok: bool,
    /// The result on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<T>,
    /// The error on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

impl<T> Response<T> {
    /// A success.
    pub fn ok(result: T) -> Self {
        Response {
            ok: true,
            result: Some(result),
            error: None,
        }
    }
    /// A failure.
    pub fn err(e: CliError) -> Self {
        Response {
            ok: false,
            result: None,
            error: Some(e.into()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    /// What the daemon writes for `reply`, read back as the client does for `req`.
    fn round_trip(req: &Request, reply: Reply) -> (String, Reply) {
        let line = serde_json::to_string(&Response::ok(reply)).unwrap();
        let resp: Response<serde_json::Value> = serde_json::from_str(&line).unwrap();
        (line, Reply::decode(req, resp.result.unwrap()).unwrap())
    }

    #[test]
    fn small_answers_keep_their_wire_bytes() {
        let attach = Request::AttachSandbox {
            name: "a".into(),
            replace: false,
        };
        for (reply, wire) in [
            (
                Attached {
                    addr: None,
                    already: true,
                    attached: "a".into(),
                },
                r#"{"ok":true,"result":{"already":true,"attached":"a"}}"#,
            ),
            (
                Attached {
                    addr: Some("10.0.0.1:80".into()),
                    already: false,
                    attached: "a".into(),
                },
                r#"{"ok":true,"result":{"addr":"10.0.0.1:80","attached":"a"}}"#,
            ),
        ] {
            let (line, back) = round_trip(&attach, reply.clone().into());
            assert_eq!(line, wire);
            assert_eq!(Attached::from_reply(back), Some(reply));
        }
        let detach = Request::DetachSandbox { name: "a".into() };
        let (line, back) = round_trip(&detach, Detached { detached: true }.into());
        assert_eq!(line, r#"{"ok":true,"result":{"detached":true}}"#);
        assert_eq!(
            Detached::from_reply(back),
            Some(Detached { detached: true })
        );
        let destroy = Request::DestroySandbox { name: "a".into() };
        let (line, back) = round_trip(
            &destroy,
            Destroyed {
                destroyed: "a".into(),
            }
            .into(),
        );
        assert_eq!(line, r#"{"ok":true,"result":{"destroyed":"a"}}"#);
        assert!(Destroyed::from_reply(back.clone()).is_some());
        assert!(Detached::from_reply(back).is_none(), "another shape");
    }

    #[test]
    fn device_answers_are_decoded_by_request() {
        let revoke = Request::DevicesRevoke {
            name: "a".into(),
            device_id: "d".into(),
        };
        let revoked = DeviceRevoked {
            closed_sessions: 2,
            device_id: "d".into(),
            revoked_at_ms: 5,
            role: sandgate_core::Role::Operator,
        };
        let (line, back) = round_trip(&revoke, revoked.clone().into());
        assert_eq!(
            line,
            r#"{"ok":true,"result":{"closedSessions":2,"deviceId":"d","revokedAtMs":5,"role":"operator"}}"#
        );
        assert_eq!(DeviceRevoked::from_reply(back), Some(revoked));
        let list = Request::DevicesList { name: "a".into() };
        let (line, back) = round_trip(&list, PairingList::default().into());
        assert_eq!(line, r#"{"ok":true,"result":{"pending":[],"paired":[]}}"#);
        assert_eq!(PairingList::from_reply(back), Some(PairingList::default()));
        // The same bytes answer a revoke: decoding by request refuses them.
        let resp: Response<serde_json::Value> = serde_json::from_str(&line).unwrap();
        assert!(Reply::decode(&revoke, resp.result.unwrap()).is_err());
    }

    /// `devices --json` prints what the daemon built with `json!` before the answers were
    /// typed, byte for byte.
    #[test]
    fn devices_json_output_is_unchanged() {
        let pending = serde_json::json!({"requestId": "r1", "deviceId": "d1", "publicKey": "k1",
            "displayName": "laptop", "clientId": "cli", "role": "operator", "roles": ["operator"],
            "scopes": ["operator.write", "operator.admin"], "silent": false, "isRepair": true, "ts": 3});
        let paired = serde_json::json!({"deviceId": "d2", "publicKey": "k2", "platform": "linux",
            "role": "operator", "roles": ["operator"], "scopes": ["operator.read"],
            "tokens": [{"role": "operator", "scopes": ["operator.read"], "createdAtMs": 1,
                        "lastUsedAtMs": 4}],
            "createdAtMs": 1, "approvedAtMs": 2, "approvedVia": "host-admin"});
        let list = PairingList {
            pending: vec![serde_json::from_value(pending).unwrap()],
            paired: vec![serde_json::from_value(paired).unwrap()],
        };
        let print = |result: serde_json::Value| {
            serde_json::to_string_pretty(
                &serde_json::json!({"schemaVersion": 1, "sandbox": "a", "result": result}),
            )
            .unwrap()
        };
        let req = Request::DevicesList { name: "a".into() };
        let before = print(serde_json::to_value(&list).unwrap());
        let (_, reply) = round_trip(&req, list.clone().into());
        assert_eq!(print(serde_json::to_value(&reply).unwrap()), before);

        let device = list.paired[0].clone();
        let req = Request::DevicesApprove {
            name: "a".into(),
            request_id: "r1".into(),
        };
        let before = print(serde_json::json!({"requestId": "r1", "device": device}));
        let approved = DeviceApproved {
            device,
            request_id: "r1".into(),
        };
        let (_, reply) = round_trip(&req, approved.into());
        assert_eq!(print(serde_json::to_value(&reply).unwrap()), before);
    }

    #[test]
    fn errors_carry_the_kind_name() {
        let e = Response::<Reply>::err(CliError::new(ErrorKind::UnknownSandbox, "m", "r"));
        let line = serde_json::to_string(&e).unwrap();
        assert_eq!(
            line,
            r#"{"ok":false,"error":{"kind":"unknown_sandbox","message":"m","remedy":"r"}}"#
        );
        let back: Response<serde_json::Value> = serde_json::from_str(&line).unwrap();
        assert_eq!(
            back.error.map(CliError::from).map(|e| e.kind),
            Some(ErrorKind::UnknownSandbox)
        );
    }
}
