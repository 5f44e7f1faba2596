//! The fleet the generator describes (services, SDK languages and instrumentation scopes) and
//! the values its spans draw from, plus attribute helpers.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::span::Event;

pub(super) struct Lang {
    pub(super) sdk_language: &'static str,
    pub(super) sdk_version: &'static str,
    pub(super) http_server: (&'static str, &'static str),
    pub(super) http_client: (&'static str, &'static str),
    pub(super) postgres: (&'static str, &'static str),
    pub(super) redis: (&'static str, &'static str),
    pub(super) kafka: (&'static str, &'static str),
}

pub(super) const GO: Lang = Lang {
    sdk_language: "go",
    sdk_version: "1.38.0",
    http_server: (
        "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
        "0.63.0",
    ),
    http_client: (
        "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
        "0.63.0",
    ),
    postgres: ("github.com/XSAM/otelsql", "0.40.0"),
    redis: ("github.com/redis/go-redis/extra/redisotel", "9.14.0"),
    kafka: ("github.com/IBM/sarama/otelsarama", "0.43.0"),
};
pub(super) const JAVA: Lang = Lang {
    sdk_language: "java",
    sdk_version: "1.54.1",
    http_server: ("io.opentelemetry.tomcat-10.0", "2.20.1-alpha"),
    http_client: ("io.opentelemetry.java-http-client", "2.20.1-alpha"),
    postgres: ("io.opentelemetry.jdbc", "2.20.1-alpha"),
    redis: ("io.opentelemetry.lettuce-5.1", "2.20.1-alpha"),
    kafka: ("io.opentelemetry.kafka-clients-2.6", "2.20.1-alpha"),
};
pub(super) const NODE: Lang = Lang {
    sdk_language: "nodejs",
    sdk_version: "2.1.0",
    http_server: ("@opentelemetry/instrumentation-http", "0.205.0"),
    http_client: ("@opentelemetry/instrumentation-undici", "0.16.0"),
    postgres: ("@opentelemetry/instrumentation-pg", "0.58.0"),
    redis: ("@opentelemetry/instrumentation-ioredis", "0.53.0"),
    kafka: ("@opentelemetry/instrumentation-kafkajs", "0.14.0"),
};
pub(super) const PYTHON: Lang = Lang {
    sdk_language: "python",
    sdk_version: "1.37.0",
    http_server: ("opentelemetry.instrumentation.flask", "0.58b0"),
    http_client: ("opentelemetry.instrumentation.requests", "0.58b0"),
    postgres: ("opentelemetry.instrumentation.psycopg", "0.58b0"),
    redis: ("opentelemetry.instrumentation.redis", "0.58b0"),
    kafka: ("opentelemetry.instrumentation.confluent_kafka", "0.58b0"),
};

pub(super) struct ServiceDef {
    pub(super) name: &'static str,
    pub(super) version: &'static str,
    pub(super) lang: &'static Lang,
    pub(super) port: i64,
    pub(super) internal_ops: &'static [&'static str],
}

pub(super) const SERVICES: &[ServiceDef] = &[
    ServiceDef {
        name: "frontend",
        version: "2.14.3",
        lang: &NODE,
        port: 8080,
        internal_ops: &["render.page", "session.load", "ab_test.assign"],
    },
    ServiceDef {
        name: "checkout",
        version: "1.9.0",
        lang: &GO,
        port: 5050,
        internal_ops: &[
            "checkout.validate_cart",
            "checkout.compute_totals",
            "checkout.reserve",
        ],
    },
    ServiceDef {
        name: "cart",
        version: "3.2.1",
        lang: &JAVA,
        port: 7070,
        internal_ops: &[
            "CartService.getCart",
            "CartService.merge",
            "CartMapper.toDto",
        ],
    },
    ServiceDef {
        name: "payment",
        version: "0.42.7",
        lang: &JAVA,
        port: 50051,
        internal_ops: &[
            "PaymentService.authorize",
            "FraudCheck.score",
            "CardValidator.luhn",
        ],
    },
    ServiceDef {
        name: "product-catalog",
        version: "1.4.12",
        lang: &GO,
        port: 3550,
        internal_ops: &["catalog.search", "catalog.rank", "catalog.decorate"],
    },
    ServiceDef {
        name: "shipping",
        version: "0.8.2",
        lang: &PYTHON,
        port: 50052,
        internal_ops: &["quote.compute", "address.normalize", "carrier.select"],
    },
];

