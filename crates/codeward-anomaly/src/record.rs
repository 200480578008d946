//! The audit-record form of observations: the writer's side and the replayer's side in one place.
//! Both directions use the keys in `meta`, so what the orchestrator writes is what replay reads.

use serde_json::{Map, Value};
use std::time::Duration;

use codeward_core::{
    AuditEvent, AuditKind, AuditRecord, ExecutionObservation, Language, Severity, ToolAnnotations,
    ToolCallObservation,
};

use crate::error::AnomalyError;
use crate::meta;

/// An observation rebuilt from an audit record.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Observation {
    /// From an `execution` record.
    Execution(ExecutionObservation),
    /// From a `tool_call` record.
    ToolCall {
        /// The call.
        call: ToolCallObservation,
        /// Whether the record carried `response_bytes` (records written before dispatch do
        /// not); without it the egress baseline is left alone.
        response_known: bool,
    },
}

/// The metadata an `execution` audit record needs for replay (keys in [`meta`]).
///
/// Times are kept to the microsecond.
pub fn execution_metadata(obs: &ExecutionObservation) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(meta::WALL_MS.into(), micros_as_ms(obs.wall_time).into());
    m.insert(meta::CPU_MS.into(), micros_as_ms(obs.cpu_time).into());
    m.insert(meta::PEAK_MEMORY_BYTES.into(), obs.peak_memory_bytes.into());
    m.insert(meta::SUCCESS.into(), obs.success.into());
    m.insert(meta::LANGUAGE.into(), obs.language.as_str().into());
    m.insert(
        meta::TOOLS.into(),
        Value::Array(obs.tools.iter().cloned().map(Value::String).collect()),
    );
    m.insert(meta::CRITICAL_EVENTS.into(), obs.critical_events.into());
    m.insert(meta::OBSERVED_AT_MS.into(), obs.timestamp_ms.into());
    m
}

/// The metadata a `tool_call` audit record needs for replay (keys in [`meta`]).
pub fn tool_call_metadata(obs: &ToolCallObservation) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(meta::TOOL.into(), obs.tool.clone().into());
    m.insert(meta::RESPONSE_BYTES.into(), obs.response_bytes.into());
    m.insert(meta::SUCCESS.into(), obs.success.into());
    m.insert(meta::SENSITIVE_SOURCE.into(), obs.sensitive_source.into());
    let a = &obs.annotations;
    for (key, hint) in [
        (meta::READ_ONLY_HINT, a.read_only_hint),
        (meta::DESTRUCTIVE_HINT, a.destructive_hint),
        (meta::IDEMPOTENT_HINT, a.idempotent_hint),
        (meta::OPEN_WORLD_HINT, a.open_world_hint),
    ] {
        if let Some(hint) = hint {
            m.insert(key.into(), hint.into());
        }
    }
    m.insert(meta::OBSERVED_AT_MS.into(), obs.timestamp_ms.into());
    m
}

/// A complete `execution` audit event for `obs`: principal, execution id and
/// [`execution_metadata`]. Add your own metadata to it; keep these keys.
pub fn execution_event(obs: &ExecutionObservation) -> AuditEvent {
    let (severity, message) = if obs.success {
        (Severity::Info, "execution finished")
    } else {
        (Severity::Warning, "execution failed")
    };
    let mut event = AuditEvent::new(AuditKind::Execution, severity, message)
        .execution(obs.execution_id.clone())
        .principal(obs.principal.clone());
    event.metadata = execution_metadata(obs);
    event
}

/// A complete `tool_call` audit event for `obs`: principal, execution id and
/// [`tool_call_metadata`].
pub fn tool_call_event(obs: &ToolCallObservation) -> AuditEvent {
    let mut event = AuditEvent::new(
        AuditKind::ToolCall,
        Severity::Info,
        format!("tool call {}", obs.tool),
    )
    .execution(obs.execution_id.clone())
    .principal(obs.principal.clone());
    event.metadata = tool_call_metadata(obs);
    event
}

