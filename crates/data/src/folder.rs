//! Reader for a folder of class sub-folders of PNG or JPEG images.
//!
//! Layout: `path/train/<class>/<image>` and `path/test/<class>/<image>`. The
//! classes are the sub-folder names in byte order, and train and test must
//! list the same classes. Inside a class folder, files are read in byte order
//! of their names. Each must end in `.png`, `.jpg` or `.jpeg` (any case), and
//! any other file or folder there is an error, so nothing is skipped silently.
//!
//! Channels: when every image of both splits is greyscale (with or without
//! alpha) the data set has C = 1; otherwise every image is converted to RGB,
//! C = 3, grey copied to three channels. Alpha is dropped, and 16-bit images
//! are scaled to 8 bits. With `resize = 0` all images must share one size;
//! with `resize > 0` each is resized to `resize x resize` (see [`crate::resize`]).

use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageReader};

use crate::dataset::{LabelledImages, RawDataset};
use crate::error::DataError;
use crate::resize::resize_bilinear;

const SPLITS: [&str; 2] = ["train", "test"];
const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// The image files of one split, grouped by class in class order.
struct SplitFiles {
    /// `(class index, file)` in reading order.
    files: Vec<(u32, PathBuf)>,
}

/// Lists every image file that [`read_folder`] reads, sorted.
pub(crate) fn folder_source_files(root: &Path) -> Result<Vec<PathBuf>, DataError> {
    let (_, splits) = locate(root)?;
    let mut paths: Vec<PathBuf> = splits
        .into_iter()
        .flat_map(|split| split.files.into_iter().map(|(_, path)| path))
        .collect();
    paths.sort();
    Ok(paths)
}

/// Reads the train and test splits of the image folder at `root`.
pub(crate) fn read_folder(root: &Path, resize: u32) -> Result<RawDataset, DataError> {
    let (class_names, splits) = locate(root)?;
    let [train_files, test_files] = splits;

    let train_images = decode_all(&train_files)?;
    let test_images = decode_all(&test_files)?;
    let all_grey = train_images
        .iter()
        .chain(&test_images)
        .all(|decoded| !decoded.image.color().has_color());
    let channels = if all_grey { 1 } else { 3 };

    let mut shape = None;
    let train = assemble(train_images, channels, resize, &mut shape)?;
    let test = assemble(test_images, channels, resize, &mut shape)?;
    Ok(RawDataset {
        train,
        test,
        class_names,
    })
}

/// Lists the class names and the image files of both splits.
fn locate(root: &Path) -> Result<(Vec<String>, [SplitFiles; 2]), DataError> {
    let train_classes = class_folders(&root.join(SPLITS[0]))?;
    let test_classes = class_folders(&root.join(SPLITS[1]))?;
    if train_classes != test_classes {
        return Err(DataError::Layout {
            path: root.to_path_buf(),
            expected: format!(
                "the same class folders in train/ and test/, train/ has {train_classes:?}"
            ),
            found: format!("test/ has {test_classes:?}"),
        });
    }

    let train = split_files(&root.join(SPLITS[0]), &train_classes)?;
    let test = split_files(&root.join(SPLITS[1]), &test_classes)?;
    Ok((train_classes, [train, test]))
}

/// Returns the sorted names of the sub-folders of `split_dir`; any plain file
/// there is a layout error.
fn class_folders(split_dir: &Path) -> Result<Vec<String>, DataError> {
    if !split_dir.is_dir() {
        return Err(DataError::Layout {
            path: split_dir.to_path_buf(),
            expected: "a folder of class sub-folders (`train/<class>/*`, `test/<class>/*`)".into(),
            found: "no such folder".into(),
        });
    }

    let mut classes = Vec::new();
    for (name, path) in sorted_entries(split_dir)? {
        if !path.is_dir() {
            return Err(DataError::Layout {
                path,
                expected: "only class sub-folders in the split folder".into(),
                found: "a file".into(),
            });
        }
        classes.push(name);
    }
    if classes.is_empty() {
        return Err(DataError::Layout {
            path: split_dir.to_path_buf(),
            expected: "at least one class sub-folder".into(),
            found: "none".into(),
        });
    }
    Ok(classes)
}

