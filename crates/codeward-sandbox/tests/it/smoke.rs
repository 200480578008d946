use crate::support::*;
use codeward_core::Language;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_prints() {
    let sb = sandbox();
    println!("{}", sb.isolation_report());
    let run = sb
        .run_detailed(job(
            "smoke-py",
            Language::Python,
            "import os\nprint(6*7, os.getuid(), os.getpid(), sorted(os.environ))",
            limits(),
        ))
        .await
        .unwrap();
    println!("{:#?}", run.output);
    assert_eq!(run.output.stdout.split_whitespace().next(), Some("42"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ts_prints() {
    let sb = sandbox();
    let run = sb
        .run_detailed(job(
            "smoke-ts",
            Language::TypeScript,
            "const x: number = 6*7; console.log(x, process.pid);",
            limits(),
        ))
        .await
        .unwrap();
    println!("{:#?}", run.output);
    assert_eq!(run.output.stdout.split_whitespace().next(), Some("42"));
}
