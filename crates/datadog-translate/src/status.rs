//! Error fields from the OTLP status (§2.1): `error`, `otel.status_code`, and `error.msg`
//! falling back to "`<code> <Go http.StatusText>`".

use kakehashi_pdata::proto::trace::v1::{status::StatusCode, Status};

/// pdata's `StatusCode.String()`; unknown codes render as "".
pub(crate) fn status_code_name(status: Option<&Status>) -> &'static str {
    match StatusCode::try_from(status.map_or(0, |s| s.code)) {
        Ok(StatusCode::Unset) => "Unset",
        Ok(StatusCode::Ok) => "Ok",
        Ok(StatusCode::Error) => "Error",
        Err(_) => "",
    }
}

/// Whether the status code is `STATUS_CODE_ERROR`.
pub(crate) fn is_error(status: Option<&Status>) -> bool {
    status.is_some_and(|s| s.code == StatusCode::Error as i32)
}

/// Go's `Status2Error`: returns the span's `error` value and fills `error.msg` when missing —
/// the status message, else the HTTP status code found in meta (`http.status_code`, then
/// `http.response.status_code`, registry order) with its Go status text.
pub(crate) fn status_to_error(status: Option<&Status>, meta: &mut crate::model::Meta) -> i32 {
    if !is_error(status) {
        return 0;
    }
    if !meta.contains_key("error.msg") {
        let message = status.map_or("", |s| s.message.as_str());
        if !message.is_empty() {
            meta.insert("error.msg".into(), message.into());
        } else {
            let code = ["http.status_code", "http.response.status_code"]
                .iter()
                .map(|k| meta.get(*k).map_or("", crate::model::Str::as_str))
                .find(|v| !v.is_empty())
                .map(str::to_string);
            if let Some(code) = code {
                // Go's strconv.Atoi: an unparsable code has no text and stays as it is.
                let text = code.parse::<i64>().map_or("", status_text);
                let msg = if text.is_empty() {
                    code
                } else {
                    format!("{code} {text}")
                };
                meta.insert("error.msg".into(), msg.into());
            }
        }
    }
    1
}

/// Go's `net/http.StatusText`.
pub fn status_text(code: i64) -> &'static str {
    match code {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        208 => "Already Reported",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Requested Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Entity",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        510 => "Not Extended",
        511 => "Network Authentication Required",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Meta;

    fn err(msg: &str) -> Status {
        Status {
            message: msg.into(),
            code: StatusCode::Error as i32,
        }
    }

    #[test]
    fn message_from_http_code() {
        let mut meta = Meta::from_iter([("http.status_code".into(), "404".into())]);
        assert_eq!(status_to_error(Some(&err("")), &mut meta), 1);
        assert_eq!(meta["error.msg"], "404 Not Found");

        let mut meta = Meta::from_iter([
            ("http.response.status_code".into(), "500".into()),
            ("http.status_code".into(), "200".into()),
        ]);
        status_to_error(Some(&err("")), &mut meta);
        assert_eq!(meta["error.msg"], "200 OK");

        let mut meta = Meta::from_iter([("http.status_code".into(), "599".into())]);
        status_to_error(Some(&err("")), &mut meta);
        assert_eq!(meta["error.msg"], "599");
    }

    #[test]
    fn message_from_status_and_existing() {
        let mut meta = Meta::default();
        status_to_error(Some(&err("boom")), &mut meta);
        assert_eq!(meta["error.msg"], "boom");
        let mut meta = Meta::from_iter([("error.msg".into(), "kept".into())]);
        status_to_error(Some(&err("boom")), &mut meta);
        assert_eq!(meta["error.msg"], "kept");
        let mut meta = Meta::default();
        assert_eq!(status_to_error(None, &mut meta), 0);
        assert!(meta.is_empty());
    }

    #[test]
    fn names() {
        assert_eq!(status_code_name(None), "Unset");
        assert_eq!(status_code_name(Some(&err(""))), "Error");
    }
}
