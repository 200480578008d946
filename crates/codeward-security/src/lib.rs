//! Code validation, risk scoring, an approval gate and PII tokenization for codeward.
#![deny(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod error;
mod risk;
mod rules;
mod validate;

pub use error::SecurityError;
pub use risk::{Risk, RiskWeights};
pub use rules::RuleSet;
pub use validate::{Validator, ValidatorBuilder};
mod approval;
mod pii;
pub use approval::{
    Clock, DEFAULT_APPROVAL_TTL, FileApprovalStore, FileApprovalStoreBuilder, ManualClock,
    SystemClock, approval_code_hash, approval_request,
};
pub use pii::{PiiScanner, PiiTokenizer, PiiTokenizerBuilder};
