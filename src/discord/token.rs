//! The bot token: from `DISCORD_TOKEN`, else `[discord] token_file`; never from the TOML,
//! never printed. `Debug` shows only that a token is there.

use std::path::{Path, PathBuf};

/// A Discord bot token. Its `Debug` is redacted so it cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("cannot read discord.token_file {path}: {error}")]
    Unreadable { path: PathBuf, error: String },
    #[error("{source_name} is empty")]
    Empty { source_name: String },
    #[error("{source_name} does not look like a bot token: it contains whitespace or control characters")]
    Malformed { source_name: String },
}

impl Token {
    /// The token as Discord's `Authorization` header wants it ("Bot ...").
    pub fn header_value(&self) -> String {
        format!("Bot {}", self.0)
    }

    /// The raw secret, for serenity only.
    pub(super) fn secret(&self) -> &str {
        &self.0
    }

    /// Reads the token: `env` (the value of `DISCORD_TOKEN`) wins over `file`. `None`
    /// when neither is set: the console is then the only sink.
    pub fn load(env: Option<String>, file: Option<&Path>) -> Result<Option<Token>, TokenError> {
        if let Some(v) = env {
            return Token::parse(&v, "DISCORD_TOKEN").map(Some);
        }
        let Some(path) = file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|e| TokenError::Unreadable {
            path: path.to_path_buf(),
            error: e.to_string(),
        })?;
        Token::parse(&text, &format!("discord.token_file {}", path.display())).map(Some)
    }

    fn parse(raw: &str, source_name: &str) -> Result<Token, TokenError> {
        // A "Bot " prefix pasted with the token is tolerated; serenity adds its own.
        let t = raw.trim();
        let t = t.strip_prefix("Bot ").unwrap_or(t).trim();
        if t.is_empty() {
            return Err(TokenError::Empty {
                source_name: source_name.into(),
            });
        }
        if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(TokenError::Malformed {
                source_name: source_name.into(),
            });
        }
        Ok(Token(t.to_string()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    #[test]
    fn the_environment_wins_over_the_file_and_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "from-file\n").unwrap();
        let t = Token::load(Some(" Bot from-env\n".into()), Some(&file)).unwrap();
        assert_eq!(t.unwrap().header_value(), "Bot from-env");
        let t = Token::load(None, Some(&file)).unwrap().unwrap();
        assert_eq!(t.secret(), "from-file");
        assert_eq!(Token::load(None, None).unwrap(), None);
    }

    #[test]
    fn bad_tokens_are_explained_without_echoing_them() {
        assert_eq!(
            Token::load(Some("  ".into()), None)
                .unwrap_err()
                .to_string(),
            "DISCORD_TOKEN is empty"
        );
        let err = Token::load(Some("abc def".into()), None).unwrap_err();
        assert!(!err.to_string().contains("abc"), "{err}");
        let missing = Token::load(None, Some(Path::new("/nonexistent/tok"))).unwrap_err();
        assert!(missing
            .to_string()
            .starts_with("cannot read discord.token_file /nonexistent/tok: "));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let t = Token::load(Some("s3cret".into()), None).unwrap().unwrap();
        assert_eq!(format!("{t:?}"), "Token(<redacted>)");
    }
}
