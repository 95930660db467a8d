//! Reading a TOML file into a type, finding every error it can in one pass.
//!
//! serde stops at the first value it cannot read. To report them all, the file is read again and
//! again: each time an error is recorded (with its path and its line and column), the value at
//! fault is set aside and the rest is read once more. A key with a default is simply left out,
//! so the rest can still be checked by validation, as if the key had not been written. When a
//! required value is at fault, or an element of a list, reading goes on with a stand-in to find
//! the remaining errors, but the result is not used. A syntax error stops everything: it is one
//! error, where the parser stopped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::de::DeserializeOwned;

use super::{Error, ValidationError};

/// Most re-reads of one file; each one sets aside one value, so only a file with hundreds of
/// errors reaches it, and the errors found so far are reported.
const MAX_ROUNDS: usize = 500;

/// What reading a file found.
pub(crate) struct Read<T> {
    /// The value read, unless reading had to invent a stand-in for a required value or drop an
    /// element of a list (the errors then say why).
    pub value: Option<T>,
    /// Every error found, in the file's order, each with its line and column.
    pub errors: Vec<ValidationError>,
    /// Paths of the values left out; later checks of `value` must not report them again.
    pub set_aside: Vec<String>,
}

impl<T> Read<T> {
    /// Whether `path` is at or under a value left out.
    pub fn is_set_aside(&self, path: &str) -> bool {
        self.set_aside.iter().any(|a| {
            path.strip_prefix(a.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        })
    }
}

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Seg {
    Key(String),
    Index(usize),
}

type SegPath = Vec<Seg>;

fn display(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Values tried, in turn, in place of a required value that is missing or wrong.
fn stand_ins() -> [toml::Value; 6] {
    [
        toml::Value::String(String::new()),
        toml::Value::Integer(1),
        toml::Value::Table(toml::Table::new()),
        toml::Value::Boolean(false),
        toml::Value::Array(Vec::new()),
        toml::Value::Float(1.0),
    ]
}

/// The file as parsed (for line numbers) and as it is read again and again.
struct Reading<'a> {
    text: &'a str,
    doc: toml_edit::ImDocument<&'a str>,
    tree: toml::Value,
    /// Original indices of the elements dropped from each list (by the list's original path).
    dropped: BTreeMap<SegPath, BTreeSet<usize>>,
    /// Keys left out (original paths).
    left_out: BTreeSet<SegPath>,
    /// Stand-ins in place (current paths), with the index of the one tried.
    stand_ins: BTreeMap<SegPath, usize>,
    /// Whether the value read is not the file's (a stand-in or a dropped element).
    invented: bool,
    found: Vec<(Option<usize>, ValidationError)>,
}

/// Reads `text` (from `origin`) as a `T`, reporting every error it can.
pub(crate) fn read<T: DeserializeOwned>(text: &str, origin: &Path) -> Result<Read<T>, Error> {
    let syntax = |message: &str, span: Option<std::ops::Range<usize>>| Error::Parse {
        path: origin.to_path_buf(),
        message: located(text, message, span.map(|s| s.start)),
    };
    let doc = toml_edit::ImDocument::parse(text).map_err(|e| syntax(e.message(), e.span()))?;
    let table: toml::Table = toml::from_str(text).map_err(|e| syntax(e.message(), e.span()))?;
    let mut reading = Reading {
        text,
        doc,
        tree: toml::Value::Table(table),
        dropped: BTreeMap::new(),
        left_out: BTreeSet::new(),
        stand_ins: BTreeMap::new(),
        invented: false,
        found: Vec::new(),
    };
    let mut value = None;
    for _ in 0..MAX_ROUNDS {
        match serde_path_to_error::deserialize::<_, T>(reading.tree.clone()) {
            Ok(v) => {
                value = Some(v);
                break;
            }
            Err(e) => {
                let path = e
                    .path()
                    .iter()
                    .map_while(|s| match s {
                        serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
                        serde_path_to_error::Segment::Enum { variant } => {
                            Some(Seg::Key(variant.clone()))
                        }
                        serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
                        serde_path_to_error::Segment::Unknown => None,
                    })
                    .collect();
                if !reading.set_aside(path, e.into_inner().message()) {
                    break;
                }
            }
        }
    }
    reading.found.sort_by_key(|(at, _)| *at);
    let set_aside = reading.left_out.iter().map(|p| display(p)).collect();
    Ok(Read {
        value: value.filter(|_| !reading.invented),
        errors: reading.found.into_iter().map(|(_, e)| e).collect(),
        set_aside,
    })
}

impl Reading<'_> {
    /// Records the error `message` at `path` (current indices) unless it is a stand-in's, and
    /// changes the tree so the next read gets past it. False when it cannot.
    fn set_aside(&mut self, path: SegPath, message: &str) -> bool {
        if let Some(field) = quoted_after(message, "missing field `") {
            let mut at = path;
            at.push(Seg::Key(field.to_owned()));
            let original = self.original(&at);
            if !self.under_stand_in(&at) && !self.left_out.contains(&original) {
                let span = self.span(&original[..original.len() - 1]);
                self.report(&original, "is required but missing".to_owned(), span);
            }
            return self.stand_in(at, 0);
        }
        if let Some(&tried) = self.stand_ins.get(&path) {
            return self.stand_in(path, tried + 1);
        }
        if self.under_stand_in(&path) {
            return false;
        }
        let mut path = path;
        let mut message = message.to_owned();
        let mut unknown_key = false;
        if let Some(field) = quoted_after(&message, "unknown field `") {
            // Inside a tagged enum the path stops at the table; the key is in the message.
            if path.last() != Some(&Seg::Key(field.to_owned())) {
                path.push(Seg::Key(field.to_owned()));
            }
            let rest = message
                .split_once(", ")
                .map_or(String::new(), |(_, expected)| format!(", {expected}"));
            message = format!("unknown key{rest}");
            unknown_key = true;
        }
        // Inside a tagged enum (an event, a `clients` model) serde's path stops at its table:
        // the field is the one holding the value the message quotes, when only one does.
        let field = if unknown_key {
            None
        } else {
            culprit(value_at(&self.tree, &path), &message)
        };
        let original = self.original(&path);
        let (shown, span) = match field {
            Some(field) => {
                let mut shown = original.clone();
                shown.push(Seg::Key(field));
                let span = self.key_span(&shown).or_else(|| self.span(&shown));
                (shown, span)
            }
            None if unknown_key => {
                let span = self.key_span(&original).or_else(|| self.span(&original));
                (original.clone(), span)
            }
            None => (original.clone(), self.span(&original)),
        };
        self.report(&shown, message, span);
        match path.last() {
            Some(Seg::Key(_)) => {
                self.left_out.insert(original);
                remove(&mut self.tree, &path)
            }
            Some(Seg::Index(_)) => self.drop_element(&path),
            None => false,
        }
    }

