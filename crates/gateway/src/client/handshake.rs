//! The client side of the connect handshake as a sans-IO state machine: feed it the frames
//! the gateway sends, send what it returns, until it yields the decoded `hello-ok`.

use sandgate_core::connect::{ConnectChallenge, ConnectParams, DeviceProof};
use sandgate_core::frame::{Frame, RequestFrame};
use sandgate_core::hello::HelloOk;
use sandgate_core::identity::DeviceIdentity;
use sandgate_core::signature::{SignatureVersion, payload_to_sign};

use super::ClientError;

/// What to do after a frame.
#[derive(Debug)]
pub enum ClientStep {
    /// Send this frame, then keep feeding frames.
    Send(Box<Frame>),
    /// Nothing to send; keep feeding frames.
    Wait,
    /// The handshake succeeded.
    Hello(Box<HelloOk>),
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    AwaitChallenge,
    AwaitHello,
    Done,
}

/// One client handshake: `connect.challenge` → signed `connect` → `hello-ok` or an error.
#[derive(Debug)]
pub struct ClientHandshake<'a> {
    params: ConnectParams,
    identity: Option<&'a DeviceIdentity>,
    request_id: String,
    state: State,
}

impl<'a> ClientHandshake<'a> {
    /// A handshake that will send `params` (signed with `identity`, if any) as request
    /// `request_id`.
    pub fn new(
        params: ConnectParams,
        identity: Option<&'a DeviceIdentity>,
        request_id: String,
    ) -> Self {
        ClientHandshake {
            params,
            identity,
            request_id,
            state: State::AwaitChallenge,
        }
    }

    /// Handles one frame from the gateway at `now_ms`.
    pub fn handle_frame(&mut self, frame: Frame, now_ms: u64) -> Result<ClientStep, ClientError> {
        match (&self.state, frame) {
            (State::AwaitChallenge, Frame::Event(ev)) => {
                match ConnectChallenge::from_event(&ev).map(|c| c.nonce) {
                    Some(nonce) if !nonce.is_empty() => {
                        self.state = State::AwaitHello;
                        Ok(ClientStep::Send(Box::new(
                            self.connect_frame(&nonce, now_ms)?,
                        )))
                    }
                    _ => Err(no_challenge()),
                }
            }
            (State::AwaitChallenge, _) => Err(no_challenge()),
            (State::AwaitHello, Frame::Res(res)) if res.id == self.request_id => {
                self.state = State::Done;
                if !res.ok {
                    let err = res.error.ok_or_else(|| {
                        ClientError::Protocol("failed connect response without error".into())
                    })?;
                    return Err(ClientError::from_shape(&err));
                }
                let payload = res.payload.unwrap_or(serde_json::Value::Null);
                let hello: HelloOk = serde_json::from_value(payload)
                    .map_err(|e| ClientError::Protocol(format!("bad hello-ok: {e}")))?;
                Ok(ClientStep::Hello(Box::new(hello)))
            }
            _ => Ok(ClientStep::Wait),
        }
    }

    fn connect_frame(&self, nonce: &str, now_ms: u64) -> Result<Frame, ClientError> {
        let mut params = self.params.clone();
        if let Some(id) = self.identity {
            let payload = payload_to_sign(
                &params,
                SignatureVersion::V3,
                &id.device_id(),
                now_ms,
                nonce,
            );
            params.device = Some(DeviceProof {
                id: id.device_id(),
                public_key: id.public_key_b64url(),
                signature: id.sign(&payload),
                signed_at: now_ms,
                nonce: nonce.to_owned(),
            });
        }
        let params =
            serde_json::to_value(&params).map_err(|e| ClientError::Protocol(e.to_string()))?;
        Ok(Frame::Req(RequestFrame::new(
            self.request_id.clone(),
            "connect",
            Some(params),
        )))
    }
}

fn no_challenge() -> ClientError {
    ClientError::Protocol("gateway did not send connect.challenge with a nonce".into())
}
