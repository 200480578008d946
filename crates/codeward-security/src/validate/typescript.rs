//! TypeScript/JavaScript analysis: ES imports, `require`, destructuring, member chains.
//! Mirrors python.rs; names are normalized (`node:fs` -> `fs`, `globalThis.eval` -> `eval`).

use std::borrow::Cow;

use tree_sitter::Node;

use super::{
    Binding, Ctx, FOLD_MAX, MAX_DEPTH, Names, Site, Use, base64_decode, hex_decode, walk, walk_with,
};
use crate::rules::Check;

/// JavaScript name resolution for the shared checks; `globalThis.eval` is `eval`.
pub(crate) static NAMES: Names = Names {
    resolve,
    anchored,
    global_objects: &["globalThis", "window", "global", "self"],
    ident,
};

/// An identifier may spell its characters as escapes: `\u0065val` and `\u{65}val` are
/// `eval`. tree-sitter keeps the source text, so they are decoded here; anything that is not
/// a valid escape stays as written.
fn ident(text: &str) -> Cow<'_, str> {
    if !text.contains('\\') {
        return Cow::Borrowed(text);
    }
    let hex = |h: &str| {
        (!h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
            .then(|| u32::from_str_radix(h, 16).ok().and_then(char::from_u32))
            .flatten()
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        // (the character, the length of the escape after the backslash)
        let escape = after
            .strip_prefix('u')
            .and_then(|u| match u.strip_prefix('{') {
                Some(braced) => {
                    let end = braced.find('}')?;
                    Some((hex(&braced[..end])?, end + 3))
                }
                None => Some((hex(u.get(..4)?)?, 5)),
            });
        match escape {
            Some((c, len)) => {
                out.push(c);
                rest = &after[len..];
            }
            None => {
                out.push('\\');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Runtime globals that reach dangerous things. A free name that is none of these is a
/// local the resolver does not track (a parameter), never a module or a runtime function.
const GLOBALS: [&str; 27] = [
    "eval",
    "Function",
    "require",
    "module",
    "fetch",
    "process",
    "globalThis",
    "window",
    "global",
    "self",
    "setTimeout",
    "setInterval",
    "setImmediate",
    "atob",
    "WebSocket",
    "XMLHttpRequest",
    "EventSource",
    "Worker",
    "SharedWorker",
    "WebAssembly",
    "ShadowRealm",
    "execScript",
    "Deno",
    "Bun",
    "Reflect",
    "Object",
    "Error",
];

/// Wrappers that pass a value on unchanged.
const WRAPPERS: [&str; 6] = [
    "parenthesized_expression",
    "await_expression",
    "as_expression",
    "non_null_expression",
    "satisfies_expression",
    "type_assertion",
];

pub(crate) fn analyze(ctx: &mut Ctx<'_>, root: Node<'_>) {
    collect_bindings(ctx, root);
    walk_with(root, |node, site| visit(ctx, node, site));
}

fn named(node: Node<'_>) -> Vec<Node<'_>> {
    let mut cursor = node.walk();
    node.named_children(&mut cursor)
        .filter(|c| c.kind() != "comment")
        .collect()
}

/// `node:fs` -> `fs`, `fs/promises` -> `fs.promises`; relative paths stay as written.
fn module_name(spec: &str) -> String {
    let spec = spec.strip_prefix("node:").unwrap_or(spec);
    if spec.starts_with('.') || spec.starts_with('/') {
        spec.to_owned()
    } else {
        spec.replace('/', ".")
    }
}

fn normalize(mut name: String) -> String {
    for prefix in [
        "globalThis.",
        "window.",
        "global.",
        "self.",
        "frames.",
        "top.",
        "parent.",
    ] {
        while let Some(rest) = name.strip_prefix(prefix) {
            name = rest.to_owned();
        }
    }
    name
}

// ------------------------------------------------------------------ bindings

fn collect_bindings(ctx: &mut Ctx<'_>, root: Node<'_>) {
    walk(root, |node| {
        match node.kind() {
            "import_statement" => {
                let Some(module) = node
                    .child_by_field_name("source")
                    .and_then(|s| fold(ctx, s, 0))
                    .map(|(s, _)| module_name(&s))
                else {
                    // `import x = require("y")`
                    for child in named(node) {
                        if child.kind() == "import_require_clause" {
                            let parts = named(child);
                            if let (Some(id), Some(src)) = (parts.first(), parts.get(1))
                                && let Some((m, _)) = fold(ctx, *src, 0)
                            {
                                let id = ctx.ident(*id).into_owned();
                                ctx.bind(&id, Binding::Path(module_name(&m)));
                            }
                        }
                    }
                    return false;
                };
                for clause in named(node)
                    .into_iter()
                    .filter(|c| c.kind() == "import_clause")
                {
                    for part in named(clause) {
                        match part.kind() {
                            "identifier" => {
                                let id = ctx.ident(part).into_owned();
                                ctx.bind(&id, Binding::Path(module.clone()));
                            }
                            "namespace_import" => {
                                if let Some(id) =
                                    named(part).into_iter().find(|c| c.kind() == "identifier")
                                {
                                    let id = ctx.ident(id).into_owned();
                                    ctx.bind(&id, Binding::Path(module.clone()));
                                }
                            }
                            "named_imports" => {
                                for spec in named(part) {
                                    let Some(name) = spec.child_by_field_name("name") else {
                                        continue;
                                    };
                                    let imported =
                                        ctx.ident(name).trim_matches(['"', '\'']).to_owned();
                                    let local = spec
                                        .child_by_field_name("alias")
                                        .map(|a| ctx.ident(a).into_owned())
                                        .unwrap_or_else(|| imported.clone());
                                    let path = if imported == "default" {
                                        module.clone()
                                    } else {
                                        format!("{module}.{imported}")
                                    };
                                    ctx.bind(&local, Binding::Path(path));
                                }
                            }
                            _ => {}
                        }
                    }
                }
                return false;
            }
            "variable_declarator" => {
                if let (Some(name), Some(value)) = (
                    node.child_by_field_name("name"),
                    node.child_by_field_name("value"),
                ) {
                    assign(ctx, name, value);
                }
            }
            "assignment_expression" => {
                if let (Some(left), Some(right)) = (
                    node.child_by_field_name("left"),
                    node.child_by_field_name("right"),
                ) {
                    assign(ctx, left, right);
                }
            }
            "string" | "template_string" | "comment" | "number" | "regex" => return false,
            kind if is_type_only(kind) => return false,
            "function_declaration" | "class_declaration" | "generator_function_declaration" => {
                if let Some(name) = node.child_by_field_name("name") {
                    let name = ctx.ident(name).into_owned();
                    ctx.bind(&name, Binding::Local);
                }
            }
            _ => {}
        }
        true
    });
}

fn assign(ctx: &mut Ctx<'_>, left: Node<'_>, right: Node<'_>) {
    match left.kind() {
        "identifier" => {
            let name = ctx.ident(left).into_owned();
            let binding = match resolve(ctx, right, 0) {
                Some(path)
                    if right.kind() != "identifier"
                        || ctx.bindings.contains_key(&*ctx.ident(right))
                        || is_global_like(&path) =>
                {
                    Binding::Path(path)
                }
                _ => Binding::Local,
            };
            ctx.bind(&name, binding);
            if let Some(folded) = fold(ctx, right, 0) {
                ctx.consts.insert(name.clone(), folded);
            }
            if feeds_decoded(ctx, right) {
                ctx.tainted.insert(name);
            }
        }
        "object_pattern" => {
            let Some(base) = resolve(ctx, right, 0) else {
                return;
            };
            for (local, key) in destructured(ctx, left) {
                ctx.bind(&local, Binding::Path(format!("{base}.{key}")));
            }
        }
        _ => {}
    }
}

/// (local name, property) pairs of `{ exec, spawn: sp }`.
fn destructured(ctx: &Ctx<'_>, pattern: Node<'_>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for part in named(pattern) {
        match part.kind() {
            "shorthand_property_identifier_pattern" => {
                let n = ctx.ident(part).into_owned();
                out.push((n.clone(), n));
            }
            "object_assignment_pattern" => {
                if let Some(l) = part.child_by_field_name("left") {
                    let n = ctx.ident(l).into_owned();
                    out.push((n.clone(), n));
                }
            }
            "pair_pattern" => {
                if let (Some(k), Some(v)) = (
                    part.child_by_field_name("key"),
                    part.child_by_field_name("value"),
                ) && v.kind() == "identifier"
                {
                    let key = fold(ctx, k, 0)
                        .map(|(s, _)| s)
                        .unwrap_or_else(|| ctx.ident(k).into_owned());
                    out.push((ctx.ident(v).into_owned(), key));
                }
            }
            _ => {}
        }
    }
    out
}

fn is_global_like(name: &str) -> bool {
    GLOBALS.contains(&name)
}

/// Whether the root of a resolved expression is real (see [`Ctx::anchored`]).
fn anchored(ctx: &Ctx<'_>, node: Node<'_>) -> bool {
    let names = ["identifier", "shorthand_property_identifier"];
    ctx.anchored(node, &names, is_global_like, |n| match n.kind() {
        "member_expression" | "subscript_expression" => Ok(n.child_by_field_name("object")),
        "call_expression" => Ok(n.child_by_field_name("function")),
        kind if WRAPPERS.contains(&kind) || kind == "sequence_expression" => Ok(inner(n)),
        "this" => Err(false),
        _ => Err(true),
    })
}

/// How the value at `site` is used (see [`Use`]).
fn usage(ctx: &Ctx<'_>, site: Site<'_, '_>) -> Use {
    let (Some(parent), field, above) = site.through(&WRAPPERS) else {
        return Use::Ignored;
    };
    let operator = || {
        parent
            .child_by_field_name("operator")
            .map(|o| ctx.text(o))
            .unwrap_or("")
    };
    match (parent.kind(), field) {
        ("call_expression", Some("function")) | ("new_expression", Some("constructor")) => {
            Use::Called
        }
        ("member_expression" | "subscript_expression", Some("object")) => Use::Reached,
        // `const f = cp.exec`, `f = cp.exec`, `const { exec } = cp` are followed by name.
        ("variable_declarator", Some("value")) | ("assignment_expression", Some("right")) => {
            let target = parent
                .child_by_field_name("name")
                .or_else(|| parent.child_by_field_name("left"));
            if target.is_some_and(|t| matches!(t.kind(), "identifier" | "object_pattern")) {
                Use::Aliased
            } else {
                Use::Escapes
            }
        }
        ("expression_statement", _) => Use::Ignored,
        // The resolver follows `Reflect.get(process, "env")`.
        ("arguments", _) => {
            let followed = above
                .last()
                .and_then(|call| call.child_by_field_name("function"))
                .and_then(|f| resolve(ctx, f, 0))
                .is_some_and(|f| matches!(f.as_str(), "Reflect.get" | "Reflect.has"));
            if followed { Use::Reached } else { Use::Escapes }
        }
        ("unary_expression", _) if matches!(operator(), "typeof" | "void" | "!") => Use::Ignored,
        ("binary_expression", _)
            if matches!(
                operator(),
                "instanceof" | "in" | "===" | "!==" | "==" | "!="
            ) =>
        {
            Use::Ignored
        }
        _ => Use::Escapes,
    }
}

// ------------------------------------------------------------------ resolution

fn inner(node: Node<'_>) -> Option<Node<'_>> {
    match node.kind() {
        "type_assertion" => named(node).into_iter().last(),
        "sequence_expression" => named(node).into_iter().last(),
        _ => named(node).into_iter().next(),
    }
}

fn resolve(ctx: &Ctx<'_>, node: Node<'_>, depth: usize) -> Option<String> {
    if depth > MAX_DEPTH {
        return None;
    }
    let raw = match node.kind() {
        "identifier" => {
            let name = ctx.ident(node);
            match ctx.bindings.get(&*name) {
                Some(Binding::Path(p)) => Some(p.clone()),
                Some(Binding::Local) => None,
                None => Some(name.into_owned()),
            }
        }
        "meta_property" => Some(ctx.text(node).replace(char::is_whitespace, "")),
        "member_expression" => {
            let base = resolve(ctx, node.child_by_field_name("object")?, depth + 1)?;
            let prop = node.child_by_field_name("property")?;
            Some(format!("{base}.{}", ctx.ident(prop)))
        }
        "subscript_expression" => {
            let base = resolve(ctx, node.child_by_field_name("object")?, depth + 1)?;
            let (index, _) = fold(ctx, node.child_by_field_name("index")?, depth + 1)?;
            Some(format!("{base}.{index}"))
        }
        "call_expression" => {
            let function = node.child_by_field_name("function")?;
            let args = arguments(node);
            // Resolved once: resolving it twice doubled the work at every nested call level.
            let callee = if function.kind() == "import" {
                None
            } else {
                resolve(ctx, function, depth + 1)
            };
            let is_loader = function.kind() == "import"
                || callee.as_deref().is_some_and(|f| LOADERS.contains(&f));
            if is_loader {
                fold(ctx, *args.first()?, depth + 1).map(|(s, _)| module_name(&s))
            } else if matches!(
                callee.as_deref(),
                Some("createRequire" | "module.createRequire")
            ) {
                // What createRequire returns is a require function.
                Some("require".to_owned())
            } else if callee.as_deref() == Some("Reflect.get") {
                // Reflect.get(obj, "key") is obj.key.
                let base = resolve(ctx, *args.first()?, depth + 1)?;
                let (key, _) = fold(ctx, *args.get(1)?, depth + 1)?;
                Some(format!("{base}.{key}"))
            } else {
                None
            }
        }
        "await_expression"
        | "parenthesized_expression"
        | "as_expression"
        | "non_null_expression"
        | "satisfies_expression"
        | "type_assertion"
        | "sequence_expression" => resolve(ctx, inner(node)?, depth + 1),
        _ => None,
    }?;
    Some(normalize(raw))
}

/// Functions that return the module named by their argument.
const LOADERS: [&str; 4] = [
    "require",
    "module.require",
    "process.getBuiltinModule",
    "process.mainModule.require",
];

fn arguments(call: Node<'_>) -> Vec<Node<'_>> {
    match call.child_by_field_name("arguments") {
        Some(args) if args.kind() == "arguments" => named(args),
        Some(template) => vec![template],
        None => Vec::new(),
    }
}

// ------------------------------------------------------------------ constant folding

fn fold(ctx: &Ctx<'_>, node: Node<'_>, depth: usize) -> Option<(String, bool)> {
    if depth > MAX_DEPTH {
        return None;
    }
    let out = match node.kind() {
        "string" | "template_string" => string_value(ctx, node),
        "binary_expression" => {
            if ctx.text(node.child_by_field_name("operator")?) != "+" {
                return None;
            }
            let (l, _) = fold(ctx, node.child_by_field_name("left")?, depth + 1)?;
            let (r, _) = fold(ctx, node.child_by_field_name("right")?, depth + 1)?;
            Some((l + &r, true))
        }
        "parenthesized_expression" | "as_expression" | "non_null_expression" => {
            fold(ctx, inner(node)?, depth + 1)
        }
        "identifier" => ctx.consts.get(&*ctx.ident(node)).cloned(),
        "call_expression" => fold_call(ctx, node, depth),
        _ => None,
    }?;
    (out.0.len() <= FOLD_MAX).then_some(out)
}

fn number(ctx: &Ctx<'_>, node: Node<'_>) -> Option<u32> {
    let t = ctx.text(node).trim().replace('_', "");
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => t.parse().ok(),
    }
}

fn fold_call(ctx: &Ctx<'_>, node: Node<'_>, depth: usize) -> Option<(String, bool)> {
    let function = node.child_by_field_name("function")?;
    let args = arguments(node);
    let arg = |i: usize| {
        args.get(i)
            .and_then(|a| fold(ctx, *a, depth + 1))
            .map(|f| f.0)
    };
    if let Some(name) = resolve(ctx, function, depth + 1) {
        let decoded = match name.as_str() {
            "atob" => String::from_utf8(base64_decode(&arg(0)?)?).ok(),
            "String.fromCharCode" | "String.fromCodePoint" => args
                .iter()
                .map(|a| number(ctx, *a).and_then(char::from_u32))
                .collect::<Option<String>>(),
            "Buffer.from" => match arg(1).as_deref() {
                Some("base64") | Some("base64url") => {
                    String::from_utf8(base64_decode(&arg(0)?)?).ok()
                }
                Some("hex") => String::from_utf8(hex_decode(&arg(0)?)?).ok(),
                _ => None,
            },
            "decodeURIComponent" | "decodeURI" | "unescape" => percent_decode(&arg(0)?),
            "String" => arg(0),
            _ => None,
        };
        if let Some(s) = decoded {
            return Some((s, true));
        }
    }
    if function.kind() != "member_expression" {
        return None;
    }
    let object = function.child_by_field_name("object")?;
    let method = ctx.ident(function.child_by_field_name("property")?);
    match &*method {
        "join" => {
            let sep = match args.first() {
                Some(a) => fold(ctx, *a, depth + 1)?.0,
                None => ",".to_owned(),
            };
            let items = join_items(ctx, object, depth + 1)?;
            Some((items.join(&sep), true))
        }
        "toString" | "trim" | "valueOf" => fold(ctx, object, depth + 1),
        "toLowerCase" => fold(ctx, object, depth + 1).map(|(s, o)| (s.to_lowercase(), o)),
        "toUpperCase" => fold(ctx, object, depth + 1).map(|(s, o)| (s.to_uppercase(), o)),
        "concat" => {
            let (mut s, _) = fold(ctx, object, depth + 1)?;
            for a in &args {
                s.push_str(&fold(ctx, *a, depth + 1)?.0);
            }
            Some((s, true))
        }
        "replace" | "replaceAll" => {
            let (s, _) = fold(ctx, object, depth + 1)?;
            let (from, _) = fold(ctx, *args.first()?, depth + 1)?;
            let (to, _) = fold(ctx, *args.get(1)?, depth + 1)?;
            if from.is_empty() {
                return None;
            }
            Some((s.replace(&from, &to), true))
        }
        _ => None,
    }
}

/// Items of `[..].join()` or of `"..".split("").reverse().join("")`.
fn join_items(ctx: &Ctx<'_>, node: Node<'_>, depth: usize) -> Option<Vec<String>> {
    match node.kind() {
        "array" => named(node)
            .into_iter()
            .map(|n| fold(ctx, n, depth + 1).map(|f| f.0))
            .collect(),
        "call_expression" => {
            let function = node.child_by_field_name("function")?;
            if function.kind() != "member_expression" {
                return None;
            }
            let object = function.child_by_field_name("object")?;
            match &*ctx.ident(function.child_by_field_name("property")?) {
                "reverse" => {
                    let mut items = join_items(ctx, object, depth + 1)?;
                    items.reverse();
                    Some(items)
                }
                "split" => {
                    let (s, _) = fold(ctx, object, depth + 1)?;
                    let sep = arguments(node)
                        .first()
                        .and_then(|a| fold(ctx, *a, depth + 1))
                        .map(|f| f.0)?;
                    if sep.is_empty() {
                        Some(s.chars().map(String::from).collect())
                    } else {
                        Some(s.split(sep.as_str()).map(String::from).collect())
                    }
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 3 <= bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn string_value(ctx: &Ctx<'_>, node: Node<'_>) -> Option<(String, bool)> {
    let mut out = String::new();
    let mut hidden = false;
    for child in named(node) {
        match child.kind() {
            "string_fragment" => out.push_str(ctx.text(child)),
            "escape_sequence" => {
                let (s, h) = unescape(ctx.text(child));
                out.push_str(&s);
                hidden |= h;
            }
            "template_substitution" => return None,
            _ => {}
        }
    }
    Some((out, hidden))
}

fn unescape(seq: &str) -> (String, bool) {
    let body = seq.strip_prefix('\\').unwrap_or(seq);
    let mut chars = body.chars();
    let Some(first) = chars.next() else {
        return (String::new(), false);
    };
    let rest: String = chars.collect();
    let hex = |h: &str| u32::from_str_radix(h, 16).ok().and_then(char::from_u32);
    match first {
        'n' => ("\n".into(), false),
        't' => ("\t".into(), false),
        'r' => ("\r".into(), false),
        'x' => (hex(&rest).map(String::from).unwrap_or_default(), true),
        'u' => {
            let h = rest.trim_start_matches('{').trim_end_matches('}');
            (hex(h).map(String::from).unwrap_or_default(), true)
        }
        '\n' => (String::new(), false),
        other => (format!("{other}{rest}"), false),
    }
}

fn feeds_decoded(ctx: &Ctx<'_>, node: Node<'_>) -> bool {
    if fold(ctx, node, 0).is_some_and(|(_, assembled)| assembled) {
        return true;
    }
    let mut found = false;
    walk(node, |n| {
        if found {
            return false;
        }
        match n.kind() {
            // A function value does not feed data into anything by being defined.
            "arrow_function" | "function_expression" | "function" => return false,
            "string" | "template_string" | "comment" | "number" => return false,
            "call_expression" | "new_expression" => {
                let f = n
                    .child_by_field_name("function")
                    .or_else(|| n.child_by_field_name("constructor"));
                if let Some(f) = f.and_then(|f| resolve(ctx, f, 0)) {
                    found = ctx.rules.decoders.matches(&f);
                }
            }
            "identifier" => found = ctx.tainted.contains(&*ctx.ident(n)),
            _ => {}
        }
        !found
    });
    found
}

// ------------------------------------------------------------------ the rule pass

fn visit(ctx: &mut Ctx<'_>, node: Node<'_>, site: Site<'_, '_>) -> bool {
    match node.kind() {
        "import_statement" => {
            if let Some((m, _)) = node
                .child_by_field_name("source")
                .and_then(|s| fold(ctx, s, 0))
            {
                ctx.match_import(&module_name(&m), node);
            }
            for child in named(node) {
                if child.kind() == "import_require_clause"
                    && let Some((m, _)) = named(child).get(1).and_then(|s| fold(ctx, *s, 0))
                {
                    ctx.match_import(&module_name(&m), node);
                }
            }
            // Named imports of dangerous members (`import { env } from "process"`).
            walk(node, |n| {
                if n.kind() == "import_specifier" {
                    let local = n
                        .child_by_field_name("alias")
                        .or_else(|| n.child_by_field_name("name"))
                        .map(|l| ctx.ident(l).into_owned());
                    if let Some(Binding::Path(p)) =
                        local.and_then(|l| ctx.bindings.get(&l).cloned())
                    {
                        ctx.match_access(&p, n);
                    }
                }
                true
            });
            false
        }
        "variable_declarator" => {
            if let Some(pattern) = node
                .child_by_field_name("name")
                .filter(|n| n.kind() == "object_pattern")
            {
                for (local, _) in destructured(ctx, pattern) {
                    if let Some(Binding::Path(p)) = ctx.bindings.get(&local).cloned() {
                        ctx.match_access(&p, node);
                    }
                }
            }
            true
        }
        "call_expression" | "new_expression" => {
            call(ctx, node, site.ancestors);
            // `require("child_process")`, `Reflect.get(globalThis, "eval")` as values.
            if node.kind() == "call_expression" {
                ctx.reference(node, usage(ctx, site));
            }
            true
        }
        "member_expression" => {
            if let Some(prop) = node.child_by_field_name("property") {
                let name = ctx.ident(prop);
                ctx.match_attribute(&name, prop);
                if name == "constructor"
                    && node
                        .child_by_field_name("object")
                        .is_some_and(|o| is_constructor_ref(ctx, o) || is_function_ref(ctx, o))
                {
                    ctx.fire(Check::ConstructorChain, None, node, None);
                }
            }
            ctx.reference(node, usage(ctx, site));
            true
        }
        "subscript_expression" => {
            let index = node.child_by_field_name("index");
            let folded = index.and_then(|i| fold(ctx, i, 0));
            if index.is_some()
                && folded.is_none()
                && let Some(object) = node.child_by_field_name("object")
            {
                // `cp[k]`, `process[k]`: a member named at run time.
                ctx.hidden_lookup(object, node, "is indexed by a name computed at run time");
            }
            if let Some(index) = index
                && let Some((key, assembled)) = folded
            {
                ctx.subscript_key(node, index, &key, assembled);
                if key == "constructor"
                    && node
                        .child_by_field_name("object")
                        .is_some_and(|o| is_constructor_ref(ctx, o))
                {
                    ctx.fire(Check::ConstructorChain, None, node, None);
                }
            }
            ctx.reference(node, usage(ctx, site));
            true
        }
        // `{ eval }` in an object literal is a reference to `eval`.
        "identifier" | "shorthand_property_identifier" => {
            if in_expression(site) {
                let name = ctx.ident(node);
                match ctx.bindings.get(&*name).cloned() {
                    Some(Binding::Path(p)) => {
                        ctx.match_reference(&p, node, true, usage(ctx, site));
                    }
                    Some(Binding::Local) => {}
                    None => {
                        let usage = usage(ctx, site);
                        ctx.match_reference(&name, node, is_global_like(&name), usage);
                    }
                }
            }
            false
        }
        "while_statement" | "do_statement" | "for_statement" => {
            if is_endless(ctx, node) && !loop_can_exit(ctx, node) {
                ctx.fire(Check::UnboundedLoop, None, node, None);
            }
            true
        }
        "binary_expression" => {
            let top = site.parent_kind() != "binary_expression";
            if top && count_calls(ctx, node, "String.fromCharCode") >= 3 {
                ctx.fire(Check::CharChain, None, node, None);
            }
            true
        }
        "comment" => false,
        // Type annotations and declarations never run.
        kind => !is_type_only(kind),
    }
}

/// Syntax that exists only for the type checker (skipped: nothing in it runs).
fn is_type_only(kind: &str) -> bool {
    matches!(
        kind,
        "type_annotation"
            | "type_arguments"
            | "type_parameters"
            | "type_alias_declaration"
            | "interface_declaration"
            | "opting_type_annotation"
            | "omitting_type_annotation"
            | "asserts_annotation"
            | "type_predicate_annotation"
    )
}

/// `x.constructor` or `x["constructor"]`.
/// The expression inside any number of parentheses (bounded, iterative).
fn unparen(node: Node<'_>) -> Node<'_> {
    let mut node = node;
    for _ in 0..MAX_DEPTH {
        match inner(node) {
            Some(i) if node.kind() == "parenthesized_expression" => node = i,
            _ => break,
        }
    }
    node
}

fn is_constructor_ref(ctx: &Ctx<'_>, node: Node<'_>) -> bool {
    let node = unparen(node);
    match node.kind() {
        "member_expression" => node
            .child_by_field_name("property")
            .is_some_and(|p| ctx.ident(p) == "constructor"),
        "subscript_expression" => node
            .child_by_field_name("index")
            .and_then(|i| fold(ctx, i, 0))
            .is_some_and(|(k, _)| k == "constructor"),
        _ => false,
    }
}

/// Whether `.constructor` of `node` is a function constructor: the object is itself a
/// function (`(async () => {}).constructor`) or a prototype fetched by reflection
/// (`Object.getPrototypeOf(async function () {}).constructor`).
fn is_function_ref(ctx: &Ctx<'_>, node: Node<'_>) -> bool {
    let node = unparen(node);
    match node.kind() {
        "arrow_function" | "function_expression" | "function" | "generator_function" => true,
        "call_expression" => node
            .child_by_field_name("function")
            .and_then(|f| resolve(ctx, f, 0))
            .is_some_and(|f| f == "Object.getPrototypeOf" || f == "Reflect.getPrototypeOf"),
        _ => false,
    }
}

fn in_expression(site: Site<'_, '_>) -> bool {
    match site.parent_kind() {
        "variable_declarator" => !site.is("name"),
        "assignment_expression" => !site.is("left"),
        ""
        | "function_declaration"
        | "class_declaration"
        | "formal_parameters"
        | "required_parameter"
        | "optional_parameter"
        | "import_specifier"
        | "import_clause"
        | "namespace_import"
        | "export_specifier"
        | "labeled_statement"
        | "break_statement"
        | "continue_statement"
        | "import_require_clause" => false,
        _ => true,
    }
}

fn is_truthy(ctx: &Ctx<'_>, node: Node<'_>) -> bool {
    let mut node = node;
    for _ in 0..MAX_DEPTH {
        match inner(node) {
            Some(i)
                if matches!(
                    node.kind(),
                    "parenthesized_expression" | "expression_statement"
                ) =>
            {
                node = i
            }
            _ => break,
        }
    }
    match node.kind() {
        "true" => true,
        "number" => number(ctx, node).is_some_and(|n| n != 0),
        "unary_expression" => {
            ctx.text(node).starts_with('!')
                && node.child_by_field_name("argument").is_some_and(|a| {
                    matches!(a.kind(), "false" | "null" | "undefined") || ctx.text(a).trim() == "0"
                })
        }
        _ => false,
    }
}

fn is_endless(ctx: &Ctx<'_>, node: Node<'_>) -> bool {
    let condition = node.child_by_field_name("condition");
    match node.kind() {
        "for_statement" => match condition {
            None => true,
            Some(c) => {
                c.kind() == "empty_statement"
                    || ctx.text(c).trim_matches([';', ' ']).is_empty()
                    || is_truthy(ctx, c)
            }
        },
        _ => condition.is_some_and(|c| is_truthy(ctx, c)),
    }
}

const FUNCTION_KINDS: [&str; 7] = [
    "arrow_function",
    "function_expression",
    "function_declaration",
    "generator_function",
    "generator_function_declaration",
    "method_definition",
    "class_declaration",
];

fn loop_can_exit(ctx: &Ctx<'_>, loop_node: Node<'_>) -> bool {
    let Some(body) = loop_node.child_by_field_name("body") else {
        return true;
    };
    let mut exits = false;
    walk_with(body, |n, site| {
        if exits {
            return false;
        }
        if FUNCTION_KINDS.contains(&n.kind()) {
            return false;
        }
        match n.kind() {
            "break_statement" => {
                // A labelled break may target this loop; give it the benefit of the doubt.
                // Otherwise it leaves the innermost loop or switch inside the body, if any.
                exits = n.child_by_field_name("label").is_some()
                    || !site.ancestors.iter().any(|a| BREAKABLE.contains(&a.kind()));
            }
            "return_statement" | "throw_statement" | "yield_expression" => exits = true,
            "call_expression" => {
                if let Some(f) = n
                    .child_by_field_name("function")
                    .and_then(|f| resolve(ctx, f, 0))
                {
                    exits = ctx.rules.exits.matches(&f);
                }
            }
            _ => {}
        }
        !exits
    });
    exits
}

const BREAKABLE: [&str; 5] = [
    "while_statement",
    "do_statement",
    "for_statement",
    "for_in_statement",
    "switch_statement",
];

fn in_loop(ctx: &Ctx<'_>, ancestors: &[Node<'_>]) -> bool {
    for (i, n) in ancestors.iter().enumerate() {
        match n.kind() {
            "for_statement" | "for_in_statement" | "while_statement" | "do_statement" => {
                return true;
            }
            "arrow_function" | "function_expression" => {
                // A callback of items.map(...) runs once per element.
                let args = i.checked_sub(1).and_then(|k| ancestors.get(k));
                let call = i.checked_sub(2).and_then(|k| ancestors.get(k));
                let callee = match (args, call) {
                    (Some(a), Some(c)) if a.kind() == "arguments" => c
                        .child_by_field_name("function")
                        .filter(|f| f.kind() == "member_expression")
                        .and_then(|f| f.child_by_field_name("property")),
                    _ => None,
                };
                if callee.is_some_and(|p| ctx.rules.loop_callbacks.contains(&*ctx.ident(p))) {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

fn count_calls(ctx: &Ctx<'_>, node: Node<'_>, target: &str) -> usize {
    let mut n = 0;
    walk(node, |c| {
        if c.kind() == "call_expression"
            && c.child_by_field_name("function")
                .and_then(|f| resolve(ctx, f, 0))
                .as_deref()
                == Some(target)
        {
            n += 1;
        }
        true
    });
    n
}

fn segments<'s>(ctx: &Ctx<'s>, node: Node<'_>, out: &mut Vec<Cow<'s, str>>) -> bool {
    // Iterative, innermost object last: long chains must not recurse without bound.
    let mut rev = Vec::new();
    let mut cur = node;
    loop {
        match cur.kind() {
            "identifier" | "this" => {
                rev.push(ctx.ident(cur));
                break;
            }
            "member_expression" if rev.len() <= MAX_DEPTH => {
                let (Some(object), Some(prop)) = (
                    cur.child_by_field_name("object"),
                    cur.child_by_field_name("property"),
                ) else {
                    return false;
                };
                rev.push(ctx.ident(prop));
                cur = object;
            }
            _ => return false,
        }
    }
    out.extend(rev.into_iter().rev());
    true
}

fn call(ctx: &mut Ctx<'_>, node: Node<'_>, ancestors: &[Node<'_>]) {
    let function = node
        .child_by_field_name("function")
        .or_else(|| node.child_by_field_name("constructor"));
    let Some(function) = function else {
        return;
    };
    let args = arguments(node);
    let name = if function.kind() == "import" {
        Some("import".to_owned())
    } else {
        resolve(ctx, function, 0)
    };
    // A call that looks like a generated API call is recorded as a tool call, and still goes
    // through every rule: `fs.writeFile` on node's `fs` must not pass for a tool `fs.write_file`.
    // Through an import of the API module the path after it counts (`import { fs_ as f }`).
    let mut chain = Vec::new();
    let via_api = name.as_deref().and_then(super::api_member);
    let found = match via_api {
        Some(path) => {
            chain.extend(path.split('.').map(Cow::Borrowed));
            true
        }
        None => segments(ctx, function, &mut chain),
    };
    if found {
        let chain: Vec<&str> = chain.iter().map(AsRef::as_ref).collect();
        let first = || args.first().map(|a| fold(ctx, *a, 0).map(|(s, _)| s));
        let first_arg = (chain.last() == Some(&"callTool")).then(first).flatten();
        let looped = in_loop(ctx, ancestors);
        ctx.tool_call(&chain, node, looped, ("callTool", first_arg));
    }
    if let Some(name) = name {
        ctx.match_call(&name, node);
        // `eval.call(null, s)` is a call of `eval`.
        if let Some(called) = [".call", ".apply", ".bind"]
            .into_iter()
            .find_map(|m| name.strip_suffix(m))
        {
            ctx.match_call(called, node);
        }
        if ctx.targets(Check::DynamicImport, &name) {
            match args.first().map(|a| fold(ctx, *a, 0)) {
                Some(Some((module, assembled))) => {
                    if assembled {
                        ctx.fire(
                            Check::AssembledName,
                            None,
                            node,
                            Some(&format!("resolves to `{module}`")),
                        );
                    }
                    ctx.match_import(&module_name(&module), node);
                }
                Some(None) => ctx.fire(Check::DynamicImport, Some(&name), node, None),
                None => {}
            }
        }
        if ctx.targets(Check::StringTimer, &name)
            && args.first().is_some_and(|a| {
                fold(ctx, *a, 0).is_some()
                    || matches!(a.kind(), "string" | "template_string" | "binary_expression")
            })
        {
            ctx.fire(Check::StringTimer, Some(&name), node, None);
        }
        for (rule, fragment) in ctx.sensitive_paths(&name) {
            let hit = args.iter().any(|a| {
                fold(ctx, *a, 0).is_some_and(|(s, _)| s.contains(fragment))
                    || contains_string_with(ctx, *a, fragment)
            });
            if hit {
                ctx.report(rule, node, Some(&format!("`{fragment}`")));
            }
        }
        if ctx.rules.code_sinks.matches(&name) && args.iter().any(|a| feeds_decoded(ctx, *a)) {
            ctx.fire(Check::DecodeExec, None, node, Some(&format!("`{name}`")));
        }
        if name == "Reflect.get" || name == "Reflect.set" {
            match args.get(1).map(|a| fold(ctx, *a, 0)) {
                Some(Some((key, true))) => ctx.fire(
                    Check::AssembledName,
                    None,
                    node,
                    Some(&format!("resolves to `{key}`")),
                ),
                Some(None) => {
                    if let Some(object) = args.first().copied() {
                        if let Some(base) = resolve(ctx, object, 0) {
                            ctx.fire(
                                Check::ComputedMember,
                                Some(&base),
                                node,
                                Some(&format!("on `{base}`")),
                            );
                        }
                        ctx.hidden_lookup(object, node, "gives a member named at run time");
                    }
                }
                _ => {}
            }
        }
        if (name == "String.fromCharCode" || name == "String.fromCodePoint")
            && (args.len() >= 3 || args.iter().any(|a| a.kind() == "spread_element"))
        {
            ctx.fire(Check::CharChain, None, node, None);
        }
    }
    if function.kind() == "subscript_expression" {
        let index = function.child_by_field_name("index");
        if index.is_some_and(|i| fold(ctx, i, 0).is_none())
            && let Some(base) = function
                .child_by_field_name("object")
                .and_then(|o| resolve(ctx, o, 0))
        {
            ctx.fire(
                Check::ComputedMember,
                Some(&base),
                node,
                Some(&format!("on `{base}`")),
            );
        }
    }
    if function.kind() == "member_expression"
        && let Some(prop) = function.child_by_field_name("property")
    {
        let method = ctx.ident(prop);
        ctx.match_method(&method, node);
    }
}

fn contains_string_with(ctx: &Ctx<'_>, node: Node<'_>, fragment: &str) -> bool {
    let mut hit = false;
    walk(node, |n| {
        if hit {
            return false;
        }
        if matches!(n.kind(), "string" | "template_string") {
            hit = ctx.text(n).contains(fragment);
            return n.kind() == "template_string";
        }
        true
    });
    hit
}
