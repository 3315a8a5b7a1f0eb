//! Where things are in a config file: the TOML as a tree in which every key and value
//! keeps its byte span, a serde `Deserializer` over that tree whose errors say which key
//! and span they concern, and the conversion of spans to 1-based line and column.
//!
//! Input: the config text. Output: a [`Node`] tree (or the located syntax error), which
//! `raw` deserializes and prunes. This module knows TOML syntax only, never the schema.

use std::fmt;
use std::ops::Range;

use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use serde_spanned::__unstable as spanned;

/// The key toml uses to pass a date-time through serde as a one-entry table.
const DATETIME_KEY: &str = "$__toml_private_datetime";

/// A value with the span of its text.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub span: Range<usize>,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Datetime(String),
    Array(Vec<Node>),
    Table(Vec<Entry>),
    /// An array element cut after a problem: skipped when read, so that its siblings
    /// keep their indices in later messages.
    Removed,
}

/// One `key = value` of a table, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_span: Range<usize>,
    pub node: Node,
}

/// A TOML syntax error: one line of text and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub span: Range<usize>,
    pub message: String,
}

/// Parse TOML text into a tree of located values (the root is a table at 0..0).
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let root: Loose = toml::Deserializer::new(text)
        .deserialize_any(KindVisitor)
        .map(|value| Loose { span: None, value })
        .map_err(|e| SyntaxError {
            span: e.span().unwrap_or(0..0),
            message: one_line(e.message()),
        })?;
    Ok(root.settle(0..0))
}

/// Byte offset -> 1-based (line, column), the column counted in characters.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// toml's messages may span lines ("invalid key\nexpected `=`"); a problem is one line.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// A node as toml hands it over: implicit tables (`[a.b]` creates `a`) have no span.
struct Loose {
    span: Option<Range<usize>>,
    value: LooseValue,
}

enum LooseValue {
    Scalar(Value),
    Array(Vec<Loose>),
    Table(Vec<(Key, Loose)>),
}

impl Loose {
    /// Give every node a span: its own, else the one of the key that names it.
    fn settle(self, fallback: Range<usize>) -> Node {
        let span = self.span.unwrap_or(fallback);
        let value = match self.value {
            LooseValue::Scalar(v) => v,
            LooseValue::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|item| item.settle(span.clone()))
                    .collect(),
            ),
            LooseValue::Table(entries) => Value::Table(
                entries
                    .into_iter()
                    .map(|(key, node)| {
                        let key_span = key.span.unwrap_or_else(|| span.clone());
                        Entry {
                            key: key.name,
                            node: node.settle(key_span.clone()),
                            key_span,
                        }
                    })
                    .collect(),
            ),
        };
        Node { span, value }
    }
}

/// A table key with its span, when toml knows it.
struct Key {
    name: String,
    span: Option<Range<usize>>,
}

const SPANNED_FIELDS: &[&str] = &[
    spanned::START_FIELD,
    spanned::END_FIELD,
    spanned::VALUE_FIELD,
];

/// Reads a key, asking toml for its span.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_struct(spanned::NAME, SPANNED_FIELDS, KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(Key {
            name: v.to_string(),
            span: None,
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
        let (mut start, mut end, mut name) = (0, 0, String::new());
        while let Some(k) = map.next_key::<String>()? {
            match k.as_str() {
                spanned::START_FIELD => start = map.next_value()?,
                spanned::END_FIELD => end = map.next_value()?,
                _ => name = map.next_value()?,
            }
        }
        Ok(Key {
            name,
            span: Some(start..end),
        })
    }
}

/// Reads a value, asking toml for its span (which it has for all but implicit tables).
struct NodeSeed;

impl<'de> DeserializeSeed<'de> for NodeSeed {
    type Value = Loose;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Loose, D::Error> {
        d.deserialize_struct(spanned::NAME, SPANNED_FIELDS, NodeVisitor)
    }
}

struct NodeVisitor;

