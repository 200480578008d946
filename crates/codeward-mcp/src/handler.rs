//! The client side of each session: what codeward tells servers about itself, and what it
//! does with their notifications (log messages to `tracing`, tool-list changes counted).

use crate::process::SERVER_LOG_TARGET;
use rmcp::ClientHandler;
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation, ProtocolVersion};
// MCP logging is deprecated by the newest protocol (SEP-2577), but servers speaking the 2025
// versions, which is nearly all of them, still send log messages this way.
#[allow(deprecated)]
use rmcp::model::{LoggingLevel, LoggingMessageNotificationParam};
use rmcp::service::{NotificationContext, RoleClient};
use std::sync::Arc;
use tokio::sync::watch;

/// The handler of one server's session.
#[derive(Debug, Clone)]
pub(crate) struct Handler {
    server: Arc<str>,
    config: ClientConfig,
    tool_changes: Arc<watch::Sender<u64>>,
}

impl Handler {
    pub(crate) fn new(server: Arc<str>, tool_changes: Arc<watch::Sender<u64>>) -> Self {
        let mut config = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("codeward-mcp", env!("CARGO_PKG_VERSION")),
        );
        // The newest version with the `initialize` handshake every released server speaks;
        // servers answer with the version they support and rmcp accepts older ones.
        config.protocol_version = ProtocolVersion::LATEST_WITH_INITIALIZE;
        Handler {
            server,
            config,
            tool_changes,
        }
    }
}

impl ClientHandler for Handler {
    fn get_info(&self) -> ClientConfig {
        self.config.clone()
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        tracing::info!(target: SERVER_LOG_TARGET, server = %self.server, "the server's tool list changed");
        self.tool_changes.send_modify(|version| *version += 1);
    }

    #[allow(deprecated)]
    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let server = &*self.server;
        let logger = params.logger.as_deref().unwrap_or("");
        let data = match &params.data {
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        // MCP has syslog's eight levels; tracing has five.
        match params.level {
            LoggingLevel::Debug => {
                tracing::debug!(target: SERVER_LOG_TARGET, server = %server, logger = %logger, "{data}")
            }
            LoggingLevel::Info | LoggingLevel::Notice => {
                tracing::info!(target: SERVER_LOG_TARGET, server = %server, logger = %logger, "{data}")
            }
            LoggingLevel::Warning => {
                tracing::warn!(target: SERVER_LOG_TARGET, server = %server, logger = %logger, "{data}")
            }
            _ => {
                tracing::error!(target: SERVER_LOG_TARGET, server = %server, logger = %logger, "{data}")
            }
        }
    }
}
