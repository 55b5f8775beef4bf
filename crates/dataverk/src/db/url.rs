//! Connection URLs: the scheme, credentials spliced into the user-info, and a printable form.

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

/// The kinds of database a URL can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// `postgres://` or `postgresql://`
    Postgres,
    /// `sqlite://`
    Sqlite,
}

/// The scheme of `url`, or a message saying which schemes are supported.
pub fn scheme(url: &str) -> Result<Scheme, String> {
    let scheme = url.split_once("://").map(|(s, _)| s).ok_or_else(|| {
        "the connection string is not a URL (expected e.g. postgres://user:pass@host:5432/db)"
            .to_string()
    })?;
    match scheme.to_ascii_lowercase().as_str() {
        "postgres" | "postgresql" => Ok(Scheme::Postgres),
        "sqlite" => Ok(Scheme::Sqlite),
        other => Err(format!(
            "unsupported URL scheme {other:?}; supported: postgres, postgresql, sqlite"
        )),
    }
}

/// `url` with its user-info replaced by `user` and `password`, both percent-encoded.
///
/// The URL must already have user-info (`user:pass@`): it marks where the credentials go, as in
/// the original tool, and its absence usually means the wrong string was stored in Vault.
pub fn with_credentials(url: &str, user: &str, password: &str) -> Result<String, String> {
    let mut parsed =
        ::url::Url::parse(url).map_err(|e| format!("the connection URL cannot be parsed: {e}"))?;
    if parsed.username().is_empty() {
        return Err(format!(
            "the connection URL {} has no user-info placeholder; write it as \
             {}://user:pass@{}... so that Vault's credentials can be put in its place",
            redact(url),
            parsed.scheme(),
            parsed.host_str().unwrap_or("host")
        ));
    }
    // Encode everything but letters and digits: the `url` crate leaves `%` as it is, which
    // would turn a password like `a%41` into `aA` on the way back.
    let user = utf8_percent_encode(user, NON_ALPHANUMERIC).to_string();
    let password = utf8_percent_encode(password, NON_ALPHANUMERIC).to_string();
    parsed
        .set_username(&user)
        .and_then(|_| parsed.set_password(Some(&password)))
        .map_err(|_| "the connection URL cannot carry credentials".to_string())?;
    Ok(parsed.to_string())
}

/// `url` without user-info and query, safe to print: `postgres://host:5432/db`.
pub fn redact(url: &str) -> String {
    match ::url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.to_string()
        }
        Err(_) => "(unparseable URL)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use percent_encoding::percent_decode_str;

    #[test]
    fn schemes() {
        assert_eq!(scheme("postgres://a@b/c"), Ok(Scheme::Postgres));
        assert_eq!(scheme("PostgreSQL://a@b/c"), Ok(Scheme::Postgres));
        assert_eq!(scheme("sqlite:///tmp/x.db"), Ok(Scheme::Sqlite));
        assert!(scheme("mysql://a@b/c").unwrap_err().contains("\"mysql\""));
        assert!(scheme("just text").unwrap_err().contains("not a URL"));
    }

    #[test]
    fn hostile_credentials_round_trip() {
        let user = "v-k8s-@:/%#?-x";
        let pass = "p@ss:w/o%rd#?&=+ ü'\"";
        let out = with_credentials(
            "postgres://user:pass@db.example:5432/mydb?sslmode=disable",
            user,
            pass,
        )
        .unwrap();
        let parsed = ::url::Url::parse(&out).unwrap();
        assert_eq!(parsed.host_str(), Some("db.example"));
        assert_eq!(parsed.port(), Some(5432));
        assert_eq!(parsed.path(), "/mydb");
        assert_eq!(parsed.query(), Some("sslmode=disable"));
        assert_eq!(
            percent_decode_str(parsed.username()).decode_utf8().unwrap(),
            user
        );
        assert_eq!(
            percent_decode_str(parsed.password().unwrap())
                .decode_utf8()
                .unwrap(),
            pass
        );
    }

    #[test]
    fn placeholder_user_info_is_required() {
        let err = with_credentials("postgres://db.example:5432/mydb", "u", "p").unwrap_err();
        assert!(err.contains("no user-info placeholder"), "{err}");
        assert!(err.contains("postgres://db.example:5432/mydb"), "{err}");
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact("postgres://u:secret@h:5/db?password=x"),
            "postgres://h:5/db"
        );
    }
}
