//! Every generated module compiles: Python through py_compile and a real import, TypeScript
//! through the oxc parser and semantic checks and, when installed, `tsc --noEmit --strict`
//! (with usage files whose `@ts-expect-error` lines prove the types are precise, not `any`).

use std::path::PathBuf;

use codeward_core::Language;

use crate::common::{FIXTURES, fixture, generate, py_compile, py_import, ts_parse, tsc_check};

#[test]
fn every_python_module_compiles_and_imports() {
    let root = tempfile::tempdir().expect("temp dir");
    let mut files: Vec<PathBuf> = Vec::new();
    for name in FIXTURES {
        let api = generate(&fixture(name), Language::Python);
        let dir = root.path().join(name);
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("codeward_api.py"), &api.module).expect("write");
        std::fs::write(dir.join("summary.py"), &api.summary).expect("write");
        files.push(dir.join("codeward_api.py"));
        files.push(dir.join("summary.py"));
    }
    py_compile(&files);
    for name in FIXTURES {
        py_import(&root.path().join(name));
    }
}

/// Programs an agent could write against the generated TypeScript APIs.
const USAGE: &[(&str, &str)] = &[
    (
        "demo",
        r#"import { demo, setResult, ToolError } from "./codeward_api";
export async function main(): Promise<void> {
  const note = await demo.notesAdd({ title: "Groceries", tags: ["home"] });
  const id: string = note.id;
  // @ts-expect-error title must be a string
  await demo.notesAdd({ title: 1 });
  // @ts-expect-error title is required
  await demo.notesAdd({});
  // @ts-expect-error sort is one of three words
  await demo.notesSearch({ query: "x", sort: "random" });
  // @ts-expect-error no such property
  await demo.notesSearch({ query: "x", colour: "red" });
  // @ts-expect-error the output has no such field
  note.missing;
  const hits: unknown = await demo.notesSearch({ query: "milk", limit: 5, sort: "newest" }, { timeoutMs: 1000 });
  try {
    await demo.notesDelete({ id });
  } catch (error) {
    if (error instanceof ToolError) {
      const code: number = error.code;
      setResult({ code, tool: error.tool });
    }
  }
  setResult({ id, hits });
}
"#,
    ),
    (
        "filesystem",
        r#"import { filesystem } from "./codeward_api";
export async function main(): Promise<void> {
  await filesystem.editFile({ path: "a.txt", edits: [{ oldText: "a", newText: "b" }], dryRun: true });
  // @ts-expect-error edits need oldText and newText
  await filesystem.editFile({ path: "a.txt", edits: [{ oldText: "a" }] });
  await filesystem.listAllowedDirectories();
  await filesystem.readMultipleFiles({ paths: ["a", "b"] });
}
"#,
    ),
    (
        "everything",
        r#"import { everything } from "./codeward_api";
export async function main(): Promise<void> {
  const weather = await everything.structuredContent({ location: "Paris" });
  const t: number = weather.temperature;
  await everything.annotatedMessage({ messageType: "debug" });
  // @ts-expect-error messageType is an enum
  await everything.annotatedMessage({ messageType: "info" });
  await everything.toggleSubscriberUpdates({ target: { uri: "x://y", intervalMs: 5 }, enabled: true });
  await everything.toggleSubscriberUpdates({ target: null, enabled: false });
  void t;
}
"#,
    ),
    (
        "hard_cases",
        r#"import { hardCases, type Node } from "./codeward_api";
export async function main(): Promise<void> {
  const leaf: Node = { value: 1 };
  await hardCases.treeInsert({ root: { value: "a", children: [leaf], parent: null }, position: [1, 2], mode: 2.5 });
  // @ts-expect-error position is a pair
  await hardCases.treeInsert({ root: leaf, position: [1, 2, 3] });
  await hardCases.jsonStore({ value: { a: [1, "x", null, { b: true }] } });
  await hardCases.weirdNames({ class: "c", from: "f", "2fa": "x", "a-b": 1 });
  await hardCases.nullableThings({ a: null, b: null, kind: "fixed", shape: { kind: "circle", radius: 1 }, merged: { id: "i", extra: 2 }, labels: { k: "v" }, meta: { owner: "o", n: 1 }, open: { known: true, other: [1] } });
  await hardCases.rootUnion({ id: "x" });
  await hardCases.empty({ anything: 1 });
}
"#,
    ),
];

#[test]
fn every_typescript_module_parses_and_type_checks() {
    let root = tempfile::tempdir().expect("temp dir");
    let mut files: Vec<PathBuf> = Vec::new();
    for name in FIXTURES {
        let api = generate(&fixture(name), Language::TypeScript);
        ts_parse(&api.module).unwrap_or_else(|e| panic!("{name} module does not parse:\n{e}"));
        ts_parse(&api.summary).unwrap_or_else(|e| panic!("{name} summary does not parse:\n{e}"));
        let dir = root.path().join(name);
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("codeward_api.ts"), &api.module).expect("write");
        std::fs::write(dir.join("summary.ts"), &api.summary).expect("write");
        files.push(dir.join("codeward_api.ts"));
        files.push(dir.join("summary.ts"));
        if let Some((_, usage)) = USAGE.iter().find(|(n, _)| n == name) {
            ts_parse(usage).unwrap_or_else(|e| panic!("{name} usage does not parse:\n{e}"));
            std::fs::write(dir.join("usage.ts"), usage).expect("write");
            files.push(dir.join("usage.ts"));
        }
    }
    tsc_check(&files);
}

#[test]
fn oxc_rejects_broken_typescript() {
    // The parse check must be able to fail.
    assert!(ts_parse("export interface { x: }").is_err());
}

#[test]
fn an_empty_tool_set_still_gives_working_modules() {
    let dir = tempfile::tempdir().expect("temp dir");
    let py = generate(&[], Language::Python);
    std::fs::write(dir.path().join("codeward_api.py"), &py.module).expect("write");
    py_compile(&[dir.path().join("codeward_api.py")]);
    py_import(dir.path());
    let ts = generate(&[], Language::TypeScript);
    ts_parse(&ts.module).expect("module parses");
    ts_parse(&ts.summary).expect("summary parses");
    assert!(ts.module.contains("export function setResult"));
}
