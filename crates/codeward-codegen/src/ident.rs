//! Identifier sanitizing: wire names (any Unicode) to ASCII identifiers valid in TypeScript
//! and Python, deterministic, with collisions resolved by numbered suffixes in first-come order.

use std::collections::BTreeSet;

/// Words reserved in TypeScript or JavaScript (strict mode), plus names the module itself uses.
const TS_RESERVED: &[&str] = &[
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "import",
    "in",
    "instanceof",
    "new",
    "null",
    "return",
    "super",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "var",
    "void",
    "while",
    "with",
    "as",
    "implements",
    "interface",
    "let",
    "package",
    "private",
    "protected",
    "public",
    "static",
    "yield",
    "any",
    "boolean",
    "number",
    "string",
    "symbol",
    "unknown",
    "never",
    "object",
    "undefined",
    "await",
    "async",
    "arguments",
    "eval",
    "type",
    "declare",
    "namespace",
    "module",
    "keyof",
    "readonly",
    "infer",
    "is",
    "asserts",
    "global",
    "bigint",
    "of",
    "get",
    "set",
    "constructor",
    "require",
    "accessor",
    "satisfies",
    "out",
    "using",
];

/// Python keywords and soft keywords.
const PY_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield", "match", "case", "type", "_",
];

/// Python builtins and module aliases a generated module must not shadow, among them every
/// builtin its bridge client and class bodies use (a test checks the templates against this).
const PY_RESERVED: &[&str] = &[
    "print",
    "self",
    "cls",
    "str",
    "int",
    "float",
    "bool",
    "list",
    "dict",
    "tuple",
    "set",
    "object",
    "bytes",
    "len",
    "id",
    "input",
    "json",
    "os",
    "sys",
    "typing",
    "all",
    "isinstance",
    "bytearray",
    "memoryview",
    "staticmethod",
    "super",
    "ValueError",
    "OSError",
    "BlockingIOError",
];

/// Type and value names the generated modules define or rely on at module scope (a test
/// checks the templates against this).
const MODULE_RESERVED: &[&str] = &[
    "Any",
    "Literal",
    "NotRequired",
    "Required",
    "TypedDict",
    "Union",
    "Optional",
    "Promise",
    "Record",
    "Array",
    "Partial",
    "String",
    "Number",
    "Boolean",
    "Object",
    "Symbol",
    "Error",
    "Function",
    "Map",
    "Set",
    "Date",
    "JSON",
    "Math",
    "BigInt",
    "RegExp",
    "Exception",
    "ToolError",
    "BridgeError",
    "CallOptions",
    "callTool",
    "call_tool",
    "setResult",
    "set_result",
    "Buffer",
    "process",
    "setTimeout",
    "clearTimeout",
    "globalThis",
    // The TypeScript bridge client's own module-scope names.
    "Pending",
    "Connection",
    "NodeFs",
    "NodeSocket",
    "NodeNet",
    "fs",
    "net",
    "connection",
    "send",
    "receive",
    "toValue",
    "writeLine",
    "bridgeFds",
    "connect",
    "FS_MODULE",
    "NET_MODULE",
    "MAX_REQUEST_BYTES",
    "MAX_IN_FLIGHT",
    "inFlight",
    "waitingForSlot",
    "takeSlot",
    "releaseSlot",
    "Uint8Array",
];

/// Whether `name` is reserved in either target language or by the generated module.
pub(crate) fn is_reserved(name: &str) -> bool {
    TS_RESERVED.contains(&name)
        || PY_KEYWORDS.contains(&name)
        || PY_RESERVED.contains(&name)
        || MODULE_RESERVED.contains(&name)
}

/// Whether `name` is a Python keyword (the only names a Python attribute cannot take).
pub(crate) fn is_python_keyword(name: &str) -> bool {
    PY_KEYWORDS.contains(&name)
}

/// Names a class body of the generated Python module evaluates after defining methods: a
/// method of that name would replace it for the methods below (`@staticmethod`).
const PY_CLASS_BODY: &[&str] = &["staticmethod"];

/// Whether `name` cannot name a method of a generated Python class: a keyword, or a name the
/// class body itself relies on.
pub(crate) fn is_bad_python_method(name: &str) -> bool {
    is_python_keyword(name) || PY_CLASS_BODY.contains(&name)
}

/// Whether `name` is a plain ASCII identifier (letters, digits, `_`, `$` excluded).
pub(crate) fn is_ascii_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Splits a name into words: on non-alphanumerics and on case changes (`HTTPServer` ->
/// `HTTP`, `Server`; `readFile` -> `read`, `File`). Non-ASCII characters separate words.
pub(crate) fn words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut words = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        if c.is_ascii_uppercase() && !current.is_empty() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                words.push(std::mem::take(&mut current));
            }
        }
        current.push(c);
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

