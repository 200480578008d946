//! Renders a [`Plan`] through the minijinja templates in `templates/`, plus the documentation
//! helpers both languages share (tool docs, field docs, behaviour hints).

use codeward_core::{ApiBinding, Language, ToolAnnotations};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment};
use serde_json::Value;

use crate::error::CodegenError;
use crate::ident::Namer;
use crate::plan::{FnPlan, Plan};
use crate::schema::{Doc, TypeTable};
use crate::text::{doc_lines, jsdoc_safe, pydoc_safe, safe_lines};

/// Template files, embedded so the crate needs nothing at run time.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "ts_module.ts.j2",
        include_str!("../templates/ts_module.ts.j2"),
    ),
    (
        "ts_bridge.ts.j2",
        include_str!("../templates/ts_bridge.ts.j2"),
    ),
    (
        "ts_summary.ts.j2",
        include_str!("../templates/ts_summary.ts.j2"),
    ),
    (
        "py_module.py.j2",
        include_str!("../templates/py_module.py.j2"),
    ),
    (
        "py_bridge.py.j2",
        include_str!("../templates/py_bridge.py.j2"),
    ),
    (
        "py_summary.py.j2",
        include_str!("../templates/py_summary.py.j2"),
    ),
];

/// The template environment: no auto-escaping (the output is code, escaped by the renderers),
/// block tags stripped of their own lines.
pub(crate) fn environment() -> Result<Environment<'static>, CodegenError> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::None);
    let syntax = SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
        .map_err(|source| CodegenError::Template {
            template: "syntax",
            source,
        })?;
    env.set_syntax(syntax);
    env.add_filter("jsdoc", jsdoc);
    env.add_filter("pydoc", pydoc);
    env.add_filter("pycomment", pycomment);
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .map_err(|source| CodegenError::Template {
                template: name,
                source,
            })?;
    }
    Ok(env)
}

/// The module, the summary and the bindings for `plan` in `language`.
pub(crate) fn render(
    env: &Environment<'static>,
    plan: &Plan<'_>,
    language: Language,
) -> Result<(String, String, Vec<ApiBinding>), CodegenError> {
    let (module_name, summary_name, bindings, context) = match language {
        Language::Python => {
            let module = crate::python::module(plan);
            let bindings = bindings(plan, &module.servers);
            (
                "py_module.py.j2",
                "py_summary.py.j2",
                bindings,
                minijinja::Value::from(Serde(module)),
            )
        }
        _ => {
            let module = crate::typescript::module(plan);
            let bindings = bindings(plan, &module.servers);
            (
                "ts_module.ts.j2",
                "ts_summary.ts.j2",
                bindings,
                minijinja::Value::from(Serde(module)),
            )
        }
    };
    let render = |name: &'static str| {
        env.get_template(name)
            .and_then(|t| t.render(&context))
            .map_err(|source| CodegenError::Template {
                template: name,
                source,
            })
    };
    Ok((render(module_name)?, render(summary_name)?, bindings))
}

/// A `/** */` block at `indent` spaces; empty when there is nothing to say. Every line is
/// made safe here (line breaks split, `*/` escaped), whoever built it.
fn jsdoc(lines: Vec<String>, indent: usize) -> String {
    let lines = safe_lines(&lines);
    let pad = " ".repeat(indent);
    match lines.as_slice() {
        [] => String::new(),
        [one] if one.len() < 90 && !one.starts_with('@') => {
            format!("{pad}/** {} */\n", jsdoc_safe(one))
        }
        _ => {
            let mut out = format!("{pad}/**\n");
            for line in &lines {
                if line.is_empty() {
                    out.push_str(&format!("{pad} *\n"));
                } else {
                    out.push_str(&format!("{pad} * {}\n", jsdoc_safe(line)));
                }
            }
            out.push_str(&format!("{pad} */\n"));
            out
        }
    }
}

