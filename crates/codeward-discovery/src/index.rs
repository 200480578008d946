//! The searchable catalogue: a tantivy index in RAM beside a map of the tools it holds.
//! BM25 over several boosted fields, synonyms and typo tolerance at query time, single-tool updates.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use codeward_core::{SearchQuery, ToolHit, ToolIndex, ToolSchema};
use serde_json::Value;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, Query, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption, STRING, Schema, TextFieldIndexing, TextOptions};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term};

use crate::analyzer::{
    ANALYZER_NAME, DEFAULT_SYNONYMS, Synonyms, analyzer, terms, within_distance,
};
use crate::collector::TopByScoreThenName;
use crate::error::{DiscoveryError, Result};
use crate::formats::check_tool;
use crate::report::{LoadProblem, LoadReport, LoadedTool, ProblemKind};
use crate::source::CatalogueSource;

/// Where a tool added through the API (not a source) is said to come from.
const API_ORIGIN: &str = "api";

/// Tantivy refuses writer budgets below 15 MB.
const MIN_WRITER_MEMORY: usize = 15_000_000;

/// Shorter words are not corrected: at one edit they match too many unrelated words.
const MIN_TYPO_CHARS: usize = 4;

/// Longer words are not corrected either: a typo automaton's size grows with the word's
/// length (a 100,000-character word took 1 GB), and no tool's words are this long.
const MAX_TYPO_CHARS: usize = 32;

/// Words of a request beyond this many are ignored: a request is a sentence, not a document,
/// and each word costs a clause per field.
const MAX_QUERY_WORDS: usize = 64;

/// Only this many bytes of a request are read (cut at a character boundary): the analyzer
/// would otherwise tokenize all of an arbitrarily long text before the word limit applies.
const MAX_QUERY_BYTES: usize = 4096;

/// At most this many corrections per misspelled word.
const MAX_CORRECTIONS: usize = 3;

/// The fast field holding qualified names, for deletes and for ordering ties.
const QUALIFIED_FIELD: &str = "qualified";

/// The searchable parts of a tool, in the order `matched_fields` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Name,
    Title,
    Description,
    Parameters,
    Category,
    Server,
}

impl Part {
    const ALL: [Part; 6] = [
        Part::Name,
        Part::Title,
        Part::Description,
        Part::Parameters,
        Part::Category,
        Part::Server,
    ];

    fn label(self) -> &'static str {
        match self {
            Part::Name => "name",
            Part::Title => "title",
            Part::Description => "description",
            Part::Parameters => "parameters",
            Part::Category => "category",
            Part::Server => "server",
        }
    }

    /// Typo corrections are drawn only from prose-like parts; category and server names
    /// are few and correcting towards them drowns real hits.
    fn typo_tolerant(self) -> bool {
        matches!(
            self,
            Part::Name | Part::Title | Part::Description | Part::Parameters
        )
    }

    fn text(self, tool: &ToolSchema) -> String {
        match self {
            Part::Name => tool.name.clone(),
            Part::Title => tool.title.clone().unwrap_or_default(),
            Part::Description => tool.description.clone(),
            Part::Parameters => parameters_text(&tool.input_schema),
            Part::Category => tool.category.clone().unwrap_or_default(),
            Part::Server => tool.server.clone().unwrap_or_default(),
        }
    }
}

/// Names and descriptions of the top-level properties of an input schema.
fn parameters_text(schema: &Value) -> String {
    let mut out = String::new();
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            out.push_str(name);
            out.push_str(". ");
            if let Some(description) = property.get("description").and_then(Value::as_str) {
                out.push_str(description);
                out.push(' ');
            }
        }
    }
    out
}

/// Relative weight of each searchable part of a tool in the BM25 sum.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct FieldBoosts {
    /// The tool's name, split into words.
    pub name: f32,
    /// The human title.
    pub title: f32,
    /// The description.
    pub description: f32,
    /// Parameter names and descriptions.
    pub parameters: f32,
    /// The category.
    pub category: f32,
    /// The server (namespace).
    pub server: f32,
}