/// The observation an audit record holds: `Ok(None)` for record kinds the detector does not
/// learn from, `Err` for an `execution` / `tool_call` record that lacks what replay needs.
pub fn observation_from_record(record: &AuditRecord) -> Result<Option<Observation>, AnomalyError> {
    let fields = Fields {
        record,
        kind: match record.kind {
            AuditKind::Execution => "execution",
            AuditKind::ToolCall => "tool_call",
            _ => return Ok(None),
        },
    };
    // Nothing ran for a cached execution: its times say nothing about the program.
    if record.kind == AuditKind::Execution && fields.bool_opt(meta::CACHED)? == Some(true) {
        return Ok(None);
    }
    let principal = record.principal.clone().ok_or(AnomalyError::MissingField {
        seq: record.seq,
        kind: fields.kind,
        key: "principal",
    })?;
    let execution_id = record.execution_id.clone().unwrap_or_default();
    let timestamp_ms = match fields.u64_opt(meta::OBSERVED_AT_MS)? {
        Some(ts) => ts,
        None => parse_rfc3339_ms(&record.ts).ok_or_else(|| AnomalyError::BadField {
            seq: record.seq,
            key: "ts",
            expected: "an RFC 3339 time",
            found: shorten(&record.ts),
        })?,
    };
    if record.kind == AuditKind::Execution {
        let language = fields.str_req(meta::LANGUAGE)?;
        let language: Language = language.parse().map_err(|_| AnomalyError::BadField {
            seq: record.seq,
            key: meta::LANGUAGE,
            expected: "`typescript` or `python`",
            found: shorten(language),
        })?;
        let tools = match fields.get(meta::TOOLS) {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| fields.bad(meta::TOOLS, "an array of strings"))?,
            Some(_) => return Err(fields.bad(meta::TOOLS, "an array of strings")),
        };
        let critical_events = u32::try_from(fields.u64_opt(meta::CRITICAL_EVENTS)?.unwrap_or(0))
            .map_err(|_| fields.bad(meta::CRITICAL_EVENTS, "an integer below 2^32"))?;
        return Ok(Some(Observation::Execution(ExecutionObservation {
            execution_id,
            principal,
            language,
            tools,
            success: fields.bool_req(meta::SUCCESS)?,
            wall_time: fields.ms_req(meta::WALL_MS)?,
            cpu_time: fields.ms_opt(meta::CPU_MS)?.unwrap_or_default(),
            peak_memory_bytes: fields.u64_opt(meta::PEAK_MEMORY_BYTES)?.unwrap_or(0),
            critical_events,
            timestamp_ms,
        })));
    }
    let mut annotations = ToolAnnotations::default();
    annotations.read_only_hint = fields.bool_opt(meta::READ_ONLY_HINT)?;
    annotations.destructive_hint = fields.bool_opt(meta::DESTRUCTIVE_HINT)?;
    annotations.idempotent_hint = fields.bool_opt(meta::IDEMPOTENT_HINT)?;
    annotations.open_world_hint = fields.bool_opt(meta::OPEN_WORLD_HINT)?;
    let response_bytes = fields.u64_opt(meta::RESPONSE_BYTES)?;
    Ok(Some(Observation::ToolCall {
        call: ToolCallObservation {
            execution_id,
            principal,
            tool: fields.str_req(meta::TOOL)?.to_owned(),
            annotations,
            sensitive_source: fields.bool_opt(meta::SENSITIVE_SOURCE)?.unwrap_or(false),
            response_bytes: response_bytes.unwrap_or(0),
            success: fields.bool_opt(meta::SUCCESS)?.unwrap_or(true),
            timestamp_ms,
        },
        response_known: response_bytes.is_some(),
    }))
}

/// Typed access to a record's metadata, with errors naming the record and the key.
struct Fields<'a> {
    record: &'a AuditRecord,
    kind: &'static str,
}

