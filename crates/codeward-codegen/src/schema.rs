//! JSON Schema to a small type IR shared by both languages: named object types, aliases and
//! type expressions. Whatever the IR cannot express becomes `Unknown` plus a warning.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::ident::{Namer, pascal_case};

/// A type expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ty {
    /// Anything (`unknown` / `Any`).
    Unknown,
    String,
    Number,
    Integer,
    Boolean,
    Null,
    /// A union of scalar literal values (`enum`, `const`).
    Literals(Vec<Value>),
    Array(Box<Ty>),
    /// `prefixItems`: fixed leading items, then optionally more of `rest`.
    Tuple {
        items: Vec<Ty>,
        rest: Option<Box<Ty>>,
    },
    /// An object with only `additionalProperties`.
    Map(Box<Ty>),
    /// A named type: index into [`TypeTable::defs`].
    Named(usize),
    Union(Vec<Ty>),
}

impl Ty {
    /// A union that flattens nested unions and drops duplicates (first occurrence wins).
    pub(crate) fn union(members: Vec<Ty>) -> Ty {
        let mut flat: Vec<Ty> = Vec::new();
        for member in members {
            let parts = match member {
                Ty::Union(inner) => inner,
                other => vec![other],
            };
            for part in parts {
                if !flat.contains(&part) {
                    flat.push(part);
                }
            }
        }
        if flat.contains(&Ty::Unknown) {
            return Ty::Unknown;
        }
        match flat.len() {
            0 => Ty::Unknown,
            1 => flat.remove(0),
            _ => Ty::Union(flat),
        }
    }

    /// Whether `null` is one of the values this type allows.
    pub(crate) fn admits_null(&self) -> bool {
        match self {
            Ty::Null | Ty::Unknown => true,
            Ty::Literals(values) => values.iter().any(Value::is_null),
            Ty::Union(members) => members.iter().any(Ty::admits_null),
            _ => false,
        }
    }
}

/// Human documentation gathered from a schema.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Doc {
    pub description: Option<String>,
    pub default: Option<Value>,
    pub format: Option<String>,
    pub deprecated: bool,
    pub examples: Vec<Value>,
}

impl Doc {
    fn from_schema(schema: &Value) -> Doc {
        let text = |key: &str| {
            schema
                .get(key)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let mut examples: Vec<Value> = schema
            .get("examples")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(example) = schema.get("example") {
            examples.push(example.clone());
        }
        Doc {
            description: text("description").or_else(|| text("title")),
            default: schema.get("default").cloned(),
            format: text("format"),
            deprecated: schema.get("deprecated").and_then(Value::as_bool) == Some(true),
            examples,
        }
    }
}

/// One property of an object type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Field {
    /// The key on the wire, exactly as the schema spells it.
    pub wire: String,
    pub ty: Ty,
    pub required: bool,
    pub doc: Doc,
}

/// What a named type is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DefKind {
    /// An interface / TypedDict. `extra` is the `additionalProperties` schema, if typed.
    Object {
        fields: Vec<Field>,
        extra: Option<Ty>,
    },
    /// `type X = ...`.
    Alias(Ty),
}

/// A named type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TypeDef {
    pub name: String,
    pub description: Option<String>,
    pub kind: DefKind,
}

/// Every named type of one generated module, plus the warnings met while building them.
#[derive(Debug, Default)]
pub(crate) struct TypeTable {
    pub defs: Vec<TypeDef>,
    pub warnings: Vec<String>,
    namer: Namer,
}

/// Keywords that change what values a schema admits and that the IR ignores.
const UNSUPPORTED_KEYWORDS: &[&str] = &[
    "not",
    "if",
    "patternProperties",
    "dependentSchemas",
    "$dynamicRef",
    "$recursiveRef",
];

/// Keywords that make a schema carry type information (as opposed to pure constraints).
const TYPE_KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "$ref",
    "enum",
    "const",
    "items",
    "prefixItems",
    "anyOf",
    "oneOf",
    "allOf",
    "additionalProperties",
];

