//! The zPages themselves: otelcol's paths, titles and table columns, rendered as plain HTML.

use axum::body::Body;
use axum::http::{header, Response, StatusCode};
use axum::routing::any;
use axum::Router;
use kakehashi_component::ServiceInfo;
use std::fmt::Write;
use std::sync::Arc;

pub(super) fn router(service: Arc<ServiceInfo>, expvar: bool) -> Router {
    // Go's mux: exact paths, any method.
    let page = |render: fn(&ServiceInfo) -> String| {
        let service = service.clone();
        any(move || {
            let body = render(&service);
            async move { html(body) }
        })
    };
    let mut router = Router::new()
        .route("/debug/servicez", page(servicez))
        .route("/debug/pipelinez", page(pipelinez))
        .route("/debug/extensionz", page(extensionz))
        .route("/debug/featurez", page(featurez));
    if expvar {
        router = router.route("/debug/expvarz", any(expvarz));
    }
    router.fallback(|| async {
        Response::builder()
            .status(StatusCode::NOT_FOUND)
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Body::from("404 page not found\n"))
            .expect("static response parts are valid")
    })
}

fn html(body: String) -> Response<Body> {
    Response::builder()
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .body(Body::from(body))
        .expect("static response parts are valid")
}

/// HTML-escapes text from the config (component and pipeline names are the user's).
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, content: &str) -> String {
    let title = esc(title);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title}</title>\n<style>table{{border-spacing:0}} td,th{{padding:2px 8px;\
         text-align:left;vertical-align:top}} tr:nth-child(even){{background:#eee}}</style>\
         </head>\n<body>\n<h2>{title}</h2>\n{content}</body>\n</html>\n"
    )
}

/// A table; `header` empty for none. Cells are escaped here; a cell's lines are kept apart.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::from("<table>\n");
    if !header.is_empty() {
        out.push_str("<tr>");
        for h in header {
            let _ = write!(out, "<th>{}</th>", esc(h));
        }
        out.push_str("</tr>\n");
    }
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", esc(cell).replace('\n', "<br>"));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    out
}

fn properties(name: &str, rows: &[(&str, String)]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|(k, v)| vec![(*k).to_owned(), v.clone()])
        .collect();
    format!("<p><b>{}:</b></p>\n{}", esc(name), table(&[], &rows))
}

fn servicez(s: &ServiceInfo) -> String {
    let started = chrono::DateTime::<chrono::Utc>::from(s.started)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut content = properties(
        "Build Info",
        &[
            ("Command", s.build.command.clone()),
            ("Description", s.build.description.clone()),
            ("Version", s.build.version.clone()),
        ],
    );
    content.push_str(&properties(
        "Runtime Info",
        &[
            ("StartTimestamp", started),
            ("OS", std::env::consts::OS.to_owned()),
            ("Arch", std::env::consts::ARCH.to_owned()),
        ],
    ));
    content.push_str(
        "<h6><a href=\"pipelinez\">Pipelines</a></h6>\n\
         <h6><a href=\"extensionz\">Extensions</a></h6>\n\
         <h6><a href=\"featurez\">Features</a></h6>\n",
    );
    page(&format!("Service {}", s.build.command), &content)
}

fn pipelinez(s: &ServiceInfo) -> String {
    let rows: Vec<Vec<String>> = s
        .pipelines
        .iter()
        .map(|p| {
            let processors = if p.processors.is_empty() {
                "→".to_owned()
            } else {
                format!("→ {} →", p.processors.join(" → "))
            };
            vec![
                p.id.clone(),
                p.signal.clone(),
                p.receivers.join("\n"),
                processors,
                p.exporters.join("\n"),
            ]
        })
        .collect();
    page(
        "builtPipelines",
        &table(
            &[
                "FullName",
                "InputType",
                "Receivers",
                "Processors",
                "Exporters",
            ],
            &rows,
        ),
    )
}

fn extensionz(s: &ServiceInfo) -> String {
    let rows: Vec<Vec<String>> = s.extensions.iter().map(|e| vec![e.clone()]).collect();
    page("Extensions", &table(&[], &rows))
}

fn featurez(s: &ServiceInfo) -> String {
    let rows: Vec<Vec<String>> = s
        .feature_gates
        .iter()
        .map(|g| vec![g.id.clone(), g.enabled.to_string(), g.description.clone()])
        .collect();
    page(
        "Feature Gates",
        &table(&["ID", "Enabled", "Description"], &rows),
    )
}

/// Go's `expvar` handler publishes the command line and the Go runtime's `memstats`; kakehashi
/// has no Go runtime, so only `cmdline` (values that may be secrets hidden).
async fn expvarz() -> Response<Body> {
    let cmdline = crate::cmdline::redacted_args();
    let body = format!(
        "{{\n\"cmdline\": {}\n}}\n",
        serde_json::to_string(&cmdline).expect("strings serialize")
    );
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(Body::from(body))
        .expect("static response parts are valid")
}
