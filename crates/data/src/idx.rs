//! IDX reader for MNIST-style data sets (MNIST, Fashion-MNIST), raw or gzip.
//!
//! Format (Y. LeCun's MNIST page): bytes 0-1 are zero, byte 2 is the element
//! type (0x08 = unsigned byte, the only type read here), byte 3 the number of
//! dimensions; then one big-endian u32 per dimension, then the elements in
//! row-major order. Image files are `[N, H, W]` (magic `00 00 08 03`), label
//! files `[N]` (magic `00 00 08 01`). A file that starts with the gzip magic
//! `1f 8b` is decompressed while it is read, whatever its name.
//!
//! The folder contains `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
//! `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each raw or with a
//! `.gz` suffix; the raw file wins when both exist. Output images are
//! `[N, H, W, 1]`; the class count is the largest label plus one, and class
//! names are the label numbers.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::bufread::MultiGzDecoder;

use crate::dataset::{LabelledImages, RawDataset};
use crate::error::DataError;

const IMAGES_MAGIC: [u8; 4] = [0x00, 0x00, 0x08, 0x03];
const LABELS_MAGIC: [u8; 4] = [0x00, 0x00, 0x08, 0x01];
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Largest payload accepted from an IDX header, 16 GiB. The reader never
/// allocates from the header alone, but a header past this limit is rejected
/// up front with a clear error instead of reading until memory runs out.
const MAX_PAYLOAD_BYTES: u64 = 1 << 34;

/// The four files of an IDX data set, in the order train images, train
/// labels, test images, test labels.
struct IdxFiles {
    train_images: PathBuf,
    train_labels: PathBuf,
    test_images: PathBuf,
    test_labels: PathBuf,
}

/// Lists the four files that [`read_idx`] reads, sorted.
pub(crate) fn idx_source_files(folder: &Path) -> Result<Vec<PathBuf>, DataError> {
    let files = locate(folder)?;
    let mut paths = vec![
        files.train_images,
        files.train_labels,
        files.test_images,
        files.test_labels,
    ];
    paths.sort();
    Ok(paths)
}

/// Reads the train and test splits of the IDX data set in `folder`.
pub(crate) fn read_idx(folder: &Path) -> Result<RawDataset, DataError> {
    let files = locate(folder)?;
    let train = read_split(&files.train_images, &files.train_labels)?;
    let test = read_split(&files.test_images, &files.test_labels)?;

    if (test.height, test.width) != (train.height, train.width) {
        return Err(DataError::ShapeMismatch {
            path: files.test_images,
            expected: format!("{}x{} as in the training images", train.height, train.width),
            found: format!("{}x{}", test.height, test.width),
            hint: "",
        });
    }

    let max_label = train.labels.iter().chain(&test.labels).copied().max();
    let num_classes = max_label.map_or(0, |label| label as usize + 1);
    let class_names = (0..num_classes).map(|class| class.to_string()).collect();
    Ok(RawDataset {
        train,
        test,
        class_names,
    })
}

fn locate(folder: &Path) -> Result<IdxFiles, DataError> {
    let find = |stem: &str| -> Result<PathBuf, DataError> {
        let raw = folder.join(stem);
        if raw.is_file() {
            return Ok(raw);
        }
        let gzip = folder.join(format!("{stem}.gz"));
        if gzip.is_file() {
            return Ok(gzip);
        }
        Err(DataError::Layout {
            path: folder.to_path_buf(),
            expected: format!("an IDX file `{stem}` or `{stem}.gz`"),
            found: "neither".into(),
        })
    };
    Ok(IdxFiles {
        train_images: find("train-images-idx3-ubyte")?,
        train_labels: find("train-labels-idx1-ubyte")?,
        test_images: find("t10k-images-idx3-ubyte")?,
        test_labels: find("t10k-labels-idx1-ubyte")?,
    })
}

fn read_split(images_path: &Path, labels_path: &Path) -> Result<LabelledImages, DataError> {
    let (image_dims, images) = read_idx_file(images_path, IMAGES_MAGIC)?;
    let (label_dims, labels) = read_idx_file(labels_path, LABELS_MAGIC)?;

    if image_dims[0] != label_dims[0] {
        return Err(DataError::CountMismatch {
            images_path: images_path.to_path_buf(),
            labels_path: labels_path.to_path_buf(),
            images: image_dims[0].into(),
            labels: label_dims[0].into(),
        });
    }

    Ok(LabelledImages {
        images,
        labels: labels.into_iter().map(u32::from).collect(),
        height: image_dims[1] as usize,
        width: image_dims[2] as usize,
        channels: 1,
    })
}

