//! The `when` expression of a rule: a small boolean language over the categories a rule
//! lists, e.g. `actors or (sectors and regions)`.
//!
//! Grammar (precedence `not` > `and` > `or`, keywords case-insensitive):
//! `expr = and ("or" and)*`, `and = unary ("and" unary)*`,
//! `unary = "not" unary | "(" expr ")" | "actors" | "sectors" | "regions"`.
//! Input: the text; output: a [`When`] and where each category word is, or the first
//! error with its byte offset in the text. No knowledge of the rule it belongs to.

use std::ops::Range;

use super::When;
use crate::model::Category;

/// A syntax error at a byte offset of the expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhenError {
    pub offset: usize,
    pub message: String,
}

/// A parsed expression, and each category word with its byte range (for "the rule lists
/// no regions" pointing at the word).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub when: When,
    pub uses: Vec<(Category, Range<usize>)>,
}

pub fn parse(text: &str) -> Result<Parsed, WhenError> {
    let tokens = lex(text)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        end: text.len(),
        uses: Vec::new(),
    };
    if p.tokens.is_empty() {
        return Err(WhenError {
            offset: 0,
            message: "empty expression: write e.g. \"actors or (sectors and regions)\"".to_string(),
        });
    }
    let when = p.or()?;
    if let Some(t) = p.peek() {
        return Err(p.unexpected(t, "\"and\", \"or\" or the end"));
    }
    Ok(Parsed { when, uses: p.uses })
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Category(Category),
    And,
    Or,
    Not,
    Open,
    Close,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    span: Range<usize>,
}

const WORDS: &[&str] = &["actors", "sectors", "regions", "and", "or", "not"];

fn lex(text: &str) -> Result<Vec<Token>, WhenError> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let tok = match c {
            c if c.is_whitespace() => continue,
            '(' => Tok::Open,
            ')' => Tok::Close,
            c if c.is_alphanumeric() || c == '_' || c == '-' => {
                let mut end = i + c.len_utf8();
                while let Some(&(j, d)) = chars.peek() {
                    if !(d.is_alphanumeric() || d == '_' || d == '-') {
                        break;
                    }
                    end = j + d.len_utf8();
                    chars.next();
                }
                let word = &text[i..end];
                let tok = match word.to_ascii_lowercase().as_str() {
                    "actors" => Tok::Category(Category::Actors),
                    "sectors" => Tok::Category(Category::Sectors),
                    "regions" => Tok::Category(Category::Regions),
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    _ => return Err(unknown_word(word, i)),
                };
                out.push(Token { tok, span: i..end });
                continue;
            }
            other => {
                return Err(WhenError {
                    offset: i,
                    message: format!("unexpected \"{other}\": use and, or, not and parentheses"),
                })
            }
        };
        out.push(Token {
            tok,
            span: i..i + 1,
        });
    }
    Ok(out)
}

fn unknown_word(word: &str, offset: usize) -> WhenError {
    let close = crate::catalog::suggest(word, WORDS.iter().copied());
    let message = match close.first() {
        Some(w) => format!("unknown word \"{word}\" (did you mean \"{w}\"?)"),
        None => {
            format!("unknown word \"{word}\" (expected actors, sectors, regions, and, or, not)")
        }
    };
    WhenError { offset, message }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    end: usize,
    uses: Vec<(Category, Range<usize>)>,
}

