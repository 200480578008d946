//! The `CodeValidator` implementation: parse with tree-sitter, resolve names, match rules.
//! Language specifics live in `python.rs` and `typescript.rs`; the shared machinery is here.

mod python;
mod typescript;

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

use codeward_core::{
    ApiBinding, CodeValidator, Finding, FindingCategory, GeneratedApi, Language, Severity,
    ToolSchema, ValidationReport,
};
use tree_sitter::{Node, Parser, Tree};

use crate::error::SecurityError;
use crate::rules::{Check, Compiled, RuleSet};

/// Longest snippet kept in a finding (characters).
const SNIPPET_MAX: usize = 120;
/// Recursion bound for expression resolution and constant folding (deeply nested input
/// must not overflow the stack).
pub(crate) const MAX_DEPTH: usize = 48;

/// Parser-based validator for Python and TypeScript/JavaScript programs.
///
/// `Send + Sync`; build it once and share it (`Arc<dyn CodeValidator>`). Rules are compiled
/// when the validator is built, never lazily during validation.
#[derive(Debug, Clone)]
pub struct Validator {
    python: RuleSet,
    typescript: RuleSet,
}

/// Configures a [`Validator`]: rule files that replace the built-in ones.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ValidatorBuilder {
    python_rules: Option<PathBuf>,
    typescript_rules: Option<PathBuf>,
}

impl ValidatorBuilder {
    /// Uses this rule file for Python instead of the built-in `rules/python.toml`.
    pub fn python_rules(mut self, path: impl Into<PathBuf>) -> Self {
        self.python_rules = Some(path.into());
        self
    }

    /// Uses this rule file for TypeScript/JavaScript instead of `rules/typescript.toml`.
    pub fn typescript_rules(mut self, path: impl Into<PathBuf>) -> Self {
        self.typescript_rules = Some(path.into());
        self
    }

    /// Compiles the rules and checks that both grammars load.
    pub fn build(self) -> Result<Validator, SecurityError> {
        let python = match &self.python_rules {
            Some(path) => RuleSet::from_file(Language::Python, path)?,
            None => RuleSet::builtin(Language::Python)?,
        };
        let typescript = match &self.typescript_rules {
            Some(path) => RuleSet::from_file(Language::TypeScript, path)?,
            None => RuleSet::builtin(Language::TypeScript)?,
        };
        for grammar in [Grammar::Python, Grammar::TypeScript, Grammar::JavaScript] {
            with_parser(grammar, |_| ())?;
        }
        Ok(Validator { python, typescript })
    }
}

impl Validator {
    /// A validator with the built-in rules.
    pub fn new() -> Result<Validator, SecurityError> {
        ValidatorBuilder::default().build()
    }

    /// A builder, to override rule files.
    pub fn builder() -> ValidatorBuilder {
        ValidatorBuilder::default()
    }

    /// A validator with the given rule sets (already compiled).
    pub fn with_rules(python: RuleSet, typescript: RuleSet) -> Validator {
        Validator { python, typescript }
    }

    /// The rule set used for `language`.
    pub fn rules(&self, language: Language) -> &RuleSet {
        match language {
            Language::Python => &self.python,
            _ => &self.typescript,
        }
    }

    /// Validates `code`; the typed variant of [`CodeValidator::validate`]. Tool calls are
    /// recognised by the usual spellings of each tool's server and name.
    pub fn check(
        &self,
        code: &str,
        language: Language,
        tools: &[ToolSchema],
    ) -> Result<ValidationReport, SecurityError> {
        self.check_with(code, language, tools, &[])
    }

    /// Validates a program written against `api`: tool calls are also recognised by the
    /// exact identifiers the generated module uses ([`GeneratedApi::bindings`]), so renamed
    /// ones (`fs_`, `import_`, `myNotes2`) count too. The typed variant of
    /// [`CodeValidator::validate_for_api`].
    pub fn check_for_api(
        &self,
        code: &str,
        api: &GeneratedApi,
        tools: &[ToolSchema],
    ) -> Result<ValidationReport, SecurityError> {
        self.check_with(code, api.language, tools, &api.bindings)
    }

