//! TypeScript to JavaScript on the host (node 20 cannot run TypeScript), with oxc.
//! Imports of the generated API module are pointed at its transpiled `.mjs` file.

use std::path::Path;

use oxc_allocator::Allocator;
use oxc_ast::ast::{Statement, StringLiteral};
use oxc_codegen::Codegen;
use oxc_parser::Parser;
use oxc_semantic::SemanticBuilder;
use oxc_span::SourceType;
use oxc_transformer::{TransformOptions, Transformer};

use crate::error::SandboxError;

/// The API module's file name once transpiled.
pub(crate) const API_MODULE_JS: &str = "./codeward_api.mjs";

/// Specifiers that mean the generated API module.
fn is_api_specifier(s: &str) -> bool {
    matches!(
        s,
        "./codeward_api"
            | "./codeward_api.ts"
            | "./codeward_api.js"
            | "./codeward_api.mjs"
            | "./codeward_api.mts"
            | "codeward_api"
    )
}

fn first_errors<'a>(errors: impl Iterator<Item = impl std::fmt::Display + 'a>) -> String {
    errors
        .take(3)
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

fn retarget(lit: &mut StringLiteral<'_>) {
    if is_api_specifier(lit.value.as_str()) {
        lit.value = API_MODULE_JS.into();
        lit.raw = None;
    }
}

/// Strips types from `source` (TypeScript or JavaScript) and returns an ES module.
pub(crate) fn to_javascript(source: &str, file: &str) -> Result<String, SandboxError> {
    let err = |message: String| SandboxError::Transpile {
        file: file.to_owned(),
        message,
    };
    let allocator = Allocator::default();
    let source_type = SourceType::ts().with_module(true);
    let parsed = Parser::new(&allocator, source, source_type).parse();
    if parsed.diagnostics.has_errors() || parsed.panicked {
        return Err(err(first_errors(parsed.diagnostics.errors())));
    }
    let mut program = parsed.program;
    for stmt in program.body.iter_mut() {
        match stmt {
            Statement::ImportDeclaration(d) => retarget(&mut d.source),
            Statement::ExportAllDeclaration(d) => retarget(&mut d.source),
            Statement::ExportFromDeclaration(d) => retarget(&mut d.source),
            _ => {}
        }
    }
    let semantic = SemanticBuilder::new().build(&program);
    if semantic.diagnostics.has_errors() {
        return Err(err(first_errors(semantic.diagnostics.errors())));
    }
    let scoping = semantic.semantic.into_scoping();
    let options = TransformOptions::default();
    let ret = Transformer::new(&allocator, Path::new(file), &options)
        .build_with_scoping(scoping, &mut program);
    if ret.diagnostics.has_errors() {
        return Err(err(first_errors(ret.diagnostics.errors())));
    }
    Ok(Codegen::new().build(&program).code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_stripped_and_api_imports_retargeted() {
        let js = to_javascript(
            "import { add } from './codeward_api';\nexport * from \"./codeward_api.ts\";\nconst x: number = add(1, 2) as number;\ninterface T { a: string }\n",
            "main.ts",
        )
        .expect("transpiles");
        assert!(js.contains("\"./codeward_api.mjs\""), "{js}");
        assert!(!js.contains("codeward_api.ts"), "{js}");
        assert!(!js.contains("interface"), "{js}");
        assert!(!js.contains(": number"), "{js}");
    }

    #[test]
    fn a_syntax_error_names_the_file() {
        let err = to_javascript("const = ;", "main.ts").expect_err("does not parse");
        assert!(err.to_string().contains("main.ts"), "{err}");
    }
}
