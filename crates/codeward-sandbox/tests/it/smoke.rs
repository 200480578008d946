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
    assert_eq!(run.output.stdout.split_whitespace().next(), Some("42"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stress() {
    let sb = sandbox();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..40 {
        let sb = sb.clone();
        set.spawn(async move {
            let mut l = limits();
            l.timeout = std::time::Duration::from_secs(8);
            let m = marker(&format!("stress{i}"));
            let r = sb
                .run_detailed(job(&m, Language::Python, "print(1)", l))
                .await
                .unwrap();
            (i, r.output.metrics.wall_time, r.output.stdout)
        });
    }
    let mut bad = 0;
    while let Some(r) = set.join_next().await {
        let (i, w, out) = r.unwrap();
        if out.trim() != "1" {
            bad += 1;
            println!("run {i} bad: {w:?} {out:?}");
        }
    }
    assert_eq!(bad, 0);
}
