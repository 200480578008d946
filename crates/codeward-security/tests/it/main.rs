//! Integration tests of codeward-security (one binary; modules per feature).

mod corpus_code;
mod validate;
