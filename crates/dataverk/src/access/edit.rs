//! Writing access files: a new one in the seed's shape, or a grant added to an existing one.
//!
//! Adding never re-serialises the document, since that would drop its comments and could
//! reorder or restyle it. It finds, from the parser's line markers, the block the grant belongs
//! in and inserts the missing lines after that block's last line, indented like their siblings;
//! every other byte of the file stays as it was. One missing piece is added at a time and the
//! text parsed again, so each insertion is computed against the real current text. Flow-style
//! collections (`[...]`, `{...}`) are not edited: the user is told to write them as blocks.

use super::check::Problem;
use super::yaml::{self, Doc};
use super::{AccessRequest, Owner, VaultEnvs};
use crate::{Error, Result};
use saphyr::MarkedYaml;
use std::io::Write;
use std::path::Path;

/// The result of adding a grant to a file's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// The new text.
    pub text: String,
    /// What was added, one line each; empty when the file already held the grant.
    pub changes: Vec<String>,
    /// Things the user should look at (e.g. the database already granted with another role).
    pub notes: Vec<String>,
}

/// What [`AccessRequest::write_to_file`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOutcome {
    /// The file did not exist and was written whole.
    pub created: bool,
    /// What was added to an existing file; empty when created or when nothing was missing.
    pub changes: Vec<String>,
    /// See [`Added::notes`].
    pub notes: Vec<String>,
    /// Problems `check` finds in the file as written (elsewhere in an existing file).
    pub problems: Vec<Problem>,
}

/// Lines to insert after line `after` (1-based; 0 is before the first line), each indented by
/// `indent` spaces, and optionally an explicit `~`/`null` to remove first.
struct Edit {
    after: usize,
    indent: usize,
    lines: Vec<String>,
    clear: Option<(usize, usize, usize)>,
    change: String,
}

impl AccessRequest {
    /// The whole file for this grant, in the seed's shape (user: email, kubeflow, postgresql;
    /// team: name, group_id, postgresql, kubeflow with `extra_policies`).
    pub fn render(&self, envs: &VaultEnvs) -> Result<String> {
        self.validate(envs)?;
        let grant = self.grant_lines();
        let mut out = Vec::new();
        match &self.owner {
            Owner::User { email } => {
                out.push(format!("email: {}", yaml::scalar(email)));
                out.push("kubeflow:".into());
                out.extend(indent(2, self.namespace_item_lines(envs)?));
                out.push("postgresql:".into());
                out.push(format!("  {}:", yaml::scalar(&self.env)));
                out.extend(indent(4, grant));
            }
            Owner::Team { name, group_id } => {
                out.push(format!("name: {}", yaml::scalar(name)));
                out.push(format!("group_id: {}", yaml::scalar(group_id)));
                out.push("postgresql:".into());
                out.push(format!("  {}:", yaml::scalar(&self.env)));
                out.extend(indent(4, grant));
                out.push("kubeflow:".into());
                out.extend(indent(2, self.namespace_item_lines(envs)?));
            }
        }
        Ok(out.join("\n") + "\n")
    }

    /// `existing` with this grant added where it is missing; see the module comment for how.
    pub fn add_to(&self, existing: &str, envs: &VaultEnvs) -> Result<Added> {
        self.validate(envs)?;
        let eol = if existing.contains("\r\n") {
            "\r\n"
        } else {
            "\n"
        };
        let mut text = existing.to_string();
        let mut changes = Vec::new();
        let mut notes = Vec::new();
        // Each round adds at most one piece; there are at most five (owner keys, database,
        // namespace, policy), so more rounds means an edit did not take.
        for _ in 0..8 {
            let edited = {
                let doc = Doc::load(&text).map_err(|e| {
                    Error::Usage(format!(
                        "line {}: not valid YAML ({}); fix it first (dataverk access check shows where)",
                        e.line, e.message
                    ))
                })?;
                match doc.root.as_ref() {
                    // Empty, or only comments: the comments stay on top of a new file.
                    None => None,
                    Some(root) => match self.next_edit(&doc, root, envs, &mut notes)? {
                        None => Some(None),
                        Some(edit) => Some(Some((apply(&text, &doc, &edit, eol), edit.change))),
                    },
                }
            };
            match edited {
                Some(None) => {
                    return Ok(Added {
                        text,
                        changes,
                        notes,
                    })
                }
                Some(Some((new_text, change))) => {
                    text = new_text;
                    changes.push(change);
                }
                None => {
                    if !text.is_empty() && !text.ends_with('\n') {
                        text.push_str(eol);
                    }
                    text.push_str(&self.render(envs)?.replace('\n', eol));
                    changes.push("wrote the whole file".to_string());
                    return Ok(Added {
                        text,
                        changes,
                        notes,
                    });
                }
            }
        }
        Err(Error::Usage(
            "could not add the grant to the file (an edit did not take); please add it by hand and report this".into(),
        ))
    }

