use super::*;
use std::collections::HashMap;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Expands `v: <value>` and returns the resulting `v` node.
fn run(value: &str, vars: &[(&str, &str)]) -> Result<Node, ConfigErrors> {
    let mut n = yaml::parse("t.yaml", &format!("v: {value}\n")).unwrap();
    expand(&mut n, &env(vars))?;
    Ok(n.get("v").unwrap().clone())
}

fn scalar(value: &str, vars: &[(&str, &str)]) -> (String, ScalarStyle) {
    match run(value, vars).unwrap().kind {
        NodeKind::Scalar(s) => (s.text, s.style),
        other => panic!("not a scalar: {other:?}"),
    }
}

fn err(value: &str, vars: &[(&str, &str)]) -> ConfigError {
    run(value, vars).unwrap_err().0.remove(0)
}

#[test]
fn env_forms() {
    let vars = [("PORT", "8080"), ("EMPTY", "")];
    assert_eq!(
        scalar("${env:PORT}", &vars),
        ("8080".into(), ScalarStyle::Expanded)
    );
    assert_eq!(
        scalar("${PORT}", &vars),
        ("8080".into(), ScalarStyle::Expanded)
    );
    assert_eq!(
        scalar("\"${env:PORT}\"", &vars),
        ("8080".into(), ScalarStyle::Expanded)
    );
    assert_eq!(scalar("${env:UNSET:-dflt}", &vars).0, "dflt");
    assert_eq!(scalar("${env:EMPTY:-dflt}", &vars).0, "");
    assert_eq!(scalar("${env:UNSET:-}", &vars).0, "");
    assert_eq!(scalar("${env:UNSET}", &vars).0, "");
}

#[test]
fn embedded_is_string() {
    let vars = [("HOST", "localhost")];
    assert_eq!(
        scalar("${env:HOST}:4317", &vars),
        ("localhost:4317".into(), ScalarStyle::Quoted)
    );
    assert_eq!(
        scalar("a-${HOST}-${HOST}", &vars).0,
        "a-localhost-localhost"
    );
}

#[test]
fn nested_and_recursive() {
    let vars = [("B", "bee"), ("A", "${env:B}"), ("LOOP", "${env:LOOP}")];
    assert_eq!(scalar("${env:UNSET:-${env:B}}", &vars).0, "bee");
    assert_eq!(scalar("${env:A}", &vars).0, "bee");
    let e = err("${env:LOOP}", &vars);
    assert_eq!(e.message, "too many recursive expansions");
    assert_eq!(e.path, "v");
}

#[test]
fn errors_carry_path_and_location() {
    let e = err("${env:1BAD}", &[]);
    assert_eq!(
        e.message,
        "environment variable \"1BAD\" has invalid name: must match regex ^[a-zA-Z_][a-zA-Z0-9_]*$"
    );
    assert_eq!(e.path, "v");
    let loc = e.location.unwrap();
    assert_eq!((loc.line, loc.column), (1, 4));
    let e = err("${http://example.invalid/c.yaml}", &[]);
    assert!(
        e.message.contains("\"http\" is not supported"),
        "{}",
        e.message
    );
}

#[test]
fn file_references() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "0123abcd\n").unwrap();
    let map = dir.path().join("map.yaml");
    std::fs::write(&map, "a: 1\nb: [x, y]\n").unwrap();
    // A whole value keeps the file's text for string fields (otelcol's original
    // representation, trailing newline included), as an env value does.
    assert_eq!(
        scalar(&format!("${{file:{}}}", key.display()), &[]).0,
        "0123abcd\n"
    );
    // Inside a longer string, the text as it is.
    assert_eq!(
        scalar(&format!("\"Bearer ${{file:{}}}\"", key.display()), &[]).0,
        "Bearer 0123abcd\n"
    );
    let n = run(&format!("${{file:{}}}", map.display()), &[]).unwrap();
    assert_eq!(n.get("a").unwrap().as_str(), Some("1"));
    let missing = dir.path().join("missing");
    let e = err(&format!("${{file:{}}}", missing.display()), &[]);
    assert!(
        e.message.starts_with(&format!(
            "unable to read the file file:{}: ",
            missing.display()
        )),
        "{}",
        e.message
    );
}

