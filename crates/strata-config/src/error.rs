//! Configuration errors: every one names the file, and where known the line,
//! column and field path of the offending node.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: u64,
    pub column: u64,
}

impl Position {
    pub(crate) fn from_location(l: &serde_saphyr::Location) -> Option<Position> {
        (l.line() > 0).then(|| Position {
            line: l.line(),
            column: l.column(),
        })
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.column > 0 {
            write!(f, "{}:{}", self.line, self.column)
        } else {
            write!(f, "{}", self.line)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// The text is not YAML (or has duplicate keys).
    #[error("{}", render(file, pos, "", message))]
    Yaml {
        file: String,
        pos: Option<Position>,
        message: String,
    },
    /// YAML that is not a valid Prometheus configuration.
    #[error("{}", render(file, pos, path, message))]
    Invalid {
        file: String,
        pos: Option<Position>,
        /// The field path, e.g. `scrape_configs[1].scrape_interval`.
        path: String,
        message: String,
    },
}

fn render(file: &str, pos: &Option<Position>, path: &str, message: &str) -> String {
    let mut s = file.to_string();
    if let Some(p) = pos {
        s.push_str(&format!(":{p}"));
    }
    s.push_str(": ");
    if !path.is_empty() {
        s.push_str(path);
        s.push_str(": ");
    }
    s.push_str(message);
    s
}

impl ConfigError {
    pub fn file(&self) -> &str {
        match self {
            ConfigError::Read { file, .. }
            | ConfigError::Yaml { file, .. }
            | ConfigError::Invalid { file, .. } => file,
        }
    }

    pub fn position(&self) -> Option<Position> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Yaml { pos, .. } | ConfigError::Invalid { pos, .. } => *pos,
        }
    }

    /// The field path ("" when the error is not about one field).
    pub fn path(&self) -> &str {
        match self {
            ConfigError::Invalid { path, .. } => path,
            _ => "",
        }
    }
}
