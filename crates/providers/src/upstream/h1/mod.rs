//! HTTP/1.1 to upstreams, driven by the task that reads the answer.
//!
//! [`wire`] is the protocol (sans-IO); this module is its thin async shell: a connection is
//! a socket plus its read buffer, the request goes out in one write, and the answer's body
//! ([`Answer`]) reads and decodes in the serving task (no spawned connection task, no
//! channel hop per body piece), handing out everything decoded so far as one piece: a burst
//! of stream events that arrived in one read leaves in one write. Idle keep-alive
//! connections wait in a small per-origin pool; one found closed at checkout is dropped, and
//! a request that could not be written to a reused connection is sent once more on a fresh
//! one.

mod answer;
mod wire;

use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use http::{HeaderMap, Method, StatusCode};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::io::Io;
pub(crate) use answer::{Answer, BodyError};
use wire::Head;
pub(crate) use wire::{Field, WireError};

/// Idle connections older than this are closed instead of reused.
const IDLE_MAX: Duration = Duration::from_secs(60);
/// At most this many idle connections are kept per origin.
const IDLE_PER_ORIGIN: usize = 256;
/// How often idle connections of every origin are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(15);
/// At most this many parsed endpoints are cached (then the cache starts over).
const ENDPOINTS_CACHED: usize = 256;
/// Read buffer room per connection.
const READ_ROOM: usize = 16 * 1024;

/// Scheme, host and port of an upstream.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Origin {
    tls: bool,
    host: String,
    port: u16,
}

impl Origin {
    /// The origin of an `http`/`https` URI.
    fn of(uri: &http::Uri) -> Option<Origin> {
        let tls = match uri.scheme_str()? {
            "http" => false,
            "https" => true,
            _ => return None,
        };
        let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Some(Origin {
            tls,
            host: host.to_owned(),
            port,
        })
    }
}

/// An upstream base URL, parsed once (see [`Connector::endpoint`]): where to connect, the
/// `Host` header, and the path every request's own path follows.
#[derive(Debug)]
pub(crate) struct Endpoint {
    origin: Origin,
    host: String,
    prefix: String,
}

impl Endpoint {
    /// What keeps `base` from being an endpoint: the one rule for both transports. It must
    /// be `http`/`https`, without a query or fragment (request paths are appended to it, so
    /// either would end up in the middle of the target).
    pub(crate) fn refusal(base: &str) -> Option<&'static str> {
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            Some("must be an http(s) URL")
        } else if base.contains(['?', '#']) {
            Some("must not have a query or fragment")
        } else {
            None
        }
    }

    /// `base` is an endpoint ([`Endpoint::refusal`]) without a trailing slash; its path is
    /// the prefix. Userinfo is not sent in `Host`.
    fn parse(base: &str) -> Option<Endpoint> {
        if Self::refusal(base).is_some() {
            return None;
        }
        let uri: http::Uri = base.parse().ok()?;
        let origin = Origin::of(&uri)?;
        let authority = uri.authority()?.as_str();
        let host = authority.rsplit('@').next()?.to_owned();
        let prefix = uri.path().trim_end_matches('/').to_owned();
        Some(Endpoint {
            origin,
            host,
            prefix,
        })
    }
}

/// Why a request got no answer head.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    /// TCP connect or TLS handshake failed.
    #[error("connect: {0}")]
    Connect(std::io::Error),
    /// Connecting took longer than the connect timeout.
    #[error("connect timed out")]
    ConnectTimeout,
    /// Writing the request or reading the head failed.
    #[error("i/o: {0}")]
    Io(std::io::Error),
    /// The upstream closed the connection before a complete head.
    #[error("closed before an answer")]
    Closed,
    /// The head is not HTTP/1.1, or the request could not be written
    /// ([`WireError::Request`]: nothing was sent).
    #[error("{0}")]
    Wire(WireError),
}

/// The pool of idle connections and how new ones are made. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Connector {
    shared: Arc<Shared>,
}

