//! The small part of YAML that access files need: load with line numbers, look keys up, write
//! scalars that read back as the same string.
//!
//! Parsing uses `saphyr`: it is maintained, YAML 1.2, refuses duplicate keys, and its
//! `MarkedYaml` keeps a start and end marker for every node, keys included, which is what both
//! `check` (a line per problem) and the line-preserving edits need. No Rust YAML library keeps
//! comments through a parse/serialise round trip, so edits never re-serialise the document: they
//! insert lines of text at places the markers point to (see `edit.rs`).

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

/// A parsed document and the text it came from.
pub(crate) struct Doc<'a> {
    /// The text, as chars, to find the `-` of a sequence item (markers count chars, not bytes).
    chars: Vec<char>,
    /// The lines of the text (without their line ends).
    lines: Vec<&'a str>,
    /// The top node; `None` when the text holds no document (empty or only comments).
    pub root: Option<MarkedYaml<'a>>,
}

/// Why a text could not be loaded: a line (1-based), a column (1-based) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LoadError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl<'a> Doc<'a> {
    /// Parses `text`; more than one document is an error, since an access file holds one.
    pub fn load(text: &'a str) -> Result<Doc<'a>, LoadError> {
        let mut docs = MarkedYaml::load_from_str(text).map_err(|e| LoadError {
            line: e.marker().line(),
            column: e.marker().col() + 1,
            message: e.info().to_string(),
        })?;
        if docs.len() > 1 {
            // Point at the `---` that starts the second document, not at its first key.
            let start = docs[1].span.start.line();
            let line = (last_line(&docs[0]) + 1..=start)
                .find(|&n| {
                    text.lines()
                        .nth(n - 1)
                        .is_some_and(|l| l.starts_with("---"))
                })
                .unwrap_or(start);
            return Err(LoadError {
                line,
                column: 1,
                message: "a second YAML document starts here; an access file holds one".into(),
            });
        }
        Ok(Doc {
            chars: text.chars().collect(),
            lines: text.lines().collect(),
            root: docs.pop(),
        })
    }

    /// Line `n` (1-based) of the text, without its line end.
    pub fn line(&self, n: usize) -> &'a str {
        self.lines.get(n.wrapping_sub(1)).copied().unwrap_or("")
    }

    /// The column (0-based) of the `-` that opens the sequence item `item`.
    pub fn dash_column(&self, item: &MarkedYaml) -> Option<usize> {
        let mut i = item.span.start.index().min(self.chars.len());
        while i > 0 {
            i -= 1;
            match self.chars[i] {
                ' ' | '\t' | '\n' | '\r' => continue,
                '-' => {
                    let line_start = self.chars[..i]
                        .iter()
                        .rposition(|&c| c == '\n')
                        .map_or(0, |p| p + 1);
                    return Some(i - line_start);
                }
                _ => return None,
            }
        }
        None
    }

    /// Whether a collection node is written in flow style (`[...]` or `{...}`).
    pub fn is_flow(&self, node: &MarkedYaml) -> bool {
        matches!(
            self.chars.get(node.span.start.index()),
            Some('[') | Some('{')
        )
    }
}

/// The value of `key` in mapping `node`, with the key node (for its line).
pub(crate) fn get<'n, 'a>(
    node: &'n MarkedYaml<'a>,
    key: &str,
) -> Option<(&'n MarkedYaml<'a>, &'n MarkedYaml<'a>)> {
    match &node.data {
        YamlData::Mapping(map) => map.iter().find(|(k, _)| as_str(k) == Some(key)),
        _ => None,
    }
}

/// The entries of a mapping node, in file order; empty for anything else.
pub(crate) fn entries<'n, 'a>(
    node: &'n MarkedYaml<'a>,
) -> Vec<(&'n MarkedYaml<'a>, &'n MarkedYaml<'a>)> {
    match &node.data {
        YamlData::Mapping(map) => map.iter().collect(),
        _ => Vec::new(),
    }
}

/// The items of a sequence node; empty for anything else.
pub(crate) fn items<'n, 'a>(node: &'n MarkedYaml<'a>) -> &'n [MarkedYaml<'a>] {
    match &node.data {
        YamlData::Sequence(seq) => seq,
        _ => &[],
    }
}

/// The text of a string scalar.
pub(crate) fn as_str<'n>(node: &'n MarkedYaml) -> Option<&'n str> {
    match &node.data {
        YamlData::Value(Scalar::String(s)) => Some(s),
        YamlData::Tagged(_, inner) => as_str(inner),
        _ => None,
    }
}

/// Whether the node is an empty value (`key:` with nothing after it, `~` or `null`).
pub(crate) fn is_null(node: &MarkedYaml) -> bool {
    matches!(node.data, YamlData::Value(Scalar::Null))
}