/// Converts one schema document (a tool's input or output schema).
pub(crate) struct DocConverter<'t, 'd> {
    table: &'t mut TypeTable,
    root: &'d Value,
    /// Names the document in warnings (`demo.notes_add input`).
    origin: String,
    /// JSON pointer of a `$ref` target to its named type.
    refs: HashMap<String, usize>,
    /// Aliases being converted, with the container depth at which each started.
    in_progress: Vec<(usize, usize)>,
    /// How many arrays / maps / objects enclose the current position.
    depth: usize,
    /// Guards against pathological nesting.
    nesting: usize,
    /// Types of the `allOf` schemas converted so far, by their JSON text.
    all_of_types: HashMap<String, Ty>,
    /// `allOf` schemas being converted, by their JSON text.
    all_of_in_progress: Vec<String>,
    /// Schemas converted so far, against [`MAX_CONVERSIONS`].
    conversions: usize,
}

const MAX_NESTING: usize = 64;

/// Schemas one document may convert (each makes at most one named type). Far above what real
/// tools need; it bounds the module a hostile or broken schema can make the generator write.
const MAX_CONVERSIONS: usize = 10_000;

/// Keywords that only document a schema: beside a lone `allOf` `$ref` they change no type.
const ANNOTATION_KEYWORDS: &[&str] = &[
    "title",
    "description",
    "default",
    "examples",
    "example",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$comment",
];

impl<'t, 'd> DocConverter<'t, 'd> {
    pub(crate) fn new(table: &'t mut TypeTable, root: &'d Value, origin: String) -> Self {
        DocConverter {
            table,
            root,
            origin,
            refs: HashMap::new(),
            in_progress: Vec::new(),
            depth: 0,
            nesting: 0,
            all_of_types: HashMap::new(),
            all_of_in_progress: Vec::new(),
            conversions: 0,
        }
    }

    fn warn(&mut self, path: &str, what: impl std::fmt::Display) {
        self.note(path, format!("{what}; typed as unknown / Any"));
    }

    fn note(&mut self, path: &str, what: impl std::fmt::Display) {
        let at = if path.is_empty() { "/" } else { path };
        self.table
            .warnings
            .push(format!("{} {at}: {what}", self.origin));
    }

    /// Converts the document root, naming a root object `name`.
    pub(crate) fn convert_root(&mut self, name: &str) -> Ty {
        let root = self.root;
        // `$ref: "#"` inside the document points back at the root.
        if is_object_like(root) {
            let idx = self.table.reserve(name, &Doc::from_schema(root));
            self.refs.insert(String::new(), idx);
            self.fill_object(idx, root, "");
            return Ty::Named(idx);
        }
        self.convert(root, name, "")
    }

    fn convert(&mut self, schema: &Value, hint: &str, path: &str) -> Ty {
        if self.conversions >= MAX_CONVERSIONS {
            if self.conversions == MAX_CONVERSIONS {
                self.conversions += 1;
                self.note(
                    path,
                    format!(
                        "more than {MAX_CONVERSIONS} schemas to convert in one document; \
                         this one and the rest are typed as unknown / Any"
                    ),
                );
            }
            return Ty::Unknown;
        }
        self.conversions += 1;
        if self.nesting >= MAX_NESTING {
            self.warn(path, format!("nesting deeper than {MAX_NESTING} levels"));
            return Ty::Unknown;
        }
        self.nesting += 1;
        let ty = self.convert_inner(schema, hint, path);
        self.nesting -= 1;
        ty
    }

    fn convert_inner(&mut self, schema: &Value, hint: &str, path: &str) -> Ty {
        let map = match schema {
            Value::Bool(true) => return Ty::Unknown,
            Value::Bool(false) => {
                self.warn(path, "the `false` schema (no value allowed)");
                return Ty::Unknown;
            }
            Value::Object(map) => map,
            _ => {
                self.warn(path, "a schema that is not an object");
                return Ty::Unknown;
            }
        };
        for keyword in UNSUPPORTED_KEYWORDS {
            if map.contains_key(*keyword) {
                self.note(
                    path,
                    format!(
                        "`{keyword}` is not modelled; the generated type may admit more values"
                    ),
                );
            }
        }
        let nullable = map.get("nullable").and_then(Value::as_bool) == Some(true);
        let ty = self.convert_map(map, hint, path);
        if nullable {
            Ty::union(vec![ty, Ty::Null])
        } else {
            ty
        }
    }

