//! TLS trust for the collector connection: a CA file (which may be the
//! collector's self-signed certificate itself) or a pinned SHA-256
//! fingerprint of the collector's certificate.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

/// How the agent decides to trust the collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Certificates in this PEM file are trust anchors.
    CaFile(PathBuf),
    /// The collector's end-entity certificate must have this SHA-256.
    Fingerprint(Fingerprint),
    /// Nothing configured: connecting is refused with a clear message.
    Unconfigured,
}

/// A SHA-256 certificate fingerprint.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint(pub [u8; 32]);

/// A fingerprint that is not 64 hex digits.
#[derive(Debug, thiserror::Error)]
#[error(
    "{input:?} is not a SHA-256 fingerprint: expected 64 hex digits, optionally prefixed `sha256:` and/or separated by `:`"
)]
pub struct FingerprintError {
    /// What was given.
    pub input: String,
}

impl Fingerprint {
    /// Parses `sha256:AB:CD...`, `abcd...` and the like (any case).
    pub fn parse(input: &str) -> Result<Self, FingerprintError> {
        let err = || FingerprintError {
            input: input.to_string(),
        };
        let trimmed = input.trim();
        let body = match trimmed.get(..7) {
            Some(prefix) if prefix.eq_ignore_ascii_case("sha256:") => &trimmed[7..],
            _ => trimmed,
        };
        let hex_digits: String = body.chars().filter(|c| *c != ':').collect();
        let mut out = [0u8; 32];
        hex::decode_to_slice(&hex_digits, &mut out).map_err(|_| err())?;
        Ok(Fingerprint(out))
    }

    /// The fingerprint of a DER certificate.
    pub fn of_der(der: &[u8]) -> Self {
        Fingerprint(Sha256::digest(der).into())
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a TLS client configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// No trust configured.
    #[error(
        "no trust for the collector's certificate: configure --ca FILE or --ca-fingerprint sha256:... (ca_file / ca_fingerprint in the config)"
    )]
    Unconfigured,
    /// The CA file could not be read.
    #[error("could not read CA file {path}: {source}")]
    ReadCa {
        /// The file.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The CA file holds no usable certificate.
    #[error("CA file {path} holds no usable PEM certificate{detail}")]
    BadCa {
        /// The file.
        path: PathBuf,
        /// What went wrong, if known.
        detail: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration error: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The crypto provider the agent uses: aws-lc-rs on Unix, ring on Windows
/// (aws-lc-sys does not cross-build for x86_64-pc-windows-gnu with mingw);
/// exactly one is compiled into each binary.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(crypto_provider())
}

/// A fresh instance of this target's crypto provider.
#[cfg(not(windows))]
pub fn crypto_provider() -> CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

/// A fresh instance of this target's crypto provider.
#[cfg(windows)]
pub fn crypto_provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// Builds the rustls client configuration for `trust`.
pub fn client_config(trust: &Trust) -> Result<ClientConfig, TlsError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let config = match trust {
        Trust::Unconfigured => return Err(TlsError::Unconfigured),
        Trust::CaFile(path) => {
            let pem = std::fs::read(path).map_err(|source| TlsError::ReadCa {
                path: path.clone(),
                source,
            })?;
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| TlsError::BadCa {
                    path: path.clone(),
                    detail: format!(": {e}"),
                })?;
                roots.add(cert).map_err(|e| TlsError::BadCa {
                    path: path.clone(),
                    detail: format!(": {e}"),
                })?;
            }
            if roots.is_empty() {
                return Err(TlsError::BadCa {
                    path: path.clone(),
                    detail: String::new(),
                });
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Trust::Fingerprint(fp) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedCertVerifier::new(*fp, &provider)))
            .with_no_client_auth(),
    };
    Ok(config)
}

/// Accepts exactly the server certificate whose DER has the pinned SHA-256.
///
/// Name and validity period are not checked: the pin *is* the identity (the
/// collector's self-signed certificate is typically reached by IP). The
/// handshake signatures are still verified, so the server must hold the
/// certificate's private key.
#[derive(Debug)]
pub struct PinnedCertVerifier {
    pin: Fingerprint,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedCertVerifier {
    /// A verifier pinning `pin`, verifying signatures with `provider`'s algorithms.
    pub fn new(pin: Fingerprint, provider: &CryptoProvider) -> Self {
        PinnedCertVerifier {
            pin,
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for PinnedCertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let seen = Fingerprint::of_der(end_entity);
        if seen == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "collector certificate fingerprint {seen} does not match the pinned {}",
                self.pin
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn fingerprint_formats() {
        let plain = Fingerprint::parse(HEX).unwrap();
        assert_eq!(plain.to_string(), format!("sha256:{HEX}"));
        let upper_prefixed = format!("SHA256:{}", HEX.to_uppercase());
        assert_eq!(Fingerprint::parse(&upper_prefixed).unwrap(), plain);
        let colons: Vec<String> = HEX
            .as_bytes()
            .chunks(2)
            .map(|c| String::from_utf8(c.to_vec()).unwrap().to_uppercase())
            .collect();
        let colon_form = colons.join(":");
        assert_eq!(Fingerprint::parse(&colon_form).unwrap(), plain);
        assert_eq!(
            Fingerprint::parse(&format!("sha256:{colon_form}")).unwrap(),
            plain
        );
        assert_eq!(Fingerprint::parse(&format!("  {HEX}\n")).unwrap(), plain);
        assert_eq!(Fingerprint::of_der(b"test"), plain);
    }

    #[test]
    fn bad_fingerprints_are_refused() {
        for bad in [
            "",
            "sha256:",
            &HEX[..62],
            &format!("{HEX}00"),
            &format!("md5:{HEX}"),
            &HEX.replace('9', "g"),
        ] {
            let err = Fingerprint::parse(bad).unwrap_err();
            assert!(err.to_string().contains("64 hex digits"), "{bad}");
        }
    }

    #[test]
    fn unconfigured_trust_says_what_to_do() {
        let err = client_config(&Trust::Unconfigured).unwrap_err();
        assert!(err.to_string().contains("--ca"), "{err}");
        assert!(err.to_string().contains("--ca-fingerprint"), "{err}");
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = client_config(&Trust::CaFile(path)).unwrap_err();
        assert!(err.to_string().contains("ca.pem"), "{err}");
        let err = client_config(&Trust::CaFile(dir.path().join("missing.pem"))).unwrap_err();
        assert!(matches!(err, TlsError::ReadCa { .. }));
    }
}
