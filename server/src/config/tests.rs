use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load_str(yaml: &str, vars: &[(&str, &str)], o: &Overrides) -> Result<Config, ConfigErrors> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, yaml).unwrap();
    Config::load(Some(&path), env(vars), o)
}

#[test]
fn defaults_without_a_file() {
    let config = Config::load(None, env(&[]), &Overrides::default()).unwrap();
    assert_eq!(config.server.http_addr.to_string(), "127.0.0.1:3200");
    assert_eq!(config.server.otlp_grpc_addr.to_string(), "127.0.0.1:4317");
    assert_eq!(config.server.otlp_http_addr.to_string(), "127.0.0.1:4318");
    assert_eq!(config.server.internal_addr.to_string(), "127.0.0.1:3201");
    assert_eq!(config.data_dir, PathBuf::from("sextant-data"));
    assert_eq!(config.wal.dir, PathBuf::from("sextant-data").join("wal"));
}

#[test]
fn file_then_env_then_flags() {
    let yaml =
        "data_dir: /tmp/a\nserver:\n  http_addr: 127.0.0.1:9000\ningester:\n  trace_idle: 2s\n";
    let vars = [
        ("SEXTANT_INGESTER__TRACE_IDLE", "50ms"),
        ("SEXTANT_SERVER__HTTP_ADDR", "127.0.0.1:9001"),
        ("SEXTANT_LIMITS__MAX_ATTRIBUTE_BYTES", "10"),
    ];
    let flags = Overrides {
        http_addr: Some("127.0.0.1:9002".into()),
        ..Default::default()
    };
    let config = load_str(yaml, &vars, &flags).unwrap();
    assert_eq!(config.ingester.trace_idle, Duration::from_millis(50));
    assert_eq!(config.server.http_addr.to_string(), "127.0.0.1:9002");
    assert_eq!(config.limits.max_attribute_bytes, 10);
    assert_eq!(config.data_dir, PathBuf::from("/tmp/a"));
    assert_eq!(config.wal.dir, PathBuf::from("/tmp/a/wal"));
}

#[test]
fn every_problem_is_reported_at_once() {
    let yaml = "serverr: {}\nserver:\n  http_adr: x\n  drain_timeout: forever\nwal:\n  max_bytes: -1\nlimits:\n  nope: 1\n";
    let err = load_str(yaml, &[("SEXTANT_WAL__BOGUS", "1")], &Overrides::default())
        .unwrap_err()
        .0;
    let text = err.join("\n");
    for needle in [
        "serverr: unknown key",
        "server.http_adr: unknown key",
        "wal.bogus: unknown key",
        "limits.nope: unknown key",
        "server:",
        "wal:",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert!(err.len() >= 6, "{text}");
}

#[test]
fn unrelated_sextant_variables_are_not_configuration() {
    let config = Config::load(
        None,
        env(&[("SEXTANT_BIN", "/x"), ("SEXTANT_TEST_PYTHON", "/y")]),
        &Overrides::default(),
    );
    assert!(config.is_ok(), "{config:?}");
}

#[test]
fn semantic_validation() {
    let yaml = "ingester:\n  sweep_interval: 0s\nwal:\n  segment_bytes: 100\n  max_bytes: 10\nlog:\n  level: \"[[\"\n";
    let text = load_str(yaml, &[], &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(text.contains("ingester.sweep_interval"), "{text}");
    assert!(text.contains("wal.max_bytes"), "{text}");
    assert!(text.contains("log.level"), "{text}");
}

/// The example file documents every key with its default: it must parse, and it must name
/// every key the defaults have.
#[test]
fn example_config_parses_and_is_complete() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/sextant.example.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    Config::load(Some(&path), env(&[]), &Overrides::default()).unwrap();
    let example: Value = serde_yaml::from_str(&text).unwrap();
    let known = serde_yaml::to_value(Config::default()).unwrap();
    let mut missing = Vec::new();
    missing_keys(&known, &example, "", &mut missing);
    assert!(
        missing.is_empty(),
        "keys missing from the example: {missing:?}"
    );
}

fn missing_keys(known: &Value, example: &Value, prefix: &str, out: &mut Vec<String>) {
    let Value::Mapping(known) = known else { return };
    for (key, child) in known {
        let name = key.as_str().unwrap_or_default();
        let path = format!("{prefix}{name}");
        match example.get(name) {
            None => out.push(path),
            Some(ex) => missing_keys(child, ex, &format!("{path}."), out),
        }
    }
}

#[test]
fn the_database_defaults_to_sqlite_in_the_data_dir_and_relative_sqlite_paths_follow_it() {
    let config = Config::load(
        None,
        env(&[("SEXTANT_DATA_DIR", "/d")]),
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(config.database.url, "sqlite:///d/sextant.db");
    assert_eq!(config.auth.pepper_file, PathBuf::from("/d/pepper"));
    let config = Config::load(
        None,
        env(&[
            ("SEXTANT_DATA_DIR", "/d"),
            ("SEXTANT_DATABASE__URL", "sqlite://x.db"),
        ]),
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(config.database.url, "sqlite:///d/x.db");
    let flags = Overrides {
        database_url: Some("postgres://u:secret@h/db".into()),
        ..Default::default()
    };
    let config = Config::load(None, env(&[]), &flags).unwrap();
    assert_eq!(config.database.url, "postgres://u:secret@h/db");
    let printed = serde_yaml::to_string(&config).unwrap();
    assert!(printed.contains("postgres://u:***@h/db"), "{printed}");
    assert!(!printed.contains(":secret@"), "{printed}");
}

#[test]
fn auth_settings_and_the_admin_token() {
    let config = Config::load(
        None,
        env(&[
            ("SEXTANT_AUTH__MODE", "trusted-header"),
            ("SEXTANT_AUTH__REFRESH_INTERVAL", "20ms"),
            ("SEXTANT_ADMIN_TOKEN", "0123456789abcdef0123456789abcdef"),
        ]),
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(config.auth.mode, AuthMode::TrustedHeader);
    assert_eq!(config.auth.refresh_interval, Duration::from_millis(20));
    assert_eq!(
        config.admin_token.as_deref(),
        Some("0123456789abcdef0123456789abcdef")
    );
    let printed = serde_yaml::to_string(&config).unwrap();
    assert!(!printed.contains("0123456789abcdef"), "{printed}");
    let err = Config::load(
        None,
        env(&[
            ("SEXTANT_ADMIN_TOKEN", "short"),
            ("SEXTANT_DATABASE__URL", "mysql://x"),
        ]),
        &Overrides::default(),
    )
    .unwrap_err()
    .0
    .join("\n");
    for needle in ["admin_token: must be at least 32", "database.url"] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    let err = Config::load(
        None,
        env(&[("SEXTANT_AUTH__MODE", "open")]),
        &Overrides::default(),
    )
    .unwrap_err()
    .0
    .join("\n");
    assert!(err.contains("auth:"), "{err}");
}