    fn check_with(
        &self,
        code: &str,
        language: Language,
        tools: &[ToolSchema],
        bindings: &[ApiBinding],
    ) -> Result<ValidationReport, SecurityError> {
        let rules = self.rules(language);
        let tool_matcher = ToolMatcher::new(tools, bindings);
        let mut report = ValidationReport::default();
        report.rules_version = format!("{}@{}", language.as_str(), rules.version());
        match language {
            Language::Python => {
                let code = &*python_newlines(code);
                if let Some(f) = encoding_finding(code) {
                    report.findings.push(f);
                    return Ok(report);
                }
                let tree = with_parser(Grammar::Python, |p| p.parse(code, None))?;
                let Some(tree) = tree else {
                    report.findings.push(parse_failure(language));
                    return Ok(report);
                };
                if let Some(f) = syntax_finding(&tree, code, language) {
                    report.findings.push(f);
                    return Ok(report);
                }
                let mut ctx = Ctx::new(code, rules.compiled(), &tool_matcher, &python::NAMES);
                python::analyze(&mut ctx, tree.root_node());
                ctx.finish(&mut report);
            }
            _ => {
                let ts = with_parser(Grammar::TypeScript, |p| p.parse(code, None))?;
                let Some(ts) = ts else {
                    report.findings.push(parse_failure(language));
                    return Ok(report);
                };
                // TypeScript first; plain JavaScript (JSX, some legacy syntax) is not always
                // valid TypeScript, so a clean JavaScript parse is accepted too.
                let tree = if ts.root_node().has_error() {
                    match with_parser(Grammar::JavaScript, |p| p.parse(code, None))? {
                        Some(js) if !js.root_node().has_error() => js,
                        _ => {
                            if let Some(f) = syntax_finding(&ts, code, language) {
                                report.findings.push(f);
                            }
                            return Ok(report);
                        }
                    }
                } else {
                    ts
                };
                let mut ctx = Ctx::new(code, rules.compiled(), &tool_matcher, &typescript::NAMES);
                typescript::analyze(&mut ctx, tree.root_node());
                ctx.finish(&mut report);
            }
        }
        Ok(report)
    }
}

impl CodeValidator for Validator {
    fn validate(
        &self,
        code: &str,
        language: Language,
        tools: &[ToolSchema],
    ) -> codeward_core::Result<ValidationReport> {
        self.check(code, language, tools).map_err(Into::into)
    }