impl Default for FieldBoosts {
    fn default() -> Self {
        FieldBoosts {
            name: 2.5,
            title: 1.5,
            description: 1.0,
            parameters: 0.3,
            category: 1.0,
            server: 1.2,
        }
    }
}

impl FieldBoosts {
    fn of(&self, part: Part) -> f32 {
        match part {
            Part::Name => self.name,
            Part::Title => self.title,
            Part::Description => self.description,
            Part::Parameters => self.parameters,
            Part::Category => self.category,
            Part::Server => self.server,
        }
    }
}

/// How the index ranks; build it with [`CatalogueIndex::builder`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IndexConfig {
    /// Field weights.
    pub boosts: FieldBoosts,
    /// Groups of words that stand for each other in queries.
    pub synonyms: Vec<Vec<String>>,
    /// Weight of a synonym relative to the word the user wrote.
    pub synonym_weight: f32,
    /// Whether query words found nowhere in the index are corrected to the index's nearest
    /// words (edit distance 1, or 2 for words of 6 characters or more).
    pub typo_tolerance: bool,
    /// Weight of a typo correction relative to the words written.
    pub typo_weight: f32,
    /// Memory for the index writer, in bytes (at least 15 MB).
    pub writer_memory: usize,
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            boosts: FieldBoosts::default(),
            synonyms: DEFAULT_SYNONYMS
                .iter()
                .map(|group| group.iter().map(|w| (*w).to_owned()).collect())
                .collect(),
            synonym_weight: 0.5,
            typo_tolerance: true,
            typo_weight: 0.5,
            writer_memory: 64_000_000,
        }
    }
}

/// Builds a [`CatalogueIndex`], checking the configuration.
#[derive(Debug, Clone, Default)]
pub struct CatalogueIndexBuilder {
    config: IndexConfig,
}

impl CatalogueIndexBuilder {
    /// Sets the field weights.
    pub fn boosts(mut self, boosts: FieldBoosts) -> Self {
        self.config.boosts = boosts;
        self
    }

    /// Replaces the synonym groups (an empty list turns synonyms off).
    pub fn synonyms(mut self, groups: Vec<Vec<String>>) -> Self {
        self.config.synonyms = groups;
        self
    }

    /// Sets the weight of synonyms relative to the words written.
    pub fn synonym_weight(mut self, weight: f32) -> Self {
        self.config.synonym_weight = weight;
        self
    }

    /// Sets the weight of typo corrections relative to the words written.
    pub fn typo_weight(mut self, weight: f32) -> Self {
        self.config.typo_weight = weight;
        self
    }

    /// Turns typo tolerance on or off.
    pub fn typo_tolerance(mut self, on: bool) -> Self {
        self.config.typo_tolerance = on;
        self
    }

    /// Sets the writer's memory budget in bytes.
    pub fn writer_memory(mut self, bytes: usize) -> Self {
        self.config.writer_memory = bytes;
        self
    }

    /// The index, empty.
    pub fn build(self) -> Result<CatalogueIndex> {
        let c = &self.config;
        let weights = [
            c.boosts.name,
            c.boosts.title,
            c.boosts.description,
            c.boosts.parameters,
            c.boosts.category,
            c.boosts.server,
            c.synonym_weight,
            c.typo_weight,
        ];
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return Err(DiscoveryError::InvalidConfig(
                "boosts and weights must be finite and not negative; use 0 to switch a field off"
                    .into(),
            ));
        }
        CatalogueIndex::with_config(self.config.clone())
    }
}

#[derive(Debug, Clone, Copy)]
struct Fields {
    qualified: Field,
    category_key: Field,
    server_key: Field,
    text: [Field; 6],
}

impl Fields {
    fn text(&self, part: Part) -> Field {
        self.text[part as usize]
    }
}

#[derive(Debug, Clone)]
struct Entry {
    tool: ToolSchema,
    origin: String,
    hash: u64,
}

#[derive(Debug, Default)]
struct State {
    tools: BTreeMap<String, Entry>,
    /// Sum of the tools' content hashes: the version.
    fingerprint: u64,
}

/// One change to apply in a single commit.
enum Change {
    Add(Box<LoadedTool>),
    Remove(String),
}

