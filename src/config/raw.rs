//! The config file as written: a serde mirror of the TOML that rejects unknown keys and
//! keeps the span of every value, so `validate` can point at it.
//!
//! Input: the located tree from `location`. Output: a [`RawConfig`] plus every structural
//! problem (unknown key, wrong type, a secret in the file). Deserialization normally
//! stops at the first error; here each error is recorded, the offending entry is cut
//! from the tree and deserialization runs again, so one pass of `check` lists them all.
//! Nothing is interpreted here (durations stay text, ids stay integers): that is
//! `validate`'s job. The structs are the single source of the accepted keys (`probe`).

use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use serde_spanned::Spanned;

use super::location::{key_path, remove, De, Node, Value};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    pub storage: Option<Spanned<RawStorage>>,
    pub poller: Option<Spanned<RawPoller>>,
    pub feeds: Vec<Spanned<RawFeed>>,
    pub catalog: Option<Spanned<RawCatalog>>,
    pub discord: Option<Spanned<RawDiscord>>,
    pub actors: Vec<Spanned<RawActor>>,
    pub rules: Vec<Spanned<RawRule>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawStorage {
    pub path: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPoller {
    pub interval: Option<Spanned<DurationText>>,
    pub concurrency: Option<Spanned<i64>>,
    pub timeout: Option<Spanned<DurationText>>,
    pub connect_timeout: Option<Spanned<DurationText>>,
    pub max_feed_bytes: Option<Spanned<i64>>,
    pub user_agent: Option<Spanned<String>>,
    pub max_item_age: Option<Spanned<DurationText>>,
    pub fail_notice_after: Option<Spanned<i64>>,
    pub max_backoff: Option<Spanned<DurationText>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawFeed {
    pub name: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    pub interval: Option<Spanned<DurationText>>,
    pub tags: Vec<Spanned<String>>,
    pub backfill: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCatalog {
    pub files: Vec<Spanned<String>>,
    pub urls: Vec<Spanned<String>>,
    pub refresh: Option<Spanned<DurationText>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDiscord {
    pub api_base: Option<Spanned<String>>,
    pub guild_id: Option<Spanned<Snowflake>>,
    pub status_channel: Option<Spanned<Snowflake>>,
    pub token_file: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawActor {
    pub name: Option<Spanned<String>>,
    pub aliases: Vec<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRule {
    pub name: Option<Spanned<String>>,
    pub actors: Vec<Spanned<String>>,
    pub sectors: Vec<Spanned<String>>,
    pub regions: Vec<Spanned<String>>,
    pub require: Option<Spanned<String>>,
    pub when: Option<Spanned<String>>,
    pub exclude: Vec<Spanned<String>>,
    pub feeds: Vec<Spanned<String>>,
    pub channel: Option<Spanned<Snowflake>>,
    pub mention_roles: Vec<Spanned<Snowflake>>,
    pub priority: Option<Spanned<String>>,
}

/// A duration as written ("15m"); parsed by `validate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationText(pub String);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DurationText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a duration like "15m""#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationText, E> {
                Ok(DurationText(v.to_string()))
            }
        }
        d.deserialize_str(V)
    }
}

/// A Discord id as written; TOML integers are i64, so a negative one gets this far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snowflake(pub i64);

impl<'de> Deserialize<'de> for Snowflake {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Snowflake;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Discord id (an integer, without quotes)")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Snowflake, E> {
                Ok(Snowflake(v))
            }
        }
        d.deserialize_i64(V)
    }
}

/// A structural problem, located by byte span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawProblem {
    pub span: Range<usize>,
    pub key: String,
    pub message: String,
}

/// The result of reading the tree: what could be read, and what could not.
#[derive(Debug, Default)]
pub struct Parsed {
    pub config: RawConfig,
    pub problems: Vec<RawProblem>,
    /// Keys and array elements (`rules[0].actors[1]`) cut because of a problem: checks
    /// that would read them ("rule watches nothing") must not fire on their absence, and
    /// the elements after a cut one keep their index (see [`index`]).
    pub removed: BTreeSet<String>,
}

