//! The server list in the ecosystem's format (`{"mcpServers": {...}}`, as Claude Desktop and
//! `.mcp.json` use it), parsed with errors that name the file, the line or the server.

use crate::error::{McpError, Result};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The configured servers, by name.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct McpConfig {
    /// Servers by name (the namespace of their tools: `name.tool`).
    pub servers: BTreeMap<String, ServerConfig>,
}

/// How to reach one server.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerConfig {
    /// A local program speaking MCP on stdin/stdout.
    Stdio(StdioServer),
    /// A remote server (`{"url": ...}`).
    Http(HttpServer),
}

/// A server started as a child process.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct StdioServer {
    /// The program (looked up on `PATH` when it has no `/`).
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment variables (on top of the host environment); may hold secrets.
    pub env: BTreeMap<String, String>,
    /// The working directory (relative paths in a config file are relative to the file).
    pub cwd: Option<PathBuf>,
}

/// A server reached over HTTP.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct HttpServer {
    /// The endpoint.
    pub url: String,
    /// Extra request headers (often an `Authorization` secret).
    pub headers: BTreeMap<String, String>,
    /// `true` for the legacy SSE transport (`"type": "sse"`).
    pub legacy_sse: bool,
}

impl StdioServer {
    /// A server run as `command`, no arguments.
    pub fn new(command: impl Into<String>) -> Self {
        StdioServer {
            command: command.into(),
            args: Vec::new(),
            env: BTreeMap::new(),
            cwd: None,
        }
    }

    /// Adds one argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for the server.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Sets the working directory.
    pub fn cwd(mut self, cwd: impl Into<PathBuf>) -> Self {
        self.cwd = Some(cwd.into());
        self
    }

    /// The command line, for messages (arguments are not secret by convention; env values are).
    pub fn command_line(&self) -> String {
        std::iter::once(self.command.as_str())
            .chain(self.args.iter().map(String::as_str))
            .map(|part| {
                if part.is_empty() || part.contains(char::is_whitespace) {
                    format!("{part:?}")
                } else {
                    part.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

// Env values and headers often carry tokens: Debug shows their names only.
impl fmt::Debug for StdioServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StdioServer")
            .field("command", &self.command)
            .field("args", &self.args)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("cwd", &self.cwd)
            .finish()
    }
}

impl HttpServer {
    /// A server at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        HttpServer {
            url: url.into(),
            headers: BTreeMap::new(),
            legacy_sse: false,
        }
    }
}

impl fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpServer")
            .field("url", &self.url)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("legacy_sse", &self.legacy_sse)
            .finish()
    }
}

impl From<StdioServer> for ServerConfig {
    fn from(server: StdioServer) -> Self {
        ServerConfig::Stdio(server)
    }
}

impl From<HttpServer> for ServerConfig {
    fn from(server: HttpServer) -> Self {
        ServerConfig::Http(server)
    }
}

impl McpConfig {
    /// An empty config.
    pub fn new() -> Self {
        McpConfig::default()
    }

    /// Adds a server; its name must be usable as a namespace (letters, digits, `_`, `-`).
    pub fn with_server(
        mut self,
        name: impl Into<String>,
        server: impl Into<ServerConfig>,
    ) -> Result<Self> {
        let name = name.into();
        check_name("<code>", &name)?;
        self.servers.insert(name, server.into());
        Ok(self)
    }

    /// Reads a config file; `${VAR}` references are resolved from the host environment.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| McpError::ConfigRead {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().map(Path::to_path_buf);
        parse(
            &text,
            &path.display().to_string(),
            base.as_deref(),
            &|var| std::env::var(var).ok(),
        )
    }

    /// Parses config text (`origin` names it in errors); `${VAR}` comes from the host environment.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        parse(text, origin, None, &|var| std::env::var(var).ok())
    }

    /// Parses config text with an explicit variable lookup (for tests and embedding).
    pub fn parse_with_env(
        text: &str,
        origin: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        parse(text, origin, None, lookup)
    }
}