/// What kind of node this is, in words for messages.
pub(crate) fn kind(node: &MarkedYaml) -> &'static str {
    match &node.data {
        YamlData::Mapping(m) if m.is_empty() => "an empty mapping",
        YamlData::Mapping(_) => "a mapping",
        YamlData::Sequence(s) if s.is_empty() => "an empty list",
        YamlData::Sequence(_) => "a list",
        YamlData::Value(Scalar::Null) => "empty",
        YamlData::Value(Scalar::String(_)) => "text",
        YamlData::Value(Scalar::Boolean(_)) => "true/false",
        YamlData::Value(_) => "a number",
        YamlData::Tagged(_, inner) => kind(inner),
        YamlData::Alias(_) => "an alias",
        _ => "not readable",
    }
}

/// The last line (1-based) that holds part of `node`: the end of its last scalar.
///
/// The end marker of a block collection points at the next token, past blank lines and
/// comments that follow it, so only scalars (whose end markers are exact) count.
pub(crate) fn last_line(node: &MarkedYaml) -> usize {
    let own = {
        let (start, end) = (node.span.start, node.span.end);
        if end.line() > start.line() && end.col() == 0 {
            end.line() - 1
        } else {
            end.line()
        }
    };
    match &node.data {
        YamlData::Mapping(map) => map
            .iter()
            .map(|(k, v)| last_line(k).max(last_line(v)))
            .max()
            .unwrap_or(own),
        YamlData::Sequence(seq) => seq.iter().map(last_line).max().unwrap_or(own),
        YamlData::Tagged(_, inner) => last_line(inner),
        _ => own,
    }
}

/// `s` as a YAML scalar that reads back as the string `s`: plain when that is safe, else
/// double-quoted.
pub(crate) fn scalar(s: &str) -> String {
    let plain_chars = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._@/+-".contains(c));
    let first_ok = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '/');
    // Anything the YAML 1.1 or 1.2 core schema reads as null, a bool or a number must be quoted.
    let typed = matches!(
        MarkedYaml::load_from_str(s).ok().as_deref(),
        Some([node]) if as_str(node) != Some(s)
    );
    let yaml11 = matches!(
        s.to_ascii_lowercase().as_str(),
        "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null"
    );
    if plain_chars && first_ok && !typed && !yaml11 {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_read_back_as_the_same_string() {
        for s in [
            "mydb",
            "ola.nordmann@nav.no",
            "123",
            "1e3",
            "true",
            "no",
            "null",
            "~",
            "",
            "a: b",
            "#x",
            "-x",
            "he said \"hi\"",
            "back\\slash",
            "æøå",
            "0x1f",
            "line\nbreak",
        ] {
            let text = format!("k: {}\n", scalar(s));
            let doc = Doc::load(&text).unwrap();
            let (_, v) = get(doc.root.as_ref().unwrap(), "k").unwrap();
            assert_eq!(as_str(v), Some(s), "{text}");
        }
        assert_eq!(scalar("mydb_dev"), "mydb_dev");
        assert_eq!(scalar("ola.nordmann@nav.no"), "ola.nordmann@nav.no");
        assert_eq!(scalar("yes"), "\"yes\"");
    }

    #[test]
    fn last_line_ignores_trailing_comments_and_blank_lines() {
        let text = "a:\n  - x: 1\n    y: 2\n  # note\n\nb: 3\n";
        let doc = Doc::load(text).unwrap();
        let (_, a) = get(doc.root.as_ref().unwrap(), "a").unwrap();
        assert_eq!(last_line(a), 3);
        assert_eq!(last_line(doc.root.as_ref().unwrap()), 6);
    }

    #[test]
    fn dash_column_in_compact_and_indented_lists() {
        let text = "a:\n- x: 1\nb:\n    - y\n";
        let doc = Doc::load(text).unwrap();
        let root = doc.root.as_ref().unwrap();
        let a = get(root, "a").unwrap().1;
        let b = get(root, "b").unwrap().1;
        assert_eq!(doc.dash_column(&items(a)[0]), Some(0));
        assert_eq!(doc.dash_column(&items(b)[0]), Some(4));
    }

    #[test]
    fn errors_have_lines_and_a_second_document_is_refused() {
        let e = Doc::load("a: 1\nb: [\n").err().unwrap();
        assert!(e.line >= 2, "{e:?}");
        let e = Doc::load("a: 1\n---\nb: 2\n").err().unwrap();
        assert_eq!(e.line, 2);
        let e = Doc::load("a: 1\na: 2\n").err().unwrap();
        assert_eq!(e.line, 2, "{e:?}");
        assert!(Doc::load("# only a comment\n").unwrap().root.is_none());
    }
}
