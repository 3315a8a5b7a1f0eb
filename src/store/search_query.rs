//! What a user types into `/search`, turned into an FTS5 query, or the reason it is not
//! one. Users type plain text (`TG-3390 telecom`, `"Emissary Panda"`, `apt27 OR gallium`,
//! `ransom*`): FTS5's operators are kept (AND, OR, NOT in capitals, parentheses, quoted
//! phrases, a trailing `*`), and every other word is quoted, since a bare `TG-3390`,
//! `example.com` or `title:x` is FTS5 syntax (or a syntax error) rather than a word.
//!
//! Must not: touch SQL or the database; accept what FTS5 would reject for a reason this
//! module can name (the store maps whatever slips through to the same error).

/// Deeper nesting is no real query, and FTS5's parser has a fixed stack.
const MAX_DEPTH: usize = 8;
/// Each term costs a walk of its doclist within the search window; 16 OR'ed common words
/// stay within a reply's budget over 100,000 articles. Discord would allow hundreds.
const MAX_TERMS: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// A word or phrase, already quoted for FTS5 (with its `*` when a prefix).
    Term(String),
    Op(&'static str),
    Open,
    Close,
}

/// The FTS5 form of `text`, or a reason (for the user) why it cannot be searched.
pub(super) fn to_fts5(text: &str) -> Result<String, String> {
    let toks = lex(text)?;
    let mut out: Vec<&str> = Vec::with_capacity(toks.len());
    let mut prev: Option<&Tok> = None;
    let (mut depth, mut terms) = (0, 0);
    let dangling = |op: &str| format!("{op} needs something to search for on each side");
    for tok in &toks {
        match tok {
            Tok::Term(t) => {
                terms += 1;
                if terms > MAX_TERMS {
                    return Err(format!("too many terms (at most {MAX_TERMS})"));
                }
                // FTS5 joins adjacent phrases with an implicit AND, but not a phrase
                // after a group: that needs the AND spelled out.
                if prev == Some(&Tok::Close) {
                    out.push("AND");
                }
                out.push(t);
            }
            Tok::Open => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(format!(
                        "parentheses nested too deeply (at most {MAX_DEPTH} levels)"
                    ));
                }
                if matches!(prev, Some(Tok::Term(_) | Tok::Close)) {
                    out.push("AND");
                }
                out.push("(");
            }
            Tok::Close => {
                match prev {
                    _ if depth == 0 => return Err("a ) without a matching (".into()),
                    Some(Tok::Open) => return Err("empty parentheses".into()),
                    Some(Tok::Op(op)) => return Err(dangling(op)),
                    _ => {}
                }
                depth -= 1;
                out.push(")");
            }
            Tok::Op(op) => {
                if !matches!(prev, Some(Tok::Term(_) | Tok::Close)) {
                    return Err(dangling(op));
                }
                out.push(op);
            }
        }
        prev = Some(tok);
    }
    if let Some(Tok::Op(op)) = prev {
        return Err(dangling(op));
    }
    if depth > 0 {
        return Err("a ( without a matching )".into());
    }
    if terms == 0 {
        return Err("nothing to search for".into());
    }
    Ok(out.join(" "))
}

fn lex(text: &str) -> Result<Vec<Tok>, String> {
    let mut toks = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        let Some(c) = rest.chars().next() else {
            return Ok(toks);
        };
        match c {
            '(' => {
                toks.push(Tok::Open);
                rest = &rest[1..];
            }
            ')' => {
                toks.push(Tok::Close);
                rest = &rest[1..];
            }
            '"' => {
                let Some(end) = rest[1..].find('"') else {
                    return Err("unbalanced double quote".into());
                };
                let phrase = &rest[1..1 + end];
                rest = &rest[end + 2..];
                let prefix = rest.starts_with('*');
                if prefix {
                    rest = rest.trim_start_matches('*');
                }
                toks.extend(term(phrase, prefix));
            }
            _ => {
                let end = rest
                    .find(|c: char| c.is_whitespace() || matches!(c, '"' | '(' | ')'))
                    .unwrap_or(rest.len());
                let word = &rest[..end];
                rest = &rest[end..];
                match word {
                    "AND" => toks.push(Tok::Op("AND")),
                    "OR" => toks.push(Tok::Op("OR")),
                    "NOT" => toks.push(Tok::Op("NOT")),
                    _ => {
                        let body = word.trim_end_matches('*');
                        toks.extend(term(body, body.len() < word.len()));
                    }
                }
            }
        }
    }
}