    fn convert_map(&mut self, map: &Map<String, Value>, hint: &str, path: &str) -> Ty {
        if let Some(reference) = map.get("$ref") {
            return match reference.as_str() {
                Some(reference) => self.resolve_ref(reference, &format!("{path}/$ref")),
                None => {
                    self.warn(path, "a `$ref` that is not a string");
                    Ty::Unknown
                }
            };
        }
        if let Some(value) = map.get("const") {
            return self.literals(std::slice::from_ref(value), path);
        }
        if let Some(values) = map.get("enum") {
            return match values.as_array() {
                Some(values) if !values.is_empty() => self.literals(values, path),
                _ => {
                    self.warn(path, "an `enum` that is not a non-empty array");
                    Ty::Unknown
                }
            };
        }
        for keyword in ["anyOf", "oneOf"] {
            if let Some(members) = map.get(keyword) {
                let Some(members) = members.as_array() else {
                    self.warn(path, format!("a `{keyword}` that is not an array"));
                    return Ty::Unknown;
                };
                // Members without type information only constrain the base schema
                // (e.g. `anyOf: [{required: [a]}, {required: [b]}]`): type the base.
                if members.iter().all(|m| !has_type_keywords(m)) {
                    continue;
                }
                let mut types: Vec<Ty> = members
                    .iter()
                    .enumerate()
                    .map(|(i, member)| {
                        let name = member
                            .get("title")
                            .and_then(Value::as_str)
                            .map(|t| pascal_case(t, ""))
                            .filter(|t| !t.is_empty())
                            .map(|t| format!("{hint}{t}"))
                            .unwrap_or_else(|| format!("{hint}Option{}", i + 1));
                        self.convert(member, &name, &format!("{path}/{keyword}/{i}"))
                    })
                    .collect();
                if type_names(map).contains(&"null") {
                    types.push(Ty::Null);
                }
                return Ty::union(types);
            }
        }
        if let Some(members) = map.get("allOf") {
            return self.all_of(map, members, hint, path);
        }
        let names = type_names(map);
        match names.as_slice() {
            [] => {
                if map.contains_key("properties") || map.contains_key("additionalProperties") {
                    self.object(map, hint, path)
                } else if map.contains_key("items") || map.contains_key("prefixItems") {
                    self.array(map, hint, path)
                } else {
                    Ty::Unknown
                }
            }
            [one] => self.simple(one, map, hint, path),
            many => {
                let many: Vec<&str> = many.to_vec();
                let types = many
                    .iter()
                    .map(|name| self.simple(name, map, hint, path))
                    .collect();
                Ty::union(types)
            }
        }
    }

    fn simple(&mut self, name: &str, map: &Map<String, Value>, hint: &str, path: &str) -> Ty {
        match name {
            "string" => Ty::String,
            "number" => Ty::Number,
            "integer" => Ty::Integer,
            "boolean" => Ty::Boolean,
            "null" => Ty::Null,
            "object" => self.object(map, hint, path),
            "array" => self.array(map, hint, path),
            other => {
                self.warn(path, format!("type `{other}`"));
                Ty::Unknown
            }
        }
    }

    fn literals(&mut self, values: &[Value], path: &str) -> Ty {
        if values.iter().all(|v| !v.is_object() && !v.is_array()) {
            Ty::Literals(values.to_vec())
        } else {
            self.warn(path, "an `enum` / `const` with object or array values");
            Ty::Unknown
        }
    }

