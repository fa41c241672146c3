//! First start with no config: the data dir, a self-signed certificate, the
//! enroll secret and the admin token. Everything generated is reused on the
//! next start; configured files take precedence over generated ones.

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::RngCore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use crate::config::Config;

/// Why the collector's files could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A secret or token file exists but is empty.
    #[error("{path}: file is empty (delete it to have a new secret generated)")]
    EmptySecret {
        /// The file.
        path: PathBuf,
    },
    /// The certificate file holds no PEM certificate.
    #[error("{path}: no PEM certificate found: {message}")]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// rcgen could not generate the certificate.
    #[error("generating the self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// The key file holds no usable PEM private key.
    #[error("{path}: no PEM private key found: {message}")]
    BadKey {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// rustls refused the certificate, key or session ticket set-up.
    #[error("TLS configuration with {cert}: {source}")]
    Tls {
        /// The certificate file.
        cert: PathBuf,
        /// rustls' error.
        source: rustls::Error,
    },
}

/// The files and secrets the collector runs with.
#[derive(Debug, Clone)]
pub struct Bootstrapped {
    /// PEM certificate chain served on the agent API.
    pub cert_path: PathBuf,
    /// PEM private key.
    pub key_path: PathBuf,
    /// `sha256:<64 lowercase hex>` of the leaf certificate's DER.
    pub fingerprint: String,
    /// Where the enroll secret is.
    pub enroll_secret_path: PathBuf,
    /// The enroll secret.
    pub enroll_secret: String,
    /// Where the admin token is.
    pub admin_token_path: PathBuf,
    /// The admin token.
    pub admin_token: String,
    /// Bearer token for `/metrics`, when configured.
    pub metrics_token: Option<String>,
}

/// Creates (or reuses) the data dir, TLS files and secrets.
pub fn prepare(config: &Config) -> Result<Bootstrapped, BootstrapError> {
    create_private_dir(&config.data_dir)?;
    let (cert_path, key_path) = match (&config.tls_cert_file, &config.tls_key_file) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        _ => {
            let tls_dir = config.data_dir.join("tls");
            create_private_dir(&tls_dir)?;
            let cert = tls_dir.join("cert.pem");
            let key = tls_dir.join("key.pem");
            if !(cert.exists() && key.exists()) {
                generate_certificate(&cert, &key)?;
            }
            (cert, key)
        }
    };
    let fingerprint = certificate_fingerprint(&cert_path)?;
    let enroll_secret_path = config
        .enroll_secret_file
        .clone()
        .unwrap_or_else(|| config.data_dir.join("enroll-secret"));
    let enroll_secret =
        read_or_generate_secret(&enroll_secret_path, config.enroll_secret_file.is_none())?;
    let admin_token_path = config
        .admin_token_file
        .clone()
        .unwrap_or_else(|| config.data_dir.join("admin-token"));
    let admin_token =
        read_or_generate_secret(&admin_token_path, config.admin_token_file.is_none())?;
    let metrics_token = match &config.metrics_token_file {
        Some(path) => Some(read_or_generate_secret(path, false)?),
        None => None,
    };
    Ok(Bootstrapped {
        cert_path,
        key_path,
        fingerprint,
        enroll_secret_path,
        enroll_secret,
        admin_token_path,
        admin_token,
        metrics_token,
    })
}

/// What the collector prints on start: where agents and Prometheus connect,
/// how to pin the certificate, where the secrets are.
pub fn startup_banner(config: &Config, files: &Bootstrapped) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "fleetwatch collector {}", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(out, "Agent API: https://{}", config.listen);
    let _ = writeln!(out, "Metrics: http://{}/metrics", config.metrics_listen);
    let _ = writeln!(
        out,
        "TLS certificate: {} (fingerprint {})",
        files.cert_path.display(),
        files.fingerprint
    );
    let _ = writeln!(out, "Enroll secret: {}", files.enroll_secret_path.display());
    let _ = writeln!(out, "Admin token: {}", files.admin_token_path.display());
    out
}