/// A `"""` docstring at `indent` spaces; empty when there is nothing to say. Every line is
/// made safe here (line breaks split, quotes and backslashes escaped), whoever built it.
fn pydoc(lines: Vec<String>, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut safe: Vec<String> = safe_lines(&lines).iter().map(|l| pydoc_safe(l)).collect();
    // A quote right before the closing `"""` would end the string early.
    if let Some(last) = safe.last_mut()
        && last.ends_with('"')
    {
        last.pop();
        last.push_str("\\\"");
    }
    match safe.as_slice() {
        [] => String::new(),
        [one] => format!("{pad}\"\"\"{one}\"\"\"\n"),
        [first, rest @ ..] => {
            let mut out = format!("{pad}\"\"\"{first}\n");
            for line in rest {
                if line.is_empty() {
                    out.push('\n');
                } else {
                    out.push_str(&format!("{pad}{line}\n"));
                }
            }
            out.push_str(&format!("{pad}\"\"\"\n"));
            out
        }
    }
}

/// `#` comment lines at `indent` spaces. Every line is made safe here: a line break left in
/// a line would end the comment and turn the rest into module code run at import.
fn pycomment(lines: Vec<String>, indent: usize) -> String {
    let pad = " ".repeat(indent);
    safe_lines(&lines)
        .iter()
        .map(|l| {
            if l.is_empty() {
                format!("{pad}#\n")
            } else {
                format!("{pad}# {l}\n")
            }
        })
        .collect()
}

/// One server's namespace in a module: its identifier, its name for comments, its functions.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Server<F> {
    pub name: String,
    /// The server's name on one line, safe in comments once the filters escape it.
    pub label: String,
    pub functions: Vec<F>,
}

/// A generated function's identifier, for the API's bindings.
pub(crate) trait Named {
    fn name(&self) -> &str;
}

/// Which identifiers call which tool: servers and functions come in the plan's order.
pub(crate) fn bindings<F: Named>(plan: &Plan<'_>, servers: &[Server<F>]) -> Vec<ApiBinding> {
    plan.servers
        .iter()
        .zip(servers)
        .flat_map(|(planned, server)| {
            planned
                .functions
                .iter()
                .zip(&server.functions)
                .map(|(f, generated)| ApiBinding::new(&server.name, generated.name(), &f.wire))
        })
        .collect()
}

/// Names each server (`case` of its name, unique among `taken` module names) and builds its
/// functions, each named in the server's own scope.
///
/// Names are claimed in the order of the servers' and tools' names, not in the plan's
/// (relevance) order, so they depend only on the set of tools: two servers that spell the
/// same identifier (`my-notes`, `my_notes`) get `myNotes` / `myNotes2` the same way however
/// discovery ranked them, and a program written against one generation calls the same tools
/// through the next. The module still lists them in the plan's order.
pub(crate) fn servers<'p, F>(
    plan: &'p Plan<'_>,
    taken: impl IntoIterator<Item = &'p str>,
    case: fn(&str, &str) -> String,
    sep: &str,
    mut function: impl FnMut(&FnPlan<'_>, &mut Namer, &str) -> F,
) -> Vec<Server<F>> {
    let mut module_names = Namer::with_taken(taken);
    let mut names = vec![String::new(); plan.servers.len()];
    for i in by_key(&plan.servers, |s| s.key.as_str()) {
        names[i] = module_names.claim(&case(&plan.servers[i].key, "tools"), sep);
    }
    plan.servers
        .iter()
        .zip(names)
        .map(|(server, name)| {
            let mut members = Namer::default();
            let mut functions: Vec<(usize, F)> = by_key(&server.functions, |f| f.wire.as_str())
                .into_iter()
                .map(|i| (i, function(&server.functions[i], &mut members, &name)))
                .collect();
            functions.sort_by_key(|(i, _)| *i);
            Server {
                name,
                label: doc_lines(&server.key).join(" "),
                functions: functions.into_iter().map(|(_, f)| f).collect(),
            }
        })
        .collect()
}

/// Indexes of `items` in the order of `key` (stable for equal keys).
fn by_key<T>(items: &[T], key: impl Fn(&T) -> &str) -> Vec<usize> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| key(&items[a]).cmp(key(&items[b])));
    order
}

