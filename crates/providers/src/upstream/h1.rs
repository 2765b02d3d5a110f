//! HTTP/1.1 to upstreams, driven by the task that reads the answer.
//!
//! A connection's I/O is polled inside the answer's body (no spawned connection task, no
//! channel hop per body piece), and the body hands out everything its connection has decoded
//! so far as one piece: a burst of stream events that arrived in one read leaves in one
//! write. Idle keep-alive connections wait in a small per-origin pool; one found closed at
//! checkout is dropped, and a request a reused connection never sent is retried once on a
//! fresh one.

use std::collections::{HashMap, VecDeque};
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::Stream;
use http_body_util::Full;
use hyper::body::{Body as _, Incoming};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::io::Io;

type Sender = http1::SendRequest<Full<Bytes>>;
type Conn = http1::Connection<TokioIo<Io>, Full<Bytes>>;

/// Idle connections older than this are closed instead of reused.
const IDLE_MAX: Duration = Duration::from_secs(60);
/// At most this many idle connections are kept per origin.
const IDLE_PER_ORIGIN: usize = 256;
/// How often idle connections of every origin are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(15);
/// Largest piece one poll of a body hands out.
const MAX_PIECE: usize = 64 * 1024;
/// Room reserved when pieces are joined (a burst of stream events fits without regrowth).
const COPY_START: usize = 16 * 1024;

/// Scheme, host and port of an upstream.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Origin {
    tls: bool,
    host: String,
    port: u16,
}

impl Origin {
    /// The origin of an `http`/`https` URI.
    pub(crate) fn of(uri: &http::Uri) -> Option<Origin> {
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

/// Why a request got no answer head.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    /// TCP connect or TLS handshake failed.
    #[error("connect: {0}")]
    Connect(std::io::Error),
    /// Connecting took longer than the connect timeout.
    #[error("connect timed out")]
    ConnectTimeout,
    /// The exchange failed after connecting.
    #[error("http: {0}")]
    Http(hyper::Error),
}

/// The pool of idle connections and how new ones are made. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Connector {
    shared: Arc<Shared>,
}

struct Shared {
    idle: Mutex<Pool>,
    connect_timeout: Duration,
    tls: OnceLock<Result<tokio_rustls::TlsConnector, rustls::Error>>,
}

struct Pool {
    by_origin: HashMap<Origin, VecDeque<Idle>>,
    swept: Instant,
}

struct Idle {
    tx: Sender,
    conn: Conn,
    since: Instant,
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
                connect_timeout,
                tls: OnceLock::new(),
            }),
        }
    }

    /// Sends `req` (origin-form URI, `Host` set) to `origin`; returns the head and a body
    /// that drives the connection.
    pub(crate) async fn send(
        &self,
        origin: Origin,
        mut req: http::Request<Full<Bytes>>,
    ) -> Result<(http::response::Parts, Answer), SendError> {
        let mut may_reuse = true;
        loop {
            let pooled = if may_reuse {
                poll_fn(|cx| Poll::Ready(self.checkout(&origin, cx))).await
            } else {
                None
            };
            let reused = pooled.is_some();
            let (mut tx, mut conn) = match pooled {
                Some(c) => c,
                None => self.connect(&origin).await?,
            };
            let mut fut = pin!(tx.try_send_request(req));
            let mut conn_done = false;
            let res = poll_fn(|cx| {
                if !conn_done && Pin::new(&mut conn).poll(cx).is_ready() {
                    conn_done = true;
                }
                match fut.as_mut().poll(cx) {
                    Poll::Pending if conn_done => Poll::Ready(None),
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(r) => Poll::Ready(Some(r)),
                }
            })
            .await;
            match res {
                Some(Ok(resp)) => {
                    let (head, body) = resp.into_parts();
                    let drive = (!conn_done).then_some((tx, conn));
                    let answer = Answer {
                        body,
                        drive,
                        pool: self.shared.clone(),
                        origin: Some(origin),
                        failed: None,
                        ended: false,
                    };
                    return Ok((head, answer));
                }
                Some(Err(mut e)) => match e.take_message() {
                    // A reused connection that closed before the request was written.
                    Some(unsent) if reused => {
                        req = unsent;
                        may_reuse = false;
                    }
                    _ => return Err(SendError::Http(e.into_error())),
                },
                None => {
                    return Err(SendError::Connect(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "the connection closed before an answer",
                    )));
                }
            }
        }
    }

    /// A live idle connection to `origin`, if the pool has one.
    fn checkout(&self, origin: &Origin, cx: &mut Context<'_>) -> Option<(Sender, Conn)> {
        loop {
            let idle = {
                let mut pool = self.shared.lock();
                pool.by_origin.get_mut(origin)?.pop_back()?
            };
            let Idle {
                tx,
                mut conn,
                since,
            } = idle;
            if since.elapsed() > IDLE_MAX {
                continue;
            }
            // A poll reads a close (or stray bytes) the server sent while it sat idle.
            if Pin::new(&mut conn).poll(cx).is_ready() || !tx.is_ready() {
                continue;
            }
            return Some((tx, conn));
        }
    }

    async fn connect(&self, origin: &Origin) -> Result<(Sender, Conn), SendError> {
        let io = tokio::time::timeout(self.shared.connect_timeout, self.open(origin))
            .await
            .map_err(|_| SendError::ConnectTimeout)?
            .map_err(SendError::Connect)?;
        http1::Builder::new()
            .handshake(TokioIo::new(io))
            .await
            .map_err(SendError::Http)
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

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn checkin(&self, origin: Origin, tx: Sender, conn: Conn) {
        let now = Instant::now();
        let mut pool = self.lock();
        if now.duration_since(pool.swept) > SWEEP_EVERY {
            pool.swept = now;
            pool.by_origin.retain(|_, idle| {
                idle.retain(|i| now.duration_since(i.since) <= IDLE_MAX);
                !idle.is_empty()
            });
        }
        let idle = pool.by_origin.entry(origin).or_default();
        if idle.len() < IDLE_PER_ORIGIN {
            idle.push_back(Idle {
                tx,
                conn,
                since: now,
            });
        }
    }
}