/// `text` as a quoted FTS5 phrase; `None` if it holds no word at all (`-`, `&`, `""`):
/// FTS5's tokenizer would find nothing in it to search for.
fn term(text: &str, prefix: bool) -> Option<Tok> {
    // The lexer never leaves a double quote in `text`, so quoting needs no escapes.
    let star = if prefix { "*" } else { "" };
    text.chars()
        .any(char::is_alphanumeric)
        .then(|| Tok::Term(format!("\"{text}\"{star}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_users_type_becomes_fts5() {
        let cases = [
            ("apt27", r#""apt27""#),
            ("TG-3390 telecom", r#""TG-3390" "telecom""#),
            (r#""Emissary Panda""#, r#""Emissary Panda""#),
            ("apt27 OR gallium", r#""apt27" OR "gallium""#),
            ("ransom*", r#""ransom"*"#),
            ("ransom**", r#""ransom"*"#),
            (r#""lucky mou"*"#, r#""lucky mou"*"#),
            ("TG-33*", r#""TG-33"*"#),
            (
                "(apt27 OR apt41) NOT china",
                r#"( "apt27" OR "apt41" ) NOT "china""#,
            ),
            (
                "(apt27 OR apt41) telecom",
                r#"( "apt27" OR "apt41" ) AND "telecom""#,
            ),
            (
                "telecom (apt27 OR apt41)",
                r#""telecom" AND ( "apt27" OR "apt41" )"#,
            ),
            ("(a)(b)", r#"( "a" ) AND ( "b" )"#),
            // Lower-case operators and NEAR are plain words.
            (
                "cats and dogs or NEAR",
                r#""cats" "and" "dogs" "or" "NEAR""#,
            ),
            // Characters FTS5 would read as syntax.
            ("title:x", r#""title:x""#),
            ("example.com", r#""example.com""#),
            ("o'brien", r#""o'brien""#),
            ("^start +plus", r#""^start" "+plus""#),
            ("CVE-2024-3400", r#""CVE-2024-3400""#),
            // Words stuck to quotes and parentheses are split off.
            (r#"foo"bar baz"qux"#, r#""foo" "bar baz" "qux""#),
            ("(apt27)", r#"( "apt27" )"#),
            // Punctuation alone finds nothing and is dropped.
            ("apt27 - gallium", r#""apt27" "gallium""#),
            (r#"apt27 "" & *"#, r#""apt27""#),
            ("  Müller\tcafé ", r#""Müller" "café""#),
        ];
        for (input, want) in cases {
            assert_eq!(to_fts5(input).as_deref(), Ok(want), "{input:?}");
        }
    }

    #[test]
    fn queries_that_cannot_run_say_why() {
        let deep = format!("{}x{}", "(".repeat(9), ")".repeat(9));
        let many = vec!["w"; 17].join(" ");
        let cases = [
            ("", "nothing to search for"),
            ("   ", "nothing to search for"),
            ("- * &", "nothing to search for"),
            (r#""""#, "nothing to search for"),
            (r#""Emissary Panda"#, "unbalanced double quote"),
            (r#"apt27 "a" "b"#, "unbalanced double quote"),
            ("(apt27 OR apt41", "a ( without a matching )"),
            ("apt27)", "a ) without a matching ("),
            ("apt27 ) (", "a ) without a matching ("),
            ("()", "empty parentheses"),
            ("apt27 ()", "empty parentheses"),
            ("OR apt27", "OR needs something to search for on each side"),
            (
                "apt27 AND",
                "AND needs something to search for on each side",
            ),
            (
                "NOT apt27",
                "NOT needs something to search for on each side",
            ),
            (
                "a AND OR b",
                "OR needs something to search for on each side",
            ),
            ("(OR a)", "OR needs something to search for on each side"),
            ("(a NOT)", "NOT needs something to search for on each side"),
            (
                "- OR apt27",
                "OR needs something to search for on each side",
            ),
            (&deep, "parentheses nested too deeply (at most 8 levels)"),
            (&many, "too many terms (at most 16)"),
        ];
        for (input, want) in cases {
            assert_eq!(to_fts5(input), Err(want.to_string()), "{input:?}");
        }
        let eight = format!("{}x{}", "(".repeat(8), ")".repeat(8));
        assert!(to_fts5(&eight).is_ok());
        assert!(to_fts5(&vec!["w"; 16].join(" ")).is_ok());
    }
}
