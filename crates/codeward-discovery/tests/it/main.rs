//! Integration tests of codeward-discovery: catalogue loading, search behaviour, quality.

mod loading;
mod quality;
mod search;

use codeward_discovery::{CatalogueIndex, DefaultCatalogue};

/// An index holding the default catalogue, which must load without a problem.
fn default_index() -> CatalogueIndex {
    let index = CatalogueIndex::new().expect("index");
    let report = index.load(&DefaultCatalogue).expect("load");
    assert!(report.is_clean(), "{report}");
    index
}
