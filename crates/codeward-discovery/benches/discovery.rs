//! Discovery benchmark: index build time and query latency on synthetic catalogues of 1k, 10k
//! and 100k tools (the default catalogue plus generated tools), against the baseline scorer.
//!
//! Run: `cargo bench -p codeward-discovery --bench discovery`.
//! Writes `target/bench/discovery.json`.

use codeward_test_support::bench::{row, target_dir};
use std::time::{Duration, Instant};

use codeward_discovery::{
    BaselineScorer, CatalogueIndex, CatalogueSource, DefaultCatalogue, SearchQuery, StaticTools,
    ToolHit, ToolIndex, ToolSchema,
};
use serde_json::{Value, json};

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
const SEED: u64 = 0xc0de_3a3d_0000_0001;

/// splitmix64: small, seeded, good enough to draw words.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const SERVICES: &[(&str, &str)] = &[
    ("zendesk", "ticketing"),
    ("jira", "project"),
    ("hubspot", "crm"),
    ("pipedrive", "crm"),
    ("linear", "project"),
    ("asana", "project"),
    ("trello", "project"),
    ("notion", "docs"),
    ("confluence", "docs"),
    ("dropbox", "storage"),
    ("box", "storage"),
    ("gdrive", "storage"),
    ("twilio", "messaging"),
    ("sendgrid", "email"),
    ("mailchimp", "marketing"),
    ("intercom", "support"),
    ("freshdesk", "ticketing"),
    ("servicenow", "ticketing"),
    ("pagerduty", "monitoring"),
    ("datadog", "monitoring"),
    ("grafana", "monitoring"),
    ("sentry", "monitoring"),
    ("okta", "identity"),
    ("auth0", "identity"),
    ("vault", "security"),
    ("snowflake", "database"),
    ("bigquery", "database"),
    ("mongodb", "database"),
    ("redis", "database"),
    ("elastic", "search"),
    ("shopify", "ecommerce"),
    ("woocommerce", "ecommerce"),
    ("quickbooks", "finance"),
    ("xero", "finance"),
    ("netsuite", "finance"),
    ("workday", "hr"),
    ("bamboohr", "hr"),
    ("greenhouse", "recruiting"),
    ("lever", "recruiting"),
    ("zoom", "meetings"),
    ("teams", "messaging"),
    ("discord", "messaging"),
    ("telegram", "messaging"),
    ("airtable", "database"),
    ("monday", "project"),
    ("clickup", "project"),
    ("gitlab", "devops"),
    ("bitbucket", "devops"),
    ("circleci", "devops"),
    ("jenkins", "devops"),
    ("vercel", "hosting"),
    ("netlify", "hosting"),
    ("heroku", "hosting"),
    ("cloudflare", "network"),
    ("digitalocean", "cloud"),
    ("aws", "cloud"),
    ("azure", "cloud"),
    ("gcp", "cloud"),
    ("segment", "analytics"),
    ("mixpanel", "analytics"),
    ("amplitude", "analytics"),
    ("docusign", "legal"),
    ("calendly", "calendar"),
    ("outlook", "email"),
    ("figma", "design"),
];

const OBJECTS: &[&str] = &[
    "ticket",
    "invoice",
    "user",
    "team",
    "project",
    "task",
    "issue",
    "deployment",
    "alert",
    "incident",
    "dashboard",
    "report",
    "contact",
    "deal",
    "lead",
    "order",
    "product",
    "customer",
    "payment",
    "refund",
    "subscription",
    "campaign",
    "document",
    "page",
    "folder",
    "file",
    "bucket",
    "secret",
    "key",
    "role",
    "permission",
    "channel",
    "message",
    "meeting",
    "event",
    "employee",
    "candidate",
    "job",
    "pipeline",
    "build",
    "release",
    "metric",
    "log",
    "record",
    "table",
    "webhook",
    "workflow",
    "form",
    "survey",
    "coupon",
    "shipment",
    "warehouse",
    "comment",
    "attachment",
    "label",
    "milestone",
    "sprint",
    "segment",
    "audience",
    "template",
    "domain",
    "certificate",
    "instance",
    "volume",
    "snapshot",
    "cluster",
    "policy",
    "group",
    "account",
];

