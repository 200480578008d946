//! The Python renderer: type hints, TypedDicts, one class of static methods per server, and
//! the template context for `py_module.py.j2` / `py_summary.py.j2`.

use serde::Serialize;
use serde_json::Value;

use crate::ident::{
    Namer, is_ascii_identifier, is_bad_python_method, is_python_keyword, snake_case,
};
use crate::plan::{FnPlan, Input, Plan};
use crate::render::{FnDocs, Server, field_doc_lines, servers};
use crate::schema::{DefKind, Ty, TypeTable};
use crate::text::{doc_lines, first_sentence, py_literal, string_literal};

#[derive(Debug, Serialize)]
pub(crate) struct Module {
    tool_count: usize,
    import_names: String,
    types: Vec<TypeItem>,
    pub(crate) servers: Vec<Server<Function>>,
    all: String,
}

#[derive(Debug, Serialize)]
struct TypeItem {
    doc: Vec<String>,
    name: String,
    /// `class` (class-syntax TypedDict), `functional` (keys that are not identifiers) or `alias`.
    kind: &'static str,
    fields: Vec<FieldItem>,
    alias: String,
}

#[derive(Debug, Serialize)]
struct FieldItem {
    doc: Vec<String>,
    /// An identifier (class form) or a string literal (functional form).
    key: String,
    /// An annotation (class form) or the annotation as a string literal (functional form).
    ty: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct Function {
    doc: Vec<String>,
    brief: String,
    name: String,
    params: String,
    ret: String,
    body: String,
}

/// An annotation, for places Python never evaluates (`from __future__ import annotations`).
pub(crate) fn annotation(ty: &Ty, table: &TypeTable) -> String {
    match ty {
        Ty::Unknown => "Any".to_owned(),
        Ty::String => "str".to_owned(),
        Ty::Number => "float".to_owned(),
        Ty::Integer => "int".to_owned(),
        Ty::Boolean => "bool".to_owned(),
        Ty::Null => "None".to_owned(),
        Ty::Literals(values) => literals(values, false),
        Ty::Array(item) => format!("list[{}]", annotation(item, table)),
        Ty::Map(value) => format!("dict[str, {}]", annotation(value, table)),
        Ty::Tuple { items, rest } => {
            let members = tuple_members(items, rest);
            format!("list[{}]", annotation(&members, table))
        }
        Ty::Named(idx) => table.defs[*idx].name.clone(),
        Ty::Union(members) => union(members, table, false),
    }
}

/// An expression Python evaluates at import time (type aliases): forward references are
/// quoted and unions spelled `Union[...]`, so definition order does not matter.
fn runtime(ty: &Ty, table: &TypeTable) -> String {
    match ty {
        Ty::Array(item) => format!("list[{}]", runtime(item, table)),
        Ty::Map(value) => format!("dict[str, {}]", runtime(value, table)),
        Ty::Tuple { items, rest } => {
            let members = tuple_members(items, rest);
            format!("list[{}]", runtime(&members, table))
        }
        Ty::Named(idx) => string_literal(&table.defs[*idx].name),
        Ty::Union(members) => union(members, table, true),
        Ty::Literals(values) => literals(values, true),
        other => annotation(other, table),
    }
}

/// Python lists carry JSON arrays both ways, so a tuple schema becomes a list of its members.
fn tuple_members(items: &[Ty], rest: &Option<Box<Ty>>) -> Ty {
    let mut members: Vec<Ty> = items.to_vec();
    if let Some(rest) = rest {
        members.push((**rest).clone());
    }
    Ty::union(members)
}

/// `Literal[...]`; non-integral numbers cannot be literal types, so they widen to `float`.
fn literals(values: &[Value], runtime: bool) -> String {
    let mut literal = Vec::new();
    let mut float = false;
    for value in values {
        match value {
            Value::Number(n) if !(n.is_i64() || n.is_u64()) => float = true,
            other => {
                let text = py_literal(other);
                if !literal.contains(&text) {
                    literal.push(text);
                }
            }
        }
    }
    let mut parts = Vec::new();
    if literal == ["None"] {
        parts.push("None".to_owned());
    } else if !literal.is_empty() {
        parts.push(format!("Literal[{}]", literal.join(", ")));
    }
    if float {
        parts.push("float".to_owned());
    }
    join(parts, runtime)
}

fn union(members: &[Ty], table: &TypeTable, runtime_ctx: bool) -> String {
    // One `Literal[...]` for all literal members reads better than several.
    let mut literal_values: Vec<Value> = Vec::new();
    let mut parts: Vec<String> = Vec::new();
    for member in members {
        match member {
            Ty::Literals(values) => literal_values.extend(values.iter().cloned()),
            other => {
                let text = if runtime_ctx {
                    runtime(other, table)
                } else {
                    annotation(other, table)
                };
                if !parts.contains(&text) {
                    parts.push(text);
                }
            }
        }
    }
    if !literal_values.is_empty() {
        parts.insert(0, literals(&literal_values, runtime_ctx));
    }
    join(parts, runtime_ctx)
}

fn join(parts: Vec<String>, runtime: bool) -> String {
    match parts.len() {
        0 => "Any".to_owned(),
        1 => parts.into_iter().next().unwrap_or_default(),
        _ if runtime => format!("Union[{}]", parts.join(", ")),
        _ => parts.join(" | "),
    }
}

/// Whether `key` can be a field of a class-syntax TypedDict (dunder names would be mangled).
fn class_key(key: &str) -> bool {
    is_ascii_identifier(key) && !is_python_keyword(key) && !key.starts_with("__")
}

/// Marks every named type `ty` mentions, transitively.
fn mark(ty: &Ty, table: &TypeTable, used: &mut [bool]) {
    match ty {
        Ty::Named(idx) => {
            if used[*idx] {
                return;
            }
            used[*idx] = true;
            match &table.defs[*idx].kind {
                DefKind::Object { fields, extra } => {
                    for field in fields {
                        mark(&field.ty, table, used);
                    }
                    if let Some(extra) = extra {
                        mark(extra, table, used);
                    }
                }
                DefKind::Alias(ty) => mark(ty, table, used),
            }
        }
        Ty::Array(inner) | Ty::Map(inner) => mark(inner, table, used),
        Ty::Tuple { items, rest } => {
            items.iter().for_each(|t| mark(t, table, used));
            if let Some(rest) = rest {
                mark(rest, table, used);
            }
        }
        Ty::Union(members) => members.iter().for_each(|t| mark(t, table, used)),
        _ => {}
    }
}

/// The types a Python module needs: functions take keyword arguments, so an input object's
/// own TypedDict is only emitted when something else refers to it.
fn used_types(plan: &Plan<'_>) -> Vec<bool> {
    let table = &plan.table;
    let mut used = vec![false; table.defs.len()];
    for f in plan.servers.iter().flat_map(|s| &s.functions) {
        match &f.input {
            Input::Object(idx) => match &table.defs[*idx].kind {
                DefKind::Object { fields, extra } => {
                    for field in fields {
                        mark(&field.ty, table, &mut used);
                    }
                    if let Some(extra) = extra {
                        mark(extra, table, &mut used);
                    }
                }
                DefKind::Alias(ty) => mark(ty, table, &mut used),
            },
            Input::Open(ty) | Input::Other(ty) => mark(ty, table, &mut used),
        }
        if let Some(output) = &f.output {
            mark(output, table, &mut used);
        }
    }
    used
}

fn types(table: &TypeTable, used: &[bool]) -> Vec<TypeItem> {
    table
        .defs
        .iter()
        .zip(used)
        .filter(|(_, used)| **used)
        .map(|(def, _)| {
            let mut doc = def
                .description
                .as_deref()
                .map(doc_lines)
                .unwrap_or_default();
            match &def.kind {
                DefKind::Object { fields, extra } => {
                    let class_form = fields.iter().all(|f| class_key(&f.wire));
                    if let Some(extra) = extra {
                        doc.push(format!("Other keys: {}.", annotation(extra, table)));
                    }
                    let items = fields
                        .iter()
                        .map(|f| {
                            let ty = annotation(&f.ty, table);
                            let ty = if f.required {
                                ty
                            } else {
                                format!("NotRequired[{ty}]")
                            };
                            FieldItem {
                                doc: field_doc_lines(&f.doc, py_literal),
                                key: if class_form {
                                    f.wire.clone()
                                } else {
                                    string_literal(&f.wire)
                                },
                                ty: if class_form { ty } else { string_literal(&ty) },
                            }
                        })
                        .collect();
                    TypeItem {
                        doc,
                        name: def.name.clone(),
                        kind: if class_form { "class" } else { "functional" },
                        fields: items,
                        alias: String::new(),
                    }
                }
                DefKind::Alias(ty) => TypeItem {
                    doc,
                    name: def.name.clone(),
                    kind: "alias",
                    fields: Vec::new(),
                    alias: runtime(ty, table),
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
        snake_case,
        "_",
        |f, members, server| function(f, members, server, table),
    );
    let mut exported: Vec<String> = servers.iter().map(|s| s.name.clone()).collect();
    exported.extend(["set_result", "call_tool", "ToolError", "BridgeError"].map(str::to_owned));
    let import_names = {
        let mut names: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
        names.extend(["set_result", "ToolError"]);
        names.join(", ")
    };
    let used = used_types(plan);
    exported.extend(
        table
            .defs
            .iter()
            .zip(&used)
            .filter(|(_, used)| **used)
            .map(|(d, _)| d.name.clone()),
    );
    Module {
        tool_count: plan.servers.iter().map(|s| s.functions.len()).sum(),
        import_names,
        types: types(table, &used),
        servers,
        all: exported
            .iter()
            .map(|n| string_literal(n))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Parameter names a static method should not take: keywords, and `self` / `cls`, which
/// would read as the receiver.
fn bad_param(name: &str) -> bool {
    is_python_keyword(name) || name == "self" || name == "cls"
}

struct Param {
    wire: String,
    name: String,
}

fn function(f: &FnPlan<'_>, members: &mut Namer, server: &str, table: &TypeTable) -> Function {
    let name = members.claim_if(&snake_case(&f.tool.name, "call"), "_", is_bad_python_method);
    let wire = string_literal(&f.wire);
    let docs = FnDocs::new(f, table);
    let mut args_doc: Vec<String> = Vec::new();
    let mut params: Vec<Param> = Vec::new();
    let (signature, body) = match &f.input {
        Input::Object(idx) => {
            let DefKind::Object { fields, extra } = &table.defs[*idx].kind else {
                return fallback(f, name, docs, table);
            };
            let mut names = Namer::default();
            let mut required = Vec::new();
            let mut optional = Vec::new();
            let mut req_pairs = Vec::new();
            let mut opt_pairs = Vec::new();
            for field in fields {
                let pname = names.claim_if(&snake_case(&field.wire, "arg"), "_", bad_param);
                let ty = annotation(&field.ty, table);
                let lines = field_doc_lines(&field.doc, py_literal);
                // Undocumented parameters say nothing the signature does not.
                if !lines.is_empty() {
                    args_doc.push(format!("    {pname}: {}", lines.join(" ")));
                }
                let pair = format!("{}: {pname}", string_literal(&field.wire));
                if field.required {
                    required.push(format!("{pname}: {ty}"));
                    req_pairs.push(pair);
                } else {
                    let ty = if field.ty.admits_null() {
                        ty
                    } else {
                        format!("{ty} | None")
                    };
                    optional.push(format!("{pname}: {ty} = None"));
                    opt_pairs.push(pair);
                }
                params.push(Param {
                    wire: field.wire.clone(),
                    name: pname,
                });
            }
            let mut signature = required;
            if !optional.is_empty() {
                signature.push("*".to_owned());
                signature.extend(optional);
            }
            let mut extra_arg = String::new();
            if let Some(extra) = extra {
                let extra_name = names.claim_if("extra", "_", bad_param);
                signature.push(format!("**{extra_name}: {}", annotation(extra, table)));
                args_doc.push(format!("    **{extra_name}: Other keys, sent as they are."));
                extra_arg = format!(", {extra_name}");
            }
            let body = format!(
                "return _invoke({wire}, {{{}}}, {{{}}}{extra_arg})",
                req_pairs.join(", "),
                opt_pairs.join(", ")
            );
            (signature.join(", "), body)
        }
        Input::Open(value) => {
            args_doc.push("    **arguments: The tool's arguments.".to_owned());
            (
                format!("**arguments: {}", annotation(value, table)),
                format!("return _invoke({wire}, arguments, {{}})"),
            )
        }
        Input::Other(_) => return fallback(f, name, docs, table),
    };
    let ret = ret_annotation(f, table);
    let mut doc = docs.intro(f);
    if !args_doc.is_empty() {
        doc.push(String::new());
        doc.push("Args:".to_owned());
        doc.extend(args_doc);
    }
    finish_doc(&mut doc, &ret, &docs.returns);
    for example in &f.tool.examples {
        doc.push(String::new());
        doc.push("Example:".to_owned());
        doc.push(format!(
            "    {}",
            example_call(example, &params, &f.input, server, &name, &f.wire)
        ));
    }
    Function {
        brief: string_literal(&first_sentence(&f.tool.description, 100)),
        doc,
        name,
        params: signature,
        ret,
        body,
    }
}

fn ret_annotation(f: &FnPlan<'_>, table: &TypeTable) -> String {
    f.output
        .as_ref()
        .map(|t| annotation(t, table))
        .unwrap_or_else(|| "Any".to_owned())
}

fn finish_doc(doc: &mut Vec<String>, ret: &str, returns: &str) {
    doc.push(String::new());
    doc.push("Returns:".to_owned());
    doc.push(format!("    {ret}: {returns}"));
    doc.push(String::new());
    doc.push("Raises:".to_owned());
    doc.push("    ToolError: The tool reported an error, or the host refused the call.".to_owned());
}

/// An input schema that is not an object: the value is passed as it is.
fn fallback(f: &FnPlan<'_>, name: String, docs: FnDocs, table: &TypeTable) -> Function {
    let ty = match &f.input {
        Input::Other(ty) => annotation(ty, table),
        _ => "Any".to_owned(),
    };
    let ret = ret_annotation(f, table);
    let mut doc = docs.intro(f);
    doc.push(String::new());
    doc.push("Args:".to_owned());
    doc.push("    arguments: The tool's arguments.".to_owned());
    finish_doc(&mut doc, &ret, &docs.returns);
    Function {
        brief: string_literal(&first_sentence(&f.tool.description, 100)),
        doc,
        name,
        params: format!("arguments: {ty}"),
        ret,
        body: format!("return call_tool({}, arguments)", string_literal(&f.wire)),
    }
}

/// `demo.notes_add(title="x")`, or a `call_tool` call when a key has no parameter.
fn example_call(
    example: &Value,
    params: &[Param],
    input: &Input,
    server: &str,
    name: &str,
    wire: &str,
) -> String {
    let fallback = || {
        format!(
            "call_tool({}, {})",
            string_literal(wire),
            py_literal(example)
        )
    };
    let Some(map) = example.as_object() else {
        return fallback();
    };
    let mut args = Vec::new();
    for (key, value) in map {
        let pname = match input {
            Input::Object(_) => params
                .iter()
                .find(|p| &p.wire == key)
                .map(|p| p.name.clone()),
            Input::Open(_) if class_key(key) => Some(key.clone()),
            _ => None,
        };
        match pname {
            Some(pname) => args.push(format!("{pname}={}", py_literal(value))),
            None => return fallback(),
        }
    }
    format!("{server}.{name}({})", args.join(", "))
}
