//! The agent as a Windows service (`windows-service` crate):
//! `fleetwatch-agent.exe service install|uninstall|start|stop`, and the
//! hidden `service run` the Service Control Manager launches. `unsafe` is
//! allowed here only for the crate's `define_windows_service!` entry point
//! (an `extern "system"` function parsing the arguments Windows passes).
#![allow(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use windows_service::service::{
    ServiceAccess, ServiceControl, ServiceControlAccept, ServiceErrorControl, ServiceExitCode,
    ServiceInfo, ServiceStartType, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};
use windows_service::{define_windows_service, service_dispatcher};

/// The service's name in the Service Control Manager.
pub const SERVICE_NAME: &str = "fleetwatch-agent";
const DISPLAY_NAME: &str = "fleetwatch agent";
const DESCRIPTION: &str =
    "Reports this device's inventory and compliance facts to the fleetwatch collector.";

/// Why a service operation failed.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct ServiceError {
    /// The operation.
    pub what: String,
    /// What the Service Control Manager answered.
    #[source]
    pub source: windows_service::Error,
}

fn err(what: &str) -> impl FnOnce(windows_service::Error) -> ServiceError + '_ {
    move |source| ServiceError {
        what: what.to_string(),
        source,
    }
}

/// Registers the service (automatic start, LocalSystem) running
/// `exe service run [--config FILE]`.
pub fn install(exe: &Path, config: Option<&Path>) -> Result<(), ServiceError> {
    let manager = ServiceManager::local_computer(
        None::<&str>,
        ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE,
    )
    .map_err(err("connect to the Service Control Manager"))?;
    let mut launch_arguments: Vec<OsString> = vec!["service".into(), "run".into()];
    if let Some(config) = config {
        launch_arguments.push("--config".into());
        launch_arguments.push(config.as_os_str().to_owned());
    }
    let info = ServiceInfo {
        name: SERVICE_NAME.into(),
        display_name: DISPLAY_NAME.into(),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: exe.to_path_buf(),
        launch_arguments,
        dependencies: vec![],
        // LocalSystem: WMI, the Net API and secedit need it.
        account_name: None,
        account_password: None,
    };
    let service = manager
        .create_service(&info, ServiceAccess::CHANGE_CONFIG)
        .map_err(err("create the service"))?;
    // A missing description is cosmetic.
    let _ = service.set_description(DESCRIPTION);
    Ok(())
}

/// Stops (if running) and deletes the service.
pub fn uninstall() -> Result<(), ServiceError> {
    let service = open(ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE)?;
    if let Ok(status) = service.query_status()
        && status.current_state != ServiceState::Stopped
    {
        let _ = service.stop();
    }
    service.delete().map_err(err("delete the service"))
}

/// `ERROR_SERVICE_ALREADY_RUNNING` (winerror.h).
const ERROR_SERVICE_ALREADY_RUNNING: i32 = 1056;

/// Starts the installed service; one already running is fine (an
/// automatic-start service may have been started by the SCM already).
pub fn start() -> Result<(), ServiceError> {
    match open(ServiceAccess::START)?.start::<&OsStr>(&[]) {
        Err(windows_service::Error::Winapi(e))
            if e.raw_os_error() == Some(ERROR_SERVICE_ALREADY_RUNNING) =>
        {
            Ok(())
        }
        other => other.map_err(err("start the service")),
    }
}

/// Asks the running service to stop.
pub fn stop() -> Result<(), ServiceError> {
    open(ServiceAccess::STOP)?
        .stop()
        .map(|_| ())
        .map_err(err("stop the service"))
}

fn open(access: ServiceAccess) -> Result<windows_service::service::Service, ServiceError> {
    ServiceManager::local_computer(None::<&str>, ServiceManagerAccess::CONNECT)
        .map_err(err("connect to the Service Control Manager"))?
        .open_service(SERVICE_NAME, access)
        .map_err(err("open the service"))
}

/// What the service runs: given a stop signal, runs the agent loop until it
/// fires; returns the process exit code.
pub type ServiceBody = Box<dyn Fn(Arc<tokio::sync::Notify>) -> u32 + Send + Sync>;

static BODY: OnceLock<ServiceBody> = OnceLock::new();

/// Hands the process to the Service Control Manager and runs `body` as the
/// service; returns when the service has stopped.
pub fn run(body: ServiceBody) -> Result<(), ServiceError> {
    let _ = BODY.set(body);
    service_dispatcher::start(SERVICE_NAME, ffi_service_main).map_err(err(
        "connect to the service dispatcher (is this run by the SCM?)",
    ))
}

define_windows_service!(ffi_service_main, service_main);

fn service_main(_arguments: Vec<OsString>) {
    let stop = Arc::new(tokio::sync::Notify::new());
    let on_stop = stop.clone();
    let handler = move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            // notify_one keeps the permit if the loop is not waiting yet.
            on_stop.notify_one();
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    };
    let Ok(status) = service_control_handler::register(SERVICE_NAME, handler) else {
        tracing::error!("could not register the service control handler");
        return;
    };
    let report = |state: ServiceState, code: u32| {
        let _ = status.set_service_status(ServiceStatus {
            service_type: ServiceType::OWN_PROCESS,
            current_state: state,
            controls_accepted: if state == ServiceState::Running {
                ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN
            } else {
                ServiceControlAccept::empty()
            },
            exit_code: ServiceExitCode::Win32(code),
            checkpoint: 0,
            wait_hint: Duration::from_secs(10),
            process_id: None,
        });
    };
    report(ServiceState::Running, 0);
    let code = BODY.get().map_or(1, |body| body(stop));
    report(ServiceState::Stopped, code);
}