fn capitalize(word: &str) -> String {
    let lower = word.to_ascii_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// `snake_case`; a leading digit gets an `_` prefix; empty input gives `fallback`.
pub(crate) fn snake_case(name: &str, fallback: &str) -> String {
    let joined = words(name)
        .iter()
        .map(|w| w.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join("_");
    fix_start(joined, fallback)
}

/// `camelCase`; a leading digit gets an `_` prefix; empty input gives `fallback`.
pub(crate) fn camel_case(name: &str, fallback: &str) -> String {
    let joined: String = words(name)
        .iter()
        .enumerate()
        .map(|(i, w)| {
            if i == 0 {
                w.to_ascii_lowercase()
            } else {
                capitalize(w)
            }
        })
        .collect();
    fix_start(joined, fallback)
}

/// `PascalCase`; a leading digit gets a `T` prefix; empty input gives `fallback`.
pub(crate) fn pascal_case(name: &str, fallback: &str) -> String {
    let joined: String = words(name).iter().map(|w| capitalize(w)).collect();
    match joined.chars().next() {
        None => fallback.to_owned(),
        Some(c) if c.is_ascii_digit() => format!("T{joined}"),
        Some(_) => joined,
    }
}

fn fix_start(name: String, fallback: &str) -> String {
    match name.chars().next() {
        None => fallback.to_owned(),
        Some(c) if c.is_ascii_digit() => format!("_{name}"),
        Some(_) => name,
    }
}

/// Hands out unique identifiers in one scope. The first claimant of a name keeps it; later
/// ones get `2`, `3`... (`sep` between name and number), so output depends only on input order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Namer {
    taken: BTreeSet<String>,
}

impl Namer {
    /// A scope where `reserved` names are already taken.
    pub(crate) fn with_taken<'a>(reserved: impl IntoIterator<Item = &'a str>) -> Self {
        Namer {
            taken: reserved.into_iter().map(str::to_owned).collect(),
        }
    }

    /// `base`, made unique. Reserved words get a trailing `_` before numbering starts.
    pub(crate) fn claim(&mut self, base: &str, sep: &str) -> String {
        self.claim_if(base, sep, is_reserved)
    }

    /// `base`, made unique; `is_bad` names (keywords of the target scope) get a trailing `_`.
    pub(crate) fn claim_if(&mut self, base: &str, sep: &str, is_bad: fn(&str) -> bool) -> String {
        let mut candidate = base.to_owned();
        if is_bad(&candidate) {
            candidate.push('_');
        }
        let mut n = 2;
        let stem = candidate.clone();
        while self.taken.contains(&candidate) || is_bad(&candidate) {
            candidate = format!("{stem}{sep}{n}");
            n += 1;
        }
        self.taken.insert(candidate.clone());
        candidate
    }
}

#[cfg(test)]
mod tests {
    use codeward_core::{Language, ToolSchema};
    use serde_json::json;

    use super::*;
    use crate::generator::CodeGenerator;

    #[test]
    fn cases() {
        assert_eq!(
            words("HTTPServer_v2-readFile"),
            ["HTTP", "Server", "v2", "read", "File"]
        );
        assert_eq!(snake_case("readFile", "x"), "read_file");
        assert_eq!(camel_case("notes_add", "x"), "notesAdd");
        assert_eq!(pascal_case("notes_add input", "T"), "NotesAddInput");
        assert_eq!(snake_case("2fa-code", "x"), "_2fa_code");
        assert_eq!(pascal_case("404", "T"), "T404");
        assert_eq!(snake_case("日本", "arg"), "arg");
    }

    #[test]
    fn namer_suffixes_and_reserved() {
        let mut namer = Namer::default();
        assert_eq!(namer.claim("from", "_"), "from_");
        assert_eq!(namer.claim("from", "_"), "from__2");
        assert_eq!(namer.claim("path", "_"), "path");
        assert_eq!(namer.claim("path", "_"), "path_2");
        assert_eq!(namer.claim("Promise", ""), "Promise_");
        // The bridge client's own names are never handed to a type or a server.
        assert_eq!(namer.claim("Connection", ""), "Connection_");
        assert_eq!(namer.claim("fs", ""), "fs_");
    }

    /// Tools whose modules use every construct of the templates: each kind of type, each
    /// kind of input, docs, examples.
    fn sample_tools() -> Vec<ToolSchema> {
        let output = json!({"$ref": "#/$defs/Out", "$defs": {"Out": {"anyOf": [
            {"type": "array", "items": {"type": "integer"}},
            {"type": "object", "additionalProperties": {"type": "number"}},
            {"type": "object", "properties": {"a-b": {"type": "boolean"}, "c": {"enum": ["x", 1.5]}}},
            {"type": "string"}, {"type": "null"},
        ]}}});
        let mut typed = ToolSchema::new(
            "typed",
            "Typed.",
            json!({"type": "object", "required": ["a"], "additionalProperties": {"type": "string"},
                   "properties": {"a": {"type": "string", "format": "uri", "default": "x"},
                                  "b": {"type": "array", "prefixItems": [{"type": "integer"}]}}}),
        )
        .with_server("s");
        typed.output_schema = Some(output);
        typed.examples = vec![json!({"a": "x"})];
        vec![
            typed,
            ToolSchema::new("open", "Open.", json!({"type": "object"})).with_server("s"),
            ToolSchema::new("other", "Other.", json!({"type": "string"})).with_server("s"),
        ]
    }