/// An answer's body. Polling it drives its connection; each item is everything decoded
/// so far (up to [`MAX_PIECE`]). A connection whose answer ended cleanly goes back to the
/// pool; one dropped early is closed.
pub(crate) struct Answer {
    body: Incoming,
    drive: Option<(Sender, Conn)>,
    pool: Arc<Shared>,
    origin: Option<Origin>,
    /// An error met after data that was handed out first.
    failed: Option<hyper::Error>,
    ended: bool,
}

impl Answer {
    /// Polls the connection, forgetting it once it is done.
    fn drive(&mut self, cx: &mut Context<'_>) {
        if let Some((_, conn)) = &mut self.drive
            && Pin::new(conn).poll(cx).is_ready()
        {
            self.drive = None;
        }
    }

    /// The answer ended cleanly: its connection, if reusable, goes back to the pool.
    fn finish(&mut self, cx: &mut Context<'_>) {
        self.ended = true;
        self.drive(cx);
        if let (Some((tx, conn)), Some(origin)) = (self.drive.take(), self.origin.take())
            && tx.is_ready()
        {
            self.pool.checkin(origin, tx, conn);
        }
    }
}

impl Stream for Answer {
    type Item = Result<Bytes, hyper::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(e) = this.failed.take() {
            this.ended = true;
            return Poll::Ready(Some(Err(e)));
        }
        let mut first: Option<Bytes> = None;
        let mut more = BytesMut::new();
        let mut len = 0;
        while !this.ended && len < MAX_PIECE {
            this.drive(cx);
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    len += data.len();
                    match &first {
                        None => first = Some(data),
                        Some(f) => {
                            if more.is_empty() {
                                more.reserve((f.len() + data.len()).max(COPY_START));
                                more.extend_from_slice(f);
                            }
                            more.extend_from_slice(&data);
                        }
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    this.drive = None;
                    if first.is_none() {
                        this.ended = true;
                        return Poll::Ready(Some(Err(e)));
                    }
                    this.failed = Some(e);
                    break;
                }
                Poll::Ready(None) => this.finish(cx),
                Poll::Pending => break,
            }
        }
        match first {
            Some(_) if !more.is_empty() => Poll::Ready(Some(Ok(more.freeze()))),
            Some(f) => Poll::Ready(Some(Ok(f))),
            None if this.ended => Poll::Ready(None),
            None => Poll::Pending,
        }
    }
}