    fn all_of(&mut self, map: &Map<String, Value>, members: &Value, hint: &str, path: &str) -> Ty {
        let Some(members) = members.as_array() else {
            self.warn(path, "an `allOf` that is not an array");
            return Ty::Unknown;
        };
        // A lone `$ref` with only documentation beside it (pydantic documents references this
        // way) is that reference: one named type, however many places use it.
        if let [member] = members.as_slice()
            && let Some(reference) = member.get("$ref").and_then(Value::as_str)
            && member
                .as_object()
                .is_some_and(|m| only_annotations(m, &["$ref"]))
            && only_annotations(map, &["allOf", "nullable"])
        {
            return self.resolve_ref(reference, &format!("{path}/allOf/0/$ref"));
        }
        // Members are merged in place, so an `allOf` inside a shared definition would be
        // converted again at every use, twice as often at every level of nesting: convert
        // each distinct `allOf` once.
        let key = serde_json::to_string(map).unwrap_or_default();
        if let Some(ty) = self.all_of_types.get(&key).cloned() {
            if direct_names(&ty).any(|idx| self.refers_to_itself(idx)) {
                self.warn(path, "an `allOf` that is part of its own definition");
                return Ty::Unknown;
            }
            return ty;
        }
        if self.all_of_in_progress.contains(&key) {
            self.warn(path, "an `allOf` that contains itself");
            return Ty::Unknown;
        }
        self.all_of_in_progress.push(key.clone());
        let ty = self.merge_all_of(map, members, hint, path);
        self.all_of_in_progress.pop();
        self.all_of_types.insert(key, ty.clone());
        ty
    }

