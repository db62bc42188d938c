//! Tenants: every read and write carries one, even in single-tenant mode.

use std::fmt;
use std::sync::Arc;

/// A tenant identifier, as carried by Mimir/Cortex' `X-Scope-OrgID` header.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(Arc<str>);

/// Maximum tenant ID length, as in Mimir's validation.
pub const MAX_TENANT_ID_LEN: usize = 150;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TenantError {
    #[error("tenant ID is empty")]
    Empty,
    #[error("tenant ID is longer than {MAX_TENANT_ID_LEN} characters")]
    TooLong,
    #[error(
        "tenant ID {0:?} contains an unsupported character (allowed: a-z A-Z 0-9 ! - _ . * ' ( ))"
    )]
    BadChar(String),
    #[error("tenant ID must not be \".\" or \"..\"")]
    Dots,
}

impl TenantId {
    /// The tenant used when multi-tenancy is off.
    pub fn single() -> Self {
        TenantId(Arc::from("anonymous"))
    }

    /// Parses a tenant ID with Mimir's rules: the ID becomes a directory name,
    /// so path separators and dot-only names are refused.
    pub fn parse(s: &str) -> Result<Self, TenantError> {
        if s.is_empty() {
            return Err(TenantError::Empty);
        }
        if s.len() > MAX_TENANT_ID_LEN {
            return Err(TenantError::TooLong);
        }
        if s == "." || s == ".." {
            return Err(TenantError::Dots);
        }
        let ok = s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'!' | b'-' | b'_' | b'.' | b'*' | b'\'' | b'(' | b')')
        });
        if !ok {
            return Err(TenantError::BadChar(s.to_string()));
        }
        Ok(TenantId(Arc::from(s)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_path_like_ids() {
        assert_eq!(
            TenantId::parse("../etc"),
            Err(TenantError::BadChar("../etc".into()))
        );
        assert_eq!(TenantId::parse(".."), Err(TenantError::Dots));
        assert_eq!(TenantId::parse(""), Err(TenantError::Empty));
        assert!(TenantId::parse("team-a_1").is_ok());
    }
}
