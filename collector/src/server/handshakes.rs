//! TLS handshakes for the agent API, a bounded number at a time and first
//! come, first served.
//!
//! When a fleet reconnects at once (a collector restart), thousands of
//! connections arrive within a second. Handshaking them all concurrently
//! shares the CPU between all of them, so every one finishes late and many
//! run into a timeout (scripts/storm.sh measured 19.9 % connection errors
//! at 10,000). Here at most [`HandshakeLimits::concurrent`] handshakes run at
//! once; the others wait in arrival order (tokio's semaphore is fair), so the
//! early ones finish in milliseconds and the queue drains at the machine's
//! handshake rate. The handshake timeout counts from when a connection's
//! handshake starts, not from when it was accepted: waiting in the queue is
//! not the client's fault.
//!
//! A slot is for the CPU part only, so a hostile client cannot hold the
//! gate shut: the ClientHello is read before a slot is taken (a client that
//! connects and says nothing, or dribbles, holds a socket until the
//! handshake timeout but never a slot), and a slot is given back after
//! [`HandshakeLimits::slot_hold`] even when the client has not finished its
//! side (the rest of its handshake goes on without a slot, within the
//! timeout).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use axum_server::accept::Accept;
use rustls::server::{Accepted, Acceptor};
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::{StartHandshake, TlsStream};

/// How many handshakes run at once and how long the others may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeLimits {
    /// Handshakes in progress at once. A handshake is mostly CPU with one
    /// round trip in the middle, so a few per core keep the cores busy
    /// while clients answer.
    pub concurrent: usize,
    /// Accepted connections that may wait for a handshake slot; beyond this
    /// a new connection is closed at once (the agent retries later), so a
    /// flood cannot hold unbounded sockets and tasks.
    pub queued: usize,
    /// Longest wait for a slot: past it the agent (60 s request timeout)
    /// is about to give up anyway, so the connection is closed.
    pub max_wait: Duration,
    /// Time a started handshake gets, from its first byte to its last.
    pub handshake_timeout: Duration,
    /// Longest a handshake keeps its slot: the server's own work (key
    /// exchange, signature) is done in the first milliseconds; after that a
    /// slot would only wait for the client's answer (one round trip).
    pub slot_hold: Duration,
}

impl Default for HandshakeLimits {
    fn default() -> Self {
        HandshakeLimits {
            concurrent: 32,
            queued: 32_768,
            max_wait: Duration::from_secs(45),
            handshake_timeout: Duration::from_secs(10),
            slot_hold: Duration::from_secs(1),
        }
    }
}

/// Why a connection got no handshake slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// [`HandshakeLimits::queued`] connections were already waiting.
    #[error("{0} connections are already waiting for a TLS handshake")]
    QueueFull(usize),
    /// No slot within [`HandshakeLimits::max_wait`].
    #[error("no TLS handshake slot within {0:?}")]
    WaitedTooLong(Duration),
}

/// The FIFO queue in front of the handshakes.
#[derive(Debug)]
pub struct HandshakeGate {
    slots: Semaphore,
    waiting: AtomicUsize,
    limits: HandshakeLimits,
}

/// Decrements the waiting count however the wait ends (cancelled too).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl HandshakeGate {
    /// A gate enforcing `limits` (a zero `concurrent` is taken as 1).
    pub fn new(limits: HandshakeLimits) -> Self {
        HandshakeGate {
            slots: Semaphore::new(limits.concurrent.max(1)),
            waiting: AtomicUsize::new(0),
            limits,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> HandshakeLimits {
        self.limits
    }

    /// Waits for a handshake slot in arrival order; the slot is held until
    /// the permit is dropped.
    pub async fn admit(&self) -> Result<SemaphorePermit<'_>, Refused> {
        // Free slot: no queueing, no counting.
        if let Ok(permit) = self.slots.try_acquire() {
            return Ok(permit);
        }
        let before = self.waiting.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&self.waiting);
        if before >= self.limits.queued {
            return Err(Refused::QueueFull(before));
        }
        match tokio::time::timeout(self.limits.max_wait, self.slots.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed; treat it like a wait that ran out.
            Ok(Err(_)) | Err(_) => Err(Refused::WaitedTooLong(self.limits.max_wait)),
        }
    }

    /// Connections waiting for a slot now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }
}

