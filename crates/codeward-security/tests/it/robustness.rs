//! Property tests: hostile or random input never makes the validator or the PII scanner
//! fail or panic, and spans always land on character boundaries.

use codeward_core::Language;
use codeward_security::{PiiScanner, Validator};
use proptest::prelude::*;

/// Fragments that steer random programs into interesting syntax.
fn program() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("import os as o\n".to_owned()),
        Just("o.system(".to_owned()),
        Just("getattr(os, 'sy' + 'stem')".to_owned()),
        Just("const { exec } = require('child_' + 'process');".to_owned()),
        Just("while (true) {".to_owned()),
        Just("while True:\n    ".to_owned()),
        Just("eval(atob('eA=='))".to_owned()),
        Just("[].constructor.constructor".to_owned()),
        Just("'\\x65val'".to_owned()),
        Just("\"é漢字🙂\"".to_owned()),
        Just("(((((".to_owned()),
        Just("}}]])".to_owned()),
        "[ -~\\n\\t]{0,20}",
        "\\PC{0,8}",
    ];
    prop::collection::vec(piece, 0..20).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn validator_accepts_any_input(code in program()) {
        let v = Validator::new().expect("validator");
        for language in Language::ALL {
            let report = v.check(&code, language, &[]).expect("validation never errors on input");
            for f in &report.findings {
                prop_assert!(f.line >= 1 && f.column >= 1);
            }
        }
    }

    #[test]
    fn pii_spans_are_ordered_and_on_char_boundaries(
        text in "(\\PC|[0-9 .:@+\\-]|alice@example\\.com|\\+1 415 555 2671|4111 1111 1111 1111){0,40}"
    ) {
        let spans = PiiScanner::new().scan(&text);
        let mut last = 0;
        for s in spans {
            prop_assert!(s.start >= last && s.start < s.end && s.end <= text.len());
            prop_assert!(text.is_char_boundary(s.start) && text.is_char_boundary(s.end));
            last = s.end;
        }
    }
}
