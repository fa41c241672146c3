//! Listeners and lifecycle: the agent API over rustls (axum-server), the
//! metrics listener over plain HTTP (axum::serve), the evaluation and alert
//! loop, graceful shutdown that drains connections, stops the loop and then
//! flushes the database writer.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;

use crate::bootstrap::Bootstrapped;
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
    #[error("loading TLS certificate {cert} / key {key}: {source}")]
    Tls {
        /// Certificate path.
        cert: String,
        /// Key path.
        key: String,
        /// The error.
        source: std::io::Error,
    },
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
    tls: RustlsConfig,
    /// Actual agent API address (port 0 resolved).
    pub api_addr: SocketAddr,
    /// Actual metrics address.
    pub metrics_addr: SocketAddr,
}

fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, ServeError> {
    let listener = std::net::TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|_| l))
        .map_err(|source| ServeError::Bind { addr, source })?;
    Ok(listener)
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
        let tls = RustlsConfig::from_pem_file(&files.cert_path, &files.key_path)
            .await
            .map_err(|source| ServeError::Tls {
                cert: files.cert_path.display().to_string(),
                key: files.key_path.display().to_string(),
                source,
            })?;
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

        let api_server = axum_server::from_tcp_rustls(self.api, self.tls)
            .map_err(|source| ServeError::Serve {
                listener: "agent API",
                source,
            })?
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
