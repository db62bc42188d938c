//! Exposition formats: what a scrape asks for, which parser a response
//! selects, and the parsers themselves.
//!
//! Semantics are Prometheus 3's (`model/textparse`, `scrape/scrape.go`);
//! docs/exposition.md lists what is accepted and where Strata differs.
//!
//! ```
//! use strata_scrape::expo::{Entry, Format, Parser};
//! let mut p = Parser::new(Format::PrometheusText0_0_4, b"# TYPE up gauge\nup{job=\"a\"} 1\n");
//! let mut n = 0;
//! while let Some(e) = p.next().unwrap() {
//!     if let Entry::Series(s) = e {
//!         assert_eq!(s.to_labels().to_string(), "{__name__=\"up\", job=\"a\"}");
//!         n += 1;
//!     }
//! }
//! assert_eq!(n, 1);
//! ```

mod body;
mod float;
mod negotiate;
mod parser;
mod series;

pub use body::decode_body;
pub use float::{NORMAL_NAN_BITS, format_openmetrics_float};
pub use negotiate::{
    EscapeName, EscapingScheme, Format, Negotiated, ProtocolMedia, ScrapeProtocol,
    accept_encoding_header, accept_header, accept_header_with_escaping, format_for, is_legacy_name,
    negotiate, parse_media_type,
};
pub use parser::{Entry, MetricType, ParseError, Parser};
pub use series::{LabelPairs, Series};

/// Errors of content negotiation and body decoding (parse errors are
/// [`ParseError`]). The messages are Prometheus' where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpoError {
    #[error(
        "non-compliant scrape target sending blank Content-Type and no fallback_scrape_protocol specified for target"
    )]
    BlankContentType,
    #[error(
        "cannot parse Content-Type {content_type:?} and no fallback_scrape_protocol for target: {reason}"
    )]
    InvalidContentType {
        content_type: String,
        reason: String,
    },
    #[error(
        "received unsupported Content-Type {0:?} and no fallback_scrape_protocol specified for target"
    )]
    UnsupportedContentType(String),
    #[error("the Prometheus protobuf format is not supported")]
    UnsupportedProtobuf,
    #[error("unsupported Content-Encoding {0:?}")]
    UnsupportedEncoding(String),
    #[error("invalid gzip body: {0}")]
    Gzip(String),
    #[error("body size limit exceeded")]
    BodySizeLimit,
}
