//! A scripted upstream for fault injection: a raw HTTP/1.1 server on loopback that answers
//! every request with one [`Fault`] in one provider's wire format (a valid first stream piece,
//! then the fault). Test-side on purpose, independent of the providers crate's fakes.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::time::Duration;

use sandgate_providers::ProviderKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Wire formats of the four adapters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    OpenAi,
    Ollama,
    Gemini,
    Anthropic,
}

pub const WIRES: [Wire; 4] = [Wire::OpenAi, Wire::Ollama, Wire::Gemini, Wire::Anthropic];

impl Wire {
    pub fn provider(self) -> ProviderKind {
        match self {
            Wire::OpenAi => ProviderKind::OpenAiApi,
            Wire::Ollama => ProviderKind::OllamaLocal,
            Wire::Gemini => ProviderKind::GeminiApi,
            Wire::Anthropic => ProviderKind::AnthropicProd,
        }
    }

    /// The endpoint (base URL) of a server at `addr` in the provider profile's shape.
    pub fn endpoint(self, addr: &str) -> String {
        match self {
            Wire::OpenAi => format!("http://{addr}/v1"),
            Wire::Gemini => format!("http://{addr}/v1beta"),
            Wire::Ollama | Wire::Anthropic => format!("http://{addr}"),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Wire::Ollama => "application/x-ndjson",
            _ => "text/event-stream",
        }
    }

    /// A valid first piece of a streamed reply, saying `hi`.
    pub fn first_piece(self) -> &'static str {
        match self {
            Wire::OpenAi => {
                "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"hi\"},\"finish_reason\":null}]}\n\n"
            }
            Wire::Ollama => {
                "{\"model\":\"m\",\"created_at\":\"2025-01-01T00:00:00Z\",\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},\"done\":false}\n"
            }
            Wire::Gemini => {
                "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hi\"}],\"role\":\"model\"},\"index\":0}]}\r\n\r\n"
            }
            Wire::Anthropic => concat!(
                "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":1,\"output_tokens\":0}}}\n\n",
                "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
                "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n"
            ),
        }
    }

    /// A piece that is framed correctly but whose payload is not valid JSON.
    pub fn malformed_piece(self) -> &'static str {
        match self {
            Wire::Ollama => "{\"message\": {not json\n",
            Wire::Anthropic => "event: content_block_delta\ndata: {not json\n\n",
            Wire::Gemini => "data: {not json\r\n\r\n",
            Wire::OpenAi => "data: {not json\n\n",
        }
    }
}

/// What the upstream does with every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// An error status with a JSON error body.
    Status(u16),
    /// 429 with `Retry-After: <secs>`.
    RateLimited(u32),
    /// Never sends the response head.
    HangBeforeHead,
    /// The first piece, then silence with the connection open.
    StallMidStream,
    /// The first piece, then the connection breaks (no final chunk).
    CutStream,
    /// The first piece, then a piece whose payload is not JSON, then silence.
    Malformed,
    /// The first piece, then `bytes` bytes without a newline, then silence.
    OverlongLine(usize),
    /// The first piece, then one byte every `every` without ever ending the line.
    Trickle(Duration),
}

/// A running scripted upstream; stops (releasing hanging connections) when dropped.
pub struct Scripted {
    pub addr: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Scripted {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every connection.
        self.task.abort();
    }
}

impl Scripted {
    pub async fn spawn(wire: Wire, fault: Fault) -> Scripted {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((sock, _)) = l.accept().await {
                conns.spawn(serve(sock, wire, fault));
                while conns.try_join_next().is_some() {}
            }
        });
        Scripted { addr, task }
    }
}

/// Reads one request (head and a content-length body).
async fn read_request(sock: &mut TcpStream) -> Option<()> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let head_end = loop {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    Some(())
}

/// One HTTP/1.1 chunk.
fn chunk(data: &[u8]) -> Vec<u8> {
    let mut v = format!("{:x}\r\n", data.len()).into_bytes();
    v.extend_from_slice(data);
    v.extend_from_slice(b"\r\n");
    v
}

async fn serve(mut sock: TcpStream, wire: Wire, fault: Fault) {
    let _ = sock.set_nodelay(true);
    if read_request(&mut sock).await.is_none() {
        return;
    }
    let status_reply = |status: u16, extra: &str| {
        let body = format!(
            "{{\"error\":{{\"message\":\"scripted upstream says {status}\",\"type\":\"server_error\"}}}}"
        );
        format!(
            "HTTP/1.1 {status} Scripted\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}connection: close\r\n\r\n{body}",
            body.len()
        )
    };
    match fault {
        Fault::Status(s) => {
            let _ = sock.write_all(status_reply(s, "").as_bytes()).await;
            return;
        }
        Fault::RateLimited(secs) => {
            let extra = format!("retry-after: {secs}\r\n");
            let _ = sock.write_all(status_reply(429, &extra).as_bytes()).await;
            return;
        }
        Fault::HangBeforeHead => return std::future::pending().await,
        _ => {}
    }
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {}\r\ntransfer-encoding: chunked\r\n\r\n",
        wire.content_type()
    );
    if sock.write_all(head.as_bytes()).await.is_err()
        || sock
            .write_all(&chunk(wire.first_piece().as_bytes()))
            .await
            .is_err()
    {
        return;
    }
    match fault {
        Fault::StallMidStream => std::future::pending().await,
        Fault::CutStream => {
            // Dropping the socket mid-body: no terminating zero-length chunk.
        }
        Fault::Malformed => {
            let _ = sock
                .write_all(&chunk(wire.malformed_piece().as_bytes()))
                .await;
            std::future::pending().await
        }
        Fault::OverlongLine(total) => {
            let piece = vec![b'a'; 64 * 1024];
            let mut sent = 0;
            while sent < total {
                if sock.write_all(&chunk(&piece)).await.is_err() {
                    return;
                }
                sent += piece.len();
            }
            std::future::pending().await
        }
        Fault::Trickle(every) => loop {
            if sock.write_all(&chunk(b"a")).await.is_err() {
                return;
            }
            tokio::time::sleep(every).await;
        },
        _ => {}
    }
}
