//! Integration tests of codeward-security (one binary; modules per feature).

mod approval;
mod corpus_code;
mod pii;
mod risk;
mod robustness;
mod validate;
