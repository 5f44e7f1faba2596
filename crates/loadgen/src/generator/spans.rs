//! The span builders: one per kind of span, each with its semantic-convention attributes.

use super::catalog::*;
use super::{DraftSpan, Generator, ERROR_RATE};
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind};
use rand::seq::IndexedRandom;
use rand::Rng;

impl Generator {
    pub(super) fn is_error(&mut self) -> bool {
        self.rng.random_bool(ERROR_RATE)
    }

    pub(super) fn server_span(
        &mut self,
        service: usize,
        trace: u32,
        parent: Option<usize>,
        start: i64,
        dur: u64,
    ) -> DraftSpan {
        let s = &SERVICES[service];
        let (method, route, path) = *ROUTES.choose(&mut self.rng).expect("non-empty");
        let error = self.is_error();
        let status = if error {
            *[500i64, 502, 503].choose(&mut self.rng).expect("non-empty")
        } else {
            *[200i64, 200, 200, 200, 201, 204, 304, 404]
                .choose(&mut self.rng)
                .expect("non-empty")
        };
        let client_ip = format!(
            "10.0.{}.{}",
            self.rng.random_range(0..16),
            self.rng.random_range(2..250)
        );
        let mut attrs = vec![
            kv_str("http.request.method", method),
            kv_str("url.path", path),
            kv_str("url.scheme", "http"),
            kv_str("http.route", route),
            kv_int("http.response.status_code", status),
            kv_str(
                "server.address",
                &format!("{}.shop.svc.cluster.local", s.name),
            ),
            kv_int("server.port", s.port),
            kv_str(
                "user_agent.original",
                USER_AGENTS.choose(&mut self.rng).expect("non-empty"),
            ),
            kv_str("client.address", &client_ip),
            kv_str("network.protocol.version", "1.1"),
            kv_str("network.peer.address", &client_ip),
            kv_int("network.peer.port", self.rng.random_range(32768..61000)),
        ];
        if method == "GET" && self.rng.random_bool(0.3) {
            attrs.push(kv_str("url.query", "currency=EUR&page=2"));
        }
        let error = error.then(|| {
            (
                s.lang.sdk_language_exception(),
                format!("upstream request failed with status {status}"),
            )
        });
        self.draft(
            service,
            s.lang.http_server,
            trace,
            parent,
            start,
            dur,
            format!("{method} {route}"),
            SpanKind::Server,
            attrs,
            error,
        )
    }

    pub(super) fn client_span(
        &mut self,
        service: usize,
        callee: usize,
        trace: u32,
        parent: usize,
        start: i64,
        dur: u64,
    ) -> DraftSpan {
        let s = &SERVICES[service];
        let c = &SERVICES[callee];
        let (method, _, path) = *ROUTES.choose(&mut self.rng).expect("non-empty");
        let error = self.is_error();
        let status = if error { 503 } else { 200 };
        let host = format!("{}.shop.svc.cluster.local", c.name);
        let attrs = vec![
            kv_str("http.request.method", method),
            kv_str("url.full", &format!("http://{host}:{}{path}", c.port)),
            kv_str("url.scheme", "http"),
            kv_int("http.response.status_code", status),
            kv_str("server.address", &host),
            kv_int("server.port", c.port),
            kv_str("peer.service", c.name),
            kv_str("network.protocol.version", "1.1"),
            kv_str(
                "network.peer.address",
                &format!("10.0.{}.{}", callee + 1, 17 * callee + 3),
            ),
            kv_int("http.request.resend_count", 0),
        ];
        let error = error.then(|| {
            (
                s.lang.sdk_language_exception(),
                format!("{method} {path}: 503 Service Unavailable"),
            )
        });
        self.draft(
            service,
            s.lang.http_client,
            trace,
            Some(parent),
            start,
            dur,
            method.to_string(),
            SpanKind::Client,
            attrs,
            error,
        )
    }