    /// Writes this grant to `path`: a new file, or added to the existing one. The file is
    /// replaced atomically (temporary file beside it, then rename), so it is never half-written.
    pub fn write_to_file(&self, path: &Path, envs: &VaultEnvs) -> Result<WriteOutcome> {
        // Write through a symlink to its target rather than replacing the link.
        let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let (text, created, changes, notes) = match std::fs::read_to_string(&target) {
            Ok(existing) => {
                let added = self
                    .add_to(&existing, envs)
                    .map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?;
                (added.text, false, added.changes, added.notes)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                (self.render(envs)?, true, Vec::new(), Vec::new())
            }
            Err(e) => return Err(Error::io("cannot read", path, e)),
        };
        if created || !changes.is_empty() {
            write_atomically(&target, &text)?;
        }
        Ok(WriteOutcome {
            created,
            changes,
            notes,
            problems: super::check(&text, envs),
        })
    }

    /// `- database_name: ...` / `  permission_level: ...`, relative to the dash.
    fn grant_lines(&self) -> Vec<String> {
        vec![
            format!("- database_name: {}", yaml::scalar(&self.database)),
            format!("  permission_level: {}", self.role),
        ]
    }

    /// `- namespace: ...` and, for a team, its `extra_policies`, relative to the dash.
    fn namespace_item_lines(&self, envs: &VaultEnvs) -> Result<Vec<String>> {
        let mut lines = vec![format!("- namespace: {}", yaml::scalar(&self.namespace))];
        if let Owner::Team { .. } = self.owner {
            lines.push("  extra_policies:".into());
            lines.push(format!("    - {}", yaml::scalar(&self.policy(envs)?)));
        }
        Ok(lines)
    }

    /// The first missing piece of the grant in the parsed file, as an edit; `None` when the file
    /// holds it all.
    fn next_edit(
        &self,
        doc: &Doc,
        root: &MarkedYaml,
        envs: &VaultEnvs,
        notes: &mut Vec<String>,
    ) -> Result<Option<Edit>> {
        if yaml::entries(root).is_empty() {
            return Err(Error::Usage(format!(
                "the file is {}, not a mapping of keys; fix it first (dataverk access check shows how)",
                yaml::kind(root)
            )));
        }
        let top = root.span.start.line();
        let key_col = root.span.start.col();
        let first_key = |key: &str, value: &str| Edit {
            after: top - 1,
            indent: key_col,
            lines: vec![format!("{key}: {}", yaml::scalar(value))],
            clear: None,
            change: format!("added {key}: {value}"),
        };
        // The owner: refuse the other kind of file, or someone else's.
        let text_of = |key: &str| yaml::get(root, key).map(|(_, v)| yaml::as_str(v));
        match &self.owner {
            Owner::User { email } => {
                if text_of("name").is_some() || text_of("group_id").is_some() {
                    return Err(Error::Usage(
                        "this is a team file (it has name/group_id); use `dataverk access team`, or pick the user's file".into(),
                    ));
                }
                match text_of("email") {
                    None => return Ok(Some(first_key("email", email))),
                    Some(Some(e)) if e == email => {}
                    Some(other) => {
                        return Err(Error::Usage(format!(
                            "this is the user file of {}, not of {email}; pick the right --file",
                            other.unwrap_or("(an email that is not text)")
                        )))
                    }
                }
            }
            Owner::Team { name, group_id } => {
                if text_of("email").is_some() {
                    return Err(Error::Usage(
                        "this is a user file (it has email); use `dataverk access user`, or pick the team's file".into(),
                    ));
                }
                for (key, want) in [("name", name), ("group_id", group_id)] {
                    match text_of(key) {
                        None if key == "group_id" => {
                            // Beside the name, where the seed has it.
                            let mut edit = first_key(key, want);
                            if let Some((k, v)) = yaml::get(root, "name") {
                                edit.after = yaml::last_line(k).max(yaml::last_line(v));
                            }
                            return Ok(Some(edit));
                        }
                        None => return Ok(Some(first_key(key, want))),
                        Some(Some(have)) if have == want => {}
                        Some(have) => {
                            return Err(Error::Usage(format!(
                                "the file's {key} is {}, not {want}; pick the right --file or check --{}",
                                have.unwrap_or("not text"),
                                key.replace('_', "-")
                            )))
                        }
                    }
                }
            }
        }
        let team = matches!(self.owner, Owner::Team { .. });
        let db_edit = self.database_edit(doc, root, notes)?;
        let ns_edit = self.namespace_edit(doc, root, envs)?;
        // Teams in the seed declare postgresql before kubeflow; users the other way round.
        Ok(if team {
            db_edit.or(ns_edit)
        } else {
            ns_edit.or(db_edit)
        })
    }

