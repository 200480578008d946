//! Integration tests of codeward-codegen: snapshots, compilation in both languages, a
//! property test over random schemas, and round trips through real interpreters.
#![allow(unsafe_code)]

mod bindings;
mod common;
mod compile;
mod economics;
mod hostile;
mod loading;
mod proptests;
mod roundtrip;
mod snapshots;
