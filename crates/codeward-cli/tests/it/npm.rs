//! Real MCP servers nobody here wrote (`@modelcontextprotocol/server-filesystem` and
//! `server-everything`, installed by .ci/run): discovery, both APIs, a Python and a
//! TypeScript program calling several tools and combining the results, and the audit trail.

use super::*;

fn npm_script(package: &str) -> Option<PathBuf> {
    let Some(prefix) = std::env::var_os("CODEWARD_NPM_PREFIX") else {
        eprintln!(
            "SKIPPED: CODEWARD_NPM_PREFIX is not set (.ci/run installs the npm MCP servers and sets it)"
        );
        return None;
    };
    let script = PathBuf::from(prefix)
        .join("node_modules")
        .join(package)
        .join("dist/index.js");
    if !script.exists() {
        eprintln!("SKIPPED: {} is missing", script.display());
        return None;
    }
    Some(script)
}

const INTENT: &str = "filesystem read_text_file list_directory, everything echo get-sum: read a text file, list a directory, echo a message and add two numbers";

#[test]
fn python_and_typescript_programs_combine_real_servers_tools() {
    let (Some(fs), Some(every)) = (
        npm_script("@modelcontextprotocol/server-filesystem"),
        npm_script("@modelcontextprotocol/server-everything"),
    ) else {
        return;
    };
    let env = Env::new();
    let root = env
        .dir
        .path()
        .join("files")
        .canonicalize()
        .unwrap_or_else(|_| {
            std::fs::create_dir_all(env.dir.path().join("files")).unwrap();
            env.dir.path().join("files").canonicalize().unwrap()
        });
    std::fs::write(root.join("hello.txt"), "hello from codeward\n").unwrap();
    let servers = serde_json::json!({"mcpServers": {
        "filesystem": {"command": "node", "args": [fs, root]},
        "everything": {"command": "node", "args": [every, "stdio"]},
    }});
    let servers_file = env.write("servers.json", &servers.to_string());

    let hello = root.join("hello.txt").display().to_string();
    let dir = root.display().to_string();
    let python = format!(
        "from codeward_api import filesystem, everything, set_result\n\
         text = filesystem.read_text_file(path={hello:?})\n\
         listing = filesystem.list_directory(path={dir:?})\n\
         echo = everything.echo(message='hi from python')\n\
         total = everything.get_sum(a=2, b=3)\n\
         set_result({{'text': text['content'], 'listing': str(listing), 'echo': str(echo), 'sum': str(total)}})\n"
    );
    let typescript = format!(
        "import {{ filesystem, everything, setResult }} from \"./codeward_api\";\n\
         const [text, listing, echo, total] = await Promise.all([\n\
           filesystem.readTextFile({{ path: {hello:?} }}),\n\
           filesystem.listDirectory({{ path: {dir:?} }}),\n\
           everything.echo({{ message: \"hi from typescript\" }}),\n\
           everything.getSum({{ a: 2, b: 3 }}),\n\
         ]);\n\
         setResult({{ text: text.content, listing: JSON.stringify(listing), echo: String(echo), sum: String(total) }});\n"
    );
    for (name, program, greeting) in [
        ("prog.py", python, "hi from python"),
        ("prog.ts", typescript, "hi from typescript"),
    ] {
        let file = env.write(name, &program);
        let mut cmd = env.cmd(&[
            "--json",
            "run",
            file.to_str().unwrap(),
            "--intent",
            INTENT,
            "--tools",
            "12",
        ]);
        let out = cmd
            .env("CODEWARD_MCP_CONFIG", &servers_file)
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{name}: {e}\n{}\n{}", stdout(&out), stderr(&out)));
        assert_eq!(out.status.code(), Some(0), "{name}: {v:#}");
        let result = &v["outcome"]["output"];
        assert_eq!(
            result["text"], "hello from codeward\n",
            "{name}: {result:#}"
        );
        assert!(
            result["listing"].as_str().unwrap().contains("hello.txt"),
            "{name}: {result:#}"
        );
        assert!(
            result["echo"].as_str().unwrap().contains(greeting),
            "{name}: {result:#}"
        );
        assert!(
            result["sum"].as_str().unwrap().contains('5'),
            "{name}: {result:#}"
        );
        let types = record_types(&v);
        assert_eq!(
            types.iter().filter(|t| *t == "tool_call").count(),
            4,
            "{name}: {types:?}"
        );
        assert_eq!(types.last().map(String::as_str), Some("execution"));
    }
    let (code, records) = env.json(&["audit", "tail", "-n", "100"]);
    assert_eq!(code, 0);
    let tools: Vec<&str> = records
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["metadata"]["tool"].as_str())
        .collect();
    for t in [
        "filesystem.read_text_file",
        "filesystem.list_directory",
        "everything.echo",
        "everything.get-sum",
    ] {
        assert_eq!(
            tools.iter().filter(|x| **x == t).count(),
            2,
            "{t} once per language: {tools:?}"
        );
    }
    assert!(env.run(&["audit", "verify"]).status.success());
}