/// 256 random bits as 64 lowercase hex digits.
pub fn random_hex_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The agent API's TLS configuration: the certificate chain and key of
/// `files`, HTTP/2 and HTTP/1.1 offered, and stateless session tickets.
///
/// Tickets let an agent that reconnects (its keep-alive connection closed
/// between two reports) resume its session: no certificate, no signature,
/// about half the server's handshake CPU. rustls' default without a
/// ticketer remembers only 256 sessions, far fewer than a fleet; tickets
/// cost the server no memory per device. The ticket keys rotate (rustls
/// keeps one key for 6 hours), and a restart starts with new ones.
pub fn server_tls_config(files: &Bootstrapped) -> Result<rustls::ServerConfig, BootstrapError> {
    let chain = CertificateDer::pem_file_iter(&files.cert_path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| BootstrapError::BadCertificate {
            path: files.cert_path.clone(),
            message: e.to_string(),
        })?;
    let key =
        PrivateKeyDer::from_pem_file(&files.key_path).map_err(|e| BootstrapError::BadKey {
            path: files.key_path.clone(),
            message: e.to_string(),
        })?;
    let tls = |source| BootstrapError::Tls {
        cert: files.cert_path.clone(),
        source,
    };
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(tls)?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(tls)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new().map_err(tls)?;
    Ok(config)
}

/// `sha256:<hex>` of a certificate's DER bytes.
pub fn fingerprint_of_der(der: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(der)))
}

