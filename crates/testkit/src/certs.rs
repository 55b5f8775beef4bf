//! [`TestCerts`]: a throwaway certificate authority and a server certificate it signed, for
//! TLS tests of PostgreSQL and devvault, made with the `openssl` command.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// PEM files in one folder: the CA's certificate, and the server's certificate and key for
/// `127.0.0.1` and `localhost`, valid for two days.
pub struct TestCerts {
    /// The CA certificate to trust.
    pub ca: PathBuf,
    /// The server certificate.
    pub cert: PathBuf,
    /// The server's private key.
    pub key: PathBuf,
}

impl TestCerts {
    /// Makes a fresh CA and server certificate in `dir` (created if missing).
    pub fn make(dir: &Path) -> TestCerts {
        fs::create_dir_all(dir).expect("cannot create the certificate folder");
        fs::write(
            dir.join("server.ext"),
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .expect("cannot write the certificate extensions");
        let openssl = |args: &[&str]| {
            let output = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .expect("cannot run openssl (install it: apt-get install openssl)");
            crate::pg::check("openssl", &output);
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=testkit CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            "server.crt",
            "-extfile",
            "server.ext",
        ]);
        TestCerts {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.crt"),
            key: dir.join("server.key"),
        }
    }
}
