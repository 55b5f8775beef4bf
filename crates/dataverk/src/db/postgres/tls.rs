//! `sslmode` and `sslrootcert` in a PostgreSQL URL, honoured the way libpq does, over rustls.
//!
//! tokio-postgres itself knows only `disable`, `prefer` and `require` and rejects the other
//! libpq options, so the URL is read here first: the TLS options are taken out, the mode is
//! mapped onto tokio-postgres' own, and a rustls configuration that verifies what the mode asks
//! for is built.
//!
//! | `sslmode`           | TLS                         | certificate check                          |
//! |---------------------|-----------------------------|--------------------------------------------|
//! | `disable`           | never                       | –                                          |
//! | `allow`, `prefer` (default) | when the server offers it | none (as libpq)                     |
//! | `require`           | always                      | none; chain as `verify-ca` when `sslrootcert` is given (as libpq) |
//! | `verify-ca`         | always                      | chain to a trusted root                    |
//! | `verify-full`       | always                      | chain and host name                        |
//!
//! Trusted roots: the PEM file in `sslrootcert`; else `~/.postgresql/root.crt` when it exists
//! (libpq's default); else, or with `sslrootcert=system`, the Mozilla roots of webpki-roots.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::path::PathBuf;
use std::sync::Arc;

/// libpq's `sslmode` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS when the server offers it, unverified (`allow` and `prefer`).
    Prefer,
    /// TLS always, unverified unless a root certificate is given.
    Require,
    /// TLS, the certificate chain verified.
    VerifyCa,
    /// TLS, chain and host name verified.
    VerifyFull,
}

/// What the URL asks for: the mode and where trusted roots come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsOptions {
    /// The mode.
    pub mode: SslMode,
    /// `sslrootcert`: a PEM file, or `system` for the built-in roots.
    pub root_cert: Option<String>,
}

/// Takes `sslmode` and `sslrootcert` out of `url`'s query; returns the URL tokio-postgres can
/// parse (with its own `sslmode`) and the options. Errors name the bad value and the allowed ones.
pub fn split_url(url: &str) -> Result<(String, TlsOptions), String> {
    let mut options = TlsOptions {
        mode: SslMode::Prefer,
        root_cert: None,
    };
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), options));
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => {
                options.mode = match value {
                    "disable" => SslMode::Disable,
                    "allow" | "prefer" => SslMode::Prefer,
                    "require" => SslMode::Require,
                    "verify-ca" => SslMode::VerifyCa,
                    "verify-full" => SslMode::VerifyFull,
                    other => {
                        return Err(format!(
                            "sslmode={other} is not known; use disable, allow, prefer, require, \
                             verify-ca or verify-full"
                        ))
                    }
                }
            }
            "sslrootcert" => {
                let path = percent_decode(value)
                    .ok_or_else(|| "sslrootcert is not valid percent-encoded UTF-8".to_string())?;
                options.root_cert = Some(path);
            }
            "sslcert" | "sslkey" | "sslpassword" | "sslcrl" => {
                return Err(format!(
                    "{key} (client certificates, revocation lists) is not supported; connect with \
                     a password and leave {key} out"
                ))
            }
            _ => kept.push(pair),
        }
    }
    kept.push(match options.mode {
        SslMode::Disable => "sslmode=disable",
        SslMode::Prefer => "sslmode=prefer",
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => "sslmode=require",
    });
    Ok((format!("{base}?{}", kept.join("&")), options))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The rustls configuration for `options`; `None` for `sslmode=disable`.
pub fn client_config(options: &TlsOptions) -> Result<Option<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verify_chain = match options.mode {
        SslMode::Disable => return Ok(None),
        SslMode::Prefer => false,
        SslMode::Require => options.root_cert.is_some(),
        SslMode::VerifyCa | SslMode::VerifyFull => true,
    };
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .dangerous();
    let verifier: Arc<dyn ServerCertVerifier> = if verify_chain {
        let roots = Arc::new(roots(options.root_cert.as_deref())?);
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| format!("cannot set up certificate verification: {e}"))?;
        if options.mode == SslMode::VerifyFull {
            webpki
        } else {
            Arc::new(ChainOnly(webpki))
        }
    } else {
        Arc::new(Unverified(provider))
    };
    Ok(Some(
        builder
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth(),
    ))
}

/// The trusted roots for `root_cert`.
fn roots(root_cert: Option<&str>) -> Result<RootCertStore, String> {
    let file = match root_cert {
        Some("system") => None,
        Some(path) => Some(PathBuf::from(path)),
        None => std::env::var_os("HOME")
            .map(|home| PathBuf::from(home).join(".postgresql/root.crt"))
            .filter(|p| p.is_file()),
    };
    let Some(file) = file else {
        return Ok(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        });
    };
    let shown = file.display();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&file)
        .map_err(|e| format!("cannot read sslrootcert {shown}: {e}"))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("sslrootcert {shown} is not a PEM certificate file: {e}"))?;
    if certs.is_empty() {
        return Err(format!(
            "sslrootcert {shown} holds no certificate; give the PEM file of the CA that signed \
             the server's certificate"
        ));
    }
    let mut store = RootCertStore::empty();
    for cert in certs {
        store
            .add(cert)
            .map_err(|e| format!("sslrootcert {shown}: {e}"))?;
    }
    Ok(store)
}

/// `verify-ca`: the chain must lead to a trusted root; the host name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the name only after the chain passed, so a name error means a good chain.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer` and `require` without a root certificate: encrypted, the certificate not checked
/// (libpq does the same); the handshake signatures are still verified.
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_modes_map_onto_tokio_postgres() {
        let (url, o) =
            split_url("postgres://u:p@h:5432/db?application_name=x&sslmode=verify-full").unwrap();
        assert_eq!(
            url,
            "postgres://u:p@h:5432/db?application_name=x&sslmode=require"
        );
        assert_eq!(o.mode, SslMode::VerifyFull);
        let (url, o) = split_url("postgres://h/db?sslmode=allow").unwrap();
        assert_eq!(url, "postgres://h/db?sslmode=prefer");
        assert_eq!(o.mode, SslMode::Prefer);
        let (url, o) = split_url("postgres://h/db").unwrap();
        assert_eq!(url, "postgres://h/db");
        assert_eq!(o.mode, SslMode::Prefer);
    }

    #[test]
    fn root_cert_is_taken_out_and_decoded() {
        let (url, o) =
            split_url("postgres://h/db?sslrootcert=%2Ftmp%2Fca%20x.pem&sslmode=verify-ca").unwrap();
        assert_eq!(url, "postgres://h/db?sslmode=require");
        assert_eq!(o.root_cert.as_deref(), Some("/tmp/ca x.pem"));
        assert_eq!(o.mode, SslMode::VerifyCa);
    }

    #[test]
    fn bad_values_say_what_is_allowed() {
        let e = split_url("postgres://h/db?sslmode=strict").unwrap_err();
        assert!(
            e.contains("sslmode=strict") && e.contains("verify-full"),
            "{e}"
        );
        let e = split_url("postgres://h/db?sslcert=/x").unwrap_err();
        assert!(e.contains("not supported"), "{e}");
        let e = client_config(&TlsOptions {
            mode: SslMode::VerifyFull,
            root_cert: Some("/nonexistent/ca.pem".into()),
        })
        .unwrap_err();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    }
}