    fn merge_all_of(
        &mut self,
        map: &Map<String, Value>,
        members: &[Value],
        hint: &str,
        path: &str,
    ) -> Ty {
        // Merge the members into one schema: properties and required add up, other keywords
        // keep their first value. That is exact for the usual "base object + extension" use.
        let mut merged = map.clone();
        merged.remove("allOf");
        for (i, member) in members.iter().enumerate() {
            let member = match member.get("$ref").and_then(Value::as_str) {
                Some(reference) => match self.lookup(reference) {
                    Some(target) => target,
                    None => {
                        self.warn(&format!("{path}/allOf/{i}"), "an unresolvable `$ref`");
                        return Ty::Unknown;
                    }
                },
                None => member,
            };
            let Some(member) = member.as_object() else {
                continue;
            };
            for (key, value) in member {
                match (key.as_str(), merged.get_mut(key)) {
                    ("properties", Some(Value::Object(props))) => {
                        if let Some(more) = value.as_object() {
                            for (k, v) in more {
                                props.entry(k.clone()).or_insert_with(|| v.clone());
                            }
                        }
                    }
                    ("required", Some(Value::Array(required))) => {
                        for name in value.as_array().into_iter().flatten() {
                            if !required.contains(name) {
                                required.push(name.clone());
                            }
                        }
                    }
                    (_, Some(_)) => {}
                    (_, None) => {
                        merged.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        self.convert(&Value::Object(merged), hint, path)
    }

    /// Whether `idx` is an alias being converted at this container depth: naming it here would
    /// make it part of its own definition.
    fn refers_to_itself(&self, idx: usize) -> bool {
        self.in_progress
            .iter()
            .any(|&(i, started_at)| i == idx && self.depth <= started_at)
    }

    fn lookup(&self, reference: &str) -> Option<&'d Value> {
        let pointer = decode_pointer(reference.strip_prefix('#')?);
        self.root.pointer(&pointer)
    }

    fn resolve_ref(&mut self, reference: &str, path: &str) -> Ty {
        // Definitions that are themselves only a reference are followed, not named twice;
        // `chain` holds the pointers followed so far, to catch a cycle or an endless chain.
        let original = reference;
        let mut reference = reference.to_owned();
        let mut chain: Vec<String> = Vec::new();
        let (pointer, target) = loop {
            let Some(fragment) = reference.strip_prefix('#') else {
                self.warn(path, format!("the external `$ref` {reference:?}"));
                return Ty::Unknown;
            };
            let pointer = decode_pointer(fragment);
            if let Some(&idx) = self.refs.get(&pointer) {
                if self.refers_to_itself(idx) {
                    // `type A = A | string` is circular in TypeScript and meaningless anyway.
                    self.warn(
                        path,
                        format!("the `$ref` {reference:?} refers to itself directly"),
                    );
                    return Ty::Unknown;
                }
                return Ty::Named(idx);
            }
            let Some(target) = self.root.pointer(&pointer) else {
                self.warn(path, format!("the unresolvable `$ref` {reference:?}"));
                return Ty::Unknown;
            };
            let Some(next) = target
                .get("$ref")
                .and_then(Value::as_str)
                .filter(|_| target.as_object().is_some_and(|m| m.len() == 1))
            else {
                break (pointer, target);
            };
            if chain.contains(&pointer) {
                chain.push(pointer);
                let cycle: Vec<String> = chain.iter().map(|p| format!("#{p}")).collect();
                self.warn(
                    path,
                    format!("the `$ref`s {} form a cycle", cycle.join(" -> ")),
                );
                return Ty::Unknown;
            }
            if chain.len() >= MAX_NESTING {
                self.warn(
                    path,
                    format!("more than {MAX_NESTING} `$ref`s in a row from {original:?}"),
                );
                return Ty::Unknown;
            }
            chain.push(pointer);
            reference = next.to_owned();
        };
        let last = pointer.rsplit('/').next().unwrap_or_default();
        let base = pascal_case(last, "Type");
        let idx = self.table.reserve(&base, &Doc::from_schema(target));
        self.refs.insert(pointer.clone(), idx);
        for followed in chain {
            self.refs.insert(followed, idx);
        }
        let target_path = format!("#{pointer}");
        if is_object_like(target) {
            self.fill_object(idx, target, &target_path);
        } else {
            self.in_progress.push((idx, self.depth));
            let name = self.table.defs[idx].name.clone();
            let ty = self.convert(target, &name, &target_path);
            self.in_progress.pop();
            self.table.defs[idx].kind = DefKind::Alias(ty);
        }
        Ty::Named(idx)
    }

    fn object(&mut self, map: &Map<String, Value>, hint: &str, path: &str) -> Ty {
        let has_properties = map
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|p| !p.is_empty());
        if !has_properties {
            let value = match map.get("additionalProperties") {
                Some(extra @ Value::Object(_)) => {
                    self.depth += 1;
                    let ty = self.convert(extra, &format!("{hint}Value"), path);
                    self.depth -= 1;
                    ty
                }
                _ => Ty::Unknown,
            };
            return Ty::Map(Box::new(value));
        }
        let schema = Value::Object(map.clone());
        let idx = self.table.reserve(hint, &Doc::from_schema(&schema));
        self.fill_object(idx, &schema, path);
        Ty::Named(idx)
    }

    /// Fills the reserved object type `idx` from `schema`'s properties.
    fn fill_object(&mut self, idx: usize, schema: &Value, path: &str) {
        let name = self.table.defs[idx].name.clone();
        let empty = Map::new();
        let properties = schema
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        // Required properties first, in the order `required` lists them (that order is kept by
        // every JSON parser; property order may not be), then the optional ones.
        let mut order: Vec<&str> = Vec::new();
        for name in &required {
            if properties.contains_key(*name) && !order.contains(name) {
                order.push(name);
            }
        }
        for key in properties.keys() {
            if !required.contains(&key.as_str()) {
                order.push(key);
            }
        }
        self.depth += 1;
        let mut fields = Vec::with_capacity(order.len());
        for key in order {
            let Some(sub) = properties.get(key) else {
                continue;
            };
            let hint = format!("{name}{}", pascal_case(key, "Field"));
            let ty = self.convert(
                sub,
                &hint,
                &format!("{path}/properties/{}", escape_pointer(key)),
            );
            let mut doc = Doc::from_schema(sub);
            if doc.description.is_none()
                && let Some(target) = sub.get("$ref").and_then(Value::as_str)
                && let Some(target) = self.lookup(target)
            {
                doc.description = Doc::from_schema(target).description;
            }
            fields.push(Field {
                wire: key.to_owned(),
                ty,
                required: required.contains(&key),
                doc,
            });
        }
        let extra = match schema.get("additionalProperties") {
            Some(extra @ Value::Object(_)) => Some(self.convert(
                extra,
                &format!("{name}Value"),
                &format!("{path}/additionalProperties"),
            )),
            // Only an explicit `true` opens the type: generators such as zod-to-json-schema say
            // `false` and hand-written schemas usually mean "these properties" when silent.
            Some(Value::Bool(true)) => Some(Ty::Unknown),
            _ => None,
        };
        self.depth -= 1;
        self.table.defs[idx].kind = DefKind::Object { fields, extra };
    }

    fn array(&mut self, map: &Map<String, Value>, hint: &str, path: &str) -> Ty {
        self.depth += 1;
        let prefix = map
            .get("prefixItems")
            .or_else(|| map.get("items").filter(|items| items.is_array()));
        let ty = if let Some(prefix) = prefix.and_then(Value::as_array) {
            let items = prefix
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    self.convert(
                        item,
                        &format!("{hint}Item{}", i + 1),
                        &format!("{path}/prefixItems/{i}"),
                    )
                })
                .collect();
            let rest_schema = if map.contains_key("prefixItems") {
                map.get("items")
            } else {
                map.get("additionalItems")
            };
            let rest = match rest_schema {
                Some(Value::Bool(false)) => None,
                Some(schema) => Some(Box::new(self.convert(schema, &format!("{hint}Item"), path))),
                None => Some(Box::new(Ty::Unknown)),
            };
            Ty::Tuple { items, rest }
        } else {
            match map.get("items") {
                Some(items) => {
                    let item =
                        self.convert(items, &format!("{hint}Item"), &format!("{path}/items"));
                    Ty::Array(Box::new(item))
                }
                None => Ty::Array(Box::new(Ty::Unknown)),
            }
        };
        self.depth -= 1;
        ty
    }
}

