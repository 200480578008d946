//! The TypeScript renderer: type expressions, interfaces, one object of `async` functions per
//! server, and the template context for `ts_module.ts.j2` / `ts_summary.ts.j2`.

use serde::Serialize;
use serde_json::Value;

use crate::ident::{Namer, camel_case, is_ascii_identifier};
use crate::plan::{FnPlan, Input, Plan};
use crate::render::{FnDocs, Server, field_doc_lines, servers};
use crate::schema::{DefKind, Ty, TypeTable};
use crate::text::{first_sentence, string_literal, ts_key, ts_literal};

#[derive(Debug, Serialize)]
pub(crate) struct Module {
    tool_count: usize,
    import_names: String,
    types: Vec<TypeItem>,
    pub(crate) servers: Vec<Server<Function>>,
}

#[derive(Debug, Serialize)]
struct TypeItem {
    doc: Vec<String>,
    name: String,
    /// `interface` or `alias`.
    kind: &'static str,
    fields: Vec<FieldItem>,
    index: Option<String>,
    alias: String,
}

#[derive(Debug, Serialize)]
struct FieldItem {
    doc: Vec<String>,
    key: String,
    optional: bool,
    ty: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct Function {
    doc: Vec<String>,
    brief: String,
    name: String,
    /// The input parameter with its type and default (module).
    param: String,
    /// The input parameter as a declaration allows it (summary).
    param_decl: String,
    ret: String,
    wire: String,
    args: String,
}

/// A type expression.
pub(crate) fn type_expr(ty: &Ty, table: &TypeTable) -> String {
    match ty {
        Ty::Unknown => "unknown".to_owned(),
        Ty::String => "string".to_owned(),
        Ty::Number | Ty::Integer => "number".to_owned(),
        Ty::Boolean => "boolean".to_owned(),
        Ty::Null => "null".to_owned(),
        Ty::Literals(values) => join_unique(values.iter().map(ts_literal)),
        Ty::Array(item) => array_of(type_expr(item, table)),
        Ty::Tuple { items, rest } => {
            let mut parts: Vec<String> = items.iter().map(|t| type_expr(t, table)).collect();
            if let Some(rest) = rest {
                parts.push(format!("...{}", array_of(type_expr(rest, table))));
            }
            format!("[{}]", parts.join(", "))
        }
        // An index signature rather than `Record<>`: recursive aliases through it are legal.
        Ty::Map(value) => format!("{{ [key: string]: {} }}", type_expr(value, table)),
        Ty::Named(idx) => table.defs[*idx].name.clone(),
        Ty::Union(members) => join_unique(members.iter().map(|m| type_expr(m, table))),
    }
}

fn array_of(item: String) -> String {
    if item.contains(' ') || item.contains('|') {
        format!("Array<{item}>")
    } else {
        format!("{item}[]")
    }
}

fn join_unique(parts: impl Iterator<Item = String>) -> String {
    let mut seen: Vec<String> = Vec::new();
    for part in parts {
        if !seen.contains(&part) {
            seen.push(part);
        }
    }
    seen.join(" | ")
}

fn types(table: &TypeTable) -> Vec<TypeItem> {
    table
        .defs
        .iter()
        .map(|def| {
            let doc = def
                .description
                .as_deref()
                .map(crate::text::doc_lines)
                .unwrap_or_default();
            match &def.kind {
                DefKind::Object { fields, extra } => {
                    let items: Vec<FieldItem> = fields
                        .iter()
                        .map(|f| FieldItem {
                            doc: field_doc_lines(&f.doc, ts_literal),
                            key: ts_key(&f.wire),
                            optional: !f.required,
                            ty: type_expr(&f.ty, table),
                        })
                        .collect();
                    // Every named property must fit the index signature, so it lists them all.
                    let index = extra.as_ref().map(|extra| {
                        if *extra == Ty::Unknown {
                            return "unknown".to_owned();
                        }
                        let mut members = vec![type_expr(extra, table)];
                        members.extend(items.iter().map(|f| f.ty.clone()));
                        if items.iter().any(|f| f.optional) {
                            members.push("undefined".to_owned());
                        }
                        join_unique(members.into_iter())
                    });
                    TypeItem {
                        doc,
                        name: def.name.clone(),
                        kind: "interface",
                        fields: items,
                        index,
                        alias: String::new(),
                    }
                }
                DefKind::Alias(ty) => TypeItem {
                    doc,
                    name: def.name.clone(),
                    kind: "alias",
                    fields: Vec::new(),
                    index: None,
                    alias: type_expr(ty, table),
                },
            }
        })
        .collect()
}

impl crate::render::Named for Function {
    fn name(&self) -> &str {
        &self.name
    }
}

/// The template context for a plan.
pub(crate) fn module(plan: &Plan<'_>) -> Module {
    let table = &plan.table;
    let servers = servers(
        plan,
        table.defs.iter().map(|d| d.name.as_str()),
        camel_case,
        "",
        |f, members, server| function(f, members, server, table),
    );
    let mut import_names: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
    import_names.extend(["setResult", "ToolError"]);
    Module {
        tool_count: plan.servers.iter().map(|s| s.functions.len()).sum(),
        import_names: import_names.join(", "),
        types: types(table),
        servers,
    }
}

fn function(f: &FnPlan<'_>, members: &mut Namer, server: &str, table: &TypeTable) -> Function {
    // Any identifier may name an object member, reserved words included (`demo.delete()`).
    let name = members.claim_if(&camel_case(&f.tool.name, "call"), "", |_| false);
    let (param_ty, optional) = match &f.input {
        Input::Object(idx) => {
            let required = match &table.defs[*idx].kind {
                DefKind::Object { fields, .. } => fields.iter().any(|f| f.required),
                DefKind::Alias(_) => true,
            };
            (table.defs[*idx].name.clone(), !required)
        }
        Input::Open(value) => (type_expr(&Ty::Map(Box::new(value.clone())), table), true),
        Input::Other(ty) => (type_expr(ty, table), false),
    };
    let (param, param_decl) = if optional {
        (
            format!("input: {param_ty} = {{}}"),
            format!("input?: {param_ty}"),
        )
    } else {
        (format!("input: {param_ty}"), format!("input: {param_ty}"))
    };
    let args = match &f.input {
        Input::Other(_) => "input as unknown as object".to_owned(),
        _ => "input".to_owned(),
    };
    let ret = f
        .output
        .as_ref()
        .map(|t| type_expr(t, table))
        .unwrap_or_else(|| "unknown".to_owned());
    let docs = FnDocs::new(f, table);
    let mut doc = docs.intro(f);
    doc.push("@param input - The tool's arguments.".to_owned());
    if let Input::Object(idx) = &f.input
        && let DefKind::Object { fields, .. } = &table.defs[*idx].kind
    {
        for field in fields {
            let lines = field_doc_lines(&field.doc, ts_literal);
            let key = if is_ascii_identifier(&field.wire) {
                field.wire.clone()
            } else {
                format!("[{}]", string_literal(&field.wire))
            };
            // Undocumented fields say nothing the signature does not.
            if !lines.is_empty() {
                doc.push(format!("@param input.{key} - {}", lines.join(" ")));
            }
        }
    }
    doc.push("@param options - Cancel with an abort signal or a timeout.".to_owned());
    doc.push(format!("@returns {}", docs.returns));
    doc.push(
        "@throws {ToolError} The tool reported an error, or the host refused the call.".to_owned(),
    );
    for example in &f.tool.examples {
        doc.push("@example".to_owned());
        doc.push(format!("await {server}.{name}({});", example_args(example)));
    }
    Function {
        brief: first_sentence(&f.tool.description, 100),
        doc,
        name,
        param,
        param_decl,
        ret,
        wire: string_literal(&f.wire),
        args,
    }
}

fn example_args(example: &Value) -> String {
    ts_literal(example)
}