    fn validate_for_api(
        &self,
        code: &str,
        api: &GeneratedApi,
        tools: &[ToolSchema],
    ) -> codeward_core::Result<ValidationReport> {
        self.check_for_api(code, api, tools).map_err(Into::into)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Grammar {
    Python,
    TypeScript,
    JavaScript,
}

thread_local! {
    // A tree-sitter Parser is not Sync; one per thread and grammar avoids both locking and
    // re-creating parsers on every call.
    static PARSERS: RefCell<HashMap<Grammar, Parser>> = RefCell::new(HashMap::new());
}

fn with_parser<T>(grammar: Grammar, f: impl FnOnce(&mut Parser) -> T) -> Result<T, SecurityError> {
    PARSERS.with(|cell| {
        let mut parsers = cell.borrow_mut();
        if let std::collections::hash_map::Entry::Vacant(e) = parsers.entry(grammar) {
            let (language, name): (tree_sitter::Language, &'static str) = match grammar {
                Grammar::Python => (tree_sitter_python::LANGUAGE.into(), "python"),
                Grammar::TypeScript => (
                    tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
                    "typescript",
                ),
                Grammar::JavaScript => (tree_sitter_javascript::LANGUAGE.into(), "javascript"),
            };
            let mut parser = Parser::new();
            parser
                .set_language(&language)
                .map_err(|e| SecurityError::Parser {
                    language: name,
                    message: e.to_string(),
                })?;
            e.insert(parser);
        }
        match parsers.get_mut(&grammar) {
            Some(parser) => Ok(f(parser)),
            None => Err(SecurityError::Parser {
                language: "unknown",
                message: "parser cache lost its entry".into(),
            }),
        }
    })
}

fn parse_failure(language: Language) -> Finding {
    let mut f = Finding::new(
        format!("{}.syntax", prefix(language)),
        FindingCategory::Syntax,
        Severity::Error,
        "the parser gave up on this program",
        1,
        1,
    );
    f.suggestion = "make sure the program is valid source text".into();
    f
}

/// The source as CPython reads it: a lone CR ends a line (universal newlines), and
/// tree-sitter would otherwise keep the code after it inside a `#` comment. CR and LF are
/// one byte each, so every position stays where it was.
fn python_newlines(code: &str) -> Cow<'_, str> {
    if !code.contains('\r') {
        return Cow::Borrowed(code);
    }
    let mut out = String::with_capacity(code.len());
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' && chars.peek() != Some(&'\n') {
            out.push('\n');
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A `py.encoding` finding (category `Syntax`, so the program is refused as invalid) when
/// line 1 or 2 declares a source encoding other than UTF-8 (PEP 263). CPython decodes the
/// file's bytes with the declared codec, so under `utf-7` a line that is a comment here
/// (`# +AAo-import os`) is code there: what was checked would not be what runs.
fn encoding_finding(code: &str) -> Option<Finding> {
    // CPython strips a UTF-8 byte order mark before it looks for the declaration.
    let text = code.strip_prefix('\u{feff}').unwrap_or(code);
    // CPython honours the first declaration (on line 2 only after a comment line); any
    // other than UTF-8 on either line is refused, whichever one a given version reads.
    let (index, name) = text
        .split('\n')
        .take(2)
        .enumerate()
        .filter_map(|(i, line)| coding_declaration(line).map(|name| (i, name)))
        .find(|(_, name)| {
            let normal = name.to_ascii_lowercase().replace('_', "-");
            normal != "utf-8" && normal != "utf8"
        })?;
    let mut f = Finding::new(
        "py.encoding",
        FindingCategory::Syntax,
        Severity::Error,
        format!(
            "the program declares the source encoding `{name}`; only UTF-8 is accepted, because \
             Python would decode it as {name} and run something other than what was checked"
        ),
        u32::try_from(index + 1).unwrap_or(u32::MAX),
        1,
    );
    f.snippet = cap(text.split('\n').nth(index).unwrap_or("").trim());
    f.suggestion = "remove the `coding:` comment (or declare `utf-8`) and validate again".into();
    Some(f)
}

/// The encoding a PEP 263 declaration on `line` names, found as CPython's tokenizer finds it
/// (`^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)`): the first `coding:` or `coding=` in a comment
/// line that is followed by a name. Names may hold any alphanumeric character here (CPython
/// stops at non-ASCII ones), so a declaration is never missed, only refused more often.
fn coding_declaration(line: &str) -> Option<&str> {
    let mut rest = line
        .trim_start_matches([' ', '\t', '\x0c'])
        .strip_prefix('#')?;
    while let Some(at) = rest.find("coding") {
        rest = &rest[at + "coding".len()..];
        if let Some(value) = rest.strip_prefix([':', '=']) {
            let value = value.trim_start_matches([' ', '\t']);
            let end = value
                .find(|c: char| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.')))
                .unwrap_or(value.len());
            if end > 0 {
                return Some(&value[..end]);
            }
        }
    }
    None
}

fn prefix(language: Language) -> &'static str {
    match language {
        Language::Python => "py",
        _ => "ts",
    }
}

/// The first ERROR or MISSING node in document order, as a finding.
fn syntax_finding(tree: &Tree, code: &str, language: Language) -> Option<Finding> {
    let root = tree.root_node();
    if !root.has_error() {
        return None;
    }
    let mut cursor = root.walk();
    let bad = loop {
        let node = cursor.node();
        if node.is_error() || node.is_missing() {
            break Some(node);
        }
        // Descend only into subtrees that contain the error.
        if node.has_error() && cursor.goto_first_child() {
            continue;
        }
        let mut advanced = false;
        while !advanced {
            if cursor.goto_next_sibling() {
                advanced = true;
            } else if !cursor.goto_parent() {
                break;
            }
        }
        if !advanced {
            break None;
        }
    }
    .unwrap_or(root);
    let (line, column) = position(code, bad);
    let message = if bad.is_missing() {
        format!("syntax error: missing `{}`", bad.kind())
    } else {
        let text = snippet(code, bad);
        if text.is_empty() {
            "syntax error: unexpected end of input".to_owned()
        } else {
            format!("syntax error: unexpected `{text}`")
        }
    };
    let mut f = Finding::new(
        format!("{}.syntax", prefix(language)),
        FindingCategory::Syntax,
        Severity::Error,
        message,
        line,
        column,
    );
    f.snippet = line_text(code, bad);
    f.suggestion = format!(
        "fix the {} syntax error and validate again",
        language.as_str()
    );
    Some(f)
}

/// 1-based line and column (in characters) of a node's start.
pub(crate) fn position(code: &str, node: Node<'_>) -> (u32, u32) {
    let p = node.start_position();
    let start = node.start_byte().min(code.len());
    let line_start = start - p.column.min(start);
    let column = code
        .get(line_start..start)
        .map(|s| s.chars().count())
        .unwrap_or(p.column);
    (
        u32::try_from(p.row + 1).unwrap_or(u32::MAX),
        u32::try_from(column + 1).unwrap_or(u32::MAX),
    )
}

/// A node's text, first line only, capped.
pub(crate) fn snippet(code: &str, node: Node<'_>) -> String {
    let text = code.get(node.start_byte()..node.end_byte()).unwrap_or("");
    let first = text.lines().next().unwrap_or("").trim_end();
    cap(first)
}

fn line_text(code: &str, node: Node<'_>) -> String {
    let row = node.start_position().row;
    cap(code.lines().nth(row).unwrap_or("").trim())
}

fn cap(text: &str) -> String {
    if text.chars().count() > SNIPPET_MAX {
        let mut s: String = text.chars().take(SNIPPET_MAX).collect();
        s.push('…');
        s
    } else {
        text.to_owned()
    }
}

/// How a name is bound in the analysed program (flow-insensitive: the whole file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Binding {
    /// Resolves to a qualified name (`subprocess.run`, `child_process`).
    Path(String),
    /// A program-defined value that resolves to nothing external.
    Local,
}

/// How a reference's value is used where it appears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Use {
    /// It is called there (the call reports its callee).
    Called,
    /// A member of it is taken (the longer chain is the reference).
    Reached,
    /// Bound to a name the resolver follows (`f = os.system`).
    Aliased,
    /// Dropped or only inspected (`typeof fetch`, `isinstance(x, types.FunctionType)`).
    Ignored,
    /// Stored, passed or returned where the resolver cannot follow it.
    Escapes,
}