    /// Drops the list element at `path` (current indices), and any stand-in in it.
    fn drop_element(&mut self, path: &[Seg]) -> bool {
        let Some((list, index)) = split_index(&self.original(path)) else {
            return false;
        };
        self.invented = true;
        self.stand_ins.retain(|s, _| !s.starts_with(path));
        self.dropped.entry(list).or_default().insert(index);
        remove(&mut self.tree, path)
    }

    fn report(&mut self, path: &[Seg], message: String, at: Option<usize>) {
        self.found.push((
            at,
            ValidationError {
                path: display(path),
                message: located(self.text, &message, at),
            },
        ));
    }

    /// Puts the `tried`th stand-in at `path`. When none is left, the list element around it
    /// goes instead (an event whose `action` is unknown); false when there is none.
    fn stand_in(&mut self, path: SegPath, tried: usize) -> bool {
        let Some(value) = stand_ins().into_iter().nth(tried) else {
            return match path.iter().rposition(|s| matches!(s, Seg::Index(_))) {
                Some(i) => self.drop_element(&path[..=i]),
                None => false,
            };
        };
        self.invented = true;
        let placed = set(&mut self.tree, &path, value);
        self.stand_ins.insert(path, tried);
        placed
    }

    fn under_stand_in(&self, path: &[Seg]) -> bool {
        self.stand_ins.keys().any(|s| path.starts_with(s))
    }

    /// `path` with each list index as it is in the file, before elements were dropped.
    fn original(&self, path: &[Seg]) -> SegPath {
        let mut out = Vec::with_capacity(path.len());
        for seg in path {
            match seg {
                Seg::Index(i) => {
                    let dropped = self.dropped.get(&out);
                    let index = (0..)
                        .filter(|j| dropped.is_none_or(|d| !d.contains(j)))
                        .nth(*i)
                        .unwrap_or(*i);
                    out.push(Seg::Index(index));
                }
                key => out.push(key.clone()),
            }
        }
        out
    }

    /// Where the value at `path` (original indices), or the nearest table around it, starts.
    fn span(&self, path: &[Seg]) -> Option<usize> {
        (0..=path.len()).rev().find_map(|n| {
            self.item(&path[..n])
                .and_then(toml_edit::Item::span)
                .map(|s| s.start)
        })
    }