/// True when the peer has already closed its side: an agent that gave up
/// while queued. Handshaking it would spend CPU the queue behind it needs.
/// Never waits: only the readiness the reactor has already seen counts.
pub async fn peer_hung_up(stream: &TcpStream) -> bool {
    let mut ready = std::pin::pin!(stream.ready(Interest::READABLE));
    let polled = std::future::poll_fn(|cx| Poll::Ready(ready.as_mut().poll(cx))).await;
    match polled {
        Poll::Ready(Ok(ready)) => ready.is_read_closed(),
        // An error on the socket: it is of no use either.
        Poll::Ready(Err(_)) => true,
        Poll::Pending => false,
    }
}

/// An axum-server acceptor: TLS through a [`HandshakeGate`].
#[derive(Clone)]
pub struct GatedTlsAcceptor {
    tls: TlsAcceptor,
    gate: Arc<HandshakeGate>,
}

impl GatedTlsAcceptor {
    /// Serves `config` behind a gate with `limits`.
    pub fn new(config: Arc<rustls::ServerConfig>, limits: HandshakeLimits) -> Self {
        GatedTlsAcceptor {
            tls: TlsAcceptor::from(config),
            gate: Arc::new(HandshakeGate::new(limits)),
        }
    }

    /// The gate (for tests and diagnostics).
    pub fn gate(&self) -> &Arc<HandshakeGate> {
        &self.gate
    }

    /// Reads the ClientHello (no slot), waits for a slot, then handshakes;
    /// all within the handshake timeout counted from the first byte read,
    /// the wait for a slot excepted.
    pub async fn handshake(&self, stream: TcpStream) -> io::Result<TlsStream<TcpStream>> {
        let limits = self.gate.limits();
        let timed_out = |what: &str| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{what} within {:?}", limits.handshake_timeout),
            )
        };
        let hello_read = tokio::time::Instant::now();
        let accepted = tokio::time::timeout(limits.handshake_timeout, read_client_hello(&stream))
            .await
            .map_err(|_| timed_out("no ClientHello"))??;
        let hello_took = hello_read.elapsed();
        let permit = self.gate.admit().await.map_err(|refused| {
            tracing::debug!(reason = %refused, "TLS connection closed before its handshake");
            io::Error::new(io::ErrorKind::ConnectionRefused, refused)
        })?;
        if peer_hung_up(&stream).await {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the client closed the connection while it waited for a TLS handshake",
            ));
        }
        let rest = limits.handshake_timeout.saturating_sub(hello_took);
        let deadline = tokio::time::Instant::now() + rest;
        // The server's flight (key share, certificate, signature) is made
        // here and in the first poll, under the slot.
        let mut accept = std::pin::pin!(
            StartHandshake::from_parts(accepted, stream).into_stream(self.tls.config().clone())
        );
        let early = tokio::time::timeout(limits.slot_hold.min(rest), &mut accept).await;
        drop(permit);
        match early {
            Ok(done) => done,
            // Only the client's answer is missing: wait for it without a slot.
            Err(_) => tokio::time::timeout_at(deadline, accept)
                .await
                .map_err(|_| timed_out("TLS handshake not finished"))?,
        }
    }
}

/// Reads from the socket until rustls has a whole ClientHello, without a
/// handshake slot: this costs only a read buffer, whatever the client sends.
async fn read_client_hello(stream: &TcpStream) -> io::Result<Accepted> {
    /// `io::Read` over a non-blocking tokio socket (`WouldBlock` when empty).
    struct Nonblocking<'a>(&'a TcpStream);
    impl io::Read for Nonblocking<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.0.try_read(buf)
        }
    }
    impl io::Write for Nonblocking<'_> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.try_write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut acceptor = Acceptor::default();
    loop {
        stream.readable().await?;
        match acceptor.read_tls(&mut Nonblocking(stream)) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the client closed the connection before its ClientHello",
                ));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => return Ok(accepted),
            Ok(None) => {}
            Err((e, mut alert)) => {
                // Best effort: tell the client why (a non-TLS client sees
                // an alert rather than a silent close).
                let _ = alert.write(&mut Nonblocking(stream));
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
    }
}