fn certificate_fingerprint(path: &Path) -> Result<String, BootstrapError> {
    let der = CertificateDer::from_pem_file(path).map_err(|e| BootstrapError::BadCertificate {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(fingerprint_of_der(der.as_ref()))
}

fn generate_certificate(cert_path: &Path, key_path: &Path) -> Result<(), BootstrapError> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    if let Some(host) = local_hostname()
        && !names.contains(&host)
    {
        names.push(host);
    }
    let certified = rcgen::generate_simple_self_signed(names)?;
    // Key first: a crash between the two leaves no certificate, so the next
    // start regenerates both instead of pairing a cert with a missing key.
    write_private_file(key_path, certified.signing_key.serialize_pem().as_bytes())?;
    write_file(cert_path, certified.cert.pem().as_bytes(), 0o644)?;
    Ok(())
}

fn local_hostname() -> Option<String> {
    let text = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let host = text.trim();
    (!host.is_empty()).then(|| host.to_string())
}

fn read_or_generate_secret(path: &Path, generate: bool) -> Result<String, BootstrapError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let secret = text.trim().to_string();
            if secret.is_empty() {
                return Err(BootstrapError::EmptySecret {
                    path: path.to_path_buf(),
                });
            }
            Ok(secret)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && generate => {
            let secret = random_hex_secret();
            write_private_file(path, format!("{secret}\n").as_bytes())?;
            Ok(secret)
        }
        Err(source) => Err(BootstrapError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn create_private_dir(path: &Path) -> Result<(), BootstrapError> {
    let io = |source| BootstrapError::Io {
        path: path.to_path_buf(),
        source,
    };
    if !path.exists() {
        std::fs::create_dir_all(path).map_err(io)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    Ok(())
}

fn write_private_file(path: &Path, contents: &[u8]) -> Result<(), BootstrapError> {
    write_file(path, contents, 0o600)
}

/// Writes through a temporary file created with `mode` (never world-readable,
/// not even for an instant) and renames it into place.
fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), BootstrapError> {
    let tmp = path.with_extension("tmp");
    let io = |source| BootstrapError::Io {
        path: path.to_path_buf(),
        source,
    };
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Overrides, RawConfig};

    fn config_in(dir: &Path) -> Config {
        Config::build(
            RawConfig::default(),
            Overrides {
                data_dir: Some(dir.join("data")),
                ..Overrides::default()
            },
        )
        .unwrap()
    }

    /// Moves TLS records between an in-memory client and server until
    /// neither has anything left to send.
    fn pump(client: &mut rustls::ClientConnection, server: &mut rustls::ServerConnection) {
        loop {
            let mut moved = false;
            let mut buf = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut buf).unwrap();
            }
            if !buf.is_empty() {
                moved = true;
                server.read_tls(&mut &buf[..]).unwrap();
                server.process_new_packets().unwrap();
            }
            let mut buf = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut buf).unwrap();
            }
            if !buf.is_empty() {
                moved = true;
                client.read_tls(&mut &buf[..]).unwrap();
                client.process_new_packets().unwrap();
            }
            if !moved {
                return;
            }
        }
    }

    /// An agent reconnecting after hundreds of other agents resumes its
    /// session (rustls' stateful default forgets all but the last 256).
    #[test]
    fn an_agent_resumes_its_session_after_hundreds_of_others_connected() {
        crate::server::install_crypto_provider();
        let tmp = tempfile::tempdir().unwrap();
        let files = prepare(&config_in(tmp.path())).unwrap();
        let server_config = Arc::new(server_tls_config(&files).unwrap());
        assert_eq!(
            server_config.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&files.cert_path).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let client_config = |roots: rustls::RootCertStore| {
            Arc::new(
                rustls::ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth(),
            )
        };
        let connect = |client_config: &Arc<rustls::ClientConfig>| {
            let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
            let mut client = rustls::ClientConnection::new(client_config.clone(), name).unwrap();
            let mut server = rustls::ServerConnection::new(server_config.clone()).unwrap();
            pump(&mut client, &mut server);
            assert!(!client.is_handshaking() && !server.is_handshaking());
            client.handshake_kind().unwrap()
        };
        let agent = client_config(roots.clone());
        assert_ne!(connect(&agent), rustls::HandshakeKind::Resumed);
        for _ in 0..300 {
            connect(&client_config(roots.clone()));
        }
        assert_eq!(connect(&agent), rustls::HandshakeKind::Resumed);
    }

    #[test]
    fn first_start_generates_private_files_and_restart_reuses_them() {
        let tmp = tempfile::tempdir().unwrap();
        let config = config_in(tmp.path());
        let first = prepare(&config).unwrap();
        for path in [
            &first.key_path,
            &first.enroll_secret_path,
            &first.admin_token_path,
        ] {
            let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
        }
        assert_eq!(first.enroll_secret.len(), 64);
        assert!(first.enroll_secret.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(first.enroll_secret, first.admin_token);
        let fp = first.fingerprint.strip_prefix("sha256:").unwrap();
        assert_eq!(fp.len(), 64);
        assert!(fp.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));

        let second = prepare(&config).unwrap();
        assert_eq!(second.fingerprint, first.fingerprint);
        assert_eq!(second.enroll_secret, first.enroll_secret);
        assert_eq!(second.admin_token, first.admin_token);

        let banner = startup_banner(&config, &second);
        assert!(banner.contains(&format!(
            "TLS certificate: {} (fingerprint sha256:{fp})",
            second.cert_path.display()
        )));
        assert!(banner.contains("Metrics: http://127.0.0.1:9464/metrics"));
    }

    #[test]
    fn configured_secret_file_takes_precedence_and_is_never_generated() {
        let tmp = tempfile::tempdir().unwrap();
        let mut config = config_in(tmp.path());
        let secret = tmp.path().join("my-secret");
        std::fs::write(&secret, "hunter2-but-longer\n").unwrap();
        config.enroll_secret_file = Some(secret);
        config.admin_token_file = Some(tmp.path().join("missing-token"));
        let err = prepare(&config).unwrap_err();
        assert!(err.to_string().contains("missing-token"), "{err}");
        config.admin_token_file = None;
        let files = prepare(&config).unwrap();
        assert_eq!(files.enroll_secret, "hunter2-but-longer");
    }
}