/// A request turned into a tantivy query.
struct Prepared {
    query: Box<dyn Query>,
    /// Every index term the query looks for, to tell which fields a hit matched.
    terms: BTreeSet<String>,
}

/// Counts of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CatalogueStats {
    /// Every tool.
    pub tools: usize,
    /// Tools per category (tools without one are under `""`).
    pub by_category: BTreeMap<String, usize>,
    /// Tools per server (tools without one are under `""`).
    pub by_server: BTreeMap<String, usize>,
    /// Tools whose annotations say read-only.
    pub read_only: usize,
    /// Tools that may destroy data (MCP defaults apply to missing hints).
    pub destructive: usize,
    /// The catalogue version these counts belong to.
    pub version: u64,
}

/// The tool catalogue, searchable: a tantivy index in RAM plus the tools themselves.
///
/// Tools are added from [`CatalogueSource`]s with [`CatalogueIndex::load`], or one at a time
/// with [`CatalogueIndex::insert`], [`CatalogueIndex::upsert`] and [`CatalogueIndex::remove`];
/// each change is one small commit, never a rebuild. Search through [`ToolIndex`].
pub struct CatalogueIndex {
    config: IndexConfig,
    fields: Fields,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    state: RwLock<State>,
    synonyms: Synonyms,
    analyzer: TextAnalyzer,
}

impl std::fmt::Debug for CatalogueIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // One guard: a second read could queue behind a waiting writer and deadlock.
        let state = self.read();
        f.debug_struct("CatalogueIndex")
            .field("tools", &state.tools.len())
            .field("version", &state.fingerprint)
            .finish_non_exhaustive()
    }
}

impl CatalogueIndex {
    /// An empty index with the default configuration.
    pub fn new() -> Result<Self> {
        CatalogueIndexBuilder::default().build()
    }

    /// A builder to change boosts, synonyms or typo tolerance.
    pub fn builder() -> CatalogueIndexBuilder {
        CatalogueIndexBuilder::default()
    }

