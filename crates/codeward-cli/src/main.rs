//! `codeward`: the command line front of the codeward engine.
//!
//! Exit codes: 0 success; 1 the program ran and failed (or hit a limit); 2 usage error;
//! 3 approval required; 4 audit log unavailable (nothing ran); 5 approval refused;
//! 6 invalid program; 7 no tools found; 8 audit verification or a compliance check failed;
//! 70 internal error.

mod audit_cmd;
mod exit;
mod inspect;
mod output;
mod run;
mod serve;
mod setup;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::exit::Exit;

/// codeward: let AI agents use MCP tools by writing code, safely and with an audit trail.
#[derive(Debug, Parser)]
#[command(name = "codeward", version, about, propagate_version = true)]
pub struct Cli {
    /// Configuration file (TOML). Default: ./codeward.toml when it exists.
    #[arg(long, global = true, env = "CODEWARD_CONFIG")]
    config: Option<PathBuf>,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    json: bool,
    /// More logging (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the demo end to end: bundled catalogue, bundled demo MCP server, an example program.
    Demo {
        /// Write the demo program in this language.
        #[arg(long, default_value = "python")]
        lang: String,
    },
    /// Run an agent program (language from the extension unless --lang).
    Run {
        /// The program file.
        file: PathBuf,
        /// What the program is for (drives tool discovery). Default: the file's first comment.
        #[arg(long)]
        intent: Option<String>,
        /// typescript or python.
        #[arg(long)]
        lang: Option<String>,
        /// An approval id for a program that needed one.
        #[arg(long)]
        approval: Option<String>,
        /// Who runs it (a pseudonym in the audit log; kept as given in the owner-only approval
        /// store when the program needs approval, so operators see who asked).
        #[arg(long, default_value = "cli", env = "CODEWARD_PRINCIPAL")]
        principal: String,
        /// Tools to discover.
        #[arg(long)]
        tools: Option<usize>,
        /// Wall-clock timeout in milliseconds (at least 1).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        timeout_ms: Option<u64>,
    },
    /// Search the tool catalogue.
    Search {
        /// What you need, in words.
        query: String,
        /// How many hits (1 to 1000).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1000))]
        limit: u16,
    },
    /// Print the typed API for tools (qualified names, e.g. demo.notes_add).
    Api {
        /// Tool names.
        #[arg(required = true)]
        tools: Vec<String>,
        /// typescript or python.
        #[arg(long, default_value = "python")]
        lang: String,
        /// Signatures only.
        #[arg(long)]
        summary: bool,
    },
    /// Validate a program: findings with code spans and the risk score.
    Check {
        /// The program file.
        file: PathBuf,
        /// typescript or python (default: from the extension).
        #[arg(long)]
        lang: Option<String>,
    },
    /// Operators' approvals.
    Approvals {
        #[command(subcommand)]
        action: ApprovalAction,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        action: audit_cmd::AuditAction,
    },
    /// codeward as an MCP server over stdio (search_tools, get_tool_api, execute_code).
    Serve,
    /// What this host offers: isolation layers, interpreters, MCP servers, audit log health.
    Doctor,
    /// The bundled demo MCP server (stdio); codeward starts it itself for the demo.
    #[command(hide = true)]
    DemoServer {
        /// Root directory for the files_* tools.
        #[arg(long)]
        root: PathBuf,
        /// Where the notes store lives.
        #[arg(long)]
        data_dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ApprovalAction {
    /// Every approval request.
    List,
    /// One request in full: who asked, the risk and why, the tools, and the program itself.
    Show {
        /// The request id.
        id: String,
    },
    /// Approve a request.
    Approve {
        /// The request id.
        id: String,
        /// Who approves.
        #[arg(long, env = "USER", default_value = "operator")]
        approver: String,
        /// Why.
        #[arg(long, default_value = "reviewed")]
        reason: String,
    },
    /// Remove settled requests (approved, rejected, expired) filed more than N days ago;
    /// pending ones stay. Each removal is recorded in the audit log first.
    Prune {
        /// Age in days (0: every settled request).
        #[arg(long, value_name = "DAYS", default_value_t = 30)]
        older_than_days: u64,
    },
    /// Reject a request.
    Reject {
        /// The request id.
        id: String,
        /// Who rejects.
        #[arg(long, env = "USER", default_value = "operator")]
        approver: String,
        /// Why.
        #[arg(long, default_value = "rejected")]
        reason: String,
    },
}

fn init_tracing(verbose: u8, serve: bool) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CODEWARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // Logs go to stderr: stdout carries results (and the MCP protocol under `serve`).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(!serve && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Parses the arguments; with `--json` a usage error is one JSON document on stdout too.
fn parse() -> Result<Cli, std::process::ExitCode> {
    match Cli::try_parse() {
        Ok(cli) => Ok(cli),
        Err(e) if e.use_stderr() && std::env::args_os().any(|a| a == "--json") => {
            let message = e.render().to_string();
            output::print(&serde_json::json!({"error": message.trim_end()}).to_string());
            Err(Exit::Usage.into())
        }
        // Help and version go to stdout (exit 0); other mistakes to stderr (exit 2).
        Err(e) => {
            let _ = e.print();
            Err(if e.use_stderr() {
                Exit::Usage.into()
            } else {
                Exit::Success.into()
            })
        }
    }
}

fn main() -> std::process::ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    init_tracing(
        cli.verbose,
        matches!(cli.command, Command::Serve | Command::DemoServer { .. }),
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::Internal.into();
        }
    };
    let json = cli.json;
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code.into(),
        Err(e) => {
            if exit::Failure::was_shown(&e) {
                // The command reported it in its own output (one JSON document with --json).
            } else if json {
                output::print(&serde_json::json!({"error": exit::chain_text(&e)}).to_string());
            } else {
                eprintln!("error: {}", exit::chain_text(&e));
            }
            exit::Failure::exit_of(&e).into()
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<Exit> {
    let out = output::Output::new(cli.json);
    if let Command::DemoServer { root, data_dir } = &cli.command {
        let options = codeward_demo_server::DemoOptions::new(root, data_dir);
        codeward_demo_server::serve_stdio(&options)
            .await
            .map_err(|e| anyhow::anyhow!("demo server: {e}"))?;
        return Ok(Exit::Success);
    }
    let config = setup::load_config(cli.config.as_deref())?;
    match cli.command {
        Command::Demo { lang } => run::demo(&config, &out, &lang).await,
        Command::Run {
            file,
            intent,
            lang,
            approval,
            principal,
            tools,
            timeout_ms,
        } => {
            let args = run::RunArgs {
                file,
                intent,
                lang,
                approval,
                principal,
                tools,
                timeout_ms,
            };
            run::run_file(&config, &out, args).await
        }
        Command::Search { query, limit } => {
            inspect::search(&config, &out, &query, usize::from(limit)).await
        }
        Command::Api {
            tools,
            lang,
            summary,
        } => inspect::api(&config, &out, &tools, &lang, summary).await,
        Command::Check { file, lang } => {
            inspect::check(&config, &out, &file, lang.as_deref()).await
        }
        Command::Approvals { action } => run::approvals(&config, &out, action).await,
        Command::Audit { action } => audit_cmd::run(&config, &out, action),
        Command::Serve => serve::serve(&config).await,
        Command::Doctor => inspect::doctor(&config, &out).await,
        Command::DemoServer { .. } => Ok(Exit::Success),
    }
}
