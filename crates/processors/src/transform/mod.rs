//! The `transform` processor: OTTL statements (`set`, `delete_key`, `replace_pattern`, ...) run
//! on resources, scopes, spans, span events and log records, group by group in configuration
//! order. A statement that fails follows `error_mode`: `propagate` refuses the batch,
//! `ignore` logs and goes on with the next statement, `silent` goes on quietly.

mod config;

pub use config::TransformConfig;

use crate::ottl::groups::{LOG_CONTEXTS, TRACE_CONTEXTS};
use crate::ottl::{ContextKind, ErrorMode, MutCtx};
use async_trait::async_trait;
use config::{groups, Group};
use kakehashi_component::{
    config_as, decode_config, AnyConfig, Batch, BuildContext, BuildError, ConsumeError, Consumer,
    FactoryInfo, Processor, ProcessorFactory,
};
use kakehashi_config::{ConfigErrors, Node};
use kakehashi_pdata::proto::logs::v1::ResourceLogs;
use kakehashi_pdata::proto::logs::v1::ScopeLogs;
use kakehashi_pdata::proto::trace::v1::{ResourceSpans, ScopeSpans};
use kakehashi_pdata::{Payload, Signal};
use std::sync::Arc;

pub struct TransformProcessor {
    traces: Vec<Group>,
    logs: Vec<Group>,
    next: Arc<dyn Consumer>,
}

impl Group {
    /// Runs the group on one item: its statements in order if a group condition holds (or
    /// there are none).
    fn run(&self, ctx: &mut MutCtx) -> Result<(), String> {
        if !self.conditions.is_empty() {
            let mut any = false;
            for c in &self.conditions {
                match c.eval(&ctx.view()) {
                    Ok(true) => {
                        any = true;
                        break;
                    }
                    Ok(false) => {}
                    Err(e) => self.failed(c.text(), e)?,
                }
            }
            if !any {
                return Ok(());
            }
        }
        for s in &self.statements {
            if let Err(e) = s.execute(ctx) {
                self.failed(s.text(), e)?;
            }
        }
        Ok(())
    }

    fn failed(&self, what: &str, e: String) -> Result<(), String> {
        match self.error_mode {
            ErrorMode::Propagate => Err(format!("failed to execute statement: {what}, {e}")),
            ErrorMode::Ignore => {
                tracing::warn!(statement = what, error = %e, "failed to execute statement");
                Ok(())
            }
            ErrorMode::Silent => Ok(()),
        }
    }

    fn run_traces(&self, resource_spans: &mut [ResourceSpans]) -> Result<(), String> {
        for rs in resource_spans {
            let ResourceSpans {
                resource,
                scope_spans,
                ..
            } = rs;
            if self.kind == ContextKind::Resource {
                self.run(&mut ctx(resource))?;
                continue;
            }
            for ss in scope_spans {
                let ScopeSpans { scope, spans, .. } = ss;
                if self.kind == ContextKind::Scope {
                    self.run(&mut MutCtx {
                        scope: Some(scope),
                        ..ctx(resource)
                    })?;
                    continue;
                }
                for span in spans {
                    if self.kind == ContextKind::Span {
                        self.run(&mut MutCtx {
                            scope: Some(scope),
                            span: Some(span),
                            ..ctx(resource)
                        })?;
                        continue;
                    }
                    // Span events: taken out so the span and the event can both be reached.
                    let mut events = std::mem::take(&mut span.events);
                    let result = events.iter_mut().try_for_each(|event| {
                        self.run(&mut MutCtx {
                            scope: Some(&mut *scope),
                            span: Some(&mut *span),
                            event: Some(event),
                            ..ctx(&mut *resource)
                        })
                    });
                    span.events = events;
                    result?;
                }
            }
        }
        Ok(())
    }

    fn run_logs(&self, resource_logs: &mut [ResourceLogs]) -> Result<(), String> {
        for rl in resource_logs {
            let ResourceLogs {
                resource,
                scope_logs,
                ..
            } = rl;
            if self.kind == ContextKind::Resource {
                self.run(&mut ctx(resource))?;
                continue;
            }
            for sl in scope_logs {
                let ScopeLogs {
                    scope, log_records, ..
                } = sl;
                if self.kind == ContextKind::Scope {
                    self.run(&mut MutCtx {
                        scope: Some(scope),
                        ..ctx(resource)
                    })?;
                    continue;
                }
                for log in log_records {
                    self.run(&mut MutCtx {
                        scope: Some(&mut *scope),
                        log: Some(log),
                        ..ctx(&mut *resource)
                    })?;
                }
            }
        }
        Ok(())
    }
}

/// A context with only the resource; the struct-update base for the others.
fn ctx(resource: &mut Option<kakehashi_pdata::proto::resource::v1::Resource>) -> MutCtx<'_> {
    MutCtx {
        resource,
        scope: None,
        span: None,
        event: None,
        log: None,
    }
}

impl TransformProcessor {
    pub fn new(cfg: &TransformConfig, next: Arc<dyn Consumer>) -> Result<Self, BuildError> {
        let build = |items, allowed, key| {
            groups(items, allowed, key, cfg.error_mode).map_err(|e| BuildError(e.join("; ")))
        };
        Ok(TransformProcessor {
            traces: build(&cfg.trace_statements, TRACE_CONTEXTS, "trace_statements")?,
            logs: build(&cfg.log_statements, LOG_CONTEXTS, "log_statements")?,
            next,
        })
    }
}

#[async_trait]
impl Consumer for TransformProcessor {
    async fn consume(&self, mut batch: Batch) -> Result<(), ConsumeError> {
        let groups = match batch.signal() {
            Signal::Traces => &self.traces,
            Signal::Logs => &self.logs,
            Signal::Metrics => return self.next.consume(batch).await,
        };
        if !groups.is_empty() {
            let result = match batch.payload_mut() {
                Payload::Traces(r) => groups
                    .iter()
                    .try_for_each(|g| g.run_traces(&mut r.resource_spans)),
                Payload::Logs(r) => groups
                    .iter()
                    .try_for_each(|g| g.run_logs(&mut r.resource_logs)),
                Payload::Metrics(_) => Ok(()),
            };
            if let Err(e) = result {
                tracing::error!(error = %e, "failed processing {}", batch.signal().as_str());
                // The same data fails the same statement again: not worth a retry.
                return Err(ConsumeError::permanent(e));
            }
        }
        self.next.consume(batch).await
    }

    /// Statements change items, never their number: the downstream's room is ours.
    async fn wait_for_room(&self, batch: &Batch) -> bool {
        self.next.wait_for_room(batch).await
    }
}

impl Processor for TransformProcessor {}

pub struct TransformProcessorFactory;

impl FactoryInfo for TransformProcessorFactory {
    fn type_name(&self) -> &'static str {
        "transform"
    }
    fn signals(&self) -> &'static [Signal] {
        crate::ALL_SIGNALS
    }
    fn decode(&self, node: &Node, path: &str) -> Result<AnyConfig, ConfigErrors> {
        decode_config::<TransformConfig>(node, path)
    }
}

impl ProcessorFactory for TransformProcessorFactory {
    fn build(
        &self,
        _ctx: &BuildContext,
        cfg: &AnyConfig,
        _signal: Signal,
        next: Arc<dyn Consumer>,
    ) -> Result<Arc<dyn Processor>, BuildError> {
        let cfg = config_as::<TransformConfig>(cfg);
        Ok(Arc::new(TransformProcessor::new(cfg, next)?))
    }
}

#[cfg(test)]
mod tests;
