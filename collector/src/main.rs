//! fleetwatch-collector binary: `serve`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use fleetwatch_collector::bootstrap;
use fleetwatch_collector::config::{Config, Overrides, RawConfig};
use fleetwatch_collector::http::App;
use fleetwatch_collector::server::{BoundServer, install_crypto_provider};

#[derive(Parser)]
#[command(name = "fleetwatch-collector", version, about = "fleetwatch collector")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the collector (agent API over HTTPS + metrics listener).
    Serve {
        /// TOML config file (optional: everything has a default).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Data directory (database, generated TLS files and secrets).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Agent API listen address (HTTPS).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// Metrics listen address (plain HTTP).
        #[arg(long, value_name = "ADDR")]
        metrics_listen: Option<String>,
    },
}

fn main() -> anyhow::Result<()> {
    // First thing: exactly one rustls provider for the whole process.
    install_crypto_provider();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            config,
            data_dir,
            listen,
            metrics_listen,
        } => {
            let overrides = Overrides {
                data_dir,
                listen,
                metrics_listen,
            };
            // A bad policy or alerts section refuses the start, naming the
            // key (and, for the policy, its line).
            let config = match &config {
                Some(path) => Config::load(path, overrides)?,
                None => Config::build(RawConfig::default(), overrides)?,
            };
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the tokio runtime")?
                .block_on(serve(config))
        }
    }
}

async fn serve(mut config: Config) -> anyhow::Result<()> {
    let files = bootstrap::prepare(&config).context("preparing the data directory")?;
    let app = App::open(&config, &files).context("opening the database")?;
    // Kept for the whole run: dropping it stops watching.
    let _watcher = match &config.file {
        Some(path) => Some(
            app.watch_config(path)
                .with_context(|| format!("watching {} for policy changes", path.display()))?,
        ),
        None => None,
    };
    let server = BoundServer::bind(&config, &files, app).await?;
    // Show the real addresses (a port of 0 is resolved by now).
    config.listen = server.api_addr;
    config.metrics_listen = server.metrics_addr;
    print!("{}", bootstrap::startup_banner(&config, &files));
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    server.run(shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await
            }
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