/// A language's name resolution, for the checks shared by both languages.
pub(crate) struct Names {
    /// The qualified name an expression refers to (`o.system` -> `os.system`), if any.
    pub(crate) resolve: fn(&Ctx<'_>, Node<'_>, usize) -> Option<String>,
    /// Whether the root of a resolved expression is real (see [`Ctx::anchored`]).
    pub(crate) anchored: fn(&Ctx<'_>, Node<'_>) -> bool,
    /// The language's names for the global namespace (`builtins`, `globalThis`).
    pub(crate) global_objects: &'static [&'static str],
    /// An identifier's source text as the language reads it (`ｅｘｅｃ` is Python's `exec`,
    /// `\u0065val` is JavaScript's `eval`).
    pub(crate) ident: fn(&str) -> Cow<'_, str>,
}

/// State of one analysis run.
pub(crate) struct Ctx<'s> {
    pub(crate) code: &'s str,
    pub(crate) rules: &'s Compiled,
    tools: &'s ToolMatcher,
    names: &'static Names,
    findings: Vec<Finding>,
    seen: HashSet<(usize, usize)>,
    pub(crate) bindings: HashMap<String, Binding>,
    /// Names assigned from decoder output (`payload = base64.b64decode(...)`).
    pub(crate) tainted: HashSet<String>,
    /// Names bound to constant strings, with whether they were assembled.
    pub(crate) consts: HashMap<String, (String, bool)>,
    pub(crate) star_modules: Vec<String>,
    tools_used: BTreeSet<String>,
    /// One entry per (call site inside a loop, tool it may call).
    looped_tools: Vec<String>,
    scratch: Vec<usize>,
}

impl<'s> Ctx<'s> {
    fn new(
        code: &'s str,
        rules: &'s Compiled,
        tools: &'s ToolMatcher,
        names: &'static Names,
    ) -> Self {
        Ctx {
            code,
            rules,
            tools,
            names,
            findings: Vec::new(),
            seen: HashSet::new(),
            bindings: HashMap::new(),
            tainted: HashSet::new(),
            consts: HashMap::new(),
            star_modules: Vec::new(),
            tools_used: BTreeSet::new(),
            looped_tools: Vec::new(),
            scratch: Vec::new(),
        }
    }

