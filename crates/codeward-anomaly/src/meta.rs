//! Audit-record metadata keys the detector writes and replays (`execution`, `tool_call`).
//! Use these constants, or better `execution_metadata` / `tool_call_metadata`, when writing.
//!
//! The principal and the execution id are not metadata: they go in the record's own
//! `principal` and `execution_id` fields (set with `AuditEvent::principal` / `execution`).
//! The audit log may store the principal as a keyed pseudonym; that is fine for replay as long
//! as live observations use the same form (see `DetectorConfig::principal_key`).

/// `execution`: wall time in milliseconds (number, microsecond precision). Required.
pub const WALL_MS: &str = "wall_ms";
/// `execution`: CPU time in milliseconds (number, microsecond precision). Default 0.
pub const CPU_MS: &str = "cpu_ms";
/// `execution`: peak memory in bytes (integer). Default 0.
pub const PEAK_MEMORY_BYTES: &str = "peak_memory_bytes";
/// `execution` and `tool_call`: whether it succeeded (bool). Required for executions,
/// default `true` for tool calls.
pub const SUCCESS: &str = codeward_core::keys::SUCCESS;
/// `execution`: `typescript` or `python`. Required.
pub const LANGUAGE: &str = "language";
/// `execution`: qualified names of the tools of the execution (array of strings). Default empty.
pub const TOOLS: &str = "tools";
/// `execution`: critical security events attached to the execution (integer). Default 0.
pub const CRITICAL_EVENTS: &str = "critical_events";
/// Both kinds: when it was observed, milliseconds since the Unix epoch (integer). When absent,
/// the record's `ts` is used.
pub const OBSERVED_AT_MS: &str = "observed_at_ms";
/// `tool_call`: qualified tool name (string). Required.
pub const TOOL: &str = codeward_core::keys::TOOL;
/// `tool_call`: bytes of result returned to the program (integer). When absent (a record
/// written before dispatch), the call still counts for rates and new tools but not for the
/// egress baseline.
pub const RESPONSE_BYTES: &str = "response_bytes";
/// `tool_call`: the tool reads a source the operator marked sensitive (bool). Default false.
pub const SENSITIVE_SOURCE: &str = "sensitive_source";
/// `tool_call`: MCP `readOnlyHint` (bool), absent when the tool gives none.
pub const READ_ONLY_HINT: &str = "read_only_hint";
/// `tool_call`: MCP `destructiveHint` (bool), absent when the tool gives none.
pub const DESTRUCTIVE_HINT: &str = "destructive_hint";
/// `tool_call`: MCP `idempotentHint` (bool), absent when the tool gives none.
pub const IDEMPOTENT_HINT: &str = "idempotent_hint";
/// `tool_call`: MCP `openWorldHint` (bool), absent when the tool gives none.
pub const OPEN_WORLD_HINT: &str = "open_world_hint";
/// `execution`: served from the result cache (bool, `codeward_core::keys::CACHED`). Replay skips
/// cached executions: nothing ran, so their times say nothing about the program. Live, do not
/// observe them either.
pub const CACHED: &str = codeward_core::keys::CACHED;