/// Documentation of one tool shared by both languages.
pub(crate) struct FnDocs {
    pub description: Vec<String>,
    pub returns: String,
}

impl FnDocs {
    /// The description, a blank line and the tool's wire name with its hints.
    pub(crate) fn intro(&self, f: &FnPlan<'_>) -> Vec<String> {
        let mut doc = self.description.clone();
        doc.push(String::new());
        doc.push(format!(
            "MCP tool `{}`{}.",
            f.wire,
            hint_words(&f.tool.annotations)
        ));
        doc
    }

    pub(crate) fn new(f: &FnPlan<'_>, table: &TypeTable) -> FnDocs {
        let text = if f.tool.description.trim().is_empty() {
            f.tool.title.clone().unwrap_or_default()
        } else {
            f.tool.description.clone()
        };
        let mut description = doc_lines(&text);
        if description.is_empty() {
            description.push(format!("Calls the MCP tool `{}`.", f.wire));
        }
        let returns = match &f.output {
            Some(crate::schema::Ty::Named(idx)) => table.defs[*idx]
                .description
                .as_deref()
                .map(|d| doc_lines(d).join(" "))
                .unwrap_or_else(|| "The tool's structured result.".to_owned()),
            Some(_) => "The tool's structured result.".to_owned(),
            None => {
                "The tool's result: its structured content, else its text (parsed when it is JSON)."
                    .to_owned()
            }
        };
        FnDocs {
            description,
            returns,
        }
    }
}

/// Lines documenting one property: its description, then default, format, examples.
pub(crate) fn field_doc_lines(doc: &Doc, literal: fn(&Value) -> String) -> Vec<String> {
    let mut lines = doc
        .description
        .as_deref()
        .map(doc_lines)
        .unwrap_or_default();
    let mut extras = Vec::new();
    if let Some(default) = &doc.default {
        extras.push(format!("Default: {}.", literal(default)));
    }
    if let Some(format) = &doc.format {
        extras.push(format!("Format: {}.", doc_lines(format).join(" ")));
    }
    if let Some(example) = doc.examples.first() {
        extras.push(format!("Example: {}.", literal(example)));
    }
    if doc.deprecated {
        extras.push("Deprecated.".to_owned());
    }
    if !extras.is_empty() {
        // Docs may join these lines into one: end the description as a sentence first.
        if let Some(last) = lines.last_mut()
            && !last.ends_with(['.', '!', '?', ':'])
        {
            last.push('.');
        }
        lines.push(extras.join(" "));
    }
    lines
}

/// ` (read-only, idempotent)`: the hints the server stated, empty when it stated none.
pub(crate) fn hint_words(hints: &ToolAnnotations) -> String {
    let mut words = Vec::new();
    if hints.read_only_hint == Some(true) {
        words.push("read-only");
    } else if hints.destructive_hint == Some(true) {
        words.push("destructive");
    } else if hints.destructive_hint == Some(false) {
        words.push("non-destructive");
    }
    if hints.idempotent_hint == Some(true) {
        words.push("idempotent");
    }
    if hints.open_world_hint == Some(false) {
        words.push("closed-world");
    }
    if words.is_empty() {
        String::new()
    } else {
        format!(" ({})", words.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_filters_keep_line_breaks_inside_the_comment() {
        let hostile = vec!["date\nimport os\rclass _Z:".to_owned(), String::new()];
        assert_eq!(
            pycomment(hostile.clone(), 4),
            "    # date\n    # import os\n    # class _Z:\n    #\n"
        );
        assert_eq!(
            jsdoc(hostile.clone(), 0),
            "/**\n * date\n * import os\n * class _Z:\n *\n */\n"
        );
        assert_eq!(
            pydoc(hostile, 0),
            "\"\"\"date\nimport os\nclass _Z:\n\n\"\"\"\n"
        );
    }

    #[test]
    fn formats_are_documented_on_one_line() {
        let doc = Doc {
            format: Some("date\nimport os".to_owned()),
            ..Doc::default()
        };
        assert_eq!(
            field_doc_lines(&doc, |v| v.to_string()),
            ["Format: date import os."]
        );
    }
}