    pub(crate) fn text(&self, node: Node<'_>) -> &'s str {
        self.code
            .get(node.start_byte()..node.end_byte())
            .unwrap_or("")
    }

    /// The name an identifier node spells, as the language reads it (see [`Names::ident`]).
    /// Every identifier is read through this before it is bound, resolved or matched.
    pub(crate) fn ident(&self, node: Node<'_>) -> Cow<'s, str> {
        (self.names.ident)(self.text(node))
    }

    /// Binds `name`; a resolved path is never downgraded to local (the program may rebind a
    /// name, and the dangerous meaning must not be lost).
    pub(crate) fn bind(&mut self, name: &str, binding: Binding) {
        match (self.bindings.get(name), &binding) {
            (Some(Binding::Path(_)), Binding::Local) => {}
            _ => {
                self.bindings.insert(name.to_owned(), binding);
            }
        }
    }

    /// Records a finding of rule `rule` at `node` (once per rule and position).
    pub(crate) fn report(&mut self, rule: usize, node: Node<'_>, detail: Option<&str>) {
        if !self.seen.insert((rule, node.start_byte())) {
            return;
        }
        let Some(meta) = self.rules.rules.get(rule) else {
            return;
        };
        let (line, column) = position(self.code, node);
        let message = match detail {
            Some(d) => format!("{}: {d}", meta.message),
            None => meta.message.clone(),
        };
        let mut f = Finding::new(
            meta.id.clone(),
            meta.category,
            meta.severity,
            message,
            line,
            column,
        );
        f.snippet = snippet(self.code, node);
        f.suggestion = meta.suggestion.clone();
        self.findings.push(f);
    }

    /// Reports every call rule matching the resolved callee `name`.
    pub(crate) fn match_call(&mut self, name: &str, node: Node<'_>) {
        let mut hits = std::mem::take(&mut self.scratch);
        hits.clear();
        self.rules.calls.find(name, false, &mut hits);
        self.rules.accesses.find(name, true, &mut hits);
        for &rule in &hits {
            self.report(rule, node, Some(&format!("`{name}`")));
        }
        self.scratch = hits;
    }

    /// Reports every access rule matching a resolved reference `name`.
    pub(crate) fn match_access(&mut self, name: &str, node: Node<'_>) {
        let mut hits = std::mem::take(&mut self.scratch);
        hits.clear();
        self.rules.accesses.find(name, true, &mut hits);
        for &rule in &hits {
            self.report(rule, node, Some(&format!("`{name}`")));
        }
        self.scratch = hits;
    }

    /// Reports a reference to the resolved `name` that is not a call of it. Access rules
    /// match as before. When the name is `anchored` (its root is an import, a followed
    /// binding or a runtime global, not a free name that may be an untracked local) and the
    /// value is kept, call rules match too: a dangerous function that is stored, passed or
    /// put in a container is called where no call of it can be seen. A module with
    /// dangerous members that escapes that way is a `hidden_member`.
    pub(crate) fn match_reference(
        &mut self,
        name: &str,
        node: Node<'_>,
        anchored: bool,
        usage: Use,
    ) {
        if matches!(usage, Use::Called | Use::Reached) {
            return;
        }
        self.match_access(name, node);
        if !anchored || usage == Use::Ignored {
            return;
        }
        let mut hits = std::mem::take(&mut self.scratch);
        hits.clear();
        self.rules.calls.find(name, false, &mut hits);
        let detail = format!("`{name}` (referenced, not called: whoever holds it can call it)");
        for &rule in &hits {
            self.report(rule, node, Some(&detail));
        }
        let called = !hits.is_empty();
        self.scratch = hits;
        if !called && usage == Use::Escapes {
            self.hidden_member(
                name,
                true,
                node,
                "is stored or passed where its members cannot be followed",
            );
        }
    }

    /// Whether the root of a resolved expression is real: a followed binding or a runtime
    /// global (`known`), not a free name that may be an untracked local (`request.get` on a
    /// parameter `request`). `inward` steps toward the root through the language's chains
    /// (Ok(next)) and answers for anything else (Err); `names` are the identifier kinds.
    pub(crate) fn anchored<'t>(
        &self,
        node: Node<'t>,
        names: &[&str],
        known: fn(&str) -> bool,
        inward: impl Fn(Node<'t>) -> Result<Option<Node<'t>>, bool>,
    ) -> bool {
        let mut node = node;
        for _ in 0..MAX_DEPTH {
            if names.contains(&node.kind()) {
                let name = self.ident(node);
                return match self.bindings.get(&*name) {
                    Some(Binding::Path(_)) => true,
                    Some(Binding::Local) => false,
                    None => known(&name),
                };
            }
            match inward(node) {
                Ok(Some(next)) => node = next,
                Ok(None) => return false,
                Err(answer) => return answer,
            }
        }
        false
    }

    /// A subscript `node` whose `index` folds to `key`: the same attribute as `x.key`, and
    /// obfuscation when the key was `assembled`.
    pub(crate) fn subscript_key(
        &mut self,
        node: Node<'_>,
        index: Node<'_>,
        key: &str,
        assembled: bool,
    ) {
        if assembled {
            self.fire(
                Check::AssembledName,
                None,
                node,
                Some(&format!("resolves to `{key}`")),
            );
        }
        self.match_attribute(key, index);
    }

    /// Matches the expression at `node`, if it resolves, as a reference used as `usage` says.
    pub(crate) fn reference(&mut self, node: Node<'_>, usage: Use) {
        if matches!(usage, Use::Called | Use::Reached) {
            return;
        }
        if let Some(name) = (self.names.resolve)(self, node, 0) {
            let anchored = (self.names.anchored)(self, node);
            self.match_reference(&name, node, anchored, usage);
        }
    }

    /// `hidden_member` for a member of `object` named at run time, at `node`.
    pub(crate) fn hidden_lookup(&mut self, object: Node<'_>, node: Node<'_>, how: &str) {
        if let Some(base) = (self.names.resolve)(self, object, 0) {
            let anchored = (self.names.anchored)(self, object);
            self.hidden_member(&base, anchored, node, how);
        }
    }

    /// Fires `hidden_member` when `base`, if `anchored`, has members that an error or
    /// critical rule matches: `getattr(os, k)`, `cp[k]`, `[os]`.
    pub(crate) fn hidden_member(&mut self, base: &str, anchored: bool, node: Node<'_>, how: &str) {
        if anchored
            && self
                .rules
                .has_dangerous_members(base, self.names.global_objects)
        {
            self.fire(
                Check::HiddenMember,
                None,
                node,
                Some(&format!("`{base}` {how}")),
            );
        }
    }

    pub(crate) fn match_import(&mut self, module: &str, node: Node<'_>) {
        let mut hits = std::mem::take(&mut self.scratch);
        hits.clear();
        self.rules.imports.find(module, true, &mut hits);
        for &rule in &hits {
            self.report(rule, node, Some(&format!("`{module}`")));
        }
        self.scratch = hits;
    }

    pub(crate) fn match_attribute(&mut self, attr: &str, node: Node<'_>) {
        if let Some(rules) = self.rules.attributes.get(attr) {
            for rule in rules.clone() {
                self.report(rule, node, Some(&format!("`{attr}`")));
            }
        }
    }

    pub(crate) fn match_method(&mut self, method: &str, node: Node<'_>) {
        if let Some(rules) = self.rules.methods.get(method) {
            for rule in rules.clone() {
                self.report(rule, node, Some(&format!("`.{method}()`")));
            }
        }
    }

    /// Reports rules of `check` whose targets match `target` (all of them when `target` is None).
    pub(crate) fn fire(
        &mut self,
        check: Check,
        target: Option<&str>,
        node: Node<'_>,
        detail: Option<&str>,
    ) {
        for &rule in self.rules.check(check) {
            let applies = match (target, self.rules.rules.get(rule)) {
                (Some(t), Some(meta)) => meta.targets.matches(t),
                (None, Some(_)) => true,
                _ => false,
            };
            if applies {
                self.report(rule, node, detail);
            }
        }
    }

    /// Whether `check` is enabled with a target matching `target`.
    pub(crate) fn targets(&self, check: Check, target: &str) -> bool {
        self.rules.check(check).iter().any(|&r| {
            self.rules
                .rules
                .get(r)
                .is_some_and(|m| m.targets.matches(target))
        })
    }

    /// Sensitive path fragments of rules enabling `check` for `target`.
    pub(crate) fn sensitive_paths(&self, target: &str) -> Vec<(usize, &'s str)> {
        let rules: &'s Compiled = self.rules;
        let mut out = Vec::new();
        for &r in rules.check(Check::SensitivePath) {
            if let Some(meta) = rules.rules.get(r)
                && meta.targets.matches(target)
            {
                out.extend(meta.paths.iter().map(|p| (r, p.as_str())));
            }
        }
        out
    }

    /// Records a call of a catalogue tool through its generated API (`demo.notesAdd`), or
    /// through the module's generic `callTool` / `call_tool` (`generic` names that function):
    /// by the literal tool name in its first argument, and when the name is computed at run
    /// time, as a call of every tool the program may reach.
    pub(crate) fn tool_call(
        &mut self,
        segments: &[&str],
        node: Node<'_>,
        in_loop: bool,
        generic: (&str, Option<Option<String>>),
    ) {
        let (generic_fn, first_arg) = generic;
        let is_generic = segments.last() == Some(&generic_fn) && segments.len() <= 2;
        let names: Vec<String> = if is_generic {
            match first_arg.flatten() {
                Some(name) => self.tools.known(&name).into_iter().collect(),
                None => self.tools.all.clone(),
            }
        } else {
            self.tools
                .find(segments)
                .map(str::to_owned)
                .into_iter()
                .collect()
        };
        for name in names {
            self.record_tool(name, node, in_loop);
        }
    }

    fn record_tool(&mut self, name: String, node: Node<'_>, in_loop: bool) {
        self.tools_used.insert(name.clone());
        if in_loop && !self.rules.check(Check::ToolCallInLoop).is_empty() {
            self.fire(
                Check::ToolCallInLoop,
                None,
                node,
                Some(&format!("`{name}`")),
            );
            self.looped_tools.push(name);
        }
    }

    fn finish(mut self, report: &mut ValidationReport) {
        self.findings
            .sort_by(|a, b| (a.line, a.column, &a.rule_id).cmp(&(b.line, b.column, &b.rule_id)));
        report.findings = self.findings;
        report.tools_used = self.tools_used.into_iter().collect();
        report.looped_tools = self.looped_tools;
    }
}

/// The member path of a resolved name that comes from the generated API module
/// (`./codeward_api.fs_.readFile` -> `fs_.readFile`), if it does.
pub(crate) fn api_member(resolved: &str) -> Option<&str> {
    [
        "./codeward_api.ts.",
        "./codeward_api.mjs.",
        "./codeward_api.js.",
        "./codeward_api.",
        "codeward_api.",
    ]
    .into_iter()
    .find_map(|prefix| resolved.strip_prefix(prefix))
}

/// Maps generated API call shapes to tools: the generated module's exact identifiers when its
/// bindings are known, and the usual spellings (`server.camelName`, `server.snake_name`).
#[derive(Debug, Default)]
pub(crate) struct ToolMatcher {
    /// (server spelling, function spelling) -> qualified name.
    qualified: HashMap<(String, String), String>,
    /// Function spelling of tools without a server -> name.
    bare: HashMap<String, String>,
    /// Every tool's qualified name: what a call with a computed tool name may reach.
    all: Vec<String>,
}

impl ToolMatcher {
    pub(crate) fn new(tools: &[ToolSchema], bindings: &[ApiBinding]) -> Self {
        let mut m = ToolMatcher::default();
        for tool in tools {
            let names = spellings(&tool.name);
            match &tool.server {
                Some(server) => {
                    for s in spellings(server) {
                        for n in &names {
                            m.qualified
                                .insert((s.clone(), n.clone()), tool.qualified_name());
                        }
                    }
                }
                None => {
                    for n in names {
                        m.bare.insert(n, tool.qualified_name());
                    }
                }
            }
        }
        m.all = tools.iter().map(ToolSchema::qualified_name).collect();
        // The module's own identifiers win over guessed spellings of another tool.
        for b in bindings {
            m.qualified
                .insert((b.object.clone(), b.function.clone()), b.tool.clone());
        }
        m
    }

    /// `name` when it is one of the tools (the bridge refuses any other).
    fn known(&self, name: &str) -> Option<String> {
        self.all.iter().find(|t| *t == name).cloned()
    }

    fn find(&self, segments: &[&str]) -> Option<&str> {
        let n = segments.len();
        if n >= 2 {
            let key = (segments[n - 2].to_owned(), segments[n - 1].to_owned());
            if let Some(q) = self.qualified.get(&key) {
                return Some(q);
            }
        }
        if n >= 1 && !self.bare.is_empty() {
            return self.bare.get(segments[n - 1]).map(String::as_str);
        }
        None
    }
}

/// The spellings a generated API may use for a name: as-is, camelCase, snake_case.
fn spellings(name: &str) -> Vec<String> {
    let words = words(name);
    let snake = words.join("_");
    let camel: String = words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            if i == 0 {
                w.clone()
            } else {
                let mut c = w.chars();
                match c.next() {
                    Some(f) => f.to_uppercase().chain(c).collect(),
                    None => String::new(),
                }
            }
        })
        .collect();
    let mut out = vec![name.to_owned(), snake, camel];
    out.sort();
    out.dedup();
    out
}

