//! `strata`: the binary. Parses flags and config, wires storage, ingest and
//! the HTTP API together, and owns the process lifecycle (signals, exit
//! codes). `anyhow` lives here and nowhere below.

mod config;
mod packs;
mod process_metrics;
mod query_cmd;
mod rules_cmd;
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
    long_about = "Strata scrapes Prometheus targets and receives remote-write, stores the samples durably \
(WAL + compressed blocks), serves them over the Prometheus HTTP API and answers PromQL.\n\nStart a server with `strata run [--config prometheus.yml]`; check a config with `strata check config FILE` and rule files with `strata check rules FILE`, run rule unit tests with `strata test rules FILE`; list the shipped rule packs with `strata rules packs`; \
query it with `strata query`; inspect a data directory offline with `strata tsdb stats` and `strata tsdb dump`."
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
    /// Check files as `promtool check` does.
    Check {
        #[command(subcommand)]
        command: CheckCommand,
    },
    /// Run unit tests as `promtool test` does.
    Test {
        #[command(subcommand)]
        command: TestCommand,
    },
    /// The rule packs shipped in the binary (`--rule-pack`).
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
}

#[derive(Subcommand, Debug)]
enum RulesCommand {
    /// List the shipped rule packs: groups, alerts, recording rules and the
    /// exporters each one reads.
    Packs,
    /// Print a pack's rule file (a plain Prometheus rule file: save it and
    /// list it under `rule_files` of any Prometheus).
    Show {
        /// Pack name, as `strata rules packs` lists it.
        name: String,
    },
}

#[derive(Subcommand, Debug)]
enum TestCommand {
    /// Run rule unit tests in promtool's format (`rule_files`,
    /// `evaluation_interval`, `group_eval_order`, `tests` with
    /// `input_series`, `alert_rule_test`, `promql_expr_test`): exit 0 when
    /// every test passes, 1 otherwise.
    Rules {
        /// Unit-test files.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum CheckCommand {
    /// Check prometheus.yml files: exit 0 when all are valid, 1 otherwise;
    /// each error names file, line, column and field.
    Config {
        /// prometheus.yml files to check.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
    /// Check rule files (or PrometheusRule manifests) as `promtool check
    /// rules` does: every error with file, line, group and rule; exit 1 when
    /// any file has one. Duplicate rules are reported as a lint (exit 0).
    Rules {
        /// Rule files to check.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
}

/// mimalloc's defaults trade memory for speed (arenas committed eagerly,
/// freed pages kept for 10 ms); for a server holding millions of small head
/// allocations that cost ~20% more RSS than glibc (docs/benchmarks.md).
/// These options only take effect from process start — the Rust runtime
/// allocates before `main`, which creates the first arena — so when they are
/// not set, Strata re-executes itself once with them in the environment.
/// Setting either variable yourself keeps your value and skips the re-exec.
const ALLOCATOR_ENV: [(&str, &str); 2] = [
    ("MIMALLOC_ARENA_EAGER_COMMIT", "0"),
    ("MIMALLOC_PURGE_DELAY", "0"),
];

fn tune_allocator() {
    if ALLOCATOR_ENV
        .iter()
        .any(|(k, _)| std::env::var_os(k).is_some())
    {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut cmd = std::process::Command::new(exe);
    cmd.args(std::env::args_os().skip(1));
    cmd.envs(ALLOCATOR_ENV);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Only returns on failure (e.g. the binary was replaced on disk):
        // then run on with the allocator's defaults.
        let _ = cmd.exec();
    }
}

fn main() -> ExitCode {
    tune_allocator();
    // One rustls crypto provider for every HTTP client and TLS listener.
    strata_scrape::tls::install_provider();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(*args),
        Command::Query(args) => query_cmd::run(args),
        Command::Tsdb { command } => tsdb_cmd::run(command),
        Command::Test {
            command: TestCommand::Rules { files },
        } => {
            return if rules_cmd::test_rules(&files) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
        Command::Rules { command } => {
            match command {
                RulesCommand::Packs => print!("{}", packs::list()),
                RulesCommand::Show { name } => match packs::find(&name) {
                    Ok(p) => print!("{}", p.text),
                    Err(e) => {
                        eprintln!("strata rules show: {e}");
                        return ExitCode::from(2);
                    }
                },
            }
            return ExitCode::SUCCESS;
        }
        Command::Check { command } => {
            let ok = match command {
                CheckCommand::Config { files } => config::check(&files),
                CheckCommand::Rules { files } => config::check_rules(&files),
            };
            return if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("strata: error: {e:#}");
            if e.downcast_ref::<config::InvalidConfig>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
