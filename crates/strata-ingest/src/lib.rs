//! Ingest: the [`Ingester`] every writer appends through (validation,
//! tenant limits, accounting), and the Prometheus remote-write 1.0 decoder.
//!
//! The body is a snappy *block* of a protobuf `WriteRequest`. Remote-write
//! repeats every series' full label set with every request, so decoding is
//! the hot path: a hand-written protobuf reader walks the decompressed buffer
//! and hands out label names and values as `&str` slices of it (a generated
//! decoder would allocate a `String` per label). The decompression buffer is
//! owned by a reusable [`Decoder`].

mod decode;
mod encode;
mod ingester;
mod validate;

pub use decode::{Decoded, Decoder, IngestError, InvalidReason, InvalidSeries};
pub use encode::{encode_write_request, encode_write_request_raw};
pub use ingester::{
    IngestMetrics, IngestReport, Ingester, IngesterOptions, MAX_NAMED_REJECTIONS, NamedRejection,
    RejectCause,
};
pub use validate::{Limits, NameValidation, validate_series};
