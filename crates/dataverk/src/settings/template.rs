//! `${NAME}` / `$NAME` placeholders inside parsed JSON string values.
//!
//! Substitution works on the parsed document, one string at a time, and never re-scans what it
//! inserted: a secret holding `"`, `\` or `$` comes through byte for byte. (The original Python
//! tool substituted into the JSON text, so such a secret broke parsing.)

use serde_json::Value;
use std::collections::BTreeSet;

/// A placeholder that could not be filled, or a malformed one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// No secret source had a value for `name`; `pointer` is the JSON pointer of the string.
    Missing { name: String, pointer: String },
    /// `${` without a closing `}` or with an invalid name.
    Malformed { pointer: String, reason: String },
}

/// One piece of a string: literal text or a placeholder name.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Name(&'a str),
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Splits `s` into literal text and placeholder names. `$$` is a literal `$`; a `$` followed by
/// anything other than `{`, `$` or a name is kept as it is (so `$1` or a lone `$` need no escape).
fn split(s: &str) -> Result<Vec<Piece<'_>>, String> {
    let bytes = s.as_bytes();
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' || i + 1 >= bytes.len() {
            i += 1;
            continue;
        }
        let next = bytes[i + 1];
        if next == b'$' {
            pieces.push(Piece::Text(&s[start..=i]));
            i += 2;
            start = i;
        } else if next == b'{' {
            let close = s[i + 2..]
                .find('}')
                .ok_or_else(|| format!("`${{` at byte {i} has no closing `}}`"))?;
            let name = &s[i + 2..i + 2 + close];
            if name.is_empty()
                || !is_name_start(name.as_bytes()[0])
                || !name.bytes().all(is_name_char)
            {
                return Err(format!(
                    "`${{{name}}}` is not a valid placeholder: names are letters, digits and `_`, \
                     not starting with a digit (write `$$` for a literal `$`)"
                ));
            }
            pieces.push(Piece::Text(&s[start..i]));
            pieces.push(Piece::Name(name));
            i += 3 + close;
            start = i;
        } else if is_name_start(next) {
            let len = bytes[i + 1..]
                .iter()
                .take_while(|&&c| is_name_char(c))
                .count();
            pieces.push(Piece::Text(&s[start..i]));
            pieces.push(Piece::Name(&s[i + 1..i + 1 + len]));
            i += 1 + len;
            start = i;
        } else {
            i += 1;
        }
    }
    pieces.push(Piece::Text(&s[start..]));
    pieces.retain(|p| *p != Piece::Text(""));
    Ok(pieces)
}

fn walk<'a>(
    value: &'a Value,
    pointer: &mut String,
    f: &mut dyn FnMut(&'a str, &str) -> Result<(), TemplateError>,
) -> Result<(), TemplateError> {
    match value {
        Value::String(s) => f(s, pointer),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push_str(&format!("/{i}"));
                walk(item, pointer, f)?;
                pointer.truncate(len);
            }
            Ok(())
        }
        Value::Object(map) => {
            for (key, item) in map {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                walk(item, pointer, f)?;
                pointer.truncate(len);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The placeholder names used anywhere in `value`'s strings, in sorted order.
pub fn placeholders(value: &Value) -> Result<BTreeSet<String>, TemplateError> {
    let mut names = BTreeSet::new();
    walk(value, &mut String::new(), &mut |s, pointer| {
        for piece in split(s).map_err(|reason| TemplateError::Malformed {
            pointer: pointer.to_string(),
            reason,
        })? {
            if let Piece::Name(n) = piece {
                names.insert(n.to_string());
            }
        }
        Ok(())
    })?;
    Ok(names)
}

/// A copy of `value` with every placeholder replaced by `lookup(name)`.
pub fn render(
    value: &Value,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Value, TemplateError> {
    fn go(
        value: &Value,
        pointer: &mut String,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Value, TemplateError> {
        Ok(match value {
            Value::String(s) => {
                let pieces = split(s).map_err(|reason| TemplateError::Malformed {
                    pointer: pointer.clone(),
                    reason,
                })?;
                let mut out = String::with_capacity(s.len());
                for piece in pieces {
                    match piece {
                        Piece::Text(t) => out.push_str(t),
                        Piece::Name(n) => {
                            out.push_str(&lookup(n).ok_or_else(|| TemplateError::Missing {
                                name: n.to_string(),
                                pointer: pointer.clone(),
                            })?)
                        }
                    }
                }
                Value::String(out)
            }
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let len = pointer.len();
                    pointer.push_str(&format!("/{i}"));
                    out.push(go(item, pointer, lookup)?);
                    pointer.truncate(len);
                }
                Value::Array(out)
            }
            Value::Object(map) => {
                let mut out = serde_json::Map::new();
                for (key, item) in map {
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                    out.insert(key.clone(), go(item, pointer, lookup)?);
                    pointer.truncate(len);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }
    go(value, &mut String::new(), lookup)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "A" => Some("alpha".into()),
            "HOSTILE" => Some(r#"p"a\s$$w${A}$A'd"#.into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn both_forms_and_escapes() {
        let v = json!({"x": "${A}-$A-$$A-$${A}-cost $5-$-end$"});
        assert_eq!(
            render(&v, &lookup).unwrap(),
            json!({"x": "alpha-alpha-$A-${A}-cost $5-$-end$"})
        );
    }

    #[test]
    fn hostile_values_come_through_unchanged_and_are_not_rescanned() {
        let v = json!({"a": ["${HOSTILE}", {"b": "x${HOSTILE}y"}], "n": 3, "t": true});
        let out = render(&v, &lookup).unwrap();
        assert_eq!(out["a"][0], json!(r#"p"a\s$$w${A}$A'd"#));
        assert_eq!(out["a"][1]["b"], json!(r#"xp"a\s$$w${A}$A'dy"#));
        assert_eq!(out["n"], json!(3));
        assert_eq!(out["t"], json!(true));
    }

    #[test]
    fn name_boundaries() {
        let v = json!("$A.b ${A}B $A_B");
        let names = placeholders(&v).unwrap();
        assert_eq!(names.into_iter().collect::<Vec<_>>(), vec!["A", "A_B"]);
        assert!(matches!(
            render(&v, &lookup),
            Err(TemplateError::Missing { name, .. }) if name == "A_B"
        ));
    }

    #[test]
    fn missing_names_the_placeholder_and_where_it_is() {
        let v = json!({"db_connection_strings": {"pg/x": "${NOPE}"}});
        assert_eq!(
            render(&v, &lookup),
            Err(TemplateError::Missing {
                name: "NOPE".into(),
                pointer: "/db_connection_strings/pg~1x".into()
            })
        );
    }

    #[test]
    fn malformed_placeholders() {
        for bad in ["${A", "${}", "${1A}", "${A-B}"] {
            let err = placeholders(&json!({ "k": bad })).unwrap_err();
            assert!(
                matches!(&err, TemplateError::Malformed { pointer, .. } if pointer == "/k"),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn empty_value_and_keys_untouched() {
        let v = json!({"$A": "${EMPTY}"});
        assert_eq!(render(&v, &lookup).unwrap(), json!({"$A": ""}));
    }
}
