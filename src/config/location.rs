//! Where things are in a config file: the TOML as a tree in which every key and value
//! keeps its byte span, and the conversion of spans to 1-based line and column.
//!
//! Input: the config text. Output: a [`Node`] tree (or the located syntax error), which
//! `raw` deserializes and prunes. This module knows TOML syntax only, never the schema.

use std::fmt;
use std::ops::Range;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
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
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<LooseValue, E> {
        i64::try_from(v)
            .map(|v| LooseValue::Scalar(Value::Integer(v)))
            .map_err(|_| E::custom("integer out of range"))
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