    /// The edit that adds the database grant under `postgresql.<env>`, if it is missing.
    fn database_edit(
        &self,
        doc: &Doc,
        root: &MarkedYaml,
        notes: &mut Vec<String>,
    ) -> Result<Option<Edit>> {
        let env = &self.env;
        let change = format!(
            "added {} ({}) to postgresql.{env}",
            self.database, self.role
        );
        let grant = self.grant_lines();
        let Some((pg_key, pg)) = yaml::get(root, "postgresql") else {
            let mut lines = vec![
                "postgresql:".to_string(),
                format!("  {}:", yaml::scalar(env)),
            ];
            lines.extend(indent(4, grant));
            return Ok(Some(add_entry(root, lines, change)));
        };
        if yaml::is_null(pg) {
            let mut lines = vec![format!("{}:", yaml::scalar(env))];
            lines.extend(indent(2, grant));
            return Ok(Some(under_null_key(pg_key, pg, lines, change)));
        }
        if yaml::entries(pg).is_empty() || doc.is_flow(pg) {
            return Err(not_block(
                "postgresql",
                "a mapping of environments",
                pg,
                doc,
            ));
        }
        let Some((env_key, list)) = yaml::get(pg, env) else {
            let mut lines = vec![format!("{}:", yaml::scalar(env))];
            lines.extend(indent(2, grant));
            return Ok(Some(add_entry(pg, lines, change)));
        };
        if yaml::is_null(list) {
            return Ok(Some(under_null_key(env_key, list, grant, change)));
        }
        if yaml::items(list).is_empty() || doc.is_flow(list) {
            return Err(not_block(&format!("postgresql.{env}"), "a list", list, doc));
        }
        let entries = yaml::items(list);
        let field = |e: &MarkedYaml, k: &str| {
            yaml::get(e, k)
                .and_then(|(_, v)| yaml::as_str(v))
                .map(str::to_string)
        };
        let same_db: Vec<String> = entries
            .iter()
            .filter(|e| field(e, "database_name").as_deref() == Some(&self.database))
            .filter_map(|e| field(e, "permission_level"))
            .collect();
        if same_db.iter().any(|r| r == self.role.as_str()) {
            return Ok(None);
        }
        if !same_db.is_empty() {
            let note = format!(
                "postgresql.{env} already gives {} permission_level {}; if {} should replace it, remove the old entry",
                self.database,
                same_db.join(", "),
                self.role
            );
            if !notes.contains(&note) {
                notes.push(note);
            }
        }
        Ok(Some(add_item(doc, list, grant, change)?))
    }

    /// The edit that adds the namespace under `kubeflow` or, for a team, the policy under the
    /// namespace's `extra_policies`, if missing.
    fn namespace_edit(
        &self,
        doc: &Doc,
        root: &MarkedYaml,
        envs: &VaultEnvs,
    ) -> Result<Option<Edit>> {
        let ns = &self.namespace;
        let change = format!("added namespace {ns} to kubeflow");
        let item = self.namespace_item_lines(envs)?;
        let Some((kf_key, kf)) = yaml::get(root, "kubeflow") else {
            let mut lines = vec!["kubeflow:".to_string()];
            lines.extend(indent(2, item));
            return Ok(Some(add_entry(root, lines, change)));
        };
        if yaml::is_null(kf) {
            return Ok(Some(under_null_key(kf_key, kf, item, change)));
        }
        if yaml::items(kf).is_empty() || doc.is_flow(kf) {
            return Err(not_block("kubeflow", "a list of namespaces", kf, doc));
        }
        let Some(entry) = yaml::items(kf).iter().find(|e| {
            yaml::get(e, "namespace").and_then(|(_, v)| yaml::as_str(v)) == Some(ns.as_str())
        }) else {
            return Ok(Some(add_item(doc, kf, item, change)?));
        };
        if !matches!(self.owner, Owner::Team { .. }) {
            return Ok(None);
        }
        let policy = self.policy(envs)?;
        let change = format!("added {policy} to the extra_policies of namespace {ns}");
        let line = vec![format!("- {}", yaml::scalar(&policy))];
        if doc.is_flow(entry) {
            return Err(not_block(
                &format!("the kubeflow entry of {ns}"),
                "a mapping",
                entry,
                doc,
            ));
        }
        let Some((pol_key, policies)) = yaml::get(entry, "extra_policies") else {
            let mut lines = vec!["extra_policies:".to_string()];
            lines.extend(indent(2, line));
            return Ok(Some(add_entry(entry, lines, change)));
        };
        if yaml::is_null(policies) {
            return Ok(Some(under_null_key(pol_key, policies, line, change)));
        }
        if yaml::items(policies).is_empty() || doc.is_flow(policies) {
            return Err(not_block(
                &format!("extra_policies of {ns}"),
                "a list",
                policies,
                doc,
            ));
        }
        if yaml::items(policies)
            .iter()
            .any(|p| yaml::as_str(p) == Some(policy.as_str()))
        {
            return Ok(None);
        }
        Ok(Some(add_item(doc, policies, line, change)?))
    }
}

