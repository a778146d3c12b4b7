//! The legacy-checkpoint importer on the real EfficientNet-Lite0 checkpoint,
//! and the errors of the importer and of the weights loader.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{checkpoint_path, weights_path};
use cwerm_encoder::lite0::{Lite0Params, Param};
use cwerm_encoder::{ExpectedCounts, import_weights};

#[test]
fn real_checkpoint_imports_with_expected_counts() {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("lite0.safetensors");
    let summary =
        import_weights(&checkpoint_path(), &dst, ExpectedCounts::EFFICIENTNET_LITE0).unwrap();
    // 296 tensors with 4,694,073 values in the checkpoint, 49 of them scalar counters.
    assert_eq!(summary.tensors, 247);
    assert_eq!(summary.values, 4_694_024);
    assert_eq!(summary.dropped, 49);

    let bytes = std::fs::read(&dst).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(file.len(), 247);
    assert!(
        file.names()
            .iter()
            .all(|name| !name.contains("num_batches_tracked"))
    );
    // The stem weight is stored with the output channel fastest (stride
    // [1, 32, 288, 96]); the importer writes it row-major as [32, 3, 3, 3].
    assert_eq!(
        file.tensor("_conv_stem.weight").unwrap().shape(),
        &[32, 3, 3, 3]
    );
    assert_eq!(file.tensor("_fc.weight").unwrap().shape(), &[1000, 1280]);

    Lite0Params::load(&dst).unwrap();
    let fetched = std::fs::read(weights_path()).unwrap();
    assert!(bytes == fetched, "a second import gives different bytes");
    std::fs::remove_file(&dst).unwrap();
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "temp file left behind"
    );
}

#[test]
fn truncated_checkpoint_fails_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(checkpoint_path()).unwrap();
    let src = dir.path().join("truncated.pth");
    std::fs::write(&src, &bytes[..10_000_000]).unwrap();
    let dst = dir.path().join("out.safetensors");

    let error = import_weights(&src, &dst, ExpectedCounts::EFFICIENTNET_LITE0).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("truncated.pth"), "{message}");
    assert!(message.contains("file ends inside storage"), "{message}");
    assert!(!dst.exists(), "output written despite the error");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "stray files"
    );
}

#[test]
fn truncated_pickle_reports_byte_offset() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(checkpoint_path()).unwrap();
    let src = dir.path().join("cut.pth");
    std::fs::write(&src, &bytes[..5000]).unwrap();
    let error = import_weights(
        &src,
        &dir.path().join("out.safetensors"),
        ExpectedCounts::EFFICIENTNET_LITE0,
    )
    .unwrap_err();
    let message = error.to_string();
    // The last string of the first 5000 bytes starts at byte 4983 and is cut short.
    assert!(
        message.contains("invalid torch checkpoint at byte 4983: file ends inside a pickle"),
        "{message}"
    );
}

#[test]
fn unexpected_counts_fail_and_keep_existing_output() {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("out.safetensors");
    std::fs::write(&dst, b"previous").unwrap();
    let expected = ExpectedCounts {
        tensors: 248,
        values: 4_694_024,
    };

    let error = import_weights(&checkpoint_path(), &dst, expected).unwrap_err();
    assert!(
        error.to_string().contains(
            "expected 248 tensors with 4694024 values after dropping `num_batches_tracked`, found 247 tensors with 4694024 values"
        ),
        "{error}"
    );
    assert_eq!(std::fs::read(&dst).unwrap(), b"previous");
}

#[test]
fn non_checkpoint_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("notes.txt");
    std::fs::write(&src, b"hello").unwrap();
    let error = import_weights(
        &src,
        &dir.path().join("out.safetensors"),
        ExpectedCounts::EFFICIENTNET_LITE0,
    )
    .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("notes.txt: invalid torch checkpoint at byte 0"),
        "{message}"
    );
}

#[test]
fn missing_checkpoint_names_the_path() {
    let error = import_weights(
        Path::new("/nonexistent/lite0.pth"),
        Path::new("/tmp/never-written.safetensors"),
        ExpectedCounts::EFFICIENTNET_LITE0,
    )
    .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("/nonexistent/lite0.pth: cannot read"),
        "{error}"
    );
}

fn weight_map() -> HashMap<String, Param> {
    let bytes = std::fs::read(weights_path()).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(name, view)| {
            let values = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (
                name,
                Param {
                    shape: view.shape().to_vec(),
                    values,
                },
            )
        })
        .collect()
}

#[test]
fn wrong_shape_names_key_and_shapes() {
    let mut tensors = weight_map();
    let param = tensors.get_mut("_blocks.1._depthwise_conv.weight").unwrap();
    param.shape = vec![96, 1, 5, 5];
    param.values = vec![0.0; 96 * 25];
    let Err(error) = Lite0Params::from_tensors(tensors, Path::new("w.safetensors")) else {
        panic!("a wrong shape loaded");
    };
    assert_eq!(
        error.to_string(),
        "w.safetensors: tensor `_blocks.1._depthwise_conv.weight` has shape [96, 1, 5, 5], expected [96, 1, 3, 3]; rerun `scripts/fetch-weights.sh`"
    );
}

#[test]
fn missing_key_names_key_and_shape() {
    let mut tensors = weight_map();
    tensors.remove("_bn1.running_var");
    let Err(error) = Lite0Params::from_tensors(tensors, Path::new("w.safetensors")) else {
        panic!("a missing key loaded");
    };
    assert_eq!(
        error.to_string(),
        "w.safetensors: missing tensor `_bn1.running_var` (expected shape [1280]); rerun `scripts/fetch-weights.sh`"
    );
}

#[test]
fn corrupt_safetensors_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    std::fs::write(&path, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}").unwrap();
    let Err(error) = Lite0Params::load(&path) else {
        panic!("a corrupt file loaded");
    };
    let message = error.to_string();
    assert!(
        message.contains("bad.safetensors: invalid safetensors file"),
        "{message}"
    );
    assert!(message.contains("scripts/fetch-weights.sh"), "{message}");
}