impl TypeTable {
    /// Claims a unique name and pushes a placeholder definition for it.
    fn reserve(&mut self, base: &str, doc: &Doc) -> usize {
        let name = self.namer.claim(&pascal_case(base, "Type"), "");
        self.defs.push(TypeDef {
            name,
            description: doc.description.clone(),
            kind: DefKind::Alias(Ty::Unknown),
        });
        self.defs.len() - 1
    }
}

/// The `type` keyword as a list of names.
fn type_names(map: &Map<String, Value>) -> Vec<&str> {
    match map.get("type") {
        Some(Value::String(name)) => vec![name.as_str()],
        Some(Value::Array(names)) => {
            let mut out: Vec<&str> = Vec::new();
            for name in names.iter().filter_map(Value::as_str) {
                if !out.contains(&name) {
                    out.push(name);
                }
            }
            out
        }
        _ => Vec::new(),
    }
}

fn has_type_keywords(schema: &Value) -> bool {
    match schema {
        Value::Object(map) => TYPE_KEYWORDS.iter().any(|k| map.contains_key(*k)),
        _ => false,
    }
}

/// Whether every keyword of `map` but those in `except` only documents the schema.
fn only_annotations(map: &Map<String, Value>, except: &[&str]) -> bool {
    map.keys()
        .map(String::as_str)
        .all(|k| except.contains(&k) || ANNOTATION_KEYWORDS.contains(&k))
}

/// The named types `ty` is made of directly (itself, or members of a union).
fn direct_names(ty: &Ty) -> impl Iterator<Item = usize> + '_ {
    let members = match ty {
        Ty::Union(members) => members.as_slice(),
        other => std::slice::from_ref(other),
    };
    members.iter().filter_map(|m| match m {
        Ty::Named(idx) => Some(*idx),
        _ => None,
    })
}