impl<'a> Fields<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.record.metadata.get(key).filter(|v| !v.is_null())
    }

    fn missing(&self, key: &'static str) -> AnomalyError {
        AnomalyError::MissingField {
            seq: self.record.seq,
            kind: self.kind,
            key,
        }
    }

    fn bad(&self, key: &'static str, expected: &'static str) -> AnomalyError {
        AnomalyError::BadField {
            seq: self.record.seq,
            key,
            expected,
            found: self
                .get(key)
                .map_or_else(String::new, |v| shorten(&v.to_string())),
        }
    }

    fn u64_opt(&self, key: &'static str) -> Result<Option<u64>, AnomalyError> {
        self.get(key)
            .map(|v| {
                v.as_u64()
                    .ok_or_else(|| self.bad(key, "a non-negative integer"))
            })
            .transpose()
    }

    fn bool_opt(&self, key: &'static str) -> Result<Option<bool>, AnomalyError> {
        self.get(key)
            .map(|v| v.as_bool().ok_or_else(|| self.bad(key, "a boolean")))
            .transpose()
    }

    fn bool_req(&self, key: &'static str) -> Result<bool, AnomalyError> {
        self.bool_opt(key)?.ok_or_else(|| self.missing(key))
    }

    fn str_req(&self, key: &'static str) -> Result<&'a str, AnomalyError> {
        self.get(key)
            .ok_or_else(|| self.missing(key))?
            .as_str()
            .ok_or_else(|| self.bad(key, "a string"))
    }

    fn ms_opt(&self, key: &'static str) -> Result<Option<Duration>, AnomalyError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let ms = v
            .as_f64()
            .filter(|ms| ms.is_finite() && *ms >= 0.0 && *ms < 1e15)
            .ok_or_else(|| self.bad(key, "milliseconds (a number, 0 or more)"))?;
        // The writer keeps microseconds; rounding undoes the decimal conversion exactly.
        Ok(Some(Duration::from_micros((ms * 1000.0).round() as u64)))
    }

    fn ms_req(&self, key: &'static str) -> Result<Duration, AnomalyError> {
        self.ms_opt(key)?.ok_or_else(|| self.missing(key))
    }
}

fn micros_as_ms(d: Duration) -> f64 {
    // u64 microseconds cover 584,000 years; saturate rather than wrap beyond that.
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX) as f64 / 1000.0
}

fn shorten(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// Milliseconds since the Unix epoch of an RFC 3339 time (`2026-11-27T07:32:27.123Z`,
/// `...+02:00`), or `None` if it is not one.
pub(crate) fn parse_rfc3339_ms(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let digits = b.get(from..from + len)?;
        digits.iter().try_fold(0i64, |acc, d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    let sep = |at: usize, allowed: &[u8]| b.get(at).is_some_and(|c| allowed.contains(c));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // 60 is a leap second; counted as the next second's start.
    if second > 60 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if sep(i, b".") {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 3 {
                millis = millis * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..3 {
            millis *= 10;
        }
    }
    let offset_min = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        c @ (b'+' | b'-') if i + 6 == b.len() && sep(i + 3, b":") => {
            let m = num(i + 1, 2)? * 60 + num(i + 4, 2)?;
            if *c == b'+' { m } else { -m }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_min * 60;
    u64::try_from(secs * 1000 + millis).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_ms("2026-11-27T07:32:27.123456Z"),
            Some(1_795_764_747_123)
        );
        assert_eq!(
            parse_rfc3339_ms("2026-11-27T09:32:27.1+02:00"),
            Some(1_795_764_747_100)
        );
        assert_eq!(
            parse_rfc3339_ms("2000-02-29T00:00:00Z"),
            Some(951_782_400_000)
        );
        for bad in [
            "",
            "2026-11-27",
            "2026-13-01T00:00:00Z",
            "2026-11-27T07:32:27",
            "2026-11-27T07:32:27.Z",
            "2026-11-27T07:32:27Zjunk",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
    }
}
