//! `strata`: the binary. Parses flags and config, wires storage, ingest and
//! the HTTP API together, and owns the process lifecycle (signals, exit
//! codes). `anyhow` lives here and nowhere below.

mod config;
mod query_cmd;
mod run;
mod tsdb_cmd;

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc malloc: queries allocate and free many small
/// buffers across worker threads, where glibc's per-thread arenas fragment
/// (peak RSS more than doubled in the 100k-series query benchmark) and its
/// free path dominated profiles. See docs/benchmarks.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "strata",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("STRATA_GIT_REVISION"), ")"),
    about = "Strata: a Prometheus-compatible metrics platform in one binary.",
    long_about = "Strata stores Prometheus samples durably (WAL + compressed blocks) and serves them over \
the Prometheus HTTP API and answers PromQL.\n\nStart a server with `strata run`; query it with `strata query`; inspect a data directory offline with \
`strata tsdb stats` and `strata tsdb dump`."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server: remote-write ingest, storage and the HTTP API.
    Run(Box<run::RunArgs>),
    // About text and examples live on `QueryArgs` (a doc comment here would
    // replace its long help).
    Query(query_cmd::QueryArgs),
    /// Inspect a data directory offline (the server may be stopped).
    Tsdb {
        #[command(subcommand)]
        command: tsdb_cmd::TsdbCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(*args),
        Command::Query(args) => query_cmd::run(args),
        Command::Tsdb { command } => tsdb_cmd::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("strata: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