/// The index in the file of the `j`th element kept of the array at `key`, given
/// `Parsed::removed`.
pub fn index(removed: &BTreeSet<String>, key: &str, j: usize) -> usize {
    (0..)
        .filter(|i| !removed.contains(&format!("{key}[{i}]")))
        .nth(j)
        .unwrap_or(j)
}

/// Deserialize `tree` into a `RawConfig`, collecting every structural problem.
pub fn read(mut tree: Node) -> Parsed {
    let mut parsed = Parsed::default();
    remove_secrets(&mut tree, &mut parsed);
    // Each failed pass removes one entry, so this ends; the bound is a safety net.
    for _ in 0..10_000 {
        match RawConfig::deserialize(De::root(&tree)) {
            Ok(config) => {
                parsed.config = config;
                return parsed;
            }
            Err(e) => {
                let (span, path) = e.at.map_or((0..0, Vec::new()), |at| (at.span, at.path));
                parsed.problems.push(RawProblem {
                    span,
                    key: key_path(&path),
                    message: e.message,
                });
                if !remove(&mut tree, &path) {
                    break;
                }
                parsed.removed.insert(key_path(&path));
            }
        }
    }
    // Only an error that cannot be cut away gets here; it is in `problems`, so the
    // default config returned with it is never used.
    parsed
}

/// Keys under `[discord]` that look like a secret: reported and cut before anything else.
fn remove_secrets(tree: &mut Node, parsed: &mut Parsed) {
    let Value::Table(top) = &mut tree.value else {
        return;
    };
    let Some(discord) = top.iter_mut().find(|e| e.key == "discord") else {
        return;
    };
    fn walk(node: &mut Node, path: &str, depth: usize, parsed: &mut Parsed) {
        let Value::Table(entries) = &mut node.value else {
            return;
        };
        entries.retain_mut(|e| {
            let key = format!("{path}.{}", e.key);
            let secret = e.key.to_ascii_lowercase().contains("token")
                && !(depth == 0 && e.key == "token_file");
            if secret {
                parsed.problems.push(RawProblem {
                    span: e.key_span.clone(),
                    key: key.clone(),
                    message: "secrets do not belong in the config: set the DISCORD_TOKEN \
                              environment variable or discord.token_file"
                        .to_string(),
                });
                parsed.removed.insert(key);
                return false;
            }
            walk(&mut e.node, &key, depth + 1, parsed);
            true
        });
    }
    walk(&mut discord.node, "discord", 0, parsed);
}

/// The accepted keys, read off the structs: the test that keeps `config.example.toml`
/// complete asks here, so a key added to a struct cannot be forgotten there.
#[cfg(test)]
pub mod probe {
    use serde::de::{self, Deserializer, IntoDeserializer, Visitor};
    use serde::Deserialize;
    use serde_spanned::__unstable as spanned;

    use super::super::location::{DeError, SpannedAccess};
    use super::RawConfig;

    /// Every key `RawConfig` accepts, dotted, arrays of tables without an index
    /// (`rules.when`), in declaration order. Derived from the structs themselves, for the
    /// test that keeps `config.example.toml` complete.
    pub fn keys() -> Vec<String> {
        let out = std::cell::RefCell::new(Vec::new());
        // The probe only fails if a type asks for something it cannot fake: a bug here.
        let _ = RawConfig::deserialize(Probe {
            prefix: String::new(),
            out: &out,
        });
        out.into_inner()
    }