const VERBS: &[(&str, &str)] = &[
    (
        "list",
        "List {o}s in {S}, with filters and cursor pagination.",
    ),
    (
        "get",
        "Get one {o} from {S} by its id, with all its fields.",
    ),
    ("create", "Create a new {o} in {S}."),
    ("update", "Update the fields of an existing {o} in {S}."),
    ("delete", "Delete a {o} from {S}; this cannot be undone."),
    ("search", "Search {S} {o}s by keyword, owner or status."),
    (
        "export",
        "Export {o}s from {S} as CSV or JSON for reporting.",
    ),
    (
        "archive",
        "Archive a {o} in {S} so it no longer shows in default views.",
    ),
    ("assign", "Assign a {o} to a user or a team in {S}."),
    (
        "sync",
        "Synchronize {o}s between {S} and an external system.",
    ),
    ("count", "Count the {o}s in {S} matching a filter."),
    ("approve", "Approve a pending {o} in {S}."),
    ("close", "Close an open {o} in {S}."),
    ("restore", "Restore an archived or deleted {o} in {S}."),
    ("tag", "Add or remove tags on a {o} in {S}."),
    ("comment", "Add a comment to a {o} in {S}."),
    ("duplicate", "Make a copy of a {o} in {S}."),
    ("schedule", "Schedule a {o} in {S} for a later date."),
];

const QUALIFIERS: &[&str] = &[
    "",
    " Results are sorted by creation date, newest first.",
    " Works across all workspaces the token can access.",
    " Custom fields are included when present.",
    " Requires admin permissions.",
    " Rate limited to 100 requests per minute.",
    " Returns the updated object.",
];

const PARAMS: &[(&str, &str, &str)] = &[
    ("id", "string", "The {o} id."),
    ("limit", "integer", "At most this many results."),
    (
        "cursor",
        "string",
        "Pagination cursor from a previous call.",
    ),
    ("query", "string", "Keywords to match."),
    ("status", "string", "Only {o}s in this status."),
    ("owner", "string", "User id of the owner."),
    (
        "created_after",
        "string",
        "Only {o}s created after this date (ISO 8601).",
    ),
    ("fields", "array", "Fields to return."),
    ("workspace", "string", "Workspace or organization id."),
    ("tags", "array", "Tags to filter or set."),
    ("name", "string", "The {o}'s display name."),
    ("notify", "boolean", "Send notifications to watchers."),
];

fn camel(verb: &str, object: &str) -> String {
    let mut chars = object.chars();
    let upper: String = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    format!("{verb}{upper}")
}

/// `count` synthetic tools, about 20 per server, deterministic for a seed.
fn synthetic(count: usize, seed: u64) -> Vec<ToolSchema> {
    let mut rng = Rng(seed);
    let mut tools = Vec::with_capacity(count);
    let mut server_no = 0;
    while tools.len() < count {
        let (service, category) = *rng.pick(SERVICES);
        let server = format!("{service}_{server_no}");
        server_no += 1;
        let display = {
            let mut c = service.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        };
        let camel_case = rng.below(4) == 0;
        let mut names = std::collections::BTreeSet::new();
        for _ in 0..20 {
            if tools.len() >= count {
                break;
            }
            let (verb, template) = *rng.pick(VERBS);
            let object = *rng.pick(OBJECTS);
            let name = if camel_case {
                camel(verb, object)
            } else {
                format!("{verb}_{object}")
            };
            if !names.insert(name.clone()) {
                continue;
            }
            let description = format!(
                "{}{}",
                template.replace("{o}", object).replace("{S}", &display),
                rng.pick(QUALIFIERS)
            );
            let mut properties = serde_json::Map::new();
            for _ in 0..2 + rng.below(4) {
                let (p, t, d) = *rng.pick(PARAMS);
                properties.insert(
                    p.to_owned(),
                    json!({"type": t, "description": d.replace("{o}", object)}),
                );
            }
            tools.push(
                ToolSchema::new(
                    name,
                    description,
                    json!({"type": "object", "properties": properties}),
                )
                .with_server(server.clone())
                .with_category(category),
            );
        }
    }
    tools
}

