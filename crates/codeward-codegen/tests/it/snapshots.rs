//! insta snapshots of generated modules and summaries: the seed-style examples, MCP server
//! fixtures and the hard cases, in both languages, plus the warnings each produced.

use codeward_core::Language;

use crate::common::{FIXTURES, fixture, generate};

/// The bridge client is the same in every module: snapshot it once (demo), elide it elsewhere.
fn without_bridge(module: &str) -> String {
    let start = module
        .find("// ---------------------------------------------------------------- bridge client")
        .or_else(|| {
            module.find(
                "# ---------------------------------------------------------------- bridge client",
            )
        });
    let end = ["types", "server"]
        .iter()
        .filter_map(|marker| {
            module
                .find(&format!("// ---------------------------------------------------------------- {marker}"))
                .or_else(|| module.find(&format!("# ---------------------------------------------------------------- {marker}")))
        })
        .min();
    match (start, end) {
        (Some(start), Some(end)) if start < end => {
            format!(
                "{}[bridge client: see the demo snapshot]\n\n{}",
                &module[..start],
                &module[end..]
            )
        }
        _ => panic!("bridge markers missing"),
    }
}

#[test]
fn snapshots_of_every_fixture() {
    for name in FIXTURES {
        let tools = fixture(name);
        for language in Language::ALL {
            let api = generate(&tools, language);
            let lang = language.extension();
            let module = if *name == "demo" {
                api.module.clone()
            } else {
                without_bridge(&api.module)
            };
            insta::assert_snapshot!(format!("{name}_{lang}_module"), module);
            insta::assert_snapshot!(format!("{name}_{lang}_summary"), api.summary);
            insta::assert_snapshot!(format!("{name}_{lang}_warnings"), api.warnings.join("\n"));
        }
    }
}

#[test]
fn generation_is_deterministic() {
    let tools = fixture("hard_cases");
    for language in Language::ALL {
        let a = generate(&tools, language);
        let b = generate(&tools, language);
        assert_eq!(a, b);
    }
}

#[test]
fn warnings_name_the_tool_and_the_place() {
    let api = generate(&fixture("hard_cases"), Language::TypeScript);
    for expected in [
        "hard-cases.unsupported input /properties/notString: `not` is not modelled",
        "hard-cases.unsupported input /properties/patterned: `patternProperties` is not modelled",
        "hard-cases.unsupported input /properties/remote/$ref: the external `$ref`",
        "hard-cases.unsupported input /properties/missing/$ref: the unresolvable `$ref`",
        "hard-cases.unsupported input /properties/objectEnum: an `enum` / `const` with object or array values",
        "hard-cases.unsupported input /properties/weirdType: type `file`",
    ] {
        assert!(
            api.warnings.iter().any(|w| w.starts_with(expected)),
            "missing warning {expected:?} in {:#?}",
            api.warnings
        );
    }
    let clean = generate(&fixture("filesystem"), Language::Python);
    assert!(clean.warnings.is_empty(), "{:?}", clean.warnings);
}