    fn with_config(config: IndexConfig) -> Result<Self> {
        let mut schema = Schema::builder();
        let qualified = schema.add_text_field(QUALIFIED_FIELD, STRING.set_fast("raw"));
        let category_key = schema.add_text_field("category_key", STRING);
        let server_key = schema.add_text_field("server_key", STRING);
        // Frequencies but no positions: there are no phrase queries, and positions would
        // double the index size.
        let text_options = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(ANALYZER_NAME)
                .set_index_option(IndexRecordOption::WithFreqs),
        );
        let text = Part::ALL.map(|part| schema.add_text_field(part.label(), text_options.clone()));
        let index = Index::create_in_ram(schema.build());
        index.tokenizers().register(ANALYZER_NAME, analyzer());
        let writer = index
            .writer_with_num_threads(1, config.writer_memory.max(MIN_WRITER_MEMORY))
            .map_err(|e| DiscoveryError::index("creating the index writer", e))?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| DiscoveryError::index("opening the index reader", e))?;
        let synonyms = Synonyms::new(&config.synonyms);
        Ok(CatalogueIndex {
            config,
            fields: Fields {
                qualified,
                category_key,
                server_key,
                text,
            },
            reader,
            writer: Mutex::new(writer),
            state: RwLock::new(State::default()),
            synonyms,
            analyzer: analyzer(),
        })
    }

    // A panic can only happen outside the short sections that change `State` together with
    // the index, so a poisoned lock still guards consistent data.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn writer(&self) -> MutexGuard<'_, IndexWriter> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Loads every tool of `source`. Tools whose qualified name is already in the index are
    /// reported as collisions and left out (the existing tool stays). The report lists what
    /// was added and every problem, the source's own included.
    pub fn load(&self, source: &dyn CatalogueSource) -> Result<LoadReport> {
        let writer = self.writer();
        let (report, changes) = {
            let state = self.read();
            admit(source.load(), |tool| {
                state.tools.get(&tool.qualified_name()).map(|existing| {
                    (
                        ProblemKind::Collision,
                        format!("already in the catalogue from {}; the existing tool is kept, rename the server or remove the other first", existing.origin),
                    )
                })
            })
        };
        self.apply(writer, changes)?;
        Ok(report)
    }

    /// Replaces every tool of `server` with the tools `source` yields for it, in one commit:
    /// for a live MCP server whose tool list changed (`notifications/tools/list_changed`).
    /// Tools of other servers in `source` are reported and left out.
    pub fn replace_server(&self, server: &str, source: &dyn CatalogueSource) -> Result<LoadReport> {
        let writer = self.writer();
        let mut changes: Vec<Change> = self
            .read()
            .tools
            .values()
            .filter(|e| e.tool.server.as_deref() == Some(server))
            .map(|e| Change::Remove(e.tool.qualified_name()))
            .collect();
        let (report, additions) = admit(source.load(), |tool| {
            (tool.server.as_deref() != Some(server)).then(|| {
                (
                    ProblemKind::InvalidName,
                    format!("belongs to another server than {server}; load it on its own"),
                )
            })
        });
        changes.extend(additions);
        self.apply(writer, changes)?;
        Ok(report)
    }

    /// Adds one tool; fails if its qualified name is taken.
    pub fn insert(&self, tool: ToolSchema) -> Result<()> {
        let writer = self.writer();
        let name = checked_name(&tool)?;
        if let Some(existing) = self.read().tools.get(&name) {
            return Err(DiscoveryError::AlreadyExists {
                name,
                origin: existing.origin.clone(),
            });
        }
        self.apply(
            writer,
            vec![Change::Add(Box::new(LoadedTool::new(tool, API_ORIGIN)))],
        )
    }

    /// Adds a tool or replaces the one with the same qualified name; returns the replaced one.
    pub fn upsert(&self, tool: ToolSchema) -> Result<Option<ToolSchema>> {
        let writer = self.writer();
        let name = checked_name(&tool)?;
        let previous = self.read().tools.get(&name).map(|e| e.tool.clone());
        let mut changes = Vec::new();
        if previous.is_some() {
            changes.push(Change::Remove(name));
        }
        changes.push(Change::Add(Box::new(LoadedTool::new(tool, API_ORIGIN))));
        self.apply(writer, changes)?;
        Ok(previous)
    }

    /// Removes a tool by qualified name and returns it.
    pub fn remove(&self, qualified_name: &str) -> Result<ToolSchema> {
        let writer = self.writer();
        let tool = self
            .read()
            .tools
            .get(qualified_name)
            .map(|e| e.tool.clone())
            .ok_or_else(|| DiscoveryError::NotFound(qualified_name.to_owned()))?;
        self.apply(writer, vec![Change::Remove(qualified_name.to_owned())])?;
        Ok(tool)
    }

    /// Applies changes in one commit, then updates the tool map. The writer lock is held by
    /// the caller from its checks to here, so no other change interleaves.
    fn apply(&self, mut writer: MutexGuard<'_, IndexWriter>, changes: Vec<Change>) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        for change in &changes {
            match change {
                Change::Remove(name) => {
                    writer.delete_term(Term::from_field_text(self.fields.qualified, name));
                }
                Change::Add(item) => {
                    if let Err(e) = writer.add_document(self.document(&item.tool)) {
                        let _ = writer.rollback();
                        return Err(DiscoveryError::index("adding a tool", e));
                    }
                }
            }
        }
        if let Err(e) = writer.commit() {
            let _ = writer.rollback();
            return Err(DiscoveryError::index("committing a change", e));
        }
        // Readers see the commit only after reload; holding the state lock across it keeps
        // the map and the searcher in step for concurrent searches.
        let mut state = self.write();
        self.reader
            .reload()
            .map_err(|e| DiscoveryError::index("reloading the index reader", e))?;
        for change in changes {
            match change {
                Change::Remove(name) => {
                    if let Some(entry) = state.tools.remove(&name) {
                        state.fingerprint = state.fingerprint.wrapping_sub(entry.hash);
                    }
                }
                Change::Add(item) => {
                    let name = item.tool.qualified_name();
                    let hash = tool_hash(&item.tool);
                    state.fingerprint = state.fingerprint.wrapping_add(hash);
                    state.tools.insert(
                        name,
                        Entry {
                            tool: item.tool,
                            origin: item.origin,
                            hash,
                        },
                    );
                }
            }
        }
        Ok(())
    }

    fn document(&self, tool: &ToolSchema) -> TantivyDocument {
        let mut doc = TantivyDocument::default();
        doc.add_text(self.fields.qualified, tool.qualified_name());
        if let Some(category) = &tool.category {
            doc.add_text(self.fields.category_key, category.to_lowercase());
        }
        if let Some(server) = &tool.server {
            doc.add_text(self.fields.server_key, server.to_lowercase());
        }
        for part in Part::ALL {
            let text = part.text(tool);
            if !text.is_empty() {
                doc.add_text(self.fields.text(part), text);
            }
        }
        doc
    }

    /// The configuration the index was built with.
    pub fn config(&self) -> &IndexConfig {
        &self.config
    }

    /// Where a tool came from (a file path, a source label, or `api`).
    pub fn origin(&self, qualified_name: &str) -> Option<String> {
        self.read()
            .tools
            .get(qualified_name)
            .map(|e| e.origin.clone())
    }

    /// Number of tools.
    pub fn len(&self) -> usize {
        self.read().tools.len()
    }

    /// True when there is no tool.
    pub fn is_empty(&self) -> bool {
        self.read().tools.is_empty()
    }

    /// Counts per category and server.
    pub fn stats(&self) -> CatalogueStats {
        let state = self.read();
        let mut stats = CatalogueStats {
            tools: state.tools.len(),
            version: state.fingerprint,
            ..CatalogueStats::default()
        };
        for entry in state.tools.values() {
            let tool = &entry.tool;
            *stats
                .by_category
                .entry(tool.category.clone().unwrap_or_default())
                .or_default() += 1;
            *stats
                .by_server
                .entry(tool.server.clone().unwrap_or_default())
                .or_default() += 1;
            stats.read_only += usize::from(tool.annotations.is_read_only());
            stats.destructive += usize::from(tool.annotations.is_destructive());
        }
        stats
    }

    fn term_exists(&self, searcher: &Searcher, term: &str) -> Result<bool> {
        for part in Part::ALL {
            let t = Term::from_field_text(self.fields.text(part), term);
            if searcher
                .doc_freq(&t)
                .map_err(|e| DiscoveryError::index("looking up a term", e))?
                > 0
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Index terms within edit distance of a word found nowhere in the index: those at the
    /// smallest distance, most frequent first. They are then scored by BM25 like any word,
    /// which ranks better than a constant-score fuzzy match and keeps block-WAND.
    fn corrections(&self, searcher: &Searcher, word: &str) -> Result<Vec<String>> {
        let max_distance: u8 = if word.chars().count() >= 6 { 2 } else { 1 };
        let probe = Term::from_field_text(self.fields.text(Part::Name), word);
        // One automaton per word, streamed over every field's term dictionary.
        let automaton = FuzzyTermQuery::new(probe, max_distance, true)
            .automaton()
            .map_err(|e| DiscoveryError::index("building a typo automaton", e))?;
        let mut found: BTreeMap<String, u64> = BTreeMap::new();
        for segment in searcher.segment_readers() {
            for part in Part::ALL.into_iter().filter(|p| p.typo_tolerant()) {
                let inverted = segment
                    .inverted_index(self.fields.text(part))
                    .map_err(|e| DiscoveryError::index("reading the term dictionary", e))?;
                let mut stream = inverted
                    .terms()
                    .search(&automaton)
                    .into_stream()
                    .map_err(|e| DiscoveryError::index("reading the term dictionary", e.into()))?;
                while stream.advance() {
                    if let Ok(term) = std::str::from_utf8(stream.key()) {
                        *found.entry(term.to_owned()).or_default() +=
                            u64::from(stream.value().doc_freq);
                    }
                }
            }
        }
        let Some(best) = (0..=usize::from(max_distance))
            .find(|d| found.keys().any(|t| within_distance(word, t, *d)))
        else {
            return Ok(Vec::new());
        };
        let mut candidates: Vec<(String, u64)> = found
            .into_iter()
            .filter(|(t, _)| within_distance(word, t, best))
            .collect();
        candidates.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        candidates.truncate(MAX_CORRECTIONS);
        Ok(candidates.into_iter().map(|(t, _)| t).collect())
    }

    fn term_clauses(&self, clauses: &mut Vec<(Occur, Box<dyn Query>)>, term: &str, weight: f32) {
        for part in Part::ALL {
            let boost = self.config.boosts.of(part) * weight;
            if boost > 0.0 {
                let query = TermQuery::new(
                    Term::from_field_text(self.fields.text(part), term),
                    IndexRecordOption::WithFreqs,
                );
                clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(query), boost)),
                ));
            }
        }
    }

    /// The tantivy query for a request, and how each word is matched.
    fn build_query(&self, searcher: &Searcher, query: &SearchQuery) -> Result<Option<Prepared>> {
        let mut analyzer = self.analyzer.clone();
        let mut words: Vec<String> = Vec::new();
        let mut end = query.text.len().min(MAX_QUERY_BYTES);
        while !query.text.is_char_boundary(end) {
            end -= 1;
        }
        for term in terms(&mut analyzer, &query.text[..end]) {
            if words.len() == MAX_QUERY_WORDS {
                break;
            }
            if !words.contains(&term) {
                words.push(term);
            }
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        // Every index term the query looks for, to tell which fields a hit matched.
        let mut matched = BTreeSet::new();
        let mut expanded: BTreeSet<std::borrow::Cow<'_, str>> =
            words.iter().map(|w| w.as_str().into()).collect();
        for word in &words {
            if self.term_exists(searcher, word)? {
                self.term_clauses(&mut clauses, word, 1.0);
                matched.insert(word.clone());
            } else if self.config.typo_tolerance
                && (MIN_TYPO_CHARS..=MAX_TYPO_CHARS).contains(&word.chars().count())
                // A word with synonyms is a known word, not a typo.
                && self.synonyms.of(word).next().is_none()
            {
                for correction in self.corrections(searcher, word)? {
                    if expanded.insert(correction.clone().into()) {
                        self.term_clauses(&mut clauses, &correction, self.config.typo_weight);
                        matched.insert(correction);
                    }
                }
            }
            for synonym in self.synonyms.of(word) {
                if expanded.insert(synonym.into()) && self.term_exists(searcher, synonym)? {
                    self.term_clauses(&mut clauses, synonym, self.config.synonym_weight);
                    matched.insert(synonym.to_owned());
                }
            }
        }
        if clauses.is_empty() {
            return Ok(None);
        }
        let text: Box<dyn Query> = Box::new(BooleanQuery::new(clauses));
        let mut filters: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (field, value) in [
            (self.fields.category_key, &query.category),
            (self.fields.server_key, &query.server),
        ] {
            if let Some(value) = value {
                let term = Term::from_field_text(field, &value.to_lowercase());
                let filter = TermQuery::new(term, IndexRecordOption::Basic);
                // A filter must not add to the score.
                filters.push((
                    Occur::Must,
                    Box::new(ConstScoreQuery::new(Box::new(filter), 0.0)),
                ));
            }
        }
        if filters.is_empty() {
            return Ok(Some(Prepared {
                query: text,
                terms: matched,
            }));
        }
        filters.push((Occur::Must, text));
        Ok(Some(Prepared {
            query: Box::new(BooleanQuery::new(filters)),
            terms: matched,
        }))
    }

    fn search_hits(&self, query: &SearchQuery) -> Result<Vec<ToolHit>> {
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        // The read lock spans the search so the searcher and the tool map agree.
        let state = self.read();
        let searcher = self.reader.searcher();
        let Some(prepared) = self.build_query(&searcher, query)? else {
            return Ok(Vec::new());
        };
        let collector = TopByScoreThenName {
            limit: query.limit,
            name_field: QUALIFIED_FIELD,
        };
        let ranked = searcher
            .search(&prepared.query, &collector)
            .map_err(|e| DiscoveryError::index("searching", e))?;
        let hits: Vec<(f32, &Entry)> = ranked
            .into_iter()
            .filter(|(score, _)| *score >= query.min_score && *score > 0.0)
            .filter_map(|(score, name)| state.tools.get(&name).map(|entry| (score, entry)))
            .collect();
        let mut analyzer = self.analyzer.clone();
        Ok(hits
            .into_iter()
            .map(|(score, entry)| {
                let fields = matched_fields(&mut analyzer, &entry.tool, &prepared.terms);
                ToolHit::new(entry.tool.clone(), score, fields)
            })
            .collect())
    }
}