fn unspanned(value: Value) -> Loose {
    Loose {
        span: None,
        value: LooseValue::Scalar(value),
    }
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Loose;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Loose, E> {
        Ok(unspanned(Value::Boolean(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Loose, E> {
        Ok(unspanned(Value::Integer(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Loose, E> {
        Ok(unspanned(Value::Float(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Loose, E> {
        Ok(unspanned(Value::String(v.to_string())))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Loose, A::Error> {
        KindVisitor
            .visit_seq(seq)
            .map(|value| Loose { span: None, value })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Loose, A::Error> {
        let Some(first) = map.next_key_seed(KeySeed)? else {
            return Ok(Loose {
                span: None,
                value: LooseValue::Table(Vec::new()),
            });
        };
        if first.name != spanned::START_FIELD {
            // A table toml has no span for: read it as a plain one.
            let value = table_from(Some(first), map)?;
            return Ok(Loose { span: None, value });
        }
        let start: usize = map.next_value()?;
        let mut end = start;
        let mut value = None;
        while let Some(k) = map.next_key::<String>()? {
            if k == spanned::END_FIELD {
                end = map.next_value()?;
            } else {
                value = Some(map.next_value_seed(KindSeed)?);
            }
        }
        let value = value.ok_or_else(|| serde::de::Error::missing_field(spanned::VALUE_FIELD))?;
        Ok(Loose {
            span: Some(start..end),
            value,
        })
    }
}

/// Reads the value itself, whose span the caller already has.
struct KindSeed;

impl<'de> DeserializeSeed<'de> for KindSeed {
    type Value = LooseValue;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<LooseValue, D::Error> {
        d.deserialize_any(KindVisitor)
    }
}

struct KindVisitor;

impl<'de> Visitor<'de> for KindVisitor {
    type Value = LooseValue;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<LooseValue, E> {
        Ok(LooseValue::Scalar(Value::Boolean(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<LooseValue, E> {
        Ok(LooseValue::Scalar(Value::Integer(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<LooseValue, E> {
        Ok(LooseValue::Scalar(Value::Float(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<LooseValue, E> {
        Ok(LooseValue::Scalar(Value::String(v.to_string())))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LooseValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(NodeSeed)? {
            items.push(item);
        }
        Ok(LooseValue::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LooseValue, A::Error> {
        let first = map.next_key_seed(KeySeed)?;
        table_from(first, map)
    }
}

/// The rest of a table whose first key has been read (a date-time arrives this way too).
fn table_from<'de, A: MapAccess<'de>>(
    first: Option<Key>,
    mut map: A,
) -> Result<LooseValue, A::Error> {
    let mut entries = Vec::new();
    let mut key = first;
    while let Some(k) = key {
        if k.name == DATETIME_KEY {
            let text: String = map.next_value()?;
            return Ok(LooseValue::Scalar(Value::Datetime(text)));
        }
        let node = map.next_value_seed(NodeSeed)?;
        entries.push((k, node));
        key = map.next_key_seed(KeySeed)?;
    }
    Ok(LooseValue::Table(entries))
}

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// `rules[0].actors[1]`.
pub fn key_path(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if s.is_empty() => s.push_str(k),
            Seg::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Remove the entry or array element at `path`; false if it is not there.
pub fn remove(node: &mut Node, path: &[Seg]) -> bool {
    match path {
        [] => false,
        [Seg::Key(k)] => match &mut node.value {
            Value::Table(entries) => {
                let before = entries.len();
                entries.retain(|e| e.key != *k);
                entries.len() < before
            }
            _ => false,
        },
        [Seg::Index(i)] => match &mut node.value {
            Value::Array(items) => match items.get_mut(*i) {
                Some(item) if item.value != Value::Removed => {
                    item.value = Value::Removed;
                    true
                }
                _ => false,
            },
            _ => false,
        },
        [first, rest @ ..] => {
            let child = match (first, &mut node.value) {
                (Seg::Key(k), Value::Table(entries)) => entries
                    .iter_mut()
                    .find(|e| e.key == *k)
                    .map(|e| &mut e.node),
                (Seg::Index(i), Value::Array(items)) => items.get_mut(*i),
                _ => None,
            };
            child.is_some_and(|c| remove(c, rest))
        }
    }
}

/// A deserialization error, located at the innermost node it concerns.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct DeError {
    pub message: String,
    pub at: Option<At>,
}

/// Where a `DeError` is: the span of the key or value, and its key path.
#[derive(Debug)]
pub struct At {
    pub span: Range<usize>,
    pub path: Vec<Seg>,
}

impl DeError {
    fn locate(mut self, span: &Range<usize>, path: &[Seg]) -> Self {
        if self.at.is_none() {
            self.at = Some(At {
                span: span.clone(),
                path: path.to_vec(),
            });
        }
        self
    }
}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            message: msg.to_string(),
            at: None,
        }
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Self::custom(format_args!(
            "expected {}, found {}",
            expected(exp),
            found(&unexp)
        ))
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Self::invalid_type(unexp, exp)
    }

    fn unknown_field(field: &str, allowed: &'static [&'static str]) -> Self {
        let close = crate::catalog::suggest(field, allowed.iter().copied());
        let hint = match close.first() {
            Some(a) => format!("did you mean \"{a}\"? "),
            None => String::new(),
        };
        Self::custom(format_args!(
            "unknown key ({hint}allowed: {})",
            allowed.join(", ")
        ))
    }
}

/// serde's "expected" texts in the words of a TOML user.
fn expected(exp: &dyn de::Expected) -> String {
    let text = exp.to_string();
    match text.as_str() {
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" => {
            "an integer".to_string()
        }
        "a sequence" => "an array".to_string(),
        t if t.starts_with("struct ") => "a table".to_string(),
        _ => text,
    }
}

fn found(unexp: &de::Unexpected<'_>) -> String {
    match unexp {
        de::Unexpected::Signed(i) => format!("integer {i}"),
        de::Unexpected::Unsigned(u) => format!("integer {u}"),
        de::Unexpected::Float(x) => format!("float {x}"),
        de::Unexpected::Bool(b) => format!("boolean {b}"),
        de::Unexpected::Str(s) => format!("string {s:?}"),
        de::Unexpected::Seq => "an array".to_string(),
        de::Unexpected::Map => "a table".to_string(),
        other => other.to_string(),
    }
}

/// Deserializes one located node, remembering where it is for errors.
pub struct De<'a> {
    node: &'a Node,
    path: Vec<Seg>,
}

impl<'a> De<'a> {
    /// A deserializer for a whole document.
    pub fn root(node: &'a Node) -> De<'a> {
        De {
            node,
            path: Vec::new(),
        }
    }

    fn child(&self, seg: Seg, node: &'a Node) -> De<'a> {
        let mut path = self.path.clone();
        path.push(seg);
        De { node, path }
    }
}

impl<'de> Deserializer<'de> for De<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let (span, path) = (self.node.span.clone(), self.path.clone());
        let result = match &self.node.value {
            Value::String(s) => visitor.visit_str(s),
            Value::Integer(i) => visitor.visit_i64(*i),
            Value::Float(x) => visitor.visit_f64(*x),
            Value::Boolean(b) => visitor.visit_bool(*b),
            Value::Datetime(_) => Err(de::Error::invalid_type(
                de::Unexpected::Other("a date-time"),
                &visitor,
            )),
            Value::Array(items) => visitor.visit_seq(Items {
                de: &self,
                items: items.iter().enumerate(),
            }),
            Value::Table(entries) => visitor.visit_map(Entries {
                de: &self,
                entries: entries.iter(),
                value: None,
            }),
            Value::Removed => Err(de::Error::custom("read a removed value")),
        };
        result.map_err(|e| e.locate(&span, &path))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_some(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        if spanned::is_spanned(name, fields) {
            let (span, path) = (self.node.span.clone(), self.path.clone());
            return visitor
                .visit_map(SpannedAccess::new(span.clone(), self))
                .map_err(|e| e.locate(&span, &path));
        }
        self.deserialize_any(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

struct Items<'a, 'b> {
    de: &'b De<'a>,
    items: std::iter::Enumerate<std::slice::Iter<'a, Node>>,
}

impl<'de> SeqAccess<'de> for Items<'_, '_> {
    type Error = DeError;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.items.find(|(_, node)| node.value != Value::Removed) {
            Some((i, node)) => seed
                .deserialize(self.de.child(Seg::Index(i), node))
                .map(Some),
            None => Ok(None),
        }
    }
}

struct Entries<'a, 'b> {
    de: &'b De<'a>,
    entries: std::slice::Iter<'a, Entry>,
    value: Option<&'a Entry>,
}

impl<'de> MapAccess<'de> for Entries<'_, '_> {
    type Error = DeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some(entry) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(entry);
        let key: de::value::StrDeserializer<'_, DeError> = entry.key.as_str().into_deserializer();
        seed.deserialize(key).map(Some).map_err(|e| {
            let mut path = self.de.path.clone();
            path.push(Seg::Key(entry.key.clone()));
            e.locate(&entry.key_span, &path)
        })
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, DeError> {
        let entry = self
            .value
            .take()
            .ok_or_else(|| <DeError as de::Error>::custom("value asked before key"))?;
        seed.deserialize(self.de.child(Seg::Key(entry.key.clone()), &entry.node))
    }
}

/// Hands a `Spanned<T>` its start, end and value, the way toml does.
pub struct SpannedAccess<D> {
    span: Range<usize>,
    step: u8,
    value: Option<D>,
}

impl<D> SpannedAccess<D> {
    pub fn new(span: Range<usize>, value: D) -> Self {
        SpannedAccess {
            span,
            step: 0,
            value: Some(value),
        }
    }
}

impl<'de, D: Deserializer<'de, Error = DeError>> MapAccess<'de> for SpannedAccess<D> {
    type Error = DeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let key = match self.step {
            0 => spanned::START_FIELD,
            1 => spanned::END_FIELD,
            2 => spanned::VALUE_FIELD,
            _ => return Ok(None),
        };
        seed.deserialize(de::value::BorrowedStrDeserializer::new(key))
            .map(Some)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, DeError> {
        self.step += 1;
        match self.step {
            1 => seed.deserialize(self.span.start.into_deserializer()),
            2 => seed.deserialize(self.span.end.into_deserializer()),
            _ => match self.value.take() {
                Some(d) => seed.deserialize(d),
                None => Err(de::Error::custom("spanned value read twice")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders the tree as `path line:col kind`, one node a line.
    fn dump(text: &str) -> String {
        fn walk(text: &str, path: &str, node: &Node, out: &mut Vec<String>) {
            let (l, c) = line_col(text, node.span.start);
            let kind = match &node.value {
                Value::String(s) => format!("string {s:?}"),
                Value::Integer(i) => format!("integer {i}"),
                Value::Float(f) => format!("float {f}"),
                Value::Boolean(b) => format!("boolean {b}"),
                Value::Datetime(d) => format!("datetime {d}"),
                Value::Array(_) => "array".to_string(),
                Value::Table(_) => "table".to_string(),
                Value::Removed => "removed".to_string(),
            };
            out.push(format!("{path} {l}:{c} {kind}"));
            match &node.value {
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        walk(text, &format!("{path}[{i}]"), item, out);
                    }
                }
                Value::Table(entries) => {
                    for e in entries {
                        let (l, c) = line_col(text, e.key_span.start);
                        out.push(format!("{path}.{} key {l}:{c}", e.key));
                        walk(text, &format!("{path}.{}", e.key), &e.node, out);
                    }
                }
                _ => {}
            }
        }
        let node = parse(text).expect("valid TOML");
        let mut out = Vec::new();
        walk(text, "", &node, &mut out);
        out.join("\n")
    }

    #[test]
    fn every_value_is_located() {
        let text = "top = 1\n[poller]\ninterval = \"15m\"\nat = 1979-05-27T07:32:00Z\n\n[[feeds]]\nname = \"x\"\ntags = [\"a\", 2]\n[a.b]\nc = { d = 1.5 }\n";
        let expect = r#" 1:1 table
.top key 1:1
.top 1:7 integer 1
.poller key 2:2
.poller 2:1 table
.poller.interval key 3:1
.poller.interval 3:12 string "15m"
.poller.at key 4:1
.poller.at 4:6 datetime 1979-05-27T07:32:00Z
.feeds key 6:3
.feeds 6:1 array
.feeds[0] 6:1 table
.feeds[0].name key 7:1
.feeds[0].name 7:8 string "x"
.feeds[0].tags key 8:1
.feeds[0].tags 8:8 array
.feeds[0].tags[0] 8:9 string "a"
.feeds[0].tags[1] 8:14 integer 2
.a key 9:2
.a 9:2 table
.a.b key 9:4
.a.b 9:1 table
.a.b.c key 10:1
.a.b.c 10:5 table
.a.b.c.d key 10:7
.a.b.c.d 10:11 float 1.5"#;
        assert_eq!(dump(text), expect);
    }

    #[test]
    fn syntax_errors_are_one_located_line() {
        let err = parse("a = 1\nb = \n").expect_err("invalid");
        assert_eq!(line_col("a = 1\nb = \n", err.span.start), (2, 5));
        assert!(!err.message.contains('\n'), "{}", err.message);
    }

    #[test]
    fn columns_count_characters() {
        assert_eq!(line_col("é = 1\nab", 9), (2, 3));
        assert_eq!(line_col("éa", 1), (1, 1));
    }
}
