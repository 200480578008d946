//! Python analysis: binds imports and aliases, resolves callees, folds constant strings.
//! Everything is read off the tree-sitter syntax tree, so strings and comments never match.

use std::borrow::Cow;

use tree_sitter::Node;
use unicode_normalization::UnicodeNormalization;

use super::{
    Binding, Ctx, FOLD_MAX, MAX_DEPTH, Names, Site, Use, base64_decode, hex_decode, rot13, walk,
    walk_with,
};
use crate::rules::Check;

/// Python name resolution for the shared checks; `builtins` is the namespace of `eval`.
pub(crate) static NAMES: Names = Names {
    resolve,
    anchored,
    global_objects: &["builtins", "__builtins__"],
    ident,
};

/// Python compares identifiers after NFKC normalization (PEP 3131): `ｅｘｅｃ` and
/// `os.ｓｙｓｔｅｍ` are `exec` and `os.system`. Strings are not normalized, and neither
/// does `getattr(os, "ｓｙｓｔｅｍ")` normalize its argument.
fn ident(text: &str) -> Cow<'_, str> {
    if text.is_ascii() {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.nfkc().collect())
    }
}

/// Builtins that reach dangerous things. A free name that is none of these is a local the
/// resolver does not track (a parameter, a loop variable), never a module.
const BUILTINS: [&str; 15] = [
    "eval",
    "exec",
    "compile",
    "execfile",
    "__import__",
    "getattr",
    "setattr",
    "delattr",
    "open",
    "globals",
    "locals",
    "vars",
    "chr",
    "breakpoint",
    "__builtins__",
];

/// Calls whose first argument the resolver follows to a member (`getattr(os, "system")`).
const FOLLOWED: [&str; 5] = [
    "getattr",
    "hasattr",
    "vars",
    "object.__getattribute__",
    "inspect.getattr_static",
];

/// Builtins that only inspect their arguments: a dangerous function passed to them is not
/// kept (`isinstance(f, types.FunctionType)`).
const INSPECTORS: [&str; 11] = [
    "isinstance",
    "issubclass",
    "callable",
    "type",
    "id",
    "hash",
    "repr",
    "str",
    "print",
    "hasattr",
    "dir",
];

pub(crate) fn analyze(ctx: &mut Ctx<'_>, root: Node<'_>) {
    collect_bindings(ctx, root);
    walk_with(root, |node, site| visit(ctx, node, site));
}

// ------------------------------------------------------------------ bindings