impl Parser {
    fn peek(&self) -> Option<Token> {
        self.tokens.get(self.pos).cloned()
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        let hit = self.tokens.get(self.pos).is_some_and(|t| t.tok == *tok);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn or(&mut self) -> Result<When, WhenError> {
        let mut left = self.and()?;
        while self.eat(&Tok::Or) {
            let right = self.and()?;
            left = When::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<When, WhenError> {
        let mut left = self.unary()?;
        while self.eat(&Tok::And) {
            let right = self.unary()?;
            left = When::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<When, WhenError> {
        let Some(t) = self.peek() else {
            return Err(WhenError {
                offset: self.end,
                message: "expected actors, sectors, regions, \"not\" or \"(\", found the end"
                    .to_string(),
            });
        };
        self.pos += 1;
        match t.tok {
            Tok::Category(c) => {
                self.uses.push((c, t.span));
                Ok(When::Category(c))
            }
            Tok::Not => Ok(When::Not(Box::new(self.unary()?))),
            Tok::Open => {
                let inner = self.or()?;
                if self.eat(&Tok::Close) {
                    Ok(inner)
                } else {
                    Err(WhenError {
                        offset: t.span.start,
                        message: "this \"(\" is never closed".to_string(),
                    })
                }
            }
            Tok::And | Tok::Or | Tok::Close => {
                self.pos -= 1;
                Err(self.unexpected(t, "actors, sectors, regions, \"not\" or \"(\""))
            }
        }
    }

    fn unexpected(&self, t: Token, wanted: &str) -> WhenError {
        let found = match t.tok {
            Tok::Category(Category::Actors) => "actors",
            Tok::Category(Category::Sectors) => "sectors",
            Tok::Category(Category::Regions) => "regions",
            Tok::And => "\"and\"",
            Tok::Or => "\"or\"",
            Tok::Not => "\"not\"",
            Tok::Open => "\"(\"",
            Tok::Close => "\")\"",
        };
        WhenError {
            offset: t.span.start,
            message: format!("expected {wanted}, found {found}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fully parenthesized where precedence decided the grouping.
    fn show(w: &When) -> String {
        match w {
            When::Category(Category::Actors) => "actors".to_string(),
            When::Category(Category::Sectors) => "sectors".to_string(),
            When::Category(Category::Regions) => "regions".to_string(),
            When::Not(w) => format!("not {}", show(w)),
            When::And(a, b) => format!("({} and {})", show(a), show(b)),
            When::Or(a, b) => format!("({} or {})", show(a), show(b)),
        }
    }

    fn check(text: &str, expect: &str) {
        let got = match parse(text) {
            Ok(p) => show(&p.when),
            Err(e) => format!("{}: {}", e.offset, e.message),
        };
        assert_eq!(got, expect, "for {text:?}");
    }

    #[test]
    fn display_round_trips_with_only_the_parentheses_needed() {
        for (text, shown) in [
            (
                "actors or (sectors and regions)",
                "actors or sectors and regions",
            ),
            (
                "(actors or sectors) and regions",
                "(actors or sectors) and regions",
            ),
            ("not (actors or sectors)", "not (actors or sectors)"),
            ("actors and not regions", "actors and not regions"),
            (
                "actors or (sectors or regions)",
                "actors or (sectors or regions)",
            ),
        ] {
            let w = parse(text).unwrap().when;
            assert_eq!(w.to_string(), shown);
            assert_eq!(parse(shown).unwrap().when, w, "{shown} means {text}");
        }
    }

    #[test]
    fn precedence_is_not_and_or() {
        check("actors", "actors");
        check(
            "actors or sectors and regions",
            "(actors or (sectors and regions))",
        );
        check("not actors and sectors", "(not actors and sectors)");
        check("not (actors or sectors)", "not (actors or sectors)");
        check(
            "actors or (sectors and regions)",
            "(actors or (sectors and regions))",
        );
        check(
            "(actors or sectors) and regions",
            "((actors or sectors) and regions)",
        );
        check("ACTORS Or Regions", "(actors or regions)");
        check("not not actors", "not not actors");
    }

    #[test]
    fn errors_point_at_the_offending_token() {
        check(
            "",
            "0: empty expression: write e.g. \"actors or (sectors and regions)\"",
        );
        check(
            "actor or sectors",
            "0: unknown word \"actor\" (did you mean \"actors\"?)",
        );
        check(
            "actors xor sectors",
            "7: unknown word \"xor\" (expected actors, sectors, regions, and, or, not)",
        );
        check(
            "apt27",
            "0: unknown word \"apt27\" (expected actors, sectors, regions, and, or, not)",
        );
        check(
            "actors or",
            "9: expected actors, sectors, regions, \"not\" or \"(\", found the end",
        );
        check(
            "actors and or sectors",
            "11: expected actors, sectors, regions, \"not\" or \"(\", found \"or\"",
        );
        check(
            "actors sectors",
            "7: expected \"and\", \"or\" or the end, found sectors",
        );
        check("(actors or sectors", "0: this \"(\" is never closed");
        check(
            "actors)",
            "6: expected \"and\", \"or\" or the end, found \")\"",
        );
        check(
            "actors && sectors",
            "7: unexpected \"&\": use and, or, not and parentheses",
        );
    }

    #[test]
    fn uses_locate_each_category() {
        let p = parse("actors or (sectors and not actors)").expect("valid");
        assert_eq!(
            p.uses,
            vec![
                (Category::Actors, 0..6),
                (Category::Sectors, 11..18),
                (Category::Actors, 27..33),
            ]
        );
    }
}
