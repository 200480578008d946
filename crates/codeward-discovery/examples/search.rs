//! Searches a tool catalogue from the command line: the embedded default, or your files.
//!
//! ```text
//! cargo run -p codeward-discovery --example search -- remove a note
//! cargo run -p codeward-discovery --example search -- --seed DIR --mcp DIR --limit 10 send an email
//! ```
//! Options: `--seed DIR` (seed format, `<DIR>/<category>/<server>.json`), `--mcp DIR`
//! (`tools/list` files, server = file name), `--limit N`, `--category C`, `--server S`.
//! Without `--seed` or `--mcp`, the default catalogue embedded in the crate is searched.

use std::process::ExitCode;

use codeward_discovery::{
    CatalogueIndex, CatalogueSource, DefaultCatalogue, McpDirectory, SearchQuery, SeedDirectory,
    ToolIndex,
};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut sources: Vec<Box<dyn CatalogueSource>> = Vec::new();
    let (mut limit, mut category, mut server) = (5, None, None);
    let mut words = Vec::new();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        let parsed = match arg.as_str() {
            "--seed" => value("--seed").map(|d| sources.push(Box::new(SeedDirectory::new(d)))),
            "--mcp" => value("--mcp").map(|d| sources.push(Box::new(McpDirectory::new(d)))),
            "--category" => value("--category").map(|c| category = Some(c)),
            "--server" => value("--server").map(|s| server = Some(s)),
            "--limit" => value("--limit").and_then(|n| {
                n.parse()
                    .map(|n| limit = n)
                    .map_err(|_| format!("--limit {n}: not a number"))
            }),
            _ => {
                words.push(arg);
                Ok(())
            }
        };
        if let Err(message) = parsed {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    }
    if words.is_empty() {
        eprintln!(
            "usage: search [--seed DIR] [--mcp DIR] [--limit N] [--category C] [--server S] WORDS..."
        );
        return ExitCode::from(2);
    }
    if sources.is_empty() {
        sources.push(Box::new(DefaultCatalogue));
    }
    let index = match CatalogueIndex::new() {
        Ok(index) => index,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    for source in &sources {
        match index.load(source.as_ref()) {
            Ok(report) => eprintln!("{}: {report}", source.describe()),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let mut query = SearchQuery::new(words.join(" "), limit);
    query.category = category;
    query.server = server;
    match index.search(&query) {
        Ok(hits) => {
            for hit in hits {
                println!(
                    "{:>7.2}  {:<40} {}",
                    hit.score,
                    hit.tool.qualified_name(),
                    hit.matched_fields.join(",")
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
