//! The language-neutral plan of a module: tools grouped by server, each with its input and
//! output types resolved into the shared [`TypeTable`].

use codeward_core::ToolSchema;
use serde_json::Value;

use crate::schema::{DefKind, DocConverter, Ty, TypeTable};

/// Namespace for tools that name no server.
pub(crate) const DEFAULT_SERVER: &str = "tools";

/// How a function takes its arguments.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Input {
    /// A named object type with properties.
    Object(usize),
    /// Any object: keys of type `Ty` (unknown when the schema says nothing).
    Open(Ty),
    /// Anything else the schema allows (rare; sent as is).
    Other(Ty),
}

/// One generated function.
#[derive(Debug)]
pub(crate) struct FnPlan<'a> {
    pub tool: &'a ToolSchema,
    /// The qualified tool name, sent on the wire.
    pub wire: String,
    pub input: Input,
    pub output: Option<Ty>,
}

/// The tools of one server.
#[derive(Debug)]
pub(crate) struct ServerPlan<'a> {
    /// The server's name as the catalogue spells it.
    pub key: String,
    pub functions: Vec<FnPlan<'a>>,
}

/// Everything a renderer needs.
#[derive(Debug)]
pub(crate) struct Plan<'a> {
    pub table: TypeTable,
    pub servers: Vec<ServerPlan<'a>>,
}

impl<'a> Plan<'a> {
    /// Plans a module for `tools`, in their order (servers in order of first appearance).
    pub(crate) fn new(tools: &'a [ToolSchema]) -> Plan<'a> {
        let mut table = TypeTable::default();
        let mut servers: Vec<ServerPlan<'a>> = Vec::new();
        for tool in tools {
            let key = tool
                .server
                .clone()
                .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
            let wire = tool.qualified_name();
            let base = crate::ident::pascal_case(&tool.name, "Tool");
            let input_ty =
                DocConverter::new(&mut table, &tool.input_schema, format!("{wire} input"))
                    .convert_root(&format!("{base}Input"));
            let input = match input_ty {
                Ty::Named(idx) if matches!(table.defs[idx].kind, DefKind::Object { .. }) => {
                    Input::Object(idx)
                }
                Ty::Map(value) => Input::Open(*value),
                Ty::Unknown if is_plain_object(&tool.input_schema) => Input::Open(Ty::Unknown),
                other => Input::Other(other),
            };
            let output = tool.output_schema.as_ref().map(|schema| {
                DocConverter::new(&mut table, schema, format!("{wire} output"))
                    .convert_root(&format!("{base}Output"))
            });
            let plan = FnPlan {
                tool,
                wire,
                input,
                output,
            };
            match servers.iter_mut().find(|s| s.key == key) {
                Some(server) => server.functions.push(plan),
                None => servers.push(ServerPlan {
                    key,
                    functions: vec![plan],
                }),
            }
        }
        Plan { table, servers }
    }
}

/// `{}` or `{"type": "object"}` and friends: an object with nothing said about its keys.
fn is_plain_object(schema: &Value) -> bool {
    match schema {
        Value::Object(map) => map.get("type").is_none_or(|t| t == "object"),
        Value::Bool(true) => true,
        _ => false,
    }
}
