//! A collapsed meta-net (every coreset weight 0) stops the train stage with
//! an error that names the reweight object and the settings that avoid it.

mod common;

use std::path::Path;

use common::{PIPELINE, Workspace, is_record, stderr, success};
use cwerm_store::{Digest, Store, Tensor, encode_object};

/// Replaces the reweight object of the store at `root` by a copy whose
/// `coreset_weights` are all 0, and points the reweight record at it.
fn zero_reweight_weights(root: &Path) {
    let record_path = common::files_below(&root.join("stages/reweight"))
        .into_iter()
        .find(|path| is_record(path))
        .expect("a reweight record");
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record_path).unwrap()).unwrap();
    let object: Digest = record["object"].as_str().unwrap().parse().unwrap();

    let store = Store::new(root);
    let original = store.read_object(&object).unwrap();
    let tensors: Vec<Tensor> = original
        .tensor_names()
        .unwrap()
        .into_iter()
        .map(|name| {
            let tensor = original.tensor(&name).unwrap();
            if name == "coreset_weights" {
                let zeros = vec![0.0f32; tensor.element_count()];
                Tensor::from_f32(name, tensor.shape.clone(), &zeros).unwrap()
            } else {
                tensor
            }
        })
        .collect();
    let bytes = encode_object(&tensors, &original.provenance().unwrap()).unwrap();
    let collapsed = store.put_object(&bytes).unwrap();

    record["object"] = serde_json::Value::String(collapsed.to_hex());
    std::fs::write(&record_path, serde_json::to_vec_pretty(&record).unwrap()).unwrap();
}

#[test]
fn zero_weights_stop_train_with_a_fix() {
    let workspace = Workspace::new();
    success(&workspace.cwerm(&["run", PIPELINE, "--until", "reweight"]));
    let store = workspace.path().join("artifacts");
    zero_reweight_weights(&store);

    let output = workspace.stage("train", &["--pipeline", PIPELINE]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("every training weight is 0"), "{message}");
    assert!(message.contains("reweight object"), "{message}");
    assert!(
        message.contains("train.broadcast = \"constant\""),
        "{message}"
    );
    assert!(message.contains("reweight.steps"), "{message}");
    assert!(
        !store.join("stages/train").exists(),
        "train wrote a record or a temp file"
    );
}
