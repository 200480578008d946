//! Versioned rule sets: the TOML data files shipped in `rules/`, parsed and indexed once.
//! A `RuleSet` is immutable and shared (`Arc`); built-in sets are compiled exactly once per process.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use codeward_core::{FindingCategory, Language, Severity};
use serde::Deserialize;

use crate::error::SecurityError;

const PYTHON_RULES: &str = include_str!("../rules/python.toml");
const TYPESCRIPT_RULES: &str = include_str!("../rules/typescript.toml");

static BUILTIN_COMPILATIONS: AtomicUsize = AtomicUsize::new(0);

// LazyLock runs the initializer once even when many threads race on first use; the
// predecessor's lazy loading had exactly that race.
static BUILTIN_PYTHON: LazyLock<Result<RuleSet, String>> =
    LazyLock::new(|| compile_builtin(Language::Python, PYTHON_RULES));
static BUILTIN_TYPESCRIPT: LazyLock<Result<RuleSet, String>> =
    LazyLock::new(|| compile_builtin(Language::TypeScript, TYPESCRIPT_RULES));

fn compile_builtin(language: Language, text: &str) -> Result<RuleSet, String> {
    BUILTIN_COMPILATIONS.fetch_add(1, Ordering::SeqCst);
    let origin = PathBuf::from(format!("<builtin {}>", language.as_str()));
    RuleSet::from_toml(language, text, &origin).map_err(|e| e.to_string())
}

/// The rule file schema (see `rules/python.toml` for a documented example).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    version: String,
    language: String,
    #[serde(default)]
    semantics: Semantics,
    #[serde(default, rename = "rule")]
    rules: Vec<RuleDef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Semantics {
    #[serde(default)]
    decoders: Vec<String>,
    #[serde(default)]
    code_sinks: Vec<String>,
    #[serde(default)]
    loop_callbacks: Vec<String>,
    #[serde(default)]
    exits: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDef {
    id: String,
    category: FindingCategory,
    severity: Severity,
    message: String,
    suggestion: String,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    calls: Vec<String>,
    #[serde(default)]
    accesses: Vec<String>,
    #[serde(default)]
    attributes: Vec<String>,
    #[serde(default)]
    imports: Vec<String>,
    #[serde(default)]
    methods: Vec<String>,
    #[serde(default)]
    checks: Vec<String>,
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
}

fn yes() -> bool {
    true
}

/// A structural detector that a rule enables by name (`checks = ["decode_exec"]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Check {
    OpenWrite,
    ComputedGetattr,
    AssembledName,
    DecodeExec,
    CharChain,
    UnboundedLoop,
    ToolCallInLoop,
    ConstructorChain,
    SensitivePath,
    DynamicImport,
    StringTimer,
    ComputedMember,
    HiddenMember,
}

impl Check {
    const ALL: [(&'static str, Check); 13] = [
        ("open_write", Check::OpenWrite),
        ("computed_getattr", Check::ComputedGetattr),
        ("assembled_name", Check::AssembledName),
        ("decode_exec", Check::DecodeExec),
        ("char_chain", Check::CharChain),
        ("unbounded_loop", Check::UnboundedLoop),
        ("tool_call_in_loop", Check::ToolCallInLoop),
        ("constructor_chain", Check::ConstructorChain),
        ("sensitive_path", Check::SensitivePath),
        ("dynamic_import", Check::DynamicImport),
        ("string_timer", Check::StringTimer),
        ("computed_member", Check::ComputedMember),
        ("hidden_member", Check::HiddenMember),
    ];

    fn parse(name: &str) -> Option<Check> {
        Check::ALL.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
    }
}

/// A name pattern: `os.system` (exact) or `os.exec*` / `subprocess.*` (prefix).
#[derive(Debug, Clone)]
enum Pattern {
    Exact(String),
    Prefix(String),
}

impl Pattern {
    fn parse(text: &str) -> Pattern {
        match text.strip_suffix('*') {
            Some(prefix) => Pattern::Prefix(prefix.to_owned()),
            None => Pattern::Exact(text.to_owned()),
        }
    }
}

/// Names to rule indexes; exact names hash, prefixes scan (there are few).
#[derive(Debug, Clone, Default)]
pub(crate) struct PatternIndex {
    exact: HashMap<String, Vec<usize>>,
    prefix: Vec<(String, usize)>,
}

impl PatternIndex {
    fn add(&mut self, pattern: &str, rule: usize) {
        match Pattern::parse(pattern) {
            Pattern::Exact(name) => self.exact.entry(name).or_default().push(rule),
            Pattern::Prefix(p) => self.prefix.push((p, rule)),
        }
    }

