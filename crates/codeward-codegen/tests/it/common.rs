//! Helpers shared by the tests: fixtures, the real interpreters, oxc parsing and transpiling,
//! and locating `tsc`.

use std::path::{Path, PathBuf};
use std::process::Command;

use codeward_codegen::{CodeGenerator, load_tools};
use codeward_core::{GeneratedApi, Language, ToolSchema};

/// Fixture files under `tests/it/fixtures`.
pub const FIXTURES: &[&str] = &["demo", "seed", "filesystem", "everything", "hard_cases"];

pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/fixtures")
        .join(format!("{name}.json"))
}

pub fn fixture(name: &str) -> Vec<ToolSchema> {
    load_tools(fixture_path(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

pub fn generate(tools: &[ToolSchema], language: Language) -> GeneratedApi {
    CodeGenerator::new()
        .generate_api(tools, language)
        .unwrap_or_else(|e| panic!("generation failed: {e}"))
}

/// The real Python interpreter (a pyenv shim costs 140 ms a start).
pub fn python() -> PathBuf {
    let system = PathBuf::from("/usr/bin/python3");
    if system.exists() {
        system
    } else {
        PathBuf::from("python3")
    }
}

/// `python3 -m py_compile` on each file; panics with the compiler's message on failure.
pub fn py_compile(files: &[PathBuf]) {
    if files.is_empty() {
        return;
    }
    let out = Command::new(python())
        .arg("-m")
        .arg("py_compile")
        .args(files)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "py_compile failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Imports `codeward_api` from `dir` (catches name errors py_compile cannot see).
pub fn py_import(dir: &Path) {
    py_run(dir, "");
}

/// Imports `codeward_api` from `dir` (outside codeward: no bridge), then runs `code`;
/// returns what it printed. Panics with Python's message when the import or `code` fails.
pub fn py_run(dir: &Path, code: &str) -> String {
    let out = Command::new(python())
        .args([
            "-I",
            "-c",
            &format!("import sys; sys.path.insert(0, sys.argv[1]); import codeward_api\n{code}"),
        ])
        .arg(dir)
        .env_remove("CODEWARD_BRIDGE_FDS")
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "import failed in {}:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Parses TypeScript with oxc and runs its semantic checks (a name declared twice, say);
/// `Err` lists the diagnostics.
pub fn ts_parse(source: &str) -> Result<(), String> {
    let allocator = oxc_allocator::Allocator::default();
    let source_type = oxc_span::SourceType::ts().with_module(true);
    let ret = oxc_parser::Parser::new(&allocator, source, source_type).parse();
    if ret.panicked || ret.diagnostics.has_errors() {
        let messages: Vec<String> = ret.diagnostics.errors().map(|d| d.to_string()).collect();
        return Err(messages.join("\n"));
    }
    let semantic = oxc_semantic::SemanticBuilder::new()
        .with_check_syntax_error(true)
        .build(&ret.program);
    if !semantic.diagnostics.is_empty() {
        let messages: Vec<String> = semantic.diagnostics.iter().map(|d| d.to_string()).collect();
        return Err(messages.join("\n"));
    }
    Ok(())
}

/// Strips TypeScript types with oxc_transformer, as the sandbox does before running node.
pub fn transpile(source: &str) -> String {
    let allocator = oxc_allocator::Allocator::default();
    let source_type = oxc_span::SourceType::ts().with_module(true);
    let parsed = oxc_parser::Parser::new(&allocator, source, source_type).parse();
    assert!(
        !parsed.panicked && !parsed.diagnostics.has_errors(),
        "parse failed"
    );
    let mut program = parsed.program;
    let scoping = oxc_semantic::SemanticBuilder::new()
        .build(&program)
        .semantic
        .into_scoping();
    let options = oxc_transformer::TransformOptions::default();
    let ret = oxc_transformer::Transformer::new(&allocator, Path::new("codeward_api.ts"), &options)
        .build_with_scoping(scoping, &mut program);
    assert!(!ret.diagnostics.has_errors(), "transform failed");
    oxc_codegen::Codegen::new().build(&program).code
}

/// `tsc` from PATH or a `node_modules/.bin` above the crate; `None` when absent.
pub fn tsc() -> Option<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in manifest.ancestors() {
        let candidate = dir.join("node_modules/.bin/tsc");
        if candidate.exists() {
            return Some(candidate);
        }
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("tsc"))
        .find(|candidate| candidate.exists())
}

/// Runs `tsc --noEmit --strict` on `files`; panics with its diagnostics on failure.
/// Returns false (after saying so) when tsc is not installed.
pub fn tsc_check(files: &[PathBuf]) -> bool {
    let Some(tsc) = tsc() else {
        eprintln!(
            "tsc not found on PATH or in node_modules: TypeScript type-checking SKIPPED \
             (install it with `npm install -g typescript`; CI does)"
        );
        return false;
    };
    // A tsconfig rather than flags: `types: []` keeps any installed @types/node out, so the
    // modules prove they type-check with nothing but the ES2022 library.
    let dir = tempfile::tempdir().expect("temp dir");
    let config = serde_json::json!({
        "compilerOptions": {
            "noEmit": true,
            "strict": true,
            "target": "es2022",
            "module": "es2022",
            "moduleResolution": "bundler",
            "lib": ["es2022"],
            "types": [],
        },
        "files": files,
    });
    let config_path = dir.path().join("tsconfig.json");
    std::fs::write(&config_path, config.to_string()).expect("write tsconfig");
    let out = Command::new(&tsc)
        .arg("-p")
        .arg(&config_path)
        .output()
        .expect("tsc runs");
    assert!(
        out.status.success(),
        "tsc --strict failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("tsc --noEmit --strict: {} file(s) type-check", files.len());
    true
}