/// Whether a schema becomes a named object type (an object with properties and nothing that
/// would make it a union or a literal).
fn is_object_like(schema: &Value) -> bool {
    let Some(map) = schema.as_object() else {
        return false;
    };
    let names = type_names(map);
    let typed_object = names == ["object"] || (names.is_empty() && map.contains_key("properties"));
    typed_object
        && map
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|p| !p.is_empty())
        && ![
            "$ref", "anyOf", "oneOf", "allOf", "enum", "const", "nullable",
        ]
        .iter()
        .any(|k| map.contains_key(*k))
}

/// Percent-decodes a URI fragment into a JSON pointer.
fn decode_pointer(fragment: &str) -> String {
    let bytes = fragment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(high * 16 + low);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn convert(schema: Value) -> (Ty, TypeTable) {
        let mut table = TypeTable::default();
        let ty = DocConverter::new(&mut table, &schema, "t".into()).convert_root("Root");
        (ty, table)
    }

    #[test]
    fn nullable_and_type_lists() {
        let (ty, _) = convert(json!({"type": ["string", "null"]}));
        assert_eq!(ty, Ty::Union(vec![Ty::String, Ty::Null]));
        let (ty, _) = convert(json!({"type": "integer", "nullable": true}));
        assert_eq!(ty, Ty::Union(vec![Ty::Integer, Ty::Null]));
    }

    #[test]
    fn direct_self_reference_is_refused() {
        let (ty, table) = convert(
            json!({"$ref": "#/$defs/A", "$defs": {"A": {"anyOf": [{"$ref": "#/$defs/A"}, {"type": "string"}]}}}),
        );
        assert_eq!(ty, Ty::Named(0));
        assert_eq!(table.defs[0].kind, DefKind::Alias(Ty::Unknown));
        assert_eq!(table.warnings.len(), 1, "{:?}", table.warnings);
    }

    #[test]
    fn recursion_through_an_array_is_kept() {
        let (_, table) = convert(
            json!({"$ref": "#/$defs/A", "$defs": {"A": {"anyOf": [{"type": "array", "items": {"$ref": "#/$defs/A"}}, {"type": "string"}]}}}),
        );
        assert_eq!(
            table.defs[0].kind,
            DefKind::Alias(Ty::Union(vec![
                Ty::Array(Box::new(Ty::Named(0))),
                Ty::String
            ]))
        );
        assert!(table.warnings.is_empty());
    }

    #[test]
    fn an_all_of_inside_its_own_merge_is_refused() {
        // Each use of A extends A again: without the memo this recursed twice per level.
        let extend = json!({"allOf": [{"$ref": "#/$defs/A"}], "type": "object"});
        let (_, table) = convert(json!({
            "$ref": "#/$defs/A",
            "$defs": {"A": {"type": "object", "properties": {"x": extend, "y": extend}}},
        }));
        assert!(table.defs.len() <= 3, "{:#?}", table.defs);
        assert!(
            table.warnings[0].ends_with("an `allOf` that contains itself; typed as unknown / Any"),
            "{:?}",
            table.warnings
        );
    }

    #[test]
    fn a_document_converts_a_bounded_number_of_schemas() {
        let properties: Map<String, Value> = (0..10_050)
            .map(|i| (format!("p{i:05}"), json!({"type": "string"})))
            .collect();
        let (_, table) = convert(json!({"type": "object", "properties": properties}));
        assert_eq!(table.warnings.len(), 1, "{:?}", table.warnings);
        assert!(
            table.warnings[0].starts_with("t /properties/p10000: more than 10000 schemas"),
            "{:?}",
            table.warnings
        );
        let DefKind::Object { fields, .. } = &table.defs[0].kind else {
            panic!("an object");
        };
        assert_eq!(fields[9_999].ty, Ty::String);
        assert!(fields[10_000..].iter().all(|f| f.ty == Ty::Unknown));
    }

    #[test]
    fn pointers_decode() {
        assert_eq!(decode_pointer("/$defs/My%20Type"), "/$defs/My Type");
        assert_eq!(decode_pointer("/a%2"), "/a%2");
    }
}