    pub(super) fn db_span(
        &mut self,
        service: usize,
        trace: u32,
        parent: usize,
        start: i64,
        dur: u64,
    ) -> DraftSpan {
        let s = &SERVICES[service];
        let dur = dur.min(80_000_000);
        let error = self.is_error();
        let (scope, name, attrs, err) = if self.rng.random_bool(0.6) {
            let (op, table, query) = *SQL.choose(&mut self.rng).expect("non-empty");
            let attrs = vec![
                kv_str("db.system", "postgresql"),
                kv_str("db.system.name", "postgresql"),
                kv_str("db.namespace", "shop"),
                kv_str("db.name", "shop"),
                kv_str("db.query.text", query),
                kv_str("db.statement", query),
                kv_str("db.operation.name", op),
                kv_str("db.collection.name", table),
                kv_str("server.address", "postgres.shop.svc.cluster.local"),
                kv_int("server.port", 5432),
                kv_str("db.user", "shop_app"),
            ];
            let err = (
                "PSQLException",
                "ERROR: canceling statement due to statement timeout".to_string(),
            );
            (s.lang.postgres, format!("{op} {table}"), attrs, err)
        } else {
            let (op, query) = *REDIS.choose(&mut self.rng).expect("non-empty");
            let attrs = vec![
                kv_str("db.system", "redis"),
                kv_str("db.system.name", "redis"),
                kv_str("db.namespace", "0"),
                kv_int("db.redis.database_index", 0),
                kv_str("db.query.text", query),
                kv_str("db.statement", query),
                kv_str("db.operation.name", op),
                kv_str("server.address", "redis.shop.svc.cluster.local"),
                kv_int("server.port", 6379),
                kv_str("network.peer.address", "10.0.9.14"),
            ];
            let err = (
                "RedisTimeoutException",
                "i/o timeout reading from redis:6379".to_string(),
            );
            (s.lang.redis, op.to_string(), attrs, err)
        };
        let error = error.then_some(err);
        self.draft(
            service,
            scope,
            trace,
            Some(parent),
            start,
            dur,
            name,
            SpanKind::Client,
            attrs,
            error,
        )
    }

    pub(super) fn producer_span(
        &mut self,
        service: usize,
        trace: u32,
        parent: usize,
        start: i64,
        dur: u64,
    ) -> DraftSpan {
        let s = &SERVICES[service];
        let topic = *TOPICS.choose(&mut self.rng).expect("non-empty");
        let error = self.is_error();
        let attrs = vec![
            kv_str("messaging.system", "kafka"),
            kv_str("messaging.destination.name", topic),
            kv_str("messaging.operation.type", "send"),
            kv_str("messaging.operation.name", "publish"),
            kv_str("messaging.client.id", &format!("{}-producer-1", s.name)),
            kv_str(
                "messaging.kafka.message.key",
                &format!("order-{}", self.rng.random_range(1000..99999)),
            ),
            kv_int(
                "messaging.destination.partition.id",
                self.rng.random_range(0..12),
            ),
            kv_str("server.address", "kafka-0.kafka.shop.svc.cluster.local"),
            kv_int("server.port", 9092),
        ];
        let error = error.then(|| {
            (
                "KafkaError",
                format!("Local: Message timed out (topic {topic})"),
            )
        });
        self.draft(
            service,
            s.lang.kafka,
            trace,
            Some(parent),
            start,
            dur,
            format!("publish {topic}"),
            SpanKind::Producer,
            attrs,
            error,
        )
    }

    pub(super) fn internal_span(
        &mut self,
        service: usize,
        trace: u32,
        parent: usize,
        start: i64,
        dur: u64,
    ) -> DraftSpan {
        let s = &SERVICES[service];
        let op = *s.internal_ops.choose(&mut self.rng).expect("non-empty");
        let error = self.is_error();
        let attrs = vec![
            kv_str("code.function.name", op),
            kv_str(
                "code.file.path",
                &format!("/app/src/{}.src", op.replace('.', "/")),
            ),
            kv_int("code.line.number", self.rng.random_range(20..900)),
        ];
        let error = error.then(|| {
            (
                s.lang.sdk_language_exception(),
                format!("{op} failed: invalid state"),
            )
        });
        self.draft(
            service,
            (s.name, s.version),
            trace,
            Some(parent),
            start,
            dur,
            op.to_string(),
            SpanKind::Internal,
            attrs,
            error,
        )
    }

    /// An ordinary (non-exception) event fitting the span kind.
    pub(super) fn plain_event(&mut self, kind: SpanKind) -> Event {
        let (name, attributes) = match kind {
            SpanKind::Server | SpanKind::Client => (
                "http.response.body.chunk",
                vec![kv_int(
                    "http.response.body.size",
                    self.rng.random_range(128..65536),
                )],
            ),
            SpanKind::Producer => (
                "message.acknowledged",
                vec![kv_int(
                    "messaging.kafka.offset",
                    self.rng.random_range(0..1_000_000),
                )],
            ),
            _ => (
                "cache.miss",
                vec![
                    kv_str(
                        "cache.key",
                        &format!("k:{}", self.rng.random_range(0..10_000)),
                    ),
                    kv_str("log.severity", "INFO"),
                ],
            ),
        };
        Event {
            name: name.to_string(),
            attributes,
            ..Default::default()
        }
    }
}