fn synthetic_queries(count: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng(seed);
    let shapes = [
        "create a new {o} in {s}",
        "list all {o}s",
        "delete the old {o}",
        "find {o}s owned by me",
        "export {o} data to csv",
        "archive a {o} in {s}",
        "how many {o}s are open",
        "assign this {o} to the team",
        "update the {o} status",
        "get {o} details from {s}",
    ];
    (0..count)
        .map(|_| {
            let shape = *rng.pick(&shapes);
            let object = *rng.pick(OBJECTS);
            let service = rng.pick(SERVICES).0;
            shape.replace("{o}", object).replace("{s}", service)
        })
        .collect()
}

struct Labelled {
    query: String,
    expected: Vec<String>,
}

fn labelled() -> Vec<Labelled> {
    let set: Value =
        serde_json::from_str(include_str!("../tests/it/queries.json")).unwrap_or_default();
    set["queries"]
        .as_array()
        .map(|qs| {
            qs.iter()
                .map(|q| Labelled {
                    query: q["query"].as_str().unwrap_or_default().to_owned(),
                    expected: q["expected"]
                        .as_array()
                        .map(|e| {
                            e.iter()
                                .filter_map(|n| n.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// (recall@5, MRR) over the labelled set.
fn quality(labelled: &[Labelled], search: impl Fn(&str) -> Vec<ToolHit>) -> (f64, f64) {
    let (mut recall, mut mrr) = (0.0, 0.0);
    for q in labelled {
        let names: Vec<String> = search(&q.query)
            .iter()
            .map(|h| h.tool.qualified_name())
            .collect();
        recall += q.expected.iter().filter(|e| names.contains(e)).count() as f64
            / q.expected.len() as f64;
        if let Some(rank) = names.iter().position(|n| q.expected.contains(n)) {
            mrr += 1.0 / (rank + 1) as f64;
        }
    }
    let n = labelled.len().max(1) as f64;
    (recall / n, mrr / n)
}

/// User + system CPU seconds of this process (all threads), from /proc on Linux.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Linux reports clock ticks of 1/100 s (USER_HZ) on every common configuration.
    Some((utime + stime) / 100.0)
}

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    let idx = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[idx].as_secs_f64() * 1e3
}

fn time_queries(
    queries: &[String],
    rounds: usize,
    search: impl Fn(&str) -> usize,
) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(queries.len() * rounds);
    let mut sink = 0;
    for _ in 0..rounds {
        for q in queries {
            let start = Instant::now();
            sink += search(q);
            samples.push(start.elapsed());
        }
    }
    std::hint::black_box(sink);
    samples
}

/// The three slowest queries by their median time over the rounds, for the report.
fn slowest_queries(queries: &[String], rounds: usize, samples: &[Duration]) -> String {
    let mut per_query: Vec<(Duration, &str)> = queries
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let mut times: Vec<Duration> = (0..rounds)
                .map(|r| samples[r * queries.len() + i])
                .collect();
            times.sort();
            (times[rounds / 2], q.as_str())
        })
        .collect();
    per_query.sort_by_key(|entry| std::cmp::Reverse(entry.0));
    per_query
        .iter()
        .take(3)
        .map(|(d, q)| format!("{q:?} {:.2} ms", d.as_secs_f64() * 1e3))
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() {
    let started = Instant::now();
    let default_tools: Vec<ToolSchema> = DefaultCatalogue
        .load()
        .tools
        .into_iter()
        .map(|t| t.tool)
        .collect();
    let labelled = labelled();
    let mut queries: Vec<String> = labelled.iter().map(|l| l.query.clone()).collect();
    queries.extend(synthetic_queries(200, SEED ^ 0x5eed));
    let mut rows = Vec::new();

    // Quality on the default catalogue alone.
    let index = CatalogueIndex::new().expect("index");
    index
        .load(&StaticTools::new("default", default_tools.clone()))
        .expect("load");
    let baseline = BaselineScorer::new(default_tools.clone());
    let (recall, mrr) = quality(&labelled, |q| {
        index.search(&SearchQuery::new(q, 5)).unwrap_or_default()
    });
    let (b_recall, b_mrr) = quality(&labelled, |q| baseline.search(&SearchQuery::new(q, 5)));
    println!(
        "labelled set: {} queries over {} tools",
        labelled.len(),
        default_tools.len()
    );
    println!("  index    recall@5 {recall:.3}  MRR {mrr:.3}");
    println!("  baseline recall@5 {b_recall:.3}  MRR {b_mrr:.3}");
    rows.push(row(
        "recall@5, labelled set, default catalogue",
        recall,
        "ratio",
        Some("substring scorer"),
        Some(recall / b_recall),
        Some(">= 0.9 and above baseline"),
        Some(recall >= 0.9 && recall > b_recall),
    ));
    rows.push(row(
        "MRR, labelled set, default catalogue",
        mrr,
        "ratio",
        Some("substring scorer"),
        Some(mrr / b_mrr),
        None,
        Some(mrr > b_mrr),
    ));
    rows.push(row(
        "baseline recall@5, labelled set, default catalogue",
        b_recall,
        "ratio",
        None,
        None,
        None,
        None,
    ));
    // Ablations: what synonyms and typo correction contribute on the labelled set.
    for (what, builder) in [
        (
            "without synonyms",
            CatalogueIndex::builder().synonyms(Vec::new()),
        ),
        (
            "without typo correction",
            CatalogueIndex::builder().typo_tolerance(false),
        ),
    ] {
        let ablated = builder.build().expect("index");
        ablated
            .load(&StaticTools::new("default", default_tools.clone()))
            .expect("load");
        let (r, m) = quality(&labelled, |q| {
            ablated.search(&SearchQuery::new(q, 5)).unwrap_or_default()
        });
        println!("  index {what}: recall@5 {r:.3}  MRR {m:.3}");
        rows.push(row(
            &format!("recall@5 {what}, labelled set, default catalogue"),
            r,
            "ratio",
            None,
            None,
            None,
            None,
        ));
    }

    println!(
        "\n{:>8} {:>10} {:>10} {:>9} {:>9} {:>11} {:>7} {:>9} {:>9} {:>10}",
        "tools",
        "build ms",
        "build cpu",
        "p50 ms",
        "p99 ms",
        "base p50",
        "ratio",
        "recall@5",
        "base r@5",
        "update ms"
    );
    let mut slow_lines = Vec::new();
    for &size in &SIZES {
        let mut tools = default_tools.clone();
        tools.extend(synthetic(size - default_tools.len(), SEED ^ size as u64));

        let source = StaticTools::new("synthetic", tools.clone());
        let cpu_start = process_cpu_seconds();
        let start = Instant::now();
        let index = CatalogueIndex::new().expect("index");
        let report = index.load(&source).expect("load");
        let build = start.elapsed().as_secs_f64() * 1e3;
        // CPU time of all threads: wall time alone is inflated when the machine is shared.
        let build_cpu = cpu_start
            .zip(process_cpu_seconds())
            .map(|(a, b)| (b - a) * 1e3);
        assert!(report.is_clean(), "{report}");

        let search = |q: &str| {
            index
                .search(&SearchQuery::new(q, 5))
                .map(|h| h.len())
                .unwrap_or(0)
        };
        time_queries(&queries[..20], 1, search); // warm up
        let rounds = if size >= 100_000 { 3 } else { 5 };
        let mut samples = time_queries(&queries, rounds, search);
        let slowest = slowest_queries(&queries, rounds, &samples);
        let p50 = percentile(&mut samples, 0.5);
        let p99 = percentile(&mut samples, 0.99);

        let baseline = BaselineScorer::new(tools.clone());
        let base_queries = if size >= 100_000 {
            &queries[..60]
        } else {
            &queries[..]
        };
        let mut base_samples = time_queries(base_queries, 1, |q| {
            baseline.search(&SearchQuery::new(q, 5)).len()
        });
        let base_p50 = percentile(&mut base_samples, 0.5);
        let ratio = base_p50 / p50;

        // Recall among distractors: the labelled tools are hidden in the synthetic catalogue.
        let (recall, _) = quality(&labelled, |q| {
            index.search(&SearchQuery::new(q, 5)).unwrap_or_default()
        });
        let (b_recall, _) = quality(&labelled, |q| baseline.search(&SearchQuery::new(q, 5)));

        // One tool changed in place: a delete and an add in one small commit, no rebuild.
        let mut updates = Vec::new();
        for i in 0..10 {
            let mut tool = tools[tools.len() - 1 - i].clone();
            tool.description.push_str(" Updated.");
            let start = Instant::now();
            index.upsert(tool).expect("upsert");
            updates.push(start.elapsed());
        }
        let update_p50 = percentile(&mut updates, 0.5);

        slow_lines.push(format!("{size:>8}: {slowest}"));
        println!(
            "{size:>8} {build:>10.0} {:>10.0} {p50:>9.3} {p99:>9.3} {base_p50:>11.3} {ratio:>7.1} {recall:>9.3} {b_recall:>9.3} {update_p50:>10.2}",
            build_cpu.unwrap_or(f64::NAN)
        );
        let label = |what: &str| format!("{what}, {size} tools");
        rows.push(row(
            &label("index build"),
            build,
            "ms",
            None,
            None,
            None,
            None,
        ));
        if let Some(cpu) = build_cpu {
            rows.push(row(
                &label("index build CPU (all threads)"),
                cpu,
                "ms",
                None,
                None,
                None,
                None,
            ));
        }
        let target_p50 = (size == 100_000).then_some("<= 2 ms");
        rows.push(row(
            &label("query p50"),
            p50,
            "ms",
            None,
            None,
            target_p50,
            (size == 100_000).then_some(p50 <= 2.0),
        ));
        rows.push(row(&label("query p99"), p99, "ms", None, None, None, None));
        let target_ratio = (size == 100_000).then_some(">= 10x faster than baseline");
        rows.push(row(
            &label("baseline query p50"),
            base_p50,
            "ms",
            Some("substring scorer"),
            Some(ratio),
            target_ratio,
            (size == 100_000).then_some(ratio >= 10.0),
        ));
        rows.push(row(
            &label("recall@5 among distractors"),
            recall,
            "ratio",
            Some("substring scorer"),
            Some(recall / b_recall),
            Some("above baseline"),
            Some(recall > b_recall),
        ));
        rows.push(row(
            &label("single-tool update p50"),
            update_p50,
            "ms",
            None,
            None,
            None,
            None,
        ));
    }

    println!("\nslowest queries (median over rounds):");
    for line in slow_lines {
        println!("{line}");
    }

    let out = target_dir().join("bench");
    let _ = std::fs::create_dir_all(&out);
    let doc = json!({"bench": "discovery", "rows": rows});
    let path = out.join("discovery.json");
    match std::fs::write(
        &path,
        serde_json::to_string_pretty(&doc).unwrap_or_default(),
    ) {
        Ok(()) => println!(
            "\nwrote {} in {:.1} s",
            path.display(),
            started.elapsed().as_secs_f64()
        ),
        Err(e) => eprintln!("cannot write {}: {e}", path.display()),
    }
}
