//! The whole encoder (JPEG pixels, resize to 224 px, folded network, `_fc`) on
//! the 20 labelled ImageNet photos that the `foolbox==3.3.4` wheel ships
//! (`imagenet_<index>_<label>.jpg`, unpacked by scripts/fetch-data.sh).
//! A float64 numpy forward of the same weights gets 17 top-1 and 20 top-5 right.

mod common;

use std::collections::HashMap;

use common::{load_params, repo_root};
use cwerm_encoder::{ImageShape, Lite0Encoder};

#[test]
fn imagenet_photos_are_classified() {
    let folder = repo_root().join("data/foolbox");
    let mut photos: Vec<_> = std::fs::read_dir(&folder)
        .unwrap_or_else(|error| {
            panic!(
                "{}: {error}; run scripts/fetch-data.sh first",
                folder.display()
            )
        })
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.starts_with("imagenet_") && name.ends_with(".jpg")
        })
        .collect();
    photos.sort();
    assert_eq!(
        photos.len(),
        20,
        "expected 20 imagenet_*.jpg in {}; run scripts/fetch-data.sh",
        folder.display()
    );

    let params = load_params();
    let mut encoders: HashMap<ImageShape, Lite0Encoder> = HashMap::new();
    let (mut top1, mut top5) = (0, 0);
    for path in &photos {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let label: usize = stem.rsplit('_').next().unwrap().parse().unwrap();
        let image = image::open(path).unwrap().to_rgb8();
        let shape = ImageShape::new(image.height() as usize, image.width() as usize, 3);
        let encoder = encoders
            .entry(shape)
            .or_insert_with(|| Lite0Encoder::from_params(&params, 224, shape).unwrap());

        let logits = encoder.logits(image.as_raw()).unwrap();
        let mut ranked: Vec<usize> = (0..logits.len()).collect();
        ranked.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
        if ranked[0] != label {
            let rank = ranked.iter().position(|&class| class == label).unwrap();
            eprintln!(
                "{stem}: predicted class {}, label at rank {}",
                ranked[0],
                rank + 1
            );
        }
        top1 += usize::from(ranked[0] == label);
        top5 += usize::from(ranked[..5].contains(&label));
    }
    eprintln!("ImageNet photos: top-1 {top1}/20, top-5 {top5}/20");
    assert!(top1 >= 16, "top-1 {top1}/20, expected at least 16");
    assert!(top5 >= 19, "top-5 {top5}/20, expected at least 19");
}