fn matched_fields(
    analyzer: &mut TextAnalyzer,
    tool: &ToolSchema,
    matched: &BTreeSet<String>,
) -> Vec<String> {
    Part::ALL
        .into_iter()
        .filter(|part| {
            let text = part.text(tool);
            !text.is_empty() && terms(analyzer, &text).iter().any(|t| matched.contains(t))
        })
        .map(|part| part.label().to_owned())
        .collect()
}

/// The tool's qualified name, if the tool may enter the index.
fn checked_name(tool: &ToolSchema) -> Result<String> {
    let name = tool.qualified_name();
    match check_tool(tool) {
        Ok(()) => Ok(name),
        Err(problem) => Err(DiscoveryError::InvalidTool { name, problem }),
    }
}

/// Sorts what a source loaded into changes and problems: `reject` says why a tool may not
/// enter (a collision, another server); invalid names and repeats are reported too.
fn admit(
    loaded: LoadReport,
    reject: impl Fn(&ToolSchema) -> Option<(ProblemKind, String)>,
) -> (LoadReport, Vec<Change>) {
    let mut report = LoadReport {
        tools: Vec::new(),
        problems: loaded.problems,
        files: loaded.files,
    };
    let mut changes = Vec::new();
    let mut batch = BTreeSet::new();
    for item in loaded.tools {
        let name = item.tool.qualified_name();
        let problem = reject(&item.tool)
            .or_else(|| {
                check_tool(&item.tool)
                    .err()
                    .map(|p| (ProblemKind::InvalidName, p))
            })
            .or_else(|| {
                (!batch.insert(name.clone())).then(|| {
                    (
                        ProblemKind::Duplicate,
                        "given twice by this source; the first one is kept".to_owned(),
                    )
                })
            });
        match problem {
            Some((kind, message)) => report
                .problems
                .push(LoadProblem::new(&item.origin, kind, message).tool(name)),
            None => {
                report.tools.push(item.clone());
                changes.push(Change::Add(Box::new(item)));
            }
        }
    }
    (report, changes)
}

