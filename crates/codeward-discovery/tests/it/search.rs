//! Search behaviour.