/// Reads one IDX file whose magic must equal `magic`; returns its dimensions
/// and its elements.
fn read_idx_file(path: &Path, magic: [u8; 4]) -> Result<(Vec<u32>, Vec<u8>), DataError> {
    let mut source = IdxSource::open(path)?;

    let mut found = [0u8; 4];
    source.read_exact_or_truncated(&mut found, 0, "the 4 byte IDX magic")?;
    if found != magic {
        let expected = if magic == IMAGES_MAGIC {
            "00 00 08 03 (unsigned bytes, 3 dimensions: an image file)"
        } else {
            "00 00 08 01 (unsigned bytes, 1 dimension: a label file)"
        };
        return Err(DataError::IdxMagic {
            path: path.to_path_buf(),
            expected,
            found,
        });
    }

    let dimension_count = usize::from(magic[3]);
    let mut header = vec![0u8; 4 * dimension_count];
    source.read_exact_or_truncated(
        &mut header,
        4,
        &format!("{dimension_count} big-endian u32 dimension sizes"),
    )?;
    let dimensions: Vec<u32> = header
        .chunks_exact(4)
        .map(|bytes| u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
        .collect();

    let payload_bytes = dimensions
        .iter()
        .try_fold(1u64, |product, &size| product.checked_mul(u64::from(size)))
        .filter(|&bytes| bytes <= MAX_PAYLOAD_BYTES)
        .ok_or_else(|| DataError::IdxTooLarge {
            path: path.to_path_buf(),
            dimensions: dimensions.clone(),
            limit: MAX_PAYLOAD_BYTES,
        })?;

    let header_bytes = 4 + header.len() as u64;
    let payload = source.read_payload(header_bytes, payload_bytes, &dimensions)?;
    Ok((dimensions, payload))
}

/// A raw or gzip-compressed IDX file, read as one byte stream.
struct IdxSource {
    path: PathBuf,
    gzip: bool,
    reader: Box<dyn Read>,
}

impl IdxSource {
    fn open(path: &Path) -> Result<IdxSource, DataError> {
        let file = File::open(path).map_err(DataError::io(path, "open IDX file"))?;
        let mut buffered = BufReader::with_capacity(1 << 16, file);
        let start = buffered
            .fill_buf()
            .map_err(DataError::io(path, "read IDX file"))?;
        let gzip = start.starts_with(&GZIP_MAGIC);
        let reader: Box<dyn Read> = if gzip {
            Box::new(MultiGzDecoder::new(buffered))
        } else {
            Box::new(buffered)
        };
        Ok(IdxSource {
            path: path.to_path_buf(),
            gzip,
            reader,
        })
    }

    fn read_error(&self, source: std::io::Error) -> DataError {
        if self.gzip {
            DataError::Gzip {
                path: self.path.clone(),
                source,
            }
        } else {
            DataError::Io {
                path: self.path.clone(),
                operation: "read IDX file",
                source,
            }
        }
    }

    /// Fills `buffer` from the stream at byte `offset`, or reports how many
    /// bytes the stream had left.
    fn read_exact_or_truncated(
        &mut self,
        buffer: &mut [u8],
        offset: u64,
        what: &str,
    ) -> Result<(), DataError> {
        let mut filled = 0;
        while filled < buffer.len() {
            match self.reader.read(&mut buffer[filled..]) {
                Ok(0) => {
                    return Err(DataError::Truncated {
                        path: self.path.clone(),
                        what: what.to_string(),
                        expected: offset + buffer.len() as u64,
                        found: offset + filled as u64,
                    });
                }
                Ok(count) => filled += count,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => return Err(self.read_error(error)),
            }
        }
        Ok(())
    }

    /// Reads exactly `payload_bytes` after a header of `header_bytes`, and
    /// checks that nothing follows. Memory grows with the bytes actually
    /// read, never with the size the header claims.
    fn read_payload(
        &mut self,
        header_bytes: u64,
        payload_bytes: u64,
        dimensions: &[u32],
    ) -> Result<Vec<u8>, DataError> {
        const INITIAL_CAPACITY: u64 = 1 << 23;
        let what = || format!("a header and a payload of dimensions {dimensions:?}");

        let mut payload = Vec::with_capacity(payload_bytes.min(INITIAL_CAPACITY) as usize);
        let read = (&mut self.reader)
            .take(payload_bytes)
            .read_to_end(&mut payload)
            .map_err(|error| self.read_error(error))?;
        if (read as u64) < payload_bytes {
            return Err(DataError::Truncated {
                path: self.path.clone(),
                what: what(),
                expected: header_bytes + payload_bytes,
                found: header_bytes + read as u64,
            });
        }

        let trailing = std::io::copy(&mut self.reader, &mut std::io::sink())
            .map_err(|error| self.read_error(error))?;
        if trailing > 0 {
            return Err(DataError::TrailingBytes {
                path: self.path.clone(),
                what: what(),
                expected: header_bytes + payload_bytes,
                found: header_bytes + payload_bytes + trailing,
            });
        }
        Ok(payload)
    }
}