struct Shared {
    idle: Mutex<Pool>,
    endpoints: Mutex<HashMap<String, Arc<Endpoint>>>,
    connect_timeout: Duration,
    tls: OnceLock<Result<tokio_rustls::TlsConnector, rustls::Error>>,
}

struct Pool {
    by_origin: HashMap<Origin, VecDeque<Idle>>,
    swept: Instant,
}

struct Idle {
    conn: Conn,
    since: Instant,
}

/// One HTTP/1.1 connection: its transport and the bytes read but not yet decoded.
pub(crate) struct Conn {
    io: Io,
    buf: BytesMut,
}

impl Conn {
    /// Reads more bytes into the buffer; `Ok(0)` is the upstream's close.
    fn poll_read_more(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        if self.buf.capacity() - self.buf.len() < READ_ROOM / 4 {
            self.buf.reserve(READ_ROOM);
        }
        tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.buf)
    }

    /// Whether an idle connection is still open and silent (a close, stray bytes or an
    /// error while it sat idle make it unusable).
    fn idle_and_open(&mut self, cx: &mut Context<'_>) -> bool {
        self.buf.is_empty() && self.poll_read_more(cx).is_pending()
    }
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("connect_timeout", &self.shared.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl Connector {
    pub(crate) fn new(connect_timeout: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                idle: Mutex::new(Pool {
                    by_origin: HashMap::new(),
                    swept: Instant::now(),
                }),
                endpoints: Mutex::new(HashMap::new()),
                connect_timeout,
                tls: OnceLock::new(),
            }),
        }
    }

    /// `base` parsed, from a small cache (routes change rarely; parsing the URL again for
    /// every request cost more than the rest of building it). `None`: not an http(s) URL.
    pub(crate) fn endpoint(&self, base: &str) -> Option<Arc<Endpoint>> {
        let mut cache = self
            .shared
            .endpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(hit) = cache.get(base) {
            return Some(hit.clone());
        }
        let parsed = Arc::new(Endpoint::parse(base)?);
        if cache.len() >= ENDPOINTS_CACHED {
            cache.clear();
        }
        cache.insert(base.to_owned(), parsed.clone());
        Some(parsed)
    }

    /// Sends `method` to `path` under `endpoint` with `fields` and `body`; returns the
    /// answer's status and headers and a body that reads the rest.
    pub(crate) async fn send<'a>(
        &self,
        endpoint: Arc<Endpoint>,
        method: &Method,
        path: &str,
        fields: impl IntoIterator<Item = Field<'a>>,
        body: &[u8],
    ) -> Result<(StatusCode, HeaderMap, Answer), SendError> {
        let req = wire::Request {
            method,
            host: &endpoint.host,
            path: [&endpoint.prefix, path],
            body,
        };
        let request = wire::encode_request(&req, fields).map_err(SendError::Wire)?;
        let origin = &endpoint.origin;
        let mut may_reuse = true;
        loop {
            let pooled = if may_reuse {
                poll_fn(|cx| Poll::Ready(self.checkout(origin, cx))).await
            } else {
                None
            };
            let reused = pooled.is_some();
            let mut conn = match pooled {
                Some(c) => c,
                None => self.connect(origin).await?,
            };
            let written = async {
                conn.io.write_all(&request).await?;
                conn.io.flush().await
            };
            match written.await {
                Ok(()) => {}
                // A reused connection the upstream closed before the request went out.
                Err(_) if reused => {
                    may_reuse = false;
                    continue;
                }
                Err(e) => return Err(SendError::Io(e)),
            }
            let Head {
                status,
                headers,
                framing,
                keep_alive,
            } = read_head(&mut conn).await?;
            let answer = Answer::new(conn, framing, keep_alive, self.shared.clone(), endpoint);
            return Ok((status, headers, answer));
        }
    }

    /// A live idle connection to `origin`, if the pool has one.
    fn checkout(&self, origin: &Origin, cx: &mut Context<'_>) -> Option<Conn> {
        loop {
            let Idle { mut conn, since } = {
                let mut pool = self.shared.lock();
                pool.by_origin.get_mut(origin)?.pop_back()?
            };
            if since.elapsed() <= IDLE_MAX && conn.idle_and_open(cx) {
                return Some(conn);
            }
        }
    }

    async fn connect(&self, origin: &Origin) -> Result<Conn, SendError> {
        let io = tokio::time::timeout(self.shared.connect_timeout, self.open(origin))
            .await
            .map_err(|_| SendError::ConnectTimeout)?
            .map_err(SendError::Connect)?;
        Ok(Conn {
            io,
            buf: BytesMut::with_capacity(READ_ROOM),
        })
    }

    async fn open(&self, origin: &Origin) -> std::io::Result<Io> {
        let tcp = TcpStream::connect((origin.host.as_str(), origin.port)).await?;
        tcp.set_nodelay(true)?;
        if !origin.tls {
            return Ok(Io::Plain(tcp));
        }
        let name = rustls::pki_types::ServerName::try_from(origin.host.clone())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let tls = self
            .shared
            .tls
            .get_or_init(super::io::tls_connector)
            .as_ref()
            .map_err(|e| std::io::Error::other(e.clone()))?;
        Ok(Io::Tls(Box::new(tls.connect(name, tcp).await?)))
    }
}

