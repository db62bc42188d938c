//! Parsing through `promql-parser`, plus the checks Prometheus 3 makes that
//! the crate leaves to the engine (experimental features are off by default).

use crate::QueryError;
use promql_parser::parser::{self, Expr};

fn parse_error(msg: impl std::fmt::Display) -> QueryError {
    QueryError::Parse(format!("parse error: {msg}"))
}

/// Parses and validates an expression.
pub(crate) fn parse(input: &str) -> Result<Expr, QueryError> {
    if input.trim().is_empty() {
        return Err(parse_error("no expression found in input"));
    }
    // promql-parser 0.11 panics on some inputs (e.g. a range duration too
    // large for `Duration::from_secs_f64`); input must never crash a query.
    let parsed = std::panic::catch_unwind(|| parser::parse(input))
        .map_err(|_| parse_error("invalid expression (rejected by the parser)"))?;
    let expr = parsed.map_err(parse_error)?;
    check(&expr)?;
    Ok(expr)
}

/// Rejects what Prometheus 3 only accepts behind
/// `--enable-feature=promql-experimental-functions`.
fn check(e: &Expr) -> Result<(), QueryError> {
    match e {
        Expr::Aggregate(a) => {
            let op = a.op.to_string();
            if op == "limitk" || op == "limit_ratio" {
                return Err(parse_error(format!(
                    "{op}() is experimental and must be enabled with --enable-feature=promql-experimental-functions"
                )));
            }
            check(&a.expr)?;
            if let Some(p) = &a.param {
                check(p)?;
            }
        }
        Expr::Unary(u) => check(&u.expr)?,
        Expr::Binary(b) => {
            if let Some(m) = &b.modifier
                && (m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some())
            {
                return Err(parse_error("fill modifiers are not supported"));
            }
            check(&b.lhs)?;
            check(&b.rhs)?;
        }
        Expr::Paren(p) => check(&p.expr)?,
        Expr::Subquery(s) => {
            check_duration(&s.range)?;
            if let Some(step) = &s.step {
                check_duration(step)?;
            }
            check_offset(&s.offset)?;
            check(&s.expr)?;
        }
        Expr::Call(c) => {
            if c.func.experimental {
                return Err(parse_error(format!(
                    "function \"{}\" is not enabled",
                    c.func.name
                )));
            }
            for a in &c.args.args {
                check(a)?;
            }
        }
        Expr::Extension(_) => return Err(parse_error("unsupported expression")),
        Expr::VectorSelector(vs) => check_offset(&vs.offset)?,
        Expr::MatrixSelector(ms) => {
            check_duration(&ms.range)?;
            check_offset(&ms.vs.offset)?;
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
    }
    Ok(())
}

/// Prometheus holds durations as Go's `time.Duration` (int64 nanoseconds,
/// about 292 years) and refuses longer ones when parsing.
fn check_duration(d: &std::time::Duration) -> Result<(), QueryError> {
    if d.as_nanos() > i64::MAX as u128 {
        return Err(parse_error("duration out of range"));
    }
    Ok(())
}

fn check_offset(o: &Option<parser::Offset>) -> Result<(), QueryError> {
    match o {
        Some(parser::Offset::Pos(d) | parser::Offset::Neg(d)) => check_duration(d),
        None => Ok(()),
    }
}

/// `/api/v1/format_query`: the expression in Prometheus' canonical layout.
pub fn format_query(input: &str) -> Result<String, QueryError> {
    Ok(parse(input)?.prettify())
}

/// `/api/v1/parse_query`: the syntax tree as JSON (the shape the Prometheus
/// UI's tree view reads).
pub fn parse_to_json(input: &str) -> Result<serde_json::Value, QueryError> {
    let expr = parse(input)?;
    serde_json::to_value(&expr)
        .map_err(|e| QueryError::Execution(format!("serialising the syntax tree: {e}")))
}
