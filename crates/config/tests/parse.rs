//! Pipeline parsing: defaults, canonical JSON and one-line errors.

use std::path::Path;

use cwerm_config::{ConfigError, Pipeline, Stage, canonical_json};

const MINIMAL: &str = "name = \"t\"\n[prepare]\n[embed]\n[select]\n[reweight]\n[train]\n";

fn parse(text: &str) -> Result<Pipeline, ConfigError> {
    Pipeline::parse(text, Path::new("p.toml"))
}

#[test]
fn empty_sections_take_defaults() {
    let pipeline = parse(MINIMAL).unwrap();
    assert_eq!(pipeline.seed, 0);
    assert_eq!(pipeline.prepare.meta_per_class, 10);
    assert_eq!(pipeline.select.ratio, 0.01);
    assert_eq!(pipeline.train.epochs, 30);
}

#[test]
fn canonical_section_sorts_keys_and_fills_defaults() {
    let pipeline = parse(MINIMAL).unwrap();
    let json = canonical_json(&pipeline.section_json(Stage::Select));
    assert_eq!(json, r#"{"method":"moderate","ratio":0.01}"#);
}

#[test]
fn unknown_key_names_key_and_line() {
    let text = MINIMAL.replace("[select]\n", "[select]\nratoi = 0.1\n");
    let message = parse(&text).unwrap_err().to_string();
    assert!(message.starts_with("p.toml:5:"), "{message}");
    assert!(message.contains("ratoi"), "{message}");
    assert!(!message.contains('\n'), "{message}");
}

#[test]
fn wrong_type_names_expected_type() {
    let text = MINIMAL.replace("[embed]\n", "[embed]\nresolution = \"high\"\n");
    let message = parse(&text).unwrap_err().to_string();
    assert!(message.starts_with("p.toml:4:"), "{message}");
    assert!(message.contains("`embed.resolution`"), "{message}");
    assert!(message.contains("expected u32"), "{message}");
}

#[test]
fn unknown_variant_lists_accepted_values() {
    let text = MINIMAL.replace("[train]\n", "[train]\nbroadcast = \"nearst\"\n");
    let message = parse(&text).unwrap_err().to_string();
    assert!(message.contains("nearest-same-label"), "{message}");
}

#[test]
fn missing_section_is_rejected() {
    let text = MINIMAL.replace("[reweight]\n", "");
    let message = parse(&text).unwrap_err().to_string();
    assert!(message.contains("missing section [reweight]"), "{message}");
}

#[test]
fn bad_toml_names_line() {
    let message = parse("name = \"t\"\n[prepare\n").unwrap_err().to_string();
    assert!(message.starts_with("p.toml:2:"), "{message}");
}

#[test]
fn out_of_range_values_name_the_key() {
    for (section, line, key) in [
        ("[prepare]\n", "noise_rate = 1.0\n", "prepare.noise_rate"),
        (
            "[prepare]\n",
            "imbalance_factor = 0.5\n",
            "prepare.imbalance_factor",
        ),
        ("[embed]\n", "resolution = 16\n", "embed.resolution"),
        ("[select]\n", "ratio = 0.0\n", "select.ratio"),
        ("[reweight]\n", "lr = -0.1\n", "reweight.lr"),
        ("[train]\n", "momentum = 1.5\n", "train.momentum"),
        ("[train]\n", "epochs = 0\n", "train.epochs"),
        ("[reweight]\n", "steps = 0\n", "reweight.steps"),
        ("[prepare]\n", "noise = \"none\"\n", "prepare.noise_rate"),
    ] {
        let text = MINIMAL.replace(section, &format!("{section}{line}"));
        let message = parse(&text).unwrap_err().to_string();
        assert!(message.contains(key), "{key}: {message}");
    }
}

#[test]
fn meta_net_broadcast_needs_meta_weight_net() {
    let text = MINIMAL
        .replace("[reweight]\n", "[reweight]\nmethod = \"uniform\"\n")
        .replace("[train]\n", "[train]\nbroadcast = \"meta-net\"\n");
    let message = parse(&text).unwrap_err().to_string();
    assert!(message.contains("`train.broadcast`"), "{message}");
    assert!(message.contains("reweight.method"), "{message}");
}