/// Splits `read_file`, `readFile`, `read-file`, `HTTPGet` into lowercase words.
fn words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let boundary = c.is_uppercase()
            && !cur.is_empty()
            && (chars
                .get(i.wrapping_sub(1))
                .is_some_and(|p| p.is_lowercase() || p.is_numeric())
                || chars.get(i + 1).is_some_and(|n| n.is_lowercase()));
        if boundary {
            words.push(std::mem::take(&mut cur));
        }
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// Decodes standard or URL-safe base64 (padding optional); None if it is not base64 text.
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// Decodes hex text (`6f73`); None if it is not hex.
pub(crate) fn hex_decode(text: &str) -> Option<Vec<u8>> {
    let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(clean).ok()
}

/// Visits every node in document order without recursion (deep trees must not overflow
/// the stack); `f` returns whether to descend into the node's children.
pub(crate) fn walk<'t>(root: Node<'t>, mut f: impl FnMut(Node<'t>) -> bool) {
    let mut cursor = root.walk();
    loop {
        let node = cursor.node();
        if f(node) && cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.node() == root {
                return;
            }
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return;
            }
        }
    }
}

/// Where a node sits: its ancestors (root first) and its field in the parent.
///
/// Tracked during the walk because `Node::parent` re-walks from the root on every call
/// (tree-sitter nodes keep no parent pointer), which made analysis quadratic.
#[derive(Clone, Copy)]
pub(crate) struct Site<'a, 't> {
    pub(crate) ancestors: &'a [Node<'t>],
    pub(crate) field: Option<&'t str>,
}