    /// Rules whose pattern matches `name`. With `dotted`, `os.environ` also matches
    /// `os.environ.get` (an access through the matched object).
    pub(crate) fn find(&self, name: &str, dotted: bool, out: &mut Vec<usize>) {
        if let Some(rules) = self.exact.get(name) {
            out.extend(rules);
        }
        if dotted {
            let mut end = name.len();
            while let Some(pos) = name[..end].rfind('.') {
                if let Some(rules) = self.exact.get(&name[..pos]) {
                    out.extend(rules);
                }
                end = pos;
            }
        }
        for (prefix, rule) in &self.prefix {
            if name.starts_with(prefix.as_str()) {
                out.push(*rule);
            }
        }
    }

    /// Whether any pattern matches `name` exactly or by prefix.
    pub(crate) fn matches(&self, name: &str) -> bool {
        self.exact.contains_key(name)
            || self
                .prefix
                .iter()
                .any(|(p, _)| name.starts_with(p.as_str()))
    }
}

/// What a finding says; copied into every finding of the rule.
#[derive(Debug, Clone)]
pub(crate) struct RuleMeta {
    pub(crate) id: String,
    pub(crate) category: FindingCategory,
    pub(crate) severity: Severity,
    pub(crate) message: String,
    pub(crate) suggestion: String,
    pub(crate) targets: PatternIndex,
    pub(crate) paths: Vec<String>,
}

/// The indexes the analyzers query.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) version: String,
    pub(crate) rules: Vec<RuleMeta>,
    pub(crate) calls: PatternIndex,
    pub(crate) accesses: PatternIndex,
    pub(crate) imports: PatternIndex,
    pub(crate) attributes: HashMap<String, Vec<usize>>,
    pub(crate) methods: HashMap<String, Vec<usize>>,
    pub(crate) checks: HashMap<Check, Vec<usize>>,
    pub(crate) decoders: PatternIndex,
    pub(crate) code_sinks: PatternIndex,
    pub(crate) exits: PatternIndex,
    pub(crate) loop_callbacks: HashSet<String>,
    /// Modules and objects with members that a `calls` or `accesses` rule of severity error
    /// or above matches (`os` for `os.system`, `fs.promises` for `fs.promises.write*`).
    namespaces: HashSet<String>,
    /// Prefix patterns of such rules (`subprocess.`): everything below them is dangerous.
    namespace_prefixes: Vec<String>,
    /// Whether such a rule matches a bare global name (`eval`): then the global object
    /// (`builtins`, `globalThis`) has dangerous members.
    bare_names: bool,
}

impl Compiled {
    /// Rules enabling `check`.
    pub(crate) fn check(&self, check: Check) -> &[usize] {
        self.checks.get(&check).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether the module or object `base` has members that an error or critical rule
    /// matches; `global_objects` are the language's names for the global namespace.
    pub(crate) fn has_dangerous_members(&self, base: &str, global_objects: &[&str]) -> bool {
        if global_objects.contains(&base) {
            return self.bare_names;
        }
        if self.namespaces.contains(base) {
            return true;
        }
        let dotted = format!("{base}.");
        self.namespace_prefixes
            .iter()
            .any(|p| dotted.starts_with(p.as_str()))
    }

    fn add_namespaces(&mut self, pattern: &str) {
        let (name, prefix) = match pattern.strip_suffix('*') {
            Some(p) => (p, true),
            None => (pattern, false),
        };
        if prefix {
            self.namespace_prefixes.push(name.to_owned());
        }
        if !name.contains('.') {
            self.bare_names = true;
        }
        for (at, _) in name.match_indices('.') {
            self.namespaces.insert(name[..at].to_owned());
        }
    }
}

/// A compiled, versioned rule set for one language. Cheap to clone (shared).
///
/// The built-in sets come from `rules/python.toml` and `rules/typescript.toml`, embedded in
/// the binary; [`RuleSet::from_file`] loads an override in the same format.
#[derive(Debug, Clone)]
pub struct RuleSet {
    language: Language,
    inner: Arc<Compiled>,
}

impl RuleSet {
    /// The built-in rules for `language`, compiled once per process on first use.
    pub fn builtin(language: Language) -> Result<RuleSet, SecurityError> {
        let cell = match language {
            Language::Python => &BUILTIN_PYTHON,
            _ => &BUILTIN_TYPESCRIPT,
        };
        cell.as_ref()
            .map(Clone::clone)
            .map_err(|message| SecurityError::RuleSyntax {
                path: PathBuf::from(format!("<builtin {}>", language.as_str())),
                message: message.clone(),
            })
    }

    /// How many times the built-in rule files were compiled in this process (at most one per
    /// language, whatever the concurrency). For diagnostics and tests.
    pub fn builtin_compilations() -> usize {
        BUILTIN_COMPILATIONS.load(Ordering::SeqCst)
    }

    /// Loads a rule file in the built-in format.
    pub fn from_file(language: Language, path: &Path) -> Result<RuleSet, SecurityError> {
        let text = std::fs::read_to_string(path).map_err(|source| SecurityError::RuleIo {
            path: path.to_owned(),
            source,
        })?;
        RuleSet::from_toml(language, &text, path)
    }