/// FNV-1a over bytes written to it, so a tool can be hashed without serializing into a buffer.
struct Fnv(u64);

impl std::io::Write for Fnv {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A stable 64-bit hash of a tool's full content (FNV-1a, then a mix so sums spread well).
fn tool_hash(tool: &ToolSchema) -> u64 {
    let mut fnv = Fnv(0xcbf2_9ce4_8422_2325);
    // Serializing a ToolSchema to an infallible writer cannot fail (string keys only).
    let _ = serde_json::to_writer(&mut fnv, tool);
    let mut hash = fnv.0;
    // splitmix64 finalizer
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

impl ToolIndex for CatalogueIndex {
    fn len(&self) -> usize {
        CatalogueIndex::len(self)
    }

    fn search(&self, query: &SearchQuery) -> codeward_core::Result<Vec<ToolHit>> {
        Ok(self.search_hits(query)?)
    }

    fn get(&self, qualified_name: &str) -> Option<ToolSchema> {
        self.read()
            .tools
            .get(qualified_name)
            .map(|e| e.tool.clone())
    }

    fn all(&self) -> Vec<ToolSchema> {
        self.read().tools.values().map(|e| e.tool.clone()).collect()
    }

    /// A fingerprint of the content: it changes with every added, removed or changed tool,
    /// and is equal for equal catalogues (so it is safe in cache keys across processes).
    fn version(&self) -> u64 {
        self.read().fingerprint
    }
}
