//! Loading catalogues.
