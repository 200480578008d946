//! Integration tests of codeward-security (one binary; modules per feature).

mod validate;