impl<S: Send + 'static> Accept<TcpStream, S> for GatedTlsAcceptor {
    type Stream = TlsStream<TcpStream>;
    type Service = S;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, S)>> + Send>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let acceptor = self.clone();
        Box::pin(async move {
            let tls = acceptor.handshake(stream).await?;
            Ok((tls, service))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Instant;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn limits(concurrent: usize, queued: usize, max_wait_ms: u64) -> HandshakeLimits {
        HandshakeLimits {
            concurrent,
            queued,
            max_wait: Duration::from_millis(max_wait_ms),
            handshake_timeout: Duration::from_secs(10),
            slot_hold: Duration::from_secs(1),
        }
    }

    #[tokio::test]
    async fn slots_go_to_waiters_in_arrival_order() {
        let gate = Arc::new(HandshakeGate::new(limits(2, 100, 10_000)));
        let order = Arc::new(Mutex::new(Vec::new()));
        let held = gate.admit().await.unwrap();
        let held2 = gate.admit().await.unwrap();
        let mut tasks = Vec::new();
        for n in 0..20 {
            let (waiter, order) = (gate.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = waiter.admit().await.unwrap();
                order.lock().unwrap().push(n);
                tokio::task::yield_now().await;
            }));
            // Let task n start waiting before task n + 1 arrives.
            while gate.waiting() < n + 1 {
                tokio::task::yield_now().await;
            }
        }
        drop((held, held2));
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), (0..20).collect::<Vec<_>>());
        assert_eq!(gate.waiting(), 0);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_a_long_wait_gives_up() {
        let gate = Arc::new(HandshakeGate::new(limits(1, 1, 200)));
        let _held = gate.admit().await.unwrap();
        let waiter = {
            let gate = gate.clone();
            tokio::spawn(async move {
                let t = Instant::now();
                (gate.admit().await.map(drop), t.elapsed())
            })
        };
        while gate.waiting() < 1 {
            tokio::task::yield_now().await;
        }
        let t = Instant::now();
        assert_eq!(gate.admit().await.map(drop), Err(Refused::QueueFull(1)));
        assert!(t.elapsed() < Duration::from_millis(100));
        let (result, waited) = waiter.await.unwrap();
        assert_eq!(
            result,
            Err(Refused::WaitedTooLong(Duration::from_millis(200)))
        );
        assert!(waited >= Duration::from_millis(200), "{waited:?}");
        assert_eq!(gate.waiting(), 0);
    }

    /// A self-signed server configuration and a client that trusts it.
    fn tls_pair() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
        crate::server::install_crypto_provider();
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = certified.cert.der().clone();
        let key = rustls_pki_types::PrivateKeyDer::try_from(certified.signing_key.serialize_der())
            .unwrap();
        let server = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let client = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        (Arc::new(server), Arc::new(client))
    }

    /// Serves `acceptor` on a loopback port: each connection is handshaken
    /// in its own task and answers one byte with "ok".
    async fn serve(acceptor: GatedTlsAcceptor) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(mut tls) = acceptor.handshake(stream).await {
                        let mut byte = [0u8; 1];
                        if tls.read_exact(&mut byte).await.is_ok() {
                            let _ = tls.write_all(b"ok").await;
                            let _ = tls.flush().await;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn exchange(client: Arc<rustls::ClientConfig>, addr: std::net::SocketAddr) -> String {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(client)
            .connect(name, tcp)
            .await
            .unwrap();
        tls.write_all(b"?").await.unwrap();
        let mut answer = [0u8; 2];
        tls.read_exact(&mut answer).await.unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    }

    /// A real ClientHello for `localhost`, as `client` would send it.
    fn client_hello(client: Arc<rustls::ClientConfig>) -> Vec<u8> {
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let mut conn = rustls::ClientConnection::new(client, name).unwrap();
        let mut hello = Vec::new();
        conn.write_tls(&mut hello).unwrap();
        hello
    }

    /// Clients that connect and say nothing never take the one slot: a
    /// real client behind them is answered long before the handshake
    /// timeout (60 s) would free a slot they held.
    #[tokio::test]
    async fn silent_clients_hold_no_slot() {
        let (server, client) = tls_pair();
        let acceptor = GatedTlsAcceptor::new(
            server,
            HandshakeLimits {
                handshake_timeout: Duration::from_secs(60),
                ..limits(1, 10, 60_000)
            },
        );
        let gate = acceptor.gate().clone();
        let addr = serve(acceptor).await;
        let mut silent = Vec::new();
        for _ in 0..5 {
            silent.push(TcpStream::connect(addr).await.unwrap());
        }
        let answer = tokio::time::timeout(Duration::from_secs(30), exchange(client, addr)).await;
        assert_eq!(answer.expect("answered while 5 clients stay silent"), "ok");
        assert_eq!(gate.slots.available_permits(), 1, "no slot is held");
        drop(silent);
    }

    /// One slot, taken by a client that sends its ClientHello and then
    /// never answers: it keeps the slot only for `slot_hold`, so the client
    /// queued behind it is answered, and it is cut at the handshake timeout,
    /// which for the queued client counts from its own first byte.
    #[tokio::test]
    async fn a_stalled_handshake_gives_its_slot_back_and_is_cut_at_the_timeout() {
        let (server, client) = tls_pair();
        let timeout = Duration::from_secs(3);
        let acceptor = GatedTlsAcceptor::new(
            server,
            HandshakeLimits {
                handshake_timeout: timeout,
                slot_hold: Duration::from_millis(300),
                ..limits(1, 10, 10_000)
            },
        );
        let gate = acceptor.gate().clone();
        let addr = serve(acceptor).await;
        let mut stalled = TcpStream::connect(addr).await.unwrap();
        stalled
            .write_all(&client_hello(client.clone()))
            .await
            .unwrap();
        // The stalled handshake holds the only slot.
        while gate.slots.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let t = Instant::now();
        assert_eq!(exchange(client, addr).await, "ok");
        assert!(
            t.elapsed() < timeout,
            "the queued client waited for the stalled one's timeout: {:?}",
            t.elapsed()
        );
        // The server gives up on the stalled client: it sees the close
        // after the server's flight.
        let mut buf = vec![0u8; 16 * 1024];
        let closed = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match stalled.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(
            closed.is_ok(),
            "the stalled connection is closed at the handshake timeout"
        );
    }

    #[tokio::test]
    async fn many_clients_through_few_slots_all_get_their_answer() {
        let (server, client) = tls_pair();
        let acceptor = GatedTlsAcceptor::new(server, limits(2, 1000, 30_000));
        let addr = serve(acceptor).await;
        let clients: Vec<_> = (0..50)
            .map(|_| tokio::spawn(exchange(client.clone(), addr)))
            .collect();
        for c in clients {
            assert_eq!(c.await.unwrap(), "ok");
        }
    }

    #[tokio::test]
    async fn a_peer_that_closed_is_seen_as_gone_and_an_open_one_is_not() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = TcpStream::connect(addr).await.unwrap();
        let (open_server_side, _) = listener.accept().await.unwrap();
        let mut closed = TcpStream::connect(addr).await.unwrap();
        let (closed_server_side, _) = listener.accept().await.unwrap();
        // A ClientHello-like byte, then the client gives up.
        closed.write_all(b"\x16").await.unwrap();
        drop(closed);
        // The reactor learns of the close asynchronously.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !peer_hung_up(&closed_server_side).await {
            assert!(Instant::now() < deadline, "the close was never seen");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!peer_hung_up(&open_server_side).await);
        drop(open);
    }
}