    /// Walks the raw structs as if reading a file that sets every key, recording the keys.
    struct Probe<'a> {
        prefix: String,
        out: &'a std::cell::RefCell<Vec<String>>,
    }

    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = DeError;

        fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, DeError> {
            Err(de::Error::custom(format_args!(
                "{}: the key probe cannot fake this type",
                self.prefix
            )))
        }
        fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            visitor.visit_some(self)
        }
        fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            visitor.visit_str("1s")
        }
        fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            visitor.visit_str("1s")
        }
        fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            visitor.visit_i64(1)
        }
        fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            let one = Probe {
                prefix: self.prefix,
                out: self.out,
            };
            visitor.visit_seq(de::value::SeqDeserializer::new(std::iter::once(one)))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            fields: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, DeError> {
            if spanned::is_spanned(name, fields) {
                return visitor.visit_map(SpannedAccess::new(0..0, self));
            }
            let (prefix, out) = (self.prefix, self.out);
            let children = fields.iter().map(|f| {
                let key = if prefix.is_empty() {
                    (*f).to_string()
                } else {
                    format!("{prefix}.{f}")
                };
                (*f, Probe { prefix: key, out })
            });
            let mut access = de::value::MapDeserializer::new(children.inspect(|(_, p)| {
                out.borrow_mut().push(p.prefix.clone());
            }));
            let value = visitor.visit_map(&mut access)?;
            access.end()?;
            Ok(value)
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i128 u8 u16 u32 u64 u128 f32 f64 char
            bytes byte_buf unit unit_struct newtype_struct tuple
            tuple_struct map enum identifier ignored_any
        }
    }

    impl<'de> IntoDeserializer<'de, DeError> for Probe<'_> {
        type Deserializer = Self;
        fn into_deserializer(self) -> Self {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expect: &str) {
        let tree = super::super::location::parse(text).expect("valid TOML");
        let parsed = read(tree);
        let mut got: Vec<String> = parsed
            .problems
            .iter()
            .map(|p| {
                let (l, c) = super::super::location::line_col(text, p.span.start);
                format!("{l}:{c}: {}: {}", p.key, p.message)
            })
            .collect();
        got.push(format!("removed: {:?}", parsed.removed));
        assert_eq!(got.join("\n"), expect);
    }

    #[test]
    fn every_structural_problem_is_reported() {
        check(
            "[poller]\nintervall = \"1m\"\nconcurrency = \"8\"\n[[rules]]\nname = \"r\"\nactors = [\"APT27\", 5]\nchanel = 1\n",
            r#"2:1: poller.intervall: unknown key (did you mean "interval"? allowed: interval, concurrency, timeout, connect_timeout, max_feed_bytes, user_agent, max_item_age, fail_notice_after, max_backoff)
3:15: poller.concurrency: expected an integer, found string "8"
6:20: rules[0].actors[1]: expected a string, found integer 5
7:1: rules[0].chanel: unknown key (did you mean "channel"? allowed: name, actors, sectors, regions, require, when, exclude, feeds, channel, mention_roles, priority)
removed: {"poller.concurrency", "poller.intervall", "rules[0].actors[1]", "rules[0].chanel"}"#,
        );
    }

    #[test]
    fn values_keep_their_spans() {
        let text = "[[feeds]]\nname = \"a\"\ntags = [\"x\"]\n";
        let parsed = read(super::super::location::parse(text).expect("valid"));
        assert!(parsed.problems.is_empty());
        let feed = &parsed.config.feeds[0];
        assert_eq!(feed.span().start, 0);
        assert_eq!(feed.get_ref().tags[0].span(), 29..32);
    }

    #[test]
    fn keys_come_from_the_structs() {
        let keys = probe::keys();
        assert!(keys.contains(&"poller.max_backoff".to_string()), "{keys:?}");
        assert!(
            keys.contains(&"rules.mention_roles".to_string()),
            "{keys:?}"
        );
        assert!(keys.contains(&"discord.token_file".to_string()), "{keys:?}");
        assert!(keys.contains(&"storage".to_string()), "{keys:?}");
        assert_eq!(keys.len(), 7 + 1 + 9 + 5 + 3 + 4 + 2 + 11);
    }
}
