#!/bin/sh
# Stands in for $CARGO in xtask's tests: clippy and `build -p codeward-cli` succeed without
# compiling anything (clippy fails when FAKE_CLIPPY=fail); `cargo deny` behaves as FAKE_DENY
# says (unset: not installed).
if [ "$1" = clippy ] && [ "$FAKE_CLIPPY" = fail ]; then
  echo "fake clippy: error: unused \`AuditReceipt\` that must be used" >&2
  exit 101
fi
if [ "$1" = deny ]; then
  case "$FAKE_DENY" in
  pass) exit 0 ;;
  fail)
    [ "$2" = --version ] && exit 0
    echo "fake cargo-deny: a banned crate" >&2
    exit 1
    ;;
  *)
    echo "error: no such command: \`deny\`" >&2
    exit 101
    ;;
  esac
fi
exit 0