fn split_files(split_dir: &Path, classes: &[String]) -> Result<SplitFiles, DataError> {
    let mut files = Vec::new();
    for (class, name) in classes.iter().enumerate() {
        let class_dir = split_dir.join(name);
        let entries = sorted_entries(&class_dir)?;
        if entries.is_empty() {
            return Err(DataError::EmptyClass { path: class_dir });
        }
        for (_, path) in entries {
            if !is_image_file(&path) {
                return Err(DataError::Layout {
                    path,
                    expected: "a PNG or JPEG file (.png, .jpg, .jpeg) in a class folder".into(),
                    found: "another kind of entry".into(),
                });
            }
            files.push((class as u32, path));
        }
    }
    Ok(SplitFiles { files })
}

/// Entries of `dir` as `(file name, path)`, sorted by name.
fn sorted_entries(dir: &Path) -> Result<Vec<(String, PathBuf)>, DataError> {
    let reader = std::fs::read_dir(dir).map_err(DataError::io(dir, "list folder"))?;
    let mut entries = Vec::new();
    for entry in reader {
        let entry = entry.map_err(DataError::io(dir, "list folder"))?;
        let path = entry.path();
        let name = entry
            .file_name()
            .into_string()
            .map_err(|_| DataError::Layout {
                path: path.clone(),
                expected: "a UTF-8 file name".into(),
                found: "a name that is not UTF-8".into(),
            })?;
        entries.push((name, path));
    }
    entries.sort();
    Ok(entries)
}

fn is_image_file(path: &Path) -> bool {
    let extension = path
        .extension()
        .and_then(|extension| extension.to_str())
        .map(str::to_ascii_lowercase);
    path.is_file()
        && extension.is_some_and(|extension| IMAGE_EXTENSIONS.contains(&extension.as_str()))
}

/// One decoded image file with its class.
struct Decoded {
    class: u32,
    path: PathBuf,
    image: DynamicImage,
}

/// Decodes every file of a split, in reading order.
fn decode_all(split: &SplitFiles) -> Result<Vec<Decoded>, DataError> {
    split
        .files
        .iter()
        .map(|(class, path)| {
            Ok(Decoded {
                class: *class,
                path: path.clone(),
                image: decode(path)?,
            })
        })
        .collect()
}

fn decode(path: &Path) -> Result<DynamicImage, DataError> {
    let image_error = |source| DataError::Image {
        path: path.to_path_buf(),
        source,
    };
    ImageReader::open(path)
        .map_err(DataError::io(path, "open image"))?
        .with_guessed_format()
        .map_err(DataError::io(path, "read image"))?
        .decode()
        .map_err(image_error)
}

/// Converts decoded images to one `[N, H, W, C]` buffer. `shape` carries the
/// `(height, width)` of the first image across both splits.
fn assemble(
    decoded: Vec<Decoded>,
    channels: usize,
    resize: u32,
    shape: &mut Option<(usize, usize)>,
) -> Result<LabelledImages, DataError> {
    let mut images = Vec::new();
    let mut labels = Vec::with_capacity(decoded.len());
    for Decoded { class, path, image } in decoded {
        let (width, height) = (image.width() as usize, image.height() as usize);
        if width == 0 || height == 0 {
            return Err(DataError::ShapeMismatch {
                path,
                expected: "an image of at least 1x1 pixels".into(),
                found: format!("{height}x{width}"),
                hint: "",
            });
        }
        let mut pixels = if channels == 1 {
            image.into_luma8().into_raw()
        } else {
            image.into_rgb8().into_raw()
        };
        let (height, width) = if resize > 0 {
            let side = resize as usize;
            pixels = resize_bilinear(&pixels, height, width, channels, side, side);
            (side, side)
        } else {
            (height, width)
        };

        match *shape {
            None => *shape = Some((height, width)),
            Some(expected) if expected != (height, width) => {
                return Err(DataError::ShapeMismatch {
                    path,
                    expected: format!("{}x{} as in the first image", expected.0, expected.1),
                    found: format!("{height}x{width}"),
                    hint: "; set prepare.resize to resize every image to one square size",
                });
            }
            Some(_) => {}
        }
        images.extend_from_slice(&pixels);
        labels.push(class);
    }

    let (height, width) = shape.unwrap_or((0, 0));
    Ok(LabelledImages {
        images,
        labels,
        height,
        width,
        channels,
    })
}