impl<'a, 't> Site<'a, 't> {
    pub(crate) fn parent(&self) -> Option<Node<'t>> {
        self.ancestors.last().copied()
    }

    /// Where the node's value goes, looking through `wrappers` that pass it on unchanged
    /// (parentheses, `await`): the parent of the outermost wrapper, the field the value
    /// fills there, and the parent's own ancestors.
    pub(crate) fn through(
        &self,
        wrappers: &[&str],
    ) -> (Option<Node<'t>>, Option<&'t str>, &'a [Node<'t>]) {
        let mut field = self.field;
        let mut depth = self.ancestors.len();
        while depth > 0 {
            let parent = self.ancestors[depth - 1];
            if !wrappers.contains(&parent.kind()) {
                return (Some(parent), field, &self.ancestors[..depth - 1]);
            }
            field = depth
                .checked_sub(2)
                .and_then(|g| field_of(self.ancestors[g], parent));
            depth -= 1;
        }
        (None, field, &[])
    }

    pub(crate) fn parent_kind(&self) -> &'t str {
        self.parent().map(|p| p.kind()).unwrap_or("")
    }

    pub(crate) fn is(&self, field: &str) -> bool {
        self.field == Some(field)
    }
}

/// The field `child` fills in `parent`, if any.
fn field_of<'t>(parent: Node<'t>, child: Node<'t>) -> Option<&'t str> {
    let mut cursor = parent.walk();
    if !cursor.goto_first_child() {
        return None;
    }
    loop {
        if cursor.node() == child {
            return cursor.field_name();
        }
        if !cursor.goto_next_sibling() {
            return None;
        }
    }
}