    /// Parses and indexes rule text; `origin` names it in errors.
    pub fn from_toml(
        language: Language,
        text: &str,
        origin: &Path,
    ) -> Result<RuleSet, SecurityError> {
        let file: RuleFile = toml::from_str(text).map_err(|e| SecurityError::RuleSyntax {
            path: origin.to_owned(),
            message: e.to_string(),
        })?;
        let invalid = |rule_id: &str, problem: String| SecurityError::RuleInvalid {
            path: origin.to_owned(),
            rule_id: rule_id.to_owned(),
            problem,
        };
        let declared: Language = file
            .language
            .parse()
            .map_err(|e: codeward_core::Error| invalid("<file>", e.to_string()))?;
        if declared != language {
            return Err(invalid(
                "<file>",
                format!("the file is for {declared}, but was loaded for {language}"),
            ));
        }
        if file.version.trim().is_empty() {
            return Err(invalid(
                "<file>",
                "`version` is empty; set it to the rule set's version".into(),
            ));
        }
        let mut compiled = Compiled {
            version: file.version,
            rules: Vec::new(),
            calls: PatternIndex::default(),
            accesses: PatternIndex::default(),
            imports: PatternIndex::default(),
            attributes: HashMap::new(),
            methods: HashMap::new(),
            checks: HashMap::new(),
            decoders: PatternIndex::default(),
            code_sinks: PatternIndex::default(),
            exits: PatternIndex::default(),
            loop_callbacks: file.semantics.loop_callbacks.into_iter().collect(),
            namespaces: HashSet::new(),
            namespace_prefixes: Vec::new(),
            bare_names: false,
        };
        for name in &file.semantics.decoders {
            compiled.decoders.add(name, 0);
        }
        for name in &file.semantics.code_sinks {
            compiled.code_sinks.add(name, 0);
        }
        for name in &file.semantics.exits {
            compiled.exits.add(name, 0);
        }
        let mut ids = HashSet::new();
        for def in file.rules {
            if !ids.insert(def.id.clone()) {
                return Err(invalid(
                    &def.id,
                    "duplicate rule id; ids must be unique".into(),
                ));
            }
            if !def.enabled {
                continue;
            }
            let idx = compiled.rules.len();
            let matchers = def.calls.len()
                + def.accesses.len()
                + def.attributes.len()
                + def.imports.len()
                + def.methods.len()
                + def.checks.len();
            if matchers == 0 {
                return Err(invalid(
                    &def.id,
                    "the rule matches nothing; give it calls, accesses, attributes, imports, methods or checks".into(),
                ));
            }
            for p in &def.calls {
                compiled.calls.add(p, idx);
            }
            for p in &def.accesses {
                compiled.accesses.add(p, idx);
            }
            for p in &def.imports {
                compiled.imports.add(p, idx);
            }
            // Only critical callable members make a namespace dangerous to hand around: an
            // `accesses` rule (`Error.prepareStackTrace`) would make every `class X extends
            // Error` a hidden-member finding, and an error-level one (`Object.defineProperty`)
            // every `{ Object, Array }`.
            if def.severity >= Severity::Critical {
                for p in &def.calls {
                    compiled.add_namespaces(p);
                }
            }
            for a in &def.attributes {
                compiled.attributes.entry(a.clone()).or_default().push(idx);
            }
            for m in &def.methods {
                compiled.methods.entry(m.clone()).or_default().push(idx);
            }
            for c in &def.checks {
                let check = Check::parse(c).ok_or_else(|| {
                    let known: Vec<&str> = Check::ALL.iter().map(|(n, _)| *n).collect();
                    invalid(
                        &def.id,
                        format!("unknown check `{c}`; use one of {}", known.join(", ")),
                    )
                })?;
                compiled.checks.entry(check).or_default().push(idx);
            }
            let mut targets = PatternIndex::default();
            for t in &def.targets {
                targets.add(t, idx);
            }
            compiled.rules.push(RuleMeta {
                id: def.id,
                category: def.category,
                severity: def.severity,
                message: def.message,
                suggestion: def.suggestion,
                targets,
                paths: def.paths,
            });
        }
        Ok(RuleSet {
            language,
            inner: Arc::new(compiled),
        })
    }

    /// The rule set's version (the file's `version` field).
    pub fn version(&self) -> &str {
        &self.inner.version
    }

    /// The language it applies to.
    pub fn language(&self) -> Language {
        self.language
    }

    /// The number of enabled rules.
    pub fn len(&self) -> usize {
        self.inner.rules.len()
    }

    /// Whether no rule is enabled.
    pub fn is_empty(&self) -> bool {
        self.inner.rules.is_empty()
    }

    /// Ids of the enabled rules, in file order.
    pub fn rule_ids(&self) -> Vec<&str> {
        self.inner.rules.iter().map(|r| r.id.as_str()).collect()
    }

    pub(crate) fn compiled(&self) -> &Compiled {
        &self.inner
    }
}