#[test]
fn dollar_escapes() {
    let vars = [("X", "x")];
    assert_eq!(scalar("$${env:X}", &vars).0, "${env:X}");
    assert_eq!(scalar("^a$$", &vars).0, "^a$");
    assert_eq!(scalar("$$${env:X}", &vars).0, "$x");
    assert_eq!(scalar("'$${env:X} ${env:X}'", &vars).0, "${env:X} x");
}

#[test]
fn collections_from_env_become_subtrees() {
    let vars = [("M", "{a: 1, b: [x]}"), ("L", "[1, 2]")];
    let n = run("${env:M}", &vars).unwrap();
    assert_eq!(n.get("a").unwrap().as_str(), Some("1"));
    assert_eq!(n.location.as_ref().unwrap().line, 1);
    assert!(matches!(
        run("${env:L}", &vars).unwrap().kind,
        NodeKind::Seq(_)
    ));
    // Embedded in a longer string: the retrieved text, as otelcol's `AsString`.
    assert_eq!(scalar("x${env:L}", &vars).0, "x[1, 2]");
    // A string field would get the retrieved text of the whole-value one.
    assert_eq!(
        run("${env:L}", &vars).unwrap().original.as_deref(),
        Some("[1, 2]")
    );
}

#[test]
fn keys_are_not_expanded() {
    let mut n = yaml::parse("t", "${env:X}: ${env:X}\n").unwrap();
    expand(&mut n, &env(&[("X", "x")])).unwrap();
    assert_eq!(n.get("${env:X}").unwrap().as_str(), Some("x"));
}

#[test]
fn unset_variables_without_default_are_reported_once() {
    // Reads the process environment: these names are set by nobody.
    let env = RecordingProcessEnv::default();
    let mut n = yaml::parse(
        "t.yaml",
        "a: ${env:KAKEHASHI_TEST_SURELY_UNSET_1}\nb: ${KAKEHASHI_TEST_SURELY_UNSET_1}\nc: ${env:KAKEHASHI_TEST_SURELY_UNSET_2:-dflt}\n",
    )
    .unwrap();
    expand(&mut n, &env).unwrap();
    // Reported once; a variable with a default is not reported.
    assert_eq!(
        env.unset(),
        vec!["KAKEHASHI_TEST_SURELY_UNSET_1".to_string()]
    );
}

#[test]
fn recursive_expansion_is_bounded_in_breadth_size_and_depth() {
    // A wide list of references to itself multiplies every round: stopped by the node budget.
    let wide = format!("[{}]", vec!["\"${env:A}\""; 5000].join(", "));
    let e = run("${env:A}", &[("A", wide.as_str())]).unwrap_err();
    assert_eq!(e.0.len(), 1, "one error, not one per branch: {e}");
    assert!(
        e.0[0].message.contains("add more than 100000 values"),
        "{e}"
    );
    // A value that embeds itself with a long suffix grows every round: the byte budget.
    let big = format!("${{env:A}}{}", "x".repeat(64 * 1024));
    let e = err("${env:A}", &[("A", big.as_str())]);
    assert!(e.message.contains("retrieve more than"), "{e}");
    // A map nesting itself one level per round: the depth limit, long before 1000 rounds.
    let e = err("${env:M}", &[("M", "k: ${env:M}")]);
    assert!(e.message.contains("nests deeper than 100 levels"), "{e}");
    // Cycles through several variables still hit otelcol's round limit.
    let e = err("${env:A}", &[("A", "${env:B}"), ("B", "${env:A}")]);
    assert_eq!(e.message, "too many recursive expansions");
}
