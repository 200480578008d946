#!/bin/sh
# Stands in for the `codeward` binary in xtask's tests: the exit codes and files
# `cargo xtask compliance` reads, in milliseconds. Like the real binary it writes its log
# under $CODEWARD_AUDIT_DIR when set, else $CODEWARD_DATA_DIR/audit, and `audit report`
# refuses to overwrite an existing --output without --force.
#   FAKE_DIR            where the tests keep passing-report.json
#   FAKE_REPORT         a file to write as the audit report instead
#   FAKE_REPORT_EXIT    `audit report` fails with this exit code, writing nothing
#   FAKE_NO_LOG         the scenario writes no audit log
log="${CODEWARD_AUDIT_DIR:-$CODEWARD_DATA_DIR/audit}"
record() {
  [ -n "$FAKE_NO_LOG" ] && return 0
  mkdir -p "$log"
  printf '{"type":"%s","execution_id":"%s"}\n' "$1" "$2" >>"$log/00000001.jsonl"
}
case "$1" in
demo)
  record execution_started demo
  record execution demo
  exit 0
  ;;
run)
  case "$2" in
  *failing*)
    record execution_started failing
    record execution failing
    exit 1
    ;;
  *)
    record approval risky
    exit 3
    ;;
  esac
  ;;
--json)
  echo '{"records": 5, "segments": 1, "problem": null}'
  exit 0
  ;;
audit)
  out=""
  force=""
  while [ $# -gt 0 ]; do
    case "$1" in
    --output) shift; out="$1" ;;
    --force) force=1 ;;
    esac
    shift
  done
  if [ -e "$out" ] && [ -z "$force" ]; then
    echo "error: $out exists; pass --force to replace it" >&2
    exit 2
  fi
  if [ -n "$FAKE_REPORT_EXIT" ]; then
    echo "error: the audit log is unavailable" >&2
    exit "$FAKE_REPORT_EXIT"
  fi
  cat "${FAKE_REPORT:-$FAKE_DIR/passing-report.json}" >"$out"
  exit 0
  ;;
esac
echo "fake codeward: unexpected arguments: $*" >&2
exit 70
