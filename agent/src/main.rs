//! fleetwatch-agent binary: parses the command line, sets up logging and
//! the runtime, and hands over to the library's modes.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use fleetwatch_agent::config::{self, AgentConfig, Overrides};
use fleetwatch_agent::modes;

/// fleetwatch agent: reports this device's inventory and compliance facts to the collector.
#[derive(Parser)]
#[command(name = "fleetwatch-agent", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the report that would be sent (pretty JSON on stdout); send nothing.
    Collect(CommonArgs),
    /// Collect and send one report; on failure spool it and exit non-zero.
    Once(CommonArgs),
    /// Run as a service: report at the collector's interval, with jitter.
    Run(CommonArgs),
    /// Enroll with the collector (again) and store the node key.
    Enroll(CommonArgs),
    /// Install, remove, start or stop the Windows service.
    #[cfg(windows)]
    Service {
        #[command(subcommand)]
        action: ServiceAction,
    },
    /// Print a JSON recording of every source the Windows checks read
    /// (WMI rows, registry values, the update search), for test fixtures.
    #[cfg(windows)]
    #[command(hide = true)]
    RecordWindows {
        /// Where the recording comes from, stored in it.
        #[arg(long, default_value = "fleetwatch-agent record-windows")]
        provenance: String,
    },
}

/// `fleetwatch-agent.exe service ...`.
#[cfg(windows)]
#[derive(Subcommand)]
// Parsed once per process: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
enum ServiceAction {
    /// Register the service (automatic start, LocalSystem) running this executable.
    Install {
        /// Config file the service reads (default: %ProgramData%\fleetwatch\agent.toml).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Write %ProgramData%\fleetwatch\agent.toml (and the enroll secret
    /// next to it, readable by SYSTEM and Administrators only): what the
    /// MSI and install.ps1 run.
    Configure {
        /// Collector base URL (https://HOST:PORT).
        #[arg(long, value_name = "URL", default_value = "")]
        collector: String,
        /// Pinned SHA-256 fingerprint of the collector's certificate.
        #[arg(long, value_name = "FP", default_value = "")]
        ca_fingerprint: String,
        /// PEM file with the CA or the collector's own certificate.
        #[arg(long, value_name = "FILE", default_value = "")]
        ca: String,
        /// The enroll secret (stored in a file of its own, not in agent.toml).
        #[arg(
            long,
            value_name = "SECRET",
            default_value = "",
            hide_default_value = true
        )]
        enroll_secret: String,
        /// Directory of agent.toml (default: %ProgramData%\fleetwatch).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Stop and remove the service.
    Uninstall,
    /// Start the installed service.
    Start,
    /// Stop the running service.
    Stop,
    /// Run as the service: what the Service Control Manager starts.
    #[command(hide = true)]
    Run(CommonArgs),
}

/// Flags shared by every subcommand.
#[derive(Args)]
struct CommonArgs {
    /// Config file (a missing default file is fine).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Collector base URL (https://HOST:PORT).
    #[arg(long, value_name = "URL")]
    collector: Option<String>,
    /// PEM file with the CA or the collector's own certificate.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Pinned SHA-256 fingerprint of the collector's certificate.
    #[arg(long, value_name = "FP")]
    ca_fingerprint: Option<String>,
    /// File holding the enroll secret.
    #[arg(long, value_name = "FILE")]
    enroll_secret_file: Option<PathBuf>,
    /// State directory (node key, device.json, spool).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Host root, for fixture trees and containers.
    #[arg(long, value_name = "DIR", hide = true)]
    root: Option<PathBuf>,
    /// Replay recorded command outputs from DIR/commands.toml instead of
    /// running commands (tests: a macOS fixture root on a Linux machine).
    #[arg(long, value_name = "DIR", hide = true)]
    recorded_commands: Option<PathBuf>,
    /// On exit, print the agent's own CPU time and peak RSS (external commands excluded) on stderr.
    #[arg(long, hide = true)]
    self_usage: bool,
}

impl CommonArgs {
    fn load(&self) -> anyhow::Result<AgentConfig> {
        let overrides = Overrides {
            collector_url: self.collector.clone(),
            ca_file: self.ca.clone(),
            ca_fingerprint: self.ca_fingerprint.clone(),
            enroll_secret_file: self.enroll_secret_file.clone(),
            state_dir: self.state_dir.clone(),
            root: self.root.clone(),
            recorded_commands: self.recorded_commands.clone(),
        };
        Ok(config::load(self.config.as_deref(), &overrides)?)
    }
}

fn main() -> ExitCode {
    // One crypto provider for the process; rustls panics if none or two are ambiguous.
    let _ = fleetwatch_agent::upload::tls::crypto_provider().install_default();
    let cli = Cli::parse();
    init_logging(log_file(&cli));
    let self_usage = match &cli.command {
        Command::Collect(a) | Command::Once(a) | Command::Run(a) | Command::Enroll(a) => {
            a.self_usage
        }
        #[cfg(windows)]
        Command::RecordWindows { .. } | Command::Service { .. } => false,
    };
    let code = match real_main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    };
    if self_usage && let Some(u) = fleetwatch_agent::self_usage::SelfUsage::read() {
        eprintln!(
            "self usage: cpu {:.2} s user + {:.2} s system, peak RSS {} KiB (external commands excluded)",
            u.user_seconds, u.system_seconds, u.peak_rss_kib
        );
    }
    code
}