fn collect_bindings(ctx: &mut Ctx<'_>, root: Node<'_>) {
    walk(root, |node| {
        match node.kind() {
            "import_statement" => {
                let mut cursor = node.walk();
                let names: Vec<Node<'_>> =
                    node.children_by_field_name("name", &mut cursor).collect();
                for name in names {
                    match name.kind() {
                        "dotted_name" => {
                            let full = ctx.ident(name);
                            let top = full.split('.').next().unwrap_or(&full).trim().to_owned();
                            ctx.bind(&top, Binding::Path(top.clone()));
                        }
                        "aliased_import" => {
                            if let (Some(n), Some(a)) = (
                                name.child_by_field_name("name"),
                                name.child_by_field_name("alias"),
                            ) {
                                let target = clean_dotted(&ctx.ident(n));
                                let alias = ctx.ident(a).into_owned();
                                ctx.bind(&alias, Binding::Path(target));
                            }
                        }
                        _ => {}
                    }
                }
                return false;
            }
            "import_from_statement" => {
                let Some(module) = node.child_by_field_name("module_name") else {
                    return false;
                };
                let module = clean_dotted(&ctx.ident(module));
                let mut cursor = node.walk();
                let names: Vec<Node<'_>> =
                    node.children_by_field_name("name", &mut cursor).collect();
                for name in names {
                    match name.kind() {
                        "dotted_name" => {
                            let n = clean_dotted(&ctx.ident(name));
                            ctx.bind(&n, Binding::Path(format!("{module}.{n}")));
                        }
                        "aliased_import" => {
                            if let (Some(n), Some(a)) = (
                                name.child_by_field_name("name"),
                                name.child_by_field_name("alias"),
                            ) {
                                let n = clean_dotted(&ctx.ident(n));
                                let alias = ctx.ident(a).into_owned();
                                ctx.bind(&alias, Binding::Path(format!("{module}.{n}")));
                            }
                        }
                        _ => {}
                    }
                }
                let mut cursor = node.walk();
                if node
                    .children(&mut cursor)
                    .any(|c| c.kind() == "wildcard_import")
                {
                    ctx.star_modules.push(module);
                }
                return false;
            }
            "assignment" => {
                if let (Some(left), Some(right)) = (
                    node.child_by_field_name("left"),
                    node.child_by_field_name("right"),
                ) {
                    assign(ctx, left, right);
                }
            }
            "named_expression" => {
                if let (Some(name), Some(value)) = (
                    node.child_by_field_name("name"),
                    node.child_by_field_name("value"),
                ) {
                    assign(ctx, name, value);
                }
            }
            "string" | "comment" | "integer" | "float" => return false,
            "function_definition" | "class_definition" => {
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

fn clean_dotted(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

fn assign(ctx: &mut Ctx<'_>, left: Node<'_>, right: Node<'_>) {
    match left.kind() {
        "identifier" => {
            let name = ctx.ident(left).into_owned();
            let binding = match resolve(ctx, right, 0) {
                // A bare unbound name on the right (`x = data`) says nothing external.
                Some(path)
                    if right.kind() != "identifier"
                        || ctx.bindings.contains_key(&*ctx.ident(right))
                        || is_builtin_like(&path) =>
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
        "pattern_list" | "tuple_pattern" => {
            if matches!(right.kind(), "expression_list" | "tuple") {
                let lefts = named(left);
                let rights = named(right);
                if lefts.len() == rights.len() {
                    for (l, r) in lefts.into_iter().zip(rights) {
                        assign(ctx, l, r);
                    }
                }
            }
        }
        _ => {}
    }
}

/// Names a program may alias to reach a dangerous builtin (`e = eval`).
fn is_builtin_like(name: &str) -> bool {
    BUILTINS.contains(&name)
}

fn named(node: Node<'_>) -> Vec<Node<'_>> {
    let mut cursor = node.walk();
    node.named_children(&mut cursor)
        .filter(|c| c.kind() != "comment")
        .collect()
}

// ------------------------------------------------------------------ resolution

/// The qualified name an expression refers to (`o.system` -> `os.system`), if it has one.
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
        "attribute" => {
            let object = node.child_by_field_name("object")?;
            let attr = node.child_by_field_name("attribute")?;
            let base = resolve(ctx, object, depth + 1)?;
            // `os.__dict__` is the module's namespace: `os.__dict__["system"]` is `os.system`.
            match &*ctx.ident(attr) {
                "__dict__" => Some(base),
                attr => Some(format!("{base}.{attr}")),
            }
        }
        "call" => {
            let function = node.child_by_field_name("function")?;
            let args = positional(node);
            // `operator.attrgetter("system")(os)` is `os.system`.
            if let Some(name) = getter_name(ctx, function, "operator.attrgetter", depth) {
                let base = resolve(ctx, *args.first()?, depth + 1)?;
                return Some(normalize(format!("{base}.{}", name?)));
            }
            let function = resolve(ctx, function, depth + 1)?;
            match function.as_str() {
                "__import__" | "importlib.import_module" | "importlib.__import__" => {
                    fold(ctx, *args.first()?, depth + 1).map(|(s, _)| s)
                }
                "getattr" => {
                    let base = resolve(ctx, *args.first()?, depth + 1)?;
                    let (name, _) = fold(ctx, *args.get(1)?, depth + 1)?;
                    Some(format!("{base}.{name}"))
                }
                // `vars(os)` is the module's namespace, so `vars(os)["system"]` is `os.system`.
                "vars" => resolve(ctx, *args.first()?, depth + 1),
                _ => None,
            }
        }
        "subscript" => {
            let base = resolve(ctx, node.child_by_field_name("value")?, depth + 1)?;
            let (index, _) = fold(ctx, node.child_by_field_name("subscript")?, depth + 1)?;
            Some(format!("{base}.{index}"))
        }
        "parenthesized_expression" => resolve(ctx, node.named_child(0)?, depth + 1),
        _ => None,
    }?;
    Some(normalize(raw))
}

/// For a call of `getter(name, ...)` (`operator.attrgetter("system")`): Some(the folded
/// name, or None when it is computed at run time).
fn getter_name(
    ctx: &Ctx<'_>,
    node: Node<'_>,
    getter: &str,
    depth: usize,
) -> Option<Option<String>> {
    if node.kind() != "call" || depth > MAX_DEPTH {
        return None;
    }
    let function = resolve(ctx, node.child_by_field_name("function")?, depth + 1)?;
    if function != getter {
        return None;
    }
    let name = positional(node)
        .first()
        .and_then(|a| fold(ctx, *a, depth + 1))
        .map(|(s, _)| s);
    Some(name)
}

/// Whether the root of a resolved expression is real (see [`Ctx::anchored`]).
fn anchored(ctx: &Ctx<'_>, node: Node<'_>) -> bool {
    ctx.anchored(node, &["identifier"], is_builtin_like, |n| match n.kind() {
        "attribute" => Ok(n.child_by_field_name("object")),
        "subscript" => Ok(n.child_by_field_name("value")),
        "call" => Ok(n.child_by_field_name("function")),
        "parenthesized_expression" => Ok(n.named_child(0)),
        _ => Err(true),
    })
}

/// How the value at `site` is used (see [`Use`]).
fn usage(ctx: &Ctx<'_>, site: Site<'_, '_>) -> Use {
    let (Some(parent), field, above) = site.through(&["parenthesized_expression"]) else {
        return Use::Ignored;
    };
    match (parent.kind(), field) {
        ("call", Some("function")) => Use::Called,
        ("attribute", Some("object")) | ("subscript", Some("value")) => Use::Reached,
        ("named_expression", Some("value")) => Use::Aliased,
        // `f = os.system` is followed by name; in a class body it becomes `A.f`, which is not.
        ("assignment", Some("right")) => {
            let to_name = parent
                .child_by_field_name("left")
                .is_some_and(|l| l.kind() == "identifier");
            let in_class = above
                .iter()
                .rev()
                .find(|a| matches!(a.kind(), "function_definition" | "class_definition"))
                .is_some_and(|a| a.kind() == "class_definition");
            if to_name && !in_class {
                Use::Aliased
            } else {
                Use::Escapes
            }
        }
        // `except X as e` and `with X as f` bind something else than X.
        (
            "expression_statement" | "except_clause" | "as_pattern" | "type" | "delete_statement",
            _,
        ) => Use::Ignored,
        ("argument_list", _) => {
            let Some(function) = above
                .last()
                .and_then(|call| call.child_by_field_name("function"))
            else {
                return Use::Escapes;
            };
            // The resolver follows `getattr(os, "system")` and `attrgetter("x")(os)`.
            let getter = ["operator.attrgetter", "operator.methodcaller"]
                .into_iter()
                .any(|g| getter_name(ctx, function, g, 0).is_some());
            match resolve(ctx, function, 0) {
                _ if getter => Use::Reached,
                Some(f) if FOLLOWED.contains(&f.as_str()) => Use::Reached,
                Some(f) if INSPECTORS.contains(&f.as_str()) => Use::Ignored,
                _ => Use::Escapes,
            }
        }
        _ => Use::Escapes,
    }
}

fn normalize(mut name: String) -> String {
    loop {
        if let Some(rest) = name.strip_prefix("builtins.") {
            name = rest.to_owned();
        } else if let Some(rest) = name.strip_prefix("__builtins__.") {
            name = rest.to_owned();
        } else {
            return name;
        }
    }
}

fn positional(call: Node<'_>) -> Vec<Node<'_>> {
    let Some(args) = call.child_by_field_name("arguments") else {
        return Vec::new();
    };
    if args.kind() == "generator_expression" {
        return vec![args];
    }
    let mut cursor = args.walk();
    args.named_children(&mut cursor)
        .filter(|c| !matches!(c.kind(), "keyword_argument" | "comment"))
        .collect()
}

fn keyword<'t>(ctx: &Ctx<'_>, call: Node<'t>, name: &str) -> Option<Node<'t>> {
    let args = call.child_by_field_name("arguments")?;
    let mut cursor = args.walk();

    args.named_children(&mut cursor)
        .filter(|c| c.kind() == "keyword_argument")
        .find(|c| {
            c.child_by_field_name("name")
                .is_some_and(|n| ctx.ident(n) == name)
        })
        .and_then(|c| c.child_by_field_name("value"))
}

// ------------------------------------------------------------------ constant folding

/// The constant string an expression evaluates to, and whether it was assembled or encoded
/// (concatenation, `chr`, escapes, decoding) rather than written plainly.
fn fold(ctx: &Ctx<'_>, node: Node<'_>, depth: usize) -> Option<(String, bool)> {
    if depth > MAX_DEPTH {
        return None;
    }
    let out = match node.kind() {
        "string" => string_value(ctx, node),
        "concatenated_string" => {
            let mut s = String::new();
            for part in named(node) {
                s.push_str(&fold(ctx, part, depth + 1)?.0);
            }
            Some((s, true))
        }
        "binary_operator" => {
            let op = node.child_by_field_name("operator")?;
            if ctx.text(op) != "+" {
                return None;
            }
            let (l, _) = fold(ctx, node.child_by_field_name("left")?, depth + 1)?;
            let (r, _) = fold(ctx, node.child_by_field_name("right")?, depth + 1)?;
            Some((l + &r, true))
        }
        "parenthesized_expression" => fold(ctx, node.named_child(0)?, depth + 1),
        "identifier" => ctx.consts.get(&*ctx.ident(node)).cloned(),
        "call" => fold_call(ctx, node, depth),
        "subscript" => {
            let index = node.child_by_field_name("subscript")?;
            let (value, _) = fold(ctx, node.child_by_field_name("value")?, depth + 1)?;
            if index.kind() == "slice" && ctx.text(index).replace(' ', "") == "::-1" {
                Some((value.chars().rev().collect(), true))
            } else {
                None
            }
        }
        _ => None,
    }?;
    (out.0.len() <= FOLD_MAX).then_some(out)
}

fn fold_call(ctx: &Ctx<'_>, node: Node<'_>, depth: usize) -> Option<(String, bool)> {
    let function = node.child_by_field_name("function")?;
    let args = positional(node);
    if let Some(name) = resolve(ctx, function, depth + 1) {
        let arg = |i: usize| {
            args.get(i)
                .and_then(|a| fold(ctx, *a, depth + 1))
                .map(|f| f.0)
        };
        let decoded = match name.as_str() {
            "chr" => {
                let code = ctx.text(*args.first()?).trim().parse::<u32>().ok()?;
                Some(char::from_u32(code)?.to_string())
            }
            "str" => arg(0),
            "base64.b64decode"
            | "base64.standard_b64decode"
            | "base64.urlsafe_b64decode"
            | "base64.decodebytes" => String::from_utf8(base64_decode(&arg(0)?)?).ok(),
            "bytes.fromhex" | "bytearray.fromhex" | "binascii.unhexlify" | "binascii.a2b_hex" => {
                String::from_utf8(hex_decode(&arg(0)?)?).ok()
            }
            "codecs.decode" => {
                let text = arg(0)?;
                let codec = arg(1).unwrap_or_default().to_ascii_lowercase();
                match codec.as_str() {
                    "rot13" | "rot_13" => Some(rot13(&text)),
                    "hex" => String::from_utf8(hex_decode(&text)?).ok(),
                    "base64" => String::from_utf8(base64_decode(&text)?).ok(),
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some(s) = decoded {
            return Some((s, true));
        }
    }
    // Methods on folded strings: ''.join([...]), b'..'.decode(), 'X'.lower(), s.replace(a, b).
    if function.kind() != "attribute" {
        return None;
    }
    let object = function.child_by_field_name("object")?;
    let method = ctx.ident(function.child_by_field_name("attribute")?);
    match &*method {
        "join" => {
            let (sep, _) = fold(ctx, object, depth + 1)?;
            let items = join_items(ctx, *args.first()?, depth + 1)?;
            Some((items.join(&sep), true))
        }
        "decode" | "strip" => fold(ctx, object, depth + 1),
        "lower" => fold(ctx, object, depth + 1).map(|(s, o)| (s.to_lowercase(), o)),
        "upper" => fold(ctx, object, depth + 1).map(|(s, o)| (s.to_uppercase(), o)),
        "replace" => {
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

/// The folded items of `sep.join(x)`'s argument: a list/tuple of strings, a generator of
/// `chr(c) for c in [ints]`, or `map(chr, [ints])`.
fn join_items(ctx: &Ctx<'_>, node: Node<'_>, depth: usize) -> Option<Vec<String>> {
    match node.kind() {
        "list" | "tuple" => named(node)
            .into_iter()
            .map(|n| fold(ctx, n, depth + 1).map(|f| f.0))
            .collect(),
        "generator_expression" | "list_comprehension" => {
            let body = node.child_by_field_name("body")?;
            if body.kind() != "call"
                || resolve(ctx, body.child_by_field_name("function")?, depth + 1).as_deref()
                    != Some("chr")
            {
                return None;
            }
            let clause = named(node)
                .into_iter()
                .find(|c| c.kind() == "for_in_clause")?;
            ints_to_chars(ctx, clause.child_by_field_name("right")?)
        }
        "call" => {
            let f = resolve(ctx, node.child_by_field_name("function")?, depth + 1)?;
            let args = positional(node);
            if f == "map" && resolve(ctx, *args.first()?, depth + 1).as_deref() == Some("chr") {
                ints_to_chars(ctx, *args.get(1)?)
            } else {
                None
            }
        }
        _ => None,
    }
}

fn ints_to_chars(ctx: &Ctx<'_>, list: Node<'_>) -> Option<Vec<String>> {
    if !matches!(list.kind(), "list" | "tuple") {
        return None;
    }
    named(list)
        .into_iter()
        .map(|n| {
            let code = ctx.text(n).trim().parse::<u32>().ok()?;
            char::from_u32(code).map(|c| c.to_string())
        })
        .collect()
}

fn string_value(ctx: &Ctx<'_>, node: Node<'_>) -> Option<(String, bool)> {
    let mut raw = false;
    let mut content = String::new();
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        match child.kind() {
            "string_start" => raw = ctx.text(child).to_ascii_lowercase().contains('r'),
            "string_content" => content.push_str(ctx.text(child)),
            "interpolation" => return None,
            _ => {}
        }
    }
    if raw {
        return Some((content, false));
    }
    Some(unescape(&content))
}

/// Decodes Python escape sequences; reports whether any hid a character (`\x65`).
fn unescape(s: &str) -> (String, bool) {
    let mut out = String::with_capacity(s.len());
    let mut hidden = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else {
            out.push('\\');
            break;
        };
        let take_hex = |n: usize, chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
            let h: String = (0..n).filter_map(|_| chars.next()).collect();
            u32::from_str_radix(&h, 16).ok().and_then(char::from_u32)
        };
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0'..='7' => {
                let mut digits = e.to_string();
                while digits.len() < 3 && chars.peek().is_some_and(|d| ('0'..='7').contains(d)) {
                    digits.extend(chars.next());
                }
                if let Some(ch) = u32::from_str_radix(&digits, 8)
                    .ok()
                    .and_then(char::from_u32)
                {
                    out.push(ch);
                    hidden = true;
                }
            }
            'x' => {
                out.extend(take_hex(2, &mut chars));
                hidden = true;
            }
            'u' => {
                out.extend(take_hex(4, &mut chars));
                hidden = true;
            }
            'U' => {
                out.extend(take_hex(8, &mut chars));
                hidden = true;
            }
            '\n' => {}
            other => out.push(other),
        }
    }
    (out, hidden)
}

/// Whether the expression carries decoded or assembled data (a decoder call, a tainted name,
/// or an assembled constant).
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
            "lambda" | "string" | "comment" | "integer" | "float" => return false,
            "call" => {
                if let Some(f) = n
                    .child_by_field_name("function")
                    .and_then(|f| resolve(ctx, f, 0))
                    && ctx.rules.decoders.matches(&f)
                {
                    found = true;
                }
            }
            "identifier" if ctx.tainted.contains(&*ctx.ident(n)) => {
                found = true;
            }
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
            let mut cursor = node.walk();
            let names: Vec<Node<'_>> = node.children_by_field_name("name", &mut cursor).collect();
            for name in names {
                let target = match name.kind() {
                    "aliased_import" => name.child_by_field_name("name"),
                    _ => Some(name),
                };
                if let Some(t) = target {
                    let module = clean_dotted(&ctx.ident(t));
                    ctx.match_import(&module, node);
                }
            }
            false
        }
        "import_from_statement" => {
            if let Some(m) = node.child_by_field_name("module_name") {
                let module = clean_dotted(&ctx.ident(m));
                ctx.match_import(&module, node);
            }
            false
        }
        "call" => {
            call(ctx, node, site.ancestors);
            // `getattr(os, "system")`, `__import__("os")` as values.
            ctx.reference(node, usage(ctx, site));
            true
        }
        "attribute" => {
            if let Some(attr) = node.child_by_field_name("attribute") {
                let name = ctx.ident(attr);
                ctx.match_attribute(&name, attr);
            }
            ctx.reference(node, usage(ctx, site));
            true
        }
        "identifier" => {
            if in_expression(site) {
                let name = ctx.ident(node);
                ctx.match_attribute(&name, node);
                match ctx.bindings.get(&*name) {
                    Some(Binding::Path(p)) => {
                        let p = p.clone();
                        ctx.match_reference(&p, node, true, usage(ctx, site));
                    }
                    Some(Binding::Local) => {}
                    None => {
                        let usage = usage(ctx, site);
                        let name = name.into_owned();
                        ctx.match_reference(&name, node, is_builtin_like(&name), usage);
                        for module in ctx.star_modules.clone() {
                            ctx.match_reference(&format!("{module}.{name}"), node, true, usage);
                        }
                    }
                }
            }
            false
        }
        "subscript" => {
            let index = node.child_by_field_name("subscript");
            match index.map(|i| (i, fold(ctx, i, 0))) {
                // `globals()["__builtins__"]` reaches the same thing as the attribute.
                Some((index, Some((key, assembled)))) => {
                    ctx.subscript_key(node, index, &key, assembled);
                }
                // `vars(os)[k]`, `os.__dict__[k]`: a member named at run time.
                Some((index, None)) if index.kind() != "slice" => {
                    if let Some(value) = node.child_by_field_name("value") {
                        let how = "is indexed by a name computed at run time";
                        ctx.hidden_lookup(value, node, how);
                    }
                }
                _ => {}
            }
            ctx.reference(node, usage(ctx, site));
            true
        }
        "while_statement" => {
            let endless = node
                .child_by_field_name("condition")
                .is_some_and(|c| is_truthy_constant(ctx, c));
            if endless && !loop_can_exit(ctx, node) {
                ctx.fire(Check::UnboundedLoop, None, node, None);
            }
            true
        }
        "exec_statement" => {
            ctx.match_call("exec", node);
            true
        }
        "binary_operator" => {
            let top = site.parent_kind() != "binary_operator";
            if top && count_calls(ctx, node, "chr") >= 3 {
                ctx.fire(Check::CharChain, None, node, None);
            }
            true
        }
        "comment" => false,
        _ => true,
    }
}

/// Identifiers that name something being used (not a definition, parameter or keyword).
fn in_expression(site: Site<'_, '_>) -> bool {
    match site.parent_kind() {
        ""
        | "function_definition"
        | "class_definition"
        | "parameters"
        | "default_parameter"
        | "typed_parameter"
        | "typed_default_parameter"
        | "lambda_parameters"
        | "dotted_name"
        | "aliased_import"
        | "global_statement"
        | "nonlocal_statement" => false,
        "keyword_argument" => !site.is("name"),
        "attribute" => site.is("object"),
        "assignment" | "augmented_assignment" => !site.is("left"),
        _ => true,
    }
}

fn is_truthy_constant(ctx: &Ctx<'_>, node: Node<'_>) -> bool {
    // Unwrap parentheses iteratively: `while ((((1))))` must not recurse without bound.
    let mut node = node;
    for _ in 0..MAX_DEPTH {
        match node.named_child(0) {
            Some(c) if node.kind() == "parenthesized_expression" => node = c,
            _ => break,
        }
    }
    match node.kind() {
        "true" => true,
        "integer" => ctx.text(node).trim() != "0",
        "string" => string_value(ctx, node).is_some_and(|(s, _)| !s.is_empty()),
        "not_operator" => node
            .child_by_field_name("argument")
            .is_some_and(|c| matches!(c.kind(), "false" | "none") || ctx.text(c).trim() == "0"),
        _ => false,
    }
}

/// Whether anything inside the loop can end it: a break that targets it, return, raise,
/// yield (a generator is driven from outside) or a call that exits.
fn loop_can_exit(ctx: &Ctx<'_>, loop_node: Node<'_>) -> bool {
    let Some(body) = loop_node.child_by_field_name("body") else {
        return true;
    };
    let mut exits = false;
    walk_with(body, |n, site| {
        if exits {
            return false;
        }
        match n.kind() {
            // Code in nested definitions does not run as part of this loop body.
            "function_definition" | "lambda" | "class_definition" => return false,
            // A break leaves the innermost loop: this one unless a loop inside the body is nearer.
            "break_statement" => {
                exits = !site
                    .ancestors
                    .iter()
                    .any(|a| matches!(a.kind(), "while_statement" | "for_statement"))
            }
            "return_statement" | "raise_statement" | "yield" => exits = true,
            "call" => {
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

fn in_loop(ancestors: &[Node<'_>]) -> bool {
    ancestors.iter().any(|n| {
        matches!(
            n.kind(),
            "for_statement"
                | "while_statement"
                | "list_comprehension"
                | "set_comprehension"
                | "dictionary_comprehension"
                | "generator_expression"
        )
    })
}

fn count_calls(ctx: &Ctx<'_>, node: Node<'_>, target: &str) -> usize {
    let mut n = 0;
    walk(node, |c| {
        if c.kind() == "call"
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

/// The identifiers of a plain attribute chain (`api.demo.notes_add`).
fn segments<'s>(ctx: &Ctx<'s>, node: Node<'_>, out: &mut Vec<Cow<'s, str>>) -> bool {
    // Iterative, innermost object last: long chains must not recurse without bound.
    let mut rev = Vec::new();
    let mut cur = node;
    loop {
        match cur.kind() {
            "identifier" => {
                rev.push(ctx.ident(cur));
                break;
            }
            "attribute" if rev.len() <= MAX_DEPTH => {
                let (Some(object), Some(attr)) = (
                    cur.child_by_field_name("object"),
                    cur.child_by_field_name("attribute"),
                ) else {
                    return false;
                };
                rev.push(ctx.ident(attr));
                cur = object;
            }
            _ => return false,
        }
    }
    out.extend(rev.into_iter().rev());
    true
}

fn call(ctx: &mut Ctx<'_>, node: Node<'_>, ancestors: &[Node<'_>]) {
    let Some(function) = node.child_by_field_name("function") else {
        return;
    };
    let args = positional(node);
    let resolved = resolve(ctx, function, 0);
    // A call that looks like a generated API call is recorded as a tool call, and still goes
    // through every rule: `os.system` on the real `os` must not pass for a tool `os.system`.
    // Through an import of the API module the path after it counts (`import notes as n`).
    let mut chain = Vec::new();
    let found = match resolved.as_deref().and_then(super::api_member) {
        Some(path) => {
            chain.extend(path.split('.').map(Cow::Borrowed));
            true
        }
        None => segments(ctx, function, &mut chain),
    };
    if found {
        let chain: Vec<&str> = chain.iter().map(AsRef::as_ref).collect();
        let first = || args.first().map(|a| fold(ctx, *a, 0).map(|(s, _)| s));
        let first_arg = (chain.last() == Some(&"call_tool")).then(first).flatten();
        ctx.tool_call(&chain, node, in_loop(ancestors), ("call_tool", first_arg));
    }
    // `operator.methodcaller("system", "id")(os)` calls `os.system`; with the name computed
    // at run time, like `operator.attrgetter(k)(os)`, it reaches a member out of sight.
    for getter in ["operator.methodcaller", "operator.attrgetter"] {
        let (Some(member), Some(target)) =
            (getter_name(ctx, function, getter, 0), args.first().copied())
        else {
            continue;
        };
        match member {
            Some(member) if getter == "operator.methodcaller" => {
                if let Some(base) = resolve(ctx, target, 0) {
                    ctx.match_call(&format!("{base}.{member}"), node);
                }
            }
            Some(_) => {}
            None => ctx.hidden_lookup(target, node, "gives a member named at run time"),
        }
    }
    if let Some(name) = resolved {
        ctx.match_call(&name, node);
        // `os.system.__call__("id")` is a call of `os.system`.
        if let Some(called) = name.strip_suffix(".__call__") {
            ctx.match_call(called, node);
        }
        if function.kind() == "identifier" && !ctx.bindings.contains_key(&*ctx.ident(function)) {
            for module in ctx.star_modules.clone() {
                ctx.match_call(&format!("{module}.{name}"), node);
            }
        }
        if ctx.targets(Check::OpenWrite, &name) {
            let mode = args.get(1).copied().or_else(|| keyword(ctx, node, "mode"));
            check_mode(ctx, mode, &name, node);
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
        if ctx.targets(Check::DynamicImport, &name)
            && args.first().is_some_and(|a| fold(ctx, *a, 0).is_none())
        {
            ctx.fire(Check::DynamicImport, Some(&name), node, None);
        }
        let name_checks =
            ctx.targets(Check::ComputedGetattr, &name) || ctx.targets(Check::AssembledName, &name);
        if name_checks {
            let index = if name.ends_with("import_module")
                || name.ends_with("__import__")
                || name.ends_with("attrgetter")
            {
                0
            } else {
                1
            };
            if let Some(arg) = args.get(index) {
                match fold(ctx, *arg, 0) {
                    Some((folded, assembled)) => {
                        if assembled {
                            ctx.fire(
                                Check::AssembledName,
                                Some(&name),
                                node,
                                Some(&format!("resolves to `{folded}`")),
                            );
                        }
                        // `getattr(loop, "subprocess_exec")` is the attribute.
                        ctx.match_attribute(&folded, node);
                    }
                    None => {
                        ctx.fire(Check::ComputedGetattr, Some(&name), node, None);
                        if index == 1
                            && let Some(target) = args.first().copied()
                        {
                            ctx.hidden_lookup(target, node, "gives a member named at run time");
                        }
                    }
                }
            }
        }
        if ctx.rules.code_sinks.matches(&name) && args.iter().any(|a| feeds_decoded(ctx, *a)) {
            ctx.fire(Check::DecodeExec, None, node, Some(&format!("`{name}`")));
        }
        if name == "map" && args.first().and_then(|a| resolve(ctx, *a, 0)).as_deref() == Some("chr")
        {
            ctx.fire(Check::CharChain, None, node, None);
        }
    }
    if function.kind() == "attribute"
        && let Some(attr) = function.child_by_field_name("attribute")
    {
        let method = ctx.ident(attr);
        ctx.match_method(&method, node);
        if method == "open" {
            check_mode(
                ctx,
                args.first().copied().or_else(|| keyword(ctx, node, "mode")),
                "open",
                node,
            );
        }
        if method == "join"
            && args.first().is_some_and(|a| {
                matches!(a.kind(), "generator_expression" | "list_comprehension")
                    && count_calls(ctx, *a, "chr") > 0
            })
        {
            ctx.fire(Check::CharChain, None, node, None);
        }
    }
}

fn check_mode(ctx: &mut Ctx<'_>, mode: Option<Node<'_>>, target: &str, node: Node<'_>) {
    if let Some((mode, _)) = mode.and_then(|m| fold(ctx, m, 0))
        && mode.contains(['w', 'a', 'x', '+'])
    {
        ctx.fire(
            Check::OpenWrite,
            Some(target),
            node,
            Some(&format!("mode `{mode}`")),
        );
    }
}

/// Whether a string literal anywhere inside the argument contains `fragment`
/// (`open(os.path.join(home, '.ssh/id_rsa'))`).
fn contains_string_with(ctx: &Ctx<'_>, node: Node<'_>, fragment: &str) -> bool {
    let mut hit = false;
    walk(node, |n| {
        if hit {
            return false;
        }
        if n.kind() == "string" {
            hit = string_value(ctx, n).is_some_and(|(s, _)| s.contains(fragment));
            return false;
        }
        true
    });
    hit
}
