//! The PromQL evaluator.
//!
//! Parsing is done by the `promql-parser` crate (it covers the whole
//! language, including `@`, subqueries and the 3.x function set); evaluation
//! is ours and follows Prometheus 3 semantics: left-open range and lookback
//! windows, stale markers ending a series, `__name__` dropped exactly where
//! Prometheus drops it.
//!
//! Architecture invariant: the engine reads storage only through
//! `strata_model::Queryable`, so the TSDB, a read-only data dir and (later)
//! object storage all answer queries the same way.
//!
//! Evaluation is range-first, like Prometheus: every expression is evaluated
//! over all steps of the query at once; an instant query is a range query
//! with one step. Selectors stream one series at a time from storage and keep
//! only the points at the steps (or the window a range function needs), so a
//! selector never materialises every sample it covers.

mod aggregate;
mod binary;
mod eval;
mod functions;
mod parse;
pub mod script;
mod value;

pub use parse::{format_query, parse_to_json};

/// Checks that `input` is a PromQL expression Strata evaluates (the parse
/// and Prometheus 3's checks), as rule files and `promtool check` need.
pub fn check_expr(input: &str) -> Result<(), QueryError> {
    parse::parse(input).map(|_| ())
}
pub use value::{InstantSample, RangeSeries, Value};

use std::time::Duration;
use strata_model::{Queryable, StorageError, TenantId};

/// Engine-wide settings, from the `--query.*` flags.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back a vector selector looks for the latest sample.
    pub lookback_delta_ms: i64,
    /// Most samples one query may hold in memory at once.
    pub max_samples: usize,
    /// Default and maximum evaluation time of one query.
    pub timeout: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta_ms: 5 * 60 * 1000,
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
        }
    }
}

/// Per-request overrides (`timeout=`, `lookback_delta=` API parameters).
#[derive(Debug, Clone, Default)]
pub struct QueryOpts {
    /// Lower than the engine's timeout only: a request cannot raise the limit.
    pub timeout: Option<Duration>,
    pub lookback_delta_ms: Option<i64>,
}

/// A query's answer with Prometheus' annotations.
#[derive(Debug, Clone)]
pub struct QueryOutput {
    pub value: Value,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
    /// Samples read from storage, for the query stats.
    pub samples_loaded: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The expression does not parse or is not valid for the query type.
    #[error("{0}")]
    Parse(String),
    /// Evaluation failed (e.g. many-to-many matching, duplicate labelsets).
    #[error("{0}")]
    Execution(String),
    #[error("query timed out in {0}")]
    Timeout(&'static str),
    #[error("query processing would load too many samples into memory in query execution")]
    TooManySamples,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Parses a series selector (`match[]` of the series and label APIs) with
/// the engine's own matcher code: one matcher set per `or` alternative.
pub fn selector_matchers(s: &str) -> Result<Vec<Vec<strata_model::Matcher>>, QueryError> {
    let expr = parse::parse(s)?;
    match expr {
        promql_parser::parser::Expr::VectorSelector(vs) => eval::to_matcher_sets(&vs),
        _ => Err(QueryError::Parse(format!(
            "parse error: expected a series selector, got {s:?}"
        ))),
    }
}

/// A parsed and checked expression ([`Engine::prepare`]).
#[derive(Debug, Clone)]
pub struct PreparedQuery(promql_parser::parser::Expr);

/// The query engine. Cheap to clone; holds no per-query state.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    opts: EngineOptions,
}

impl Engine {
    pub fn new(opts: EngineOptions) -> Self {
        Engine { opts }
    }

    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Evaluates `expr` at one instant (`/api/v1/query`).
    pub fn instant(
        &self,
        db: &dyn Queryable,
        tenant: &TenantId,
        expr: &str,
        time_ms: i64,
        opts: &QueryOpts,
    ) -> Result<QueryOutput, QueryError> {
        let parsed = parse::parse(expr)?;
        eval::run(db, tenant, &parsed, time_ms, time_ms, 0, &self.opts, opts)
    }

    /// Parses and checks `expr` once, for queries run again and again
    /// (rule evaluations).
    pub fn prepare(&self, expr: &str) -> Result<PreparedQuery, QueryError> {
        Ok(PreparedQuery(parse::parse(expr)?))
    }

    /// [`Engine::instant`] of a prepared expression.
    pub fn instant_prepared(
        &self,
        db: &dyn Queryable,
        tenant: &TenantId,
        query: &PreparedQuery,
        time_ms: i64,
        opts: &QueryOpts,
    ) -> Result<QueryOutput, QueryError> {
        eval::run(db, tenant, &query.0, time_ms, time_ms, 0, &self.opts, opts)
    }

    /// Evaluates `expr` at every `step_ms` from `start_ms` to `end_ms`
    /// (`/api/v1/query_range`).
    #[allow(clippy::too_many_arguments)]
    pub fn range(
        &self,
        db: &dyn Queryable,
        tenant: &TenantId,
        expr: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        opts: &QueryOpts,
    ) -> Result<QueryOutput, QueryError> {
        if step_ms <= 0 {
            return Err(QueryError::Parse(
                "zero or negative query resolution step widths are not accepted".into(),
            ));
        }
        if end_ms < start_ms {
            return Err(QueryError::Parse(
                "end timestamp must not be before start time".into(),
            ));
        }
        let parsed = parse::parse(expr)?;
        eval::run(
            db, tenant, &parsed, start_ms, end_ms, step_ms, &self.opts, opts,
        )
    }
}