/// Reads until a complete answer head is buffered (interim answers skipped).
async fn read_head(conn: &mut Conn) -> Result<Head, SendError> {
    loop {
        if !conn.buf.is_empty()
            && let Some(head) = wire::parse_head(&mut conn.buf).map_err(SendError::Wire)?
        {
            return Ok(head);
        }
        match poll_fn(|cx| conn.poll_read_more(cx)).await {
            Ok(0) => return Err(SendError::Closed),
            Ok(_) => {}
            Err(e) => return Err(SendError::Io(e)),
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A connection whose answer ended cleanly, ready for the next request.
    fn checkin(&self, origin: &Origin, conn: Conn) {
        let now = Instant::now();
        let mut pool = self.lock();
        if now.duration_since(pool.swept) > SWEEP_EVERY {
            pool.swept = now;
            pool.by_origin.retain(|_, idle| {
                idle.retain(|i| now.duration_since(i.since) <= IDLE_MAX);
                !idle.is_empty()
            });
        }
        let idle = match pool.by_origin.get_mut(origin) {
            Some(idle) => idle,
            None => pool.by_origin.entry(origin.clone()).or_default(),
        };
        if idle.len() < IDLE_PER_ORIGIN {
            idle.push_back(Idle { conn, since: now });
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_once_into_origin_host_and_prefix() {
        let e = Endpoint::parse("https://user:pw@api.example:8443/v1/x").unwrap();
        assert_eq!(
            (e.origin.tls, e.origin.host.as_str(), e.origin.port),
            (true, "api.example", 8443)
        );
        assert_eq!(
            (e.host.as_str(), e.prefix.as_str()),
            ("api.example:8443", "/v1/x")
        );
        let e = Endpoint::parse("http://[::1]").unwrap();
        assert_eq!((e.origin.host.as_str(), e.origin.port), ("::1", 80));
        assert_eq!((e.host.as_str(), e.prefix.as_str()), ("[::1]", ""));
        assert!(Endpoint::parse("http://h:1/v1?k=v").is_none());
        assert!(Endpoint::parse("http://h:1/v1#f").is_none());
        assert!(Endpoint::parse("ftp://h/v1").is_none());
        assert!(Endpoint::parse("http://").is_none());
        assert!(Endpoint::parse("not a url").is_none());
    }

    #[test]
    fn the_endpoint_cache_returns_one_parse_per_base() {
        let conn = Connector::new(Duration::from_secs(1));
        let a = conn.endpoint("http://127.0.0.1:9/v1").unwrap();
        let b = conn.endpoint("http://127.0.0.1:9/v1").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(conn.endpoint("mock://?tokens=1").is_none());
        for i in 0..ENDPOINTS_CACHED + 1 {
            conn.endpoint(&format!("http://h{i}/v1")).unwrap();
        }
        assert!(conn.shared.endpoints.lock().unwrap().len() <= ENDPOINTS_CACHED);
    }
}
