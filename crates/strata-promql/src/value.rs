//! Query results as the API returns them, and the evaluator's inner values.

use strata_model::{Labels, Sample};

/// One element of an instant vector result.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    pub labels: Labels,
    pub t: i64,
    pub v: f64,
}

/// One series of a matrix result.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// A query result: Prometheus' four result types.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar { t: i64, v: f64 },
    String { t: i64, v: String },
    Vector(Vec<InstantSample>),
    Matrix(Vec<RangeSeries>),
}

/// The query's evaluation steps. An instant query has one step.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Steps {
    pub start: i64,
    pub end: i64,
    /// Always > 0 (an instant query uses 1).
    pub step: i64,
}

impl Steps {
    pub fn len(&self) -> usize {
        ((self.end - self.start) / self.step + 1) as usize
    }

    pub fn t(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }

    /// The step index of an output timestamp (always a step time).
    pub fn idx(&self, t: i64) -> usize {
        ((t - self.start) / self.step) as usize
    }
}

/// A series of an instant vector evaluated over all steps: points only at
/// the step times where the series has a value, in time order.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub labels: Labels,
    pub pts: Vec<Sample>,
}

/// What evaluating a (non-range) expression gives.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    /// One value per step.
    Scalar(Vec<f64>),
    Vector(Vec<Series>),
    String(String),
}