fn indent(n: usize, lines: Vec<String>) -> Vec<String> {
    let pad = " ".repeat(n);
    lines.into_iter().map(|l| format!("{pad}{l}")).collect()
}

/// A new last entry of block mapping `map`, aligned with its first key.
fn add_entry(map: &MarkedYaml, lines: Vec<String>, change: String) -> Edit {
    Edit {
        after: yaml::last_line(map),
        indent: map.span.start.col(),
        lines,
        clear: None,
        change,
    }
}

/// Block content for a key whose value is empty (`key:`, `key: ~`), two columns in from the key.
fn under_null_key(
    key: &MarkedYaml,
    value: &MarkedYaml,
    lines: Vec<String>,
    change: String,
) -> Edit {
    let (start, end) = (value.span.start, value.span.end);
    let clear = (end.index() > start.index() && start.line() == end.line())
        .then(|| (start.line(), start.col(), end.col()));
    Edit {
        after: yaml::last_line(key).max(start.line()),
        indent: key.span.start.col() + 2,
        lines,
        clear,
        change,
    }
}

/// A new last item of block sequence `list`, its dash under the first item's dash.
fn add_item(doc: &Doc, list: &MarkedYaml, lines: Vec<String>, change: String) -> Result<Edit> {
    let first = &yaml::items(list)[0];
    let indent = doc.dash_column(first).ok_or_else(|| {
        Error::Usage(
            "cannot find the `-` of a list item; write the list one `- item` per line".into(),
        )
    })?;
    Ok(Edit {
        after: yaml::last_line(list),
        indent,
        lines,
        clear: None,
        change,
    })
}

fn not_block(what: &str, want: &str, node: &MarkedYaml, doc: &Doc) -> Error {
    let line = node.span.start.line();
    let shape = if doc.is_flow(node) {
        format!("written in flow style (`{}`)", doc.line(line).trim())
    } else {
        yaml::kind(node).to_string()
    };
    Error::Usage(format!(
        "line {line}: {what} is {shape}, not {want} in block style; rewrite it as one `key: value` or `- item` per line and run the command again"
    ))
}

/// `text` with `edit` applied; every line not touched stays byte for byte.
fn apply(text: &str, doc: &Doc, edit: &Edit, eol: &str) -> String {
    let mut text = text.to_string();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push_str(eol);
    }
    // split('\n') leaves "\r" on CRLF lines, and a final "" after the last line end.
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    if let Some((line, from, to)) = edit.clear {
        let current = doc.line(line);
        let byte = |col: usize| {
            current
                .char_indices()
                .nth(col)
                .map_or(current.len(), |(i, _)| i)
        };
        let (a, b) = (byte(from), byte(to));
        let mut cleared = format!("{}{}", current[..a].trim_end(), &current[b..]);
        if eol == "\r\n" {
            cleared.push('\r');
        }
        lines[line - 1] = cleared;
    }
    let pad = " ".repeat(edit.indent);
    let cr = if eol == "\r\n" { "\r" } else { "" };
    let at = edit.after.min(lines.len() - 1);
    let new = edit.lines.iter().map(|l| format!("{pad}{l}{cr}"));
    lines.splice(at..at, new);
    lines.join("\n")
}

/// Writes `text` to a temporary file beside `path`, syncs it and renames it into place, keeping
/// the permissions of the file it replaces.
fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "access.yaml".into());
    let temp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&temp, meta.permissions())?;
        }
        std::fs::rename(&temp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        Error::io("cannot write", path, e)
    })
}