/// (method, route, concrete path)
pub(super) const ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/api/orders/{id}", "/api/orders/42"),
    ("POST", "/api/checkout", "/api/checkout"),
    ("GET", "/api/products", "/api/products"),
    ("GET", "/api/products/{id}", "/api/products/OLJCESPC7Z"),
    ("GET", "/api/cart", "/api/cart"),
    ("POST", "/api/cart/items", "/api/cart/items"),
    (
        "DELETE",
        "/api/cart/items/{sku}",
        "/api/cart/items/SKU-1234",
    ),
    ("GET", "/api/shipping/quote", "/api/shipping/quote"),
    ("POST", "/api/payments/authorize", "/api/payments/authorize"),
];

pub(super) const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/139.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "okhttp/4.12.0",
    "Go-http-client/1.1",
    "python-requests/2.32.3",
];

/// (operation, collection, query)
pub(super) const SQL: &[(&str, &str, &str)] = &[
    ("SELECT", "orders", "SELECT * FROM orders WHERE id = 42"),
    (
        "SELECT",
        "products",
        "SELECT id, name, price_cents FROM products WHERE category = 'shoes' ORDER BY rank LIMIT 20",
    ),
    ("UPDATE", "inventory", "UPDATE inventory SET quantity = quantity - 1 WHERE sku = 'SKU-1234'"),
    (
        "INSERT",
        "payments",
        "INSERT INTO payments (order_id, amount, currency) VALUES (42, 19.99, 'EUR')",
    ),
    (
        "SELECT",
        "carts",
        "SELECT c.id, i.sku, i.qty FROM carts c JOIN cart_items i ON i.cart_id = c.id WHERE c.user_id = 1234",
    ),
];

/// (operation, query)
pub(super) const REDIS: &[(&str, &str)] = &[
    ("GET", "GET cart:user:1234"),
    ("SET", "SET session:9f86d081884c7d65 ? EX 3600"),
    ("HGETALL", "HGETALL product:OLJCESPC7Z"),
    ("INCR", "INCR ratelimit:203.0.113.7"),
];

pub(super) const TOPICS: &[&str] = &[
    "orders",
    "payments.authorized",
    "shipping.requests",
    "cart.events",
];

pub(super) const REGIONS: &[(&str, &str)] =
    &[("eu-west-1", "eu-west-1b"), ("us-east-1", "us-east-1a")];

impl Lang {
    pub(super) fn sdk_language_exception(&self) -> &'static str {
        match self.sdk_language {
            "go" => "*errors.errorString",
            "java" => "java.lang.IllegalStateException",
            "nodejs" => "Error",
            _ => "RuntimeError",
        }
    }
}

pub(super) fn exception_event(exception_type: &str, message: &str, lang: &Lang) -> Event {
    let stacktrace = match lang.sdk_language {
        "java" => format!(
            "{exception_type}: {message}\n\tat com.shop.service.Handler.handle(Handler.java:118)\n\tat com.shop.service.Router.dispatch(Router.java:77)\n\tat org.apache.catalina.core.StandardWrapperValve.invoke(StandardWrapperValve.java:199)\n\tat java.base/java.lang.Thread.run(Thread.java:1583)"
        ),
        "go" => "goroutine 42 [running]:\nmain.(*server).handle(0xc0001a2000, {0x9e1c40, 0xc0002b4000})\n\t/app/server.go:118 +0x1c5\nnet/http.HandlerFunc.ServeHTTP(...)\n\t/usr/local/go/src/net/http/server.go:2294".to_string(),
        "nodejs" => format!(
            "Error: {message}\n    at handle (/app/src/routes/api.js:118:15)\n    at Layer.handle [as handle_request] (/app/node_modules/express/lib/router/layer.js:95:5)\n    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)"
        ),
        _ => format!(
            "Traceback (most recent call last):\n  File \"/app/handlers.py\", line 118, in handle\n    quote = compute(request)\n  File \"/app/quote.py\", line 42, in compute\n    raise RuntimeError(\"{message}\")\n{exception_type}: {message}"
        ),
    };
    Event {
        name: "exception".to_string(),
        attributes: vec![
            kv_str("exception.type", exception_type),
            kv_str("exception.message", message),
            kv_str("exception.stacktrace", &stacktrace),
            kv_bool("exception.escaped", false),
        ],
        ..Default::default()
    }
}

pub(super) fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

pub(super) fn kv_str(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.to_string()))
}

pub(super) fn kv_int(key: &str, value: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(value))
}

pub(super) fn kv_bool(key: &str, value: bool) -> KeyValue {
    kv(key, any_value::Value::BoolValue(value))
}

pub(super) fn kv_double(key: &str, value: f64) -> KeyValue {
    kv(key, any_value::Value::DoubleValue(value))
}