    /// The sample module in `language`, and the names the generator made for its tools.
    fn sample_module(language: Language) -> (String, Vec<String>) {
        let tools = sample_tools();
        let api = CodeGenerator::new()
            .generate_api(&tools, language)
            .expect("generates");
        let mut generated: Vec<String> = api.bindings.iter().map(|b| b.object.clone()).collect();
        generated.extend(
            crate::plan::Plan::new(&tools)
                .table
                .defs
                .into_iter()
                .map(|d| d.name),
        );
        (api.module, generated)
    }

    /// Every name the module's own code defines at the top level or takes from the language's
    /// globals must be reserved, or a server or type of that name would replace it: `class
    /// ValueError` broke `except ValueError:` in the bridge, `class all:` its `all(...)`.
    /// Names starting with `_` and a letter are exempt: the generator never makes one.
    fn check_reserved(kind: &str, names: impl IntoIterator<Item = String>, generated: &[String]) {
        let missing: Vec<String> = names
            .into_iter()
            .filter(|n| !generated.contains(n) && !is_private(n) && !is_reserved(n))
            .collect();
        assert!(missing.is_empty(), "{kind} names not reserved: {missing:?}");
    }

    fn is_private(name: &str) -> bool {
        name.starts_with('_') && !name[1..].starts_with(|c: char| c.is_ascii_digit())
    }

    #[test]
    fn every_name_the_python_module_relies_on_is_reserved() {
        let (module, generated) = sample_module(Language::Python);
        // Top-level bindings, builtins used anywhere, and the names each class body evaluates
        // once its methods exist (decorators; annotations are never evaluated).
        let script = r#"
import ast, builtins, sys
tree = ast.parse(sys.stdin.read())
top, body = set(), set()
for node in tree.body:
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        top.add(node.name)
    elif isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        top.update(t.id for t in targets if isinstance(t, ast.Name))
    elif isinstance(node, ast.Import):
        top.update((a.asname or a.name).split(".")[0] for a in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
        top.update(a.asname or a.name for a in node.names)
    if isinstance(node, ast.ClassDef):
        for stmt in node.body:
            if isinstance(stmt, ast.FunctionDef):
                parts = stmt.decorator_list + stmt.args.defaults + stmt.args.kw_defaults
                body.update(n.id for p in parts if p for n in ast.walk(p) if isinstance(n, ast.Name))
used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} & set(dir(builtins))
print(" ".join(sorted(top | used)))
print(" ".join(sorted(body)))
"#;
        let python = if std::path::Path::new("/usr/bin/python3").exists() {
            "/usr/bin/python3"
        } else {
            "python3"
        };
        let mut child = std::process::Command::new(python)
            .args(["-I", "-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs");
        std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), module.as_bytes())
            .expect("write module");
        let out = child.wait_with_output().expect("python3 runs");
        assert!(out.status.success(), "the module does not parse");
        let out = String::from_utf8(out.stdout).expect("utf-8");
        let mut lines = out.lines();
        let module_names = lines.next().unwrap_or_default();
        assert!(module_names.contains("isinstance"), "{module_names}");
        check_reserved(
            "Python module",
            module_names.split_whitespace().map(str::to_owned),
            &generated,
        );
        let body_names: Vec<&str> = lines
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        assert!(body_names.contains(&"staticmethod"), "{body_names:?}");
        for name in body_names {
            assert!(
                is_bad_python_method(name),
                "Python method name {name:?} not refused"
            );
        }
    }

    #[test]
    fn every_name_the_typescript_module_relies_on_is_reserved() {
        let (module, generated) = sample_module(Language::TypeScript);
        let allocator = oxc_allocator::Allocator::default();
        let source_type = oxc_span::SourceType::ts().with_module(true);
        let parsed = oxc_parser::Parser::new(&allocator, &module, source_type).parse();
        assert!(
            !parsed.panicked && !parsed.diagnostics.has_errors(),
            "parses"
        );
        let semantic = oxc_semantic::SemanticBuilder::new()
            .build(&parsed.program)
            .semantic;
        let scoping = semantic.scoping();
        // Top-level declarations, and the globals the module refers to.
        let mut names: Vec<String> = scoping
            .get_bindings(scoping.root_scope_id())
            .keys()
            .map(|name| name.as_str().to_owned())
            .collect();
        names.extend(
            scoping
                .root_unresolved_references()
                .keys()
                .map(|name| name.as_str().to_owned()),
        );
        assert!(names.iter().any(|n| n == "takeSlot"), "{names:?}");
        check_reserved("TypeScript module", names, &generated);
    }

    #[test]
    fn identifiers() {
        assert!(is_ascii_identifier("a_1"));
        assert!(!is_ascii_identifier("1a"));
        assert!(!is_ascii_identifier("a-b"));
        assert!(is_python_keyword("lambda"));
        assert!(!is_python_keyword("print"));
    }
}
