//! Integration tests of codeward-anomaly.