fn check_name(origin: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(McpError::ConfigEntry {
            origin: origin.to_owned(),
            server: name.to_owned(),
            problem: "a server name may hold only ASCII letters, digits, '_' and '-' (it prefixes tool names as \"name.tool\")".into(),
        })
    }
}

fn parse(
    text: &str,
    origin: &str,
    base: Option<&Path>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<McpConfig> {
    let doc: Value = serde_json::from_str(text).map_err(|e| McpError::ConfigSyntax {
        origin: origin.to_owned(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let shape = |problem: &str| McpError::ConfigShape {
        origin: origin.to_owned(),
        problem: problem.to_owned(),
    };
    let top = doc
        .as_object()
        .ok_or_else(|| shape("the top level is not an object"))?;
    // VS Code spells the key "servers"; everyone else "mcpServers".
    let servers = match (top.get("mcpServers"), top.get("servers")) {
        (Some(_), Some(_)) => {
            return Err(shape(
                "both \"mcpServers\" and \"servers\" are present; keep one",
            ));
        }
        (Some(s), None) | (None, Some(s)) => s,
        (None, None) => return Err(shape("no \"mcpServers\" key")),
    };
    let servers = servers
        .as_object()
        .ok_or_else(|| shape("\"mcpServers\" is not an object of servers by name"))?;
    let mut config = McpConfig::new();
    for (name, value) in servers {
        check_name(origin, name)?;
        let entry = Entry {
            origin,
            server: name,
            lookup,
        };
        let object = value
            .as_object()
            .ok_or_else(|| entry.error("the entry is not an object"))?;
        if let Some(server) = entry.server(object, base)? {
            config.servers.insert(name.clone(), server);
        }
    }
    Ok(config)
}

struct Entry<'a> {
    origin: &'a str,
    server: &'a str,
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Entry<'_> {
    fn error(&self, problem: impl Into<String>) -> McpError {
        McpError::ConfigEntry {
            origin: self.origin.to_owned(),
            server: self.server.to_owned(),
            problem: problem.into(),
        }
    }

    fn string(&self, entry: &Map<String, Value>, key: &str) -> Result<Option<String>> {
        match entry.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => self.expand(s, key).map(Some),
            Some(other) => Err(self.error(format!(
                "\"{key}\" must be a string, got {}",
                json_type(other)
            ))),
        }
    }

    fn strings(&self, entry: &Map<String, Value>, key: &str) -> Result<Vec<String>> {
        match entry.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) => self.expand(s, &format!("{key}[{i}]")),
                    other => Err(self.error(format!(
                        "\"{key}[{i}]\" must be a string, got {}",
                        json_type(other)
                    ))),
                })
                .collect(),
            Some(other) => Err(self.error(format!(
                "\"{key}\" must be an array of strings, got {}",
                json_type(other)
            ))),
        }
    }

    fn string_map(
        &self,
        entry: &Map<String, Value>,
        key: &str,
    ) -> Result<BTreeMap<String, String>> {
        match entry.get(key) {
            None | Some(Value::Null) => Ok(BTreeMap::new()),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), self.expand(s, &format!("{key}.{k}"))?)),
                    // Numbers and booleans are common in hand-written env blocks; keep their text.
                    Value::Number(n) => Ok((k.clone(), n.to_string())),
                    Value::Bool(b) => Ok((k.clone(), b.to_string())),
                    other => Err(self.error(format!(
                        "\"{key}.{k}\" must be a string, got {}",
                        json_type(other)
                    ))),
                })
                .collect(),
            Some(other) => Err(self.error(format!(
                "\"{key}\" must be an object of strings, got {}",
                json_type(other)
            ))),
        }
    }

    fn expand(&self, text: &str, field: &str) -> Result<String> {
        expand_vars(text, self.lookup)
            .map_err(|problem| self.error(format!("\"{field}\": {problem}")))
    }

    /// The entry as a server, or `None` when it is disabled.
    fn server(
        &self,
        entry: &Map<String, Value>,
        base: Option<&Path>,
    ) -> Result<Option<ServerConfig>> {
        if entry.get("disabled") == Some(&Value::Bool(true)) {
            return Ok(None);
        }
        let kind = self.string(entry, "type")?;
        let command = self.string(entry, "command")?;
        let url = self.string(entry, "url")?;
        match (command, url) {
            (Some(_), Some(_)) => Err(self.error("has both \"command\" and \"url\"; keep one")),
            (None, None) => Err(self.error(
                "needs \"command\" (a program speaking MCP on stdio) or \"url\" (an HTTP server)",
            )),
            (Some(command), None) => {
                if let Some(kind) = kind.as_deref().filter(|k| *k != "stdio") {
                    return Err(self.error(format!("\"type\": {kind:?} does not go with \"command\"; use \"stdio\" or drop \"type\"")));
                }
                if command.trim().is_empty() {
                    return Err(self.error("\"command\" is empty"));
                }
                let cwd = self
                    .string(entry, "cwd")?
                    .map(PathBuf::from)
                    .map(|cwd| match base {
                        Some(base) if cwd.is_relative() => base.join(cwd),
                        _ => cwd,
                    });
                Ok(Some(ServerConfig::Stdio(StdioServer {
                    command,
                    args: self.strings(entry, "args")?,
                    env: self.string_map(entry, "env")?,
                    cwd,
                })))
            }
            (None, Some(url)) => {
                let legacy_sse = match kind.as_deref() {
                    None | Some("http") | Some("streamable-http") | Some("streamableHttp") => false,
                    Some("sse") => true,
                    Some(other) => {
                        return Err(self.error(format!(
                            "\"type\": {other:?} does not go with \"url\"; use \"http\" or \"sse\""
                        )));
                    }
                };
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(self.error(format!(
                        "\"url\" must start with http:// or https://, got {url:?}"
                    )));
                }
                Ok(Some(ServerConfig::Http(HttpServer {
                    url,
                    headers: self.string_map(entry, "headers")?,
                    legacy_sse,
                })))
            }
        }
    }
}

pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Replaces `${VAR}` and `${VAR:-default}` with values from `lookup`. A `$` not followed by
/// `{` is kept as is (paths and shell snippets use it).
pub(crate) fn expand_vars(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated \"${{\" in {text:?}; write ${{NAME}}"))?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(format!(
                "\"${{{inner}}}\" is not a variable reference; use ${{NAME}} or ${{NAME:-default}}"
            ));
        }
        match (lookup(name), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => {
                return Err(format!(
                    "environment variable {name} is not set; set it on the host or write ${{{name}:-default}}"
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(var: &str) -> Option<String> {
        (var == "TOKEN").then(|| "s3cret".to_owned())
    }

    #[test]
    fn expands_variables() {
        assert_eq!(
            expand_vars("a ${TOKEN} b", &env).as_deref(),
            Ok("a s3cret b")
        );
        assert_eq!(
            expand_vars("${NOPE:-x}/${TOKEN}", &env).as_deref(),
            Ok("x/s3cret")
        );
        assert_eq!(
            expand_vars("$HOME and $", &env).as_deref(),
            Ok("$HOME and $")
        );
        assert!(
            expand_vars("${NOPE}", &env)
                .unwrap_err()
                .contains("NOPE is not set")
        );
        assert!(
            expand_vars("${TOKEN", &env)
                .unwrap_err()
                .contains("unterminated")
        );
        assert!(
            expand_vars("${1X}", &env)
                .unwrap_err()
                .contains("not a variable")
        );
    }

    #[test]
    fn debug_hides_secrets() {
        let server = StdioServer::new("x").env("API_KEY", "s3cret");
        let shown = format!("{server:?}");
        assert!(
            shown.contains("API_KEY") && !shown.contains("s3cret"),
            "{shown}"
        );
    }
}