/// Like [`walk`], also giving each node's [`Site`].
pub(crate) fn walk_with<'t>(root: Node<'t>, mut f: impl FnMut(Node<'t>, Site<'_, 't>) -> bool) {
    let mut cursor = root.walk();
    let mut stack: Vec<Node<'t>> = Vec::new();
    loop {
        let node = cursor.node();
        let site = Site {
            ancestors: &stack,
            field: cursor.field_name(),
        };
        if f(node, site) && cursor.goto_first_child() {
            stack.push(node);
            continue;
        }
        loop {
            if cursor.node() == root {
                return;
            }
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return;
            }
            stack.pop();
        }
    }
}

/// Caps folded strings so hostile input cannot blow up memory through repeated concatenation.
pub(crate) const FOLD_MAX: usize = 4096;

/// Applies ROT13.
pub(crate) fn rot13(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'a'..='z' => (((c as u8 - b'a') + 13) % 26 + b'a') as char,
            'A'..='Z' => (((c as u8 - b'A') + 13) % 26 + b'A') as char,
            _ => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_cover_generated_names() {
        assert_eq!(words("notes_add"), ["notes", "add"]);
        assert_eq!(words("readFile"), ["read", "file"]);
        assert_eq!(words("HTTPGet"), ["http", "get"]);
        let s = spellings("read_file");
        assert!(s.contains(&"readFile".to_owned()) && s.contains(&"read_file".to_owned()));
        let s = spellings("get-weather");
        assert!(s.contains(&"getWeather".to_owned()) && s.contains(&"get_weather".to_owned()));
    }

    #[test]
    fn base64_and_hex() {
        assert_eq!(base64_decode("b3M=").as_deref(), Some(&b"os"[..]));
        assert_eq!(base64_decode("c3lzdGVt").as_deref(), Some(&b"system"[..]));
        assert_eq!(hex_decode("6f73").as_deref(), Some(&b"os"[..]));
        assert!(base64_decode("not base64!").is_none());
    }
}
