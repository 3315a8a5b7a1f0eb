//! The `threatwatch` command: parses the command line, sets up logging, loads the config
//! and hands over to `app`. Maps failures to exit codes: 0 success, 1 a failure the
//! message explains, 2 a usage error (clap's).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use threatwatch::alert::render::Format;
use threatwatch::app;

/// Security news in, precise threat-intel alerts out.
///
/// threatwatch polls RSS/Atom/JSON feeds, matches every new article against the threat
/// actors (with all their aliases), sectors and regions your config watches, and posts
/// each hit to Discord (or, with no DISCORD_TOKEN, prints it here).
#[derive(Parser, Debug)]
#[command(name = "threatwatch", version, about, long_about)]
struct Cli {
    /// Config file [default: $THREATWATCH_CONFIG, else ./threatwatch.toml]
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the daemon: poll every feed on its schedule, alert, answer slash commands.
    ///
    /// Every alert is also printed to stdout. SIGINT/SIGTERM stop it cleanly; SIGHUP
    /// reloads the config. Without DISCORD_TOKEN the console is the only sink.
    Run {
        /// How alerts are printed.
        #[arg(long, value_enum, default_value_t = AlertFormat::Text)]
        format: AlertFormat,
    },
    /// Poll every feed once, print the alerts raised, and exit.
    Once {
        /// Change no state: nothing is marked seen, nothing is delivered.
        #[arg(long)]
        dry_run: bool,
        /// How alerts are printed.
        #[arg(long, value_enum, default_value_t = AlertFormat::Text)]
        format: AlertFormat,
    },
    /// Parse feed files or URLs and print what each item mentions and which rules fire.
    ///
    /// Touches no state. Without --all only items that fire a rule are printed.
    Scan {
        /// How items are printed.
        #[arg(long, value_enum, default_value_t = AlertFormat::Text)]
        format: AlertFormat,
        /// Print every item, not only those that fire a rule.
        #[arg(long)]
        all: bool,
        /// Feed files or http(s) URLs.
        #[arg(required = true, value_name = "SOURCE")]
        sources: Vec<String>,
    },
    /// Validate the config and the catalogs it names; print a summary or every problem.
    Check,
    /// Look up an actor, sector or region: the answer /actor gives in Discord.
    Lookup {
        #[arg(value_enum)]
        kind: LookupKind,
        /// Name or alias, e.g. "Emissary Panda", "telco", "Southeast Asia".
        name: String,
        #[arg(long, value_enum, default_value_t = DataFormat::Text)]
        format: DataFormat,
    },
    /// Show every feed's health: last success, last error, items seen, next poll.
    Feeds {
        #[arg(long, value_enum, default_value_t = DataFormat::Text)]
        format: DataFormat,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum AlertFormat {
    Text,
    Jsonl,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum DataFormat {
    Text,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum LookupKind {
    Actor,
    Sector,
    Region,
}

impl From<AlertFormat> for Format {
    fn from(f: AlertFormat) -> Format {
        match f {
            AlertFormat::Text => Format::Text,
            AlertFormat::Jsonl => Format::Jsonl,
        }
    }
}

fn config_path(cli: &Cli) -> (PathBuf, bool) {
    if let Some(p) = &cli.config {
        return (p.clone(), true);
    }
    if let Some(p) = std::env::var_os("THREATWATCH_CONFIG") {
        return (PathBuf::from(p), true);
    }
    (PathBuf::from("threatwatch.toml"), false)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,serenity=warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let (path, explicit) = config_path(&cli);
    let result = match cli.command {
        Command::Run { format } => app::run_cli(&path, format.into()),
        Command::Once { dry_run, format } => app::once_cli(&path, dry_run, format.into()),
        Command::Scan {
            format,
            all,
            sources,
        } => app::scan_cli(&path, explicit, &sources, all, format.into()),
        Command::Check => app::check_cli(&path),
        Command::Lookup { kind, name, format } => app::lookup_cli(
            &path,
            explicit,
            match kind {
                LookupKind::Actor => app::LookupKind::Actor,
                LookupKind::Sector => app::LookupKind::Sector,
                LookupKind::Region => app::LookupKind::Region,
            },
            &name,
            matches!(format, DataFormat::Json),
        ),
        Command::Feeds { format } => app::feeds_cli(&path, matches!(format, DataFormat::Json)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
