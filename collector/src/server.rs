//! Listeners and lifecycle: the agent API over rustls (axum-server), the
//! metrics listener over plain HTTP (axum::serve), the evaluation and alert
//! loop, graceful shutdown that drains connections, stops the loop and then
//! flushes the database writer. TLS handshakes go through
//! [`handshakes::GatedTlsAcceptor`]: a bounded number at a time, in order.

pub mod handshakes;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum_server::Handle;

use self::handshakes::{GatedTlsAcceptor, HandshakeLimits};
use crate::bootstrap::{self, BootstrapError, Bootstrapped};
use crate::config::Config;
use crate::http::{self, AppState};

/// How long open connections get to finish after a shutdown signal.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The certificate or key could not be loaded.
    #[error("TLS for the agent API: {0}")]
    Tls(#[source] BootstrapError),
    /// A server stopped with an error.
    #[error("{listener} server failed: {source}")]
    Serve {
        /// Which listener.
        listener: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Installs aws-lc-rs as the process-wide rustls provider (idempotent).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Both listeners bound, ready to serve.
pub struct BoundServer {
    app: AppState,
    api: std::net::TcpListener,
    metrics: std::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    /// Actual agent API address (port 0 resolved).
    pub api_addr: SocketAddr,
    /// Actual metrics address.
    pub metrics_addr: SocketAddr,
}

/// Connections the kernel completes and queues before the server accepts
/// them (capped by `net.core.somaxconn`). std's 128 overflows when a fleet
/// reconnects at once after a restart: the dropped SYNs are retried after
/// 1, 3, 7, 15 s, so agents wait for seconds before the collector even sees
/// them, and some get a reset (scripts/storm.sh measures it).
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds a non-blocking listener with [`LISTEN_BACKLOG`] and
/// `SO_REUSEADDR` (as std does: a restart may reuse the port at once).
/// Needs a Tokio runtime.
fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, ServeError> {
    let listen = || {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        // into_std keeps the socket non-blocking, as axum-server wants it.
        socket.listen(LISTEN_BACKLOG)?.into_std()
    };
    listen().map_err(|source| ServeError::Bind { addr, source })
}

impl BoundServer {
    /// Loads TLS and binds both listeners (so the start-up banner can show
    /// the real addresses and a port clash fails before anything is printed).
    pub async fn bind(
        config: &Config,
        files: &Bootstrapped,
        app: AppState,
    ) -> Result<Self, ServeError> {
        install_crypto_provider();
        let tls = Arc::new(bootstrap::server_tls_config(files).map_err(ServeError::Tls)?);
        let api = bind(config.listen)?;
        let metrics = bind(config.metrics_listen)?;
        let local = |l: &std::net::TcpListener, addr| {
            l.local_addr()
                .map_err(|source| ServeError::Bind { addr, source })
        };
        Ok(BoundServer {
            api_addr: local(&api, config.listen)?,
            metrics_addr: local(&metrics, config.metrics_listen)?,
            app,
            api,
            metrics,
            tls,
        })
    }

    /// Serves until `shutdown` resolves, drains, then flushes the writer.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let handle: Handle<SocketAddr> = Handle::new();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);

        let api_server = axum_server::from_tcp(self.api)
            .map_err(|source| ServeError::Serve {
                listener: "agent API",
                source,
            })?
            .acceptor(GatedTlsAcceptor::new(self.tls, HandshakeLimits::default()))
            .handle(handle.clone())
            // The peer address: enrollment is rate limited per source.
            .serve(
                http::router(self.app.clone()).into_make_service_with_connect_info::<SocketAddr>(),
            );
        let metrics_listener =
            tokio::net::TcpListener::from_std(self.metrics).map_err(|source| {
                ServeError::Serve {
                    listener: "metrics",
                    source,
                }
            })?;
        let mut metrics_stop = stop_rx.clone();
        let metrics_server = axum::serve(metrics_listener, http::metrics_router(self.app.clone()))
            .with_graceful_shutdown(async move {
                let _ = metrics_stop.wait_for(|stop| *stop).await;
            });

        let mut alerts_stop = stop_rx.clone();
        let alert_loop = tokio::spawn(self.app.clone().run_alerts(async move {
            let _ = alerts_stop.wait_for(|stop| *stop).await;
        }));

        let signal_handle = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down: draining connections");
            signal_handle.graceful_shutdown(Some(DRAIN_TIMEOUT));
            let _ = stop_tx.send(true);
        });

        let (api_result, metrics_result) = tokio::join!(api_server, async {
            // Bound the metrics drain like the API's.
            let mut stop = stop_rx.clone();
            tokio::select! {
                r = metrics_server => r,
                _ = async {
                    let _ = stop.wait_for(|s| *s).await;
                    tokio::time::sleep(DRAIN_TIMEOUT).await;
                } => Ok(()),
            }
        });

        if let Err(e) = alert_loop.await {
            tracing::error!(error = %e, "the alert loop failed");
        }
        // Every acknowledged report is already committed; this commits what
        // is still queued and stops the writer thread.
        let app = self.app.clone();
        let _ = tokio::task::spawn_blocking(move || app.writer.shutdown()).await;
        tracing::info!("collector stopped");
        api_result.map_err(|source| ServeError::Serve {
            listener: "agent API",
            source,
        })?;
        metrics_result.map_err(|source| ServeError::Serve {
            listener: "metrics",
            source,
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpStream;

    use super::*;

    /// Far more connections than std's backlog of 128 complete while
    /// nothing accepts them: a reconnecting fleet is queued, not dropped.
    /// (Needs `net.core.somaxconn` >= 600, the default since Linux 5.4.)
    #[tokio::test]
    async fn the_listener_queues_a_reconnecting_fleet() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let opened = tokio::task::spawn_blocking(move || {
            let mut streams = Vec::new();
            for n in 0..600 {
                // A dropped SYN is retried after 1 s: 500 ms means it was dropped.
                match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
                    Ok(s) => streams.push(s),
                    Err(e) => return Err(format!("connection {n}: {e}")),
                }
            }
            Ok(streams.len())
        })
        .await
        .unwrap();
        assert_eq!(opened, Ok(600));
        drop(listener);
    }
}
