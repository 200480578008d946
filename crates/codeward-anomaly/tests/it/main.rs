//! Integration tests of codeward-anomaly: detection quality on synthetic streams, replay,
//! memory bounds, the record round trip and each detector's behaviour.

mod behaviour;
mod memory;
mod quality;
mod record;
mod replay;
mod support;
mod synth;