    /// Where the key at the end of `path` is written, if it is a key.
    fn key_span(&self, path: &[Seg]) -> Option<usize> {
        let (Seg::Key(key), parent) = path.split_last()? else {
            return None;
        };
        let (key, _) = self.item(parent)?.as_table_like()?.get_key_value(key)?;
        key.span().map(|s| s.start)
    }

    fn item(&self, path: &[Seg]) -> Option<&toml_edit::Item> {
        path.iter()
            .try_fold(self.doc.as_item(), |item, seg| match seg {
                Seg::Key(k) => item.get(k.as_str()),
                Seg::Index(i) => item.get(*i),
            })
    }
}

/// The text between `prefix` and the next backquote in `message`, if it starts with `prefix`.
fn quoted_after<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    message.strip_prefix(prefix)?.split('`').next()
}

/// The list and the index of the element `path` ends at, if it ends at one.
fn split_index(path: &[Seg]) -> Option<(SegPath, usize)> {
    match path.split_last() {
        Some((Seg::Index(i), list)) => Some((list.to_vec(), *i)),
        _ => None,
    }
}

/// The key of `element`'s table whose value `message` quotes (`invalid value: string "soon",
/// expected a duration`), if exactly one holds it.
fn culprit(element: Option<&toml::Value>, message: &str) -> Option<String> {
    let quoted = message
        .strip_prefix("invalid value: ")
        .or_else(|| message.strip_prefix("invalid type: "))?;
    let mut holding = element?
        .as_table()?
        .iter()
        .filter(|(_, v)| quotes(quoted, v));
    let (key, _) = holding.next()?;
    holding.next().is_none().then(|| key.clone())
}

/// Whether `quoted` starts with `value` as serde names an unexpected value. A NaN never
/// matches, and the element is named instead.
fn quotes(quoted: &str, value: &toml::Value) -> bool {
    match value {
        toml::Value::String(s) => quoted.starts_with(&format!("string {s:?},")),
        toml::Value::Integer(i) => {
            quoted_after(quoted, "integer `").is_some_and(|q| q == i.to_string())
        }
        toml::Value::Boolean(b) => {
            quoted_after(quoted, "boolean `").is_some_and(|q| q == b.to_string())
        }
        toml::Value::Float(f) => quoted_after(quoted, "floating point `")
            .is_some_and(|q| q.parse::<f64>().ok() == Some(*f)),
        _ => false,
    }
}

fn value_at<'v>(tree: &'v toml::Value, path: &[Seg]) -> Option<&'v toml::Value> {
    path.iter().try_fold(tree, |value, seg| match seg {
        Seg::Key(k) => value.as_table()?.get(k),
        Seg::Index(i) => value.as_array()?.get(*i),
    })
}

fn parent_mut<'v>(tree: &'v mut toml::Value, path: &[Seg]) -> Option<&'v mut toml::Value> {
    path.iter().try_fold(tree, |value, seg| match seg {
        Seg::Key(k) => value.as_table_mut()?.get_mut(k),
        Seg::Index(i) => value.as_array_mut()?.get_mut(*i),
    })
}

fn remove(tree: &mut toml::Value, path: &[Seg]) -> bool {
    let Some((last, parent)) = path.split_last() else {
        return false;
    };
    match (parent_mut(tree, parent), last) {
        (Some(toml::Value::Table(t)), Seg::Key(k)) => t.remove(k).is_some(),
        (Some(toml::Value::Array(a)), Seg::Index(i)) if *i < a.len() => {
            a.remove(*i);
            true
        }
        _ => false,
    }
}

fn set(tree: &mut toml::Value, path: &[Seg], value: toml::Value) -> bool {
    let Some((last, parent)) = path.split_last() else {
        return false;
    };
    match (parent_mut(tree, parent), last) {
        (Some(toml::Value::Table(t)), Seg::Key(k)) => {
            t.insert(k.clone(), value);
            true
        }
        (Some(toml::Value::Array(a)), Seg::Index(i)) if *i < a.len() => {
            a[*i] = value;
            true
        }
        _ => false,
    }
}

/// `message` on one line, followed by the line and column of byte `at` in `text`.
fn located(text: &str, message: &str, at: Option<usize>) -> String {
    let message = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let Some(at) = at.filter(|a| *a <= text.len() && text.is_char_boundary(*a)) else {
        return message;
    };
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    format!("{message} (line {line}, column {column})")
}