/// The rotated log file of the Windows service (it has no stderr to read);
/// every other command logs to stderr.
#[cfg(windows)]
fn log_file(cli: &Cli) -> Option<fleetwatch_agent::logging::RotatingFile> {
    use fleetwatch_agent::logging::{DEFAULT_KEEP, DEFAULT_MAX_BYTES, RotatingFile};
    let Command::Service {
        action: ServiceAction::Run(args),
    } = &cli.command
    else {
        return None;
    };
    // `logs\` next to the config the service was installed with (the MSI
    // and install.ps1 name it), else under %ProgramData%\fleetwatch.
    let dir = args
        .config
        .as_deref()
        .and_then(std::path::Path::parent)
        .map(|d| d.join("logs"))
        .unwrap_or_else(config::default_log_dir);
    // Unopenable: the service still runs, logging to a stderr nobody reads.
    RotatingFile::open(&dir, DEFAULT_MAX_BYTES, DEFAULT_KEEP).ok()
}

#[cfg(not(windows))]
fn log_file(_cli: &Cli) -> Option<fleetwatch_agent::logging::RotatingFile> {
    None
}

fn init_logging(file: Option<fleetwatch_agent::logging::RotatingFile>) {
    // RUST_LOG is a single level here (error, warn, info, debug, trace): a
    // per-target filter would pull a regex engine into every machine's agent.
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| {
            v.trim()
                .parse::<tracing_subscriber::filter::LevelFilter>()
                .ok()
        })
        .unwrap_or(tracing_subscriber::filter::LevelFilter::INFO);
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false);
    match file {
        Some(file) => builder
            .with_writer(std::sync::Mutex::new(file))
            .with_ansi(false)
            .init(),
        None => builder
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        // Checks run on blocking threads; a couple are plenty and keep RSS low.
        .max_blocking_threads(2)
        .build()
        .context("could not start the async runtime")
}

fn real_main(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Collect(args) => {
            let cfg = args.load()?;
            let report = runtime()?.block_on(modes::collect(&cfg));
            let json =
                serde_json::to_string_pretty(&report).context("could not render the report")?;
            println!("{json}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Once(args) => {
            let cfg = args.load()?;
            let outcome = runtime()?.block_on(modes::once(&cfg))?;
            println!("{}", serde_json::to_string(&outcome)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Enroll(args) => {
            let cfg = args.load()?;
            let device = runtime()?.block_on(modes::enroll(&cfg))?;
            println!("{}", serde_json::json!({ "device_id": device.device_id }));
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(windows)]
        Command::Service { action } => service(action),
        #[cfg(windows)]
        Command::RecordWindows { provenance } => {
            let recording = fleetwatch_agent::platform::windows::record_live(&provenance);
            let json = serde_json::to_string_pretty(&recording)
                .context("could not render the recording")?;
            println!("{json}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => {
            let cfg = args.load()?;
            runtime()?.block_on(modes::run(&cfg, shutdown_signal()))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(windows)]
fn service(action: ServiceAction) -> anyhow::Result<ExitCode> {
    use fleetwatch_agent::platform::windows::service;
    match action {
        ServiceAction::Install { config } => {
            let exe = std::env::current_exe().context("where is this executable")?;
            let config = config.map(std::path::absolute).transpose()?;
            service::install(&exe, config.as_deref())?;
            println!("installed the {} service", service::SERVICE_NAME);
        }
        ServiceAction::Configure {
            collector,
            ca_fingerprint,
            ca,
            enroll_secret,
            dir,
        } => {
            use fleetwatch_agent::platform::windows::provision::{Provisioning, write_config};
            let dir = dir.unwrap_or_else(config::default_config_dir);
            let settings = Provisioning {
                collector_url: collector,
                ca_fingerprint,
                ca_file: ca,
                enroll_secret,
            };
            let path = write_config(&settings, &dir)?;
            println!("wrote {}", path.display());
        }
        ServiceAction::Uninstall => service::uninstall()?,
        ServiceAction::Start => service::start()?,
        ServiceAction::Stop => service::stop()?,
        ServiceAction::Run(args) => {
            let cfg = args.load()?;
            service::run(Box::new(move |stop| {
                let outcome = runtime().and_then(|rt| {
                    rt.block_on(modes::run(&cfg, async move { stop.notified().await }))
                        .map_err(anyhow::Error::from)
                });
                match outcome {
                    Ok(()) => 0,
                    Err(e) => {
                        tracing::error!(error = %format!("{e:#}"), "the agent loop stopped");
                        1
                    }
                }
            }))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Completes on SIGTERM or ctrl-c.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
