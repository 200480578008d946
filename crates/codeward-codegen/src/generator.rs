//! [`CodeGenerator`], the crate's implementation of the core `ApiGenerator` seam, and the
//! helpers that load tool schemas from a file.

use std::collections::BTreeSet;
use std::path::Path;

use codeward_core::{ApiGenerator, GeneratedApi, Language, ToolSchema};
use serde_json::Value;

use crate::error::CodegenError;
use crate::plan::Plan;
use crate::render::{environment, render};
use crate::tokens::count_tokens;

/// File name of the generated module, which the program imports as `./codeward_api`
/// (`codeward_api.ts`; `codeward_api.py`).
pub fn module_file_name(language: Language) -> &'static str {
    match language {
        Language::Python => "codeward_api.py",
        _ => "codeward_api.ts",
    }
}

/// Generates typed TypeScript and Python APIs for MCP tools.
///
/// Output depends only on the tools and their order: the same input gives the same bytes.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CodeGenerator {}

impl CodeGenerator {
    /// A generator.
    pub fn new() -> Self {
        CodeGenerator {}
    }

    /// The module and summary for `tools` in `language`, with token counts and warnings.
    pub fn generate_api(
        &self,
        tools: &[ToolSchema],
        language: Language,
    ) -> Result<GeneratedApi, CodegenError> {
        check_tools(tools)?;
        let plan = Plan::new(tools);
        let env = environment()?;
        let (module, summary, bindings) = render(&env, &plan, language)?;
        let module_tokens = count_tokens(&module);
        let summary_tokens = count_tokens(&summary);
        let mut api = GeneratedApi::new(language, module, summary, module_tokens, summary_tokens);
        api.bindings = bindings;
        let mut seen = BTreeSet::new();
        api.warnings = plan
            .table
            .warnings
            .into_iter()
            .filter(|w| seen.insert(w.clone()))
            .collect();
        Ok(api)
    }
}

impl ApiGenerator for CodeGenerator {
    fn generate(
        &self,
        tools: &[ToolSchema],
        language: Language,
    ) -> codeward_core::Result<GeneratedApi> {
        Ok(self.generate_api(tools, language)?)
    }

    fn count_tokens(&self, text: &str) -> u64 {
        count_tokens(text)
    }
}

/// Refuses tools that cannot become distinct functions.
fn check_tools(tools: &[ToolSchema]) -> Result<(), CodegenError> {
    let mut names = BTreeSet::new();
    for (i, tool) in tools.iter().enumerate() {
        if tool.name.trim().is_empty() {
            return Err(CodegenError::InvalidTool {
                tool: format!("#{}", i + 1),
                problem: "the tool has no name; give every tool the name its server uses".into(),
            });
        }
        let qualified = tool.qualified_name();
        if !names.insert(qualified.clone()) {
            return Err(CodegenError::InvalidTool {
                tool: qualified,
                problem: "listed twice; pass each tool once".into(),
            });
        }
    }
    Ok(())
}

/// Reads tools from a JSON file: an MCP `tools/list` result (`{"tools": [...]}`, optionally
/// with a `"server"` name), an array of tools, or one tool. Tools without a server get the
/// file's `"server"` field, else the file's stem (`filesystem.json` -> `filesystem`).
pub fn load_tools(path: impl AsRef<Path>) -> Result<Vec<ToolSchema>, CodegenError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| CodegenError::Read {
        path: path.to_owned(),
        source,
    })?;
    let shape_error = |message: String| CodegenError::Parse {
        path: path.to_owned(),
        line: 0,
        column: 0,
        message,
    };
    let value: Value = serde_json::from_str(&text).map_err(|e| CodegenError::Parse {
        path: path.to_owned(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let mut server = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned);
    let entries = match value {
        Value::Array(items) => items,
        Value::Object(mut map) if map.contains_key("tools") => {
            if let Some(name) = map.get("server").and_then(Value::as_str) {
                server = Some(name.to_owned());
            }
            match map.remove("tools") {
                Some(Value::Array(items)) => items,
                _ => return Err(shape_error("`tools` is not an array".into())),
            }
        }
        one @ Value::Object(_) => vec![one],
        _ => {
            return Err(shape_error(
                "the top level is neither an object nor an array".into(),
            ));
        }
    };
    entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| {
            let mut tool: ToolSchema = serde_json::from_value(entry)
                .map_err(|e| shape_error(format!("tool #{}: {e}", i + 1)))?;
            if tool.server.is_none() {
                tool.server = server.clone();
            }
            Ok(tool)
        })
        .collect()
}

/// Generates the API for every tool in a schema file (see [`load_tools`] for the formats).
pub fn generate_from_file(
    path: impl AsRef<Path>,
    language: Language,
) -> Result<GeneratedApi, CodegenError> {
    let tools = load_tools(path)?;
    CodeGenerator::new().generate_api(&tools, language)
}
