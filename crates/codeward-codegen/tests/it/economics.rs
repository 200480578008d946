//! Token counts and token economics: the summary is smaller than the module, and the API for
//! a few tools is far smaller than every catalogue definition.

use codeward_codegen::{CodeGenerator, count_tokens, token_economics, tools_list_json};
use codeward_core::{ApiGenerator, Language};

use crate::common::{FIXTURES, fixture, generate};

#[test]
fn counts_are_real_tokens_of_the_text() {
    for language in Language::ALL {
        let api = generate(&fixture("demo"), language);
        assert_eq!(api.module_tokens, count_tokens(&api.module));
        assert_eq!(api.summary_tokens, count_tokens(&api.summary));
        assert!(
            api.summary_tokens * 3 < api.module_tokens,
            "summary is compact: {} vs {}",
            api.summary_tokens,
            api.module_tokens
        );
        assert_eq!(
            CodeGenerator::new().count_tokens(&api.summary),
            api.summary_tokens
        );
    }
}

#[test]
fn selected_api_costs_less_than_the_whole_catalogue() {
    let catalogue: Vec<_> = FIXTURES.iter().flat_map(|name| fixture(name)).collect();
    let selected: Vec<_> = fixture("filesystem").into_iter().take(3).collect();
    let generator = CodeGenerator::new();
    for language in Language::ALL {
        let report = token_economics(&generator, &selected, &catalogue, language).expect("report");
        assert_eq!(
            report.all_definitions_tokens,
            count_tokens(&tools_list_json(&catalogue))
        );
        assert!(report.selected_definitions_tokens < report.all_definitions_tokens);
        assert!(
            report.summary_tokens < report.all_definitions_tokens / 5,
            "{report:?}"
        );
        let core = report.to_core();
        assert_eq!(core.api_tokens, report.summary_tokens);
        assert!(core.saved_percent() > 80.0, "{report:?}");
        eprintln!(
            "{language}: summary {} / module {} / selected defs {} / all defs {} tokens ({:.1}% saved)",
            report.summary_tokens,
            report.module_tokens,
            report.selected_definitions_tokens,
            report.all_definitions_tokens,
            report.summary_saved_percent()
        );
    }
}

#[test]
fn tools_list_json_is_what_mcp_clients_receive() {
    let json: serde_json::Value =
        serde_json::from_str(&tools_list_json(&fixture("everything"))).expect("json");
    let first = &json["tools"][0];
    assert_eq!(first["name"], "everything.echo");
    assert_eq!(first["inputSchema"]["required"][0], "message");
    assert!(json["tools"][6]["outputSchema"].is_object());
}
