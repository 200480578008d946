//! The crate's one error type: bad configuration and audit records replay cannot use.
//! Every variant names what was wrong and what to do about it.

/// What went wrong in `codeward-anomaly`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AnomalyError {
    /// A configuration value breaks a rule of [`DetectorConfig`](crate::DetectorConfig).
    #[error("invalid anomaly detector setting `{field}`: {problem}")]
    InvalidConfig {
        /// The builder method / field name.
        field: &'static str,
        /// What is wrong and the accepted range.
        problem: String,
    },
    /// An audit record lacks a field replay needs.
    #[error(
        "audit record seq {seq} ({kind}) lacks `{key}`; write it with \
         codeward_anomaly::execution_metadata / tool_call_metadata so replay can use it"
    )]
    MissingField {
        /// The record's position in the log.
        seq: u64,
        /// The record type.
        kind: &'static str,
        /// The missing metadata key or record field.
        key: &'static str,
    },
    /// An audit record field has the wrong type or an impossible value.
    #[error("audit record seq {seq}: `{key}` should be {expected}, found {found}")]
    BadField {
        /// The record's position in the log.
        seq: u64,
        /// The metadata key or record field.
        key: &'static str,
        /// What replay expects there.
        expected: &'static str,
        /// What the record holds (shortened).
        found: String,
    },
}

impl From<AnomalyError> for codeward_core::Error {
    fn from(e: AnomalyError) -> Self {
        codeward_core::Error::invalid("anomaly detector input", e.to_string())
    }
}
