#!/usr/bin/env bash
# Fetch the data sets and test fixtures that cwerm reads, into the git-ignored data/ folder.
#
# - data/fashion-mnist/: the four gzipped IDX files of Fashion-MNIST (60,000 train and
#   10,000 test images, 28x28 grey, MIT licence) from the Debian package
#   `dataset-fashion-mnist`. The script copies the installed files under
#   /usr/share/datasets/fashion-mnist/ when they exist. Otherwise it runs
#   `apt-get download` and `dpkg-deb -x`, which need no package install.
# - data/foolbox/: the `foolbox/data/` folder of the PyPI wheel foolbox==3.3.4 (MIT licence):
#   20 CIFAR-10 and 20 CIFAR-100 PNGs with the label in the file name, ImageNet JPEGs and
#   MNIST and Fashion-MNIST samples.
#
# Idempotent: files that are already in place are kept. Runs from any directory.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

fashion_dir="data/fashion-mnist"
foolbox_dir="data/foolbox"
debian_dir="/usr/share/datasets/fashion-mnist"
fashion_files=(
    train-images-idx3-ubyte.gz
    train-labels-idx1-ubyte.gz
    t10k-images-idx3-ubyte.gz
    t10k-labels-idx1-ubyte.gz
)
foolbox_version="3.3.4"

work_dir="$(mktemp -d)"
trap 'rm -rf "$work_dir"' EXIT

fashion_complete() {
    local file
    for file in "${fashion_files[@]}"; do
        [[ -s "$fashion_dir/$file" ]] || return 1
    done
}

copy_fashion_from() {
    local source_dir="$1" file
    mkdir -p "$fashion_dir"
    for file in "${fashion_files[@]}"; do
        echo "copy $source_dir/$file -> $fashion_dir/$file"
        cp "$source_dir/$file" "$fashion_dir/$file.tmp"
        mv "$fashion_dir/$file.tmp" "$fashion_dir/$file"
    done
}

fetch_fashion_mnist() {
    if fashion_complete; then
        echo "fashion-mnist: $fashion_dir already holds the four IDX files"
        return
    fi

    if [[ -d "$debian_dir" ]]; then
        echo "fashion-mnist: using the installed Debian package files in $debian_dir"
        copy_fashion_from "$debian_dir"
        return
    fi

    # apt drops root privileges to the `_apt` user for downloads, so that user
    # needs to enter the temp folder and write to the download folder.
    local download_dir="$work_dir/download"
    mkdir -p "$download_dir"
    chmod 0755 "$work_dir"
    chmod 0777 "$download_dir"
    echo "fashion-mnist: apt-get download dataset-fashion-mnist into $download_dir"
    if ! (cd "$download_dir" && apt-get download dataset-fashion-mnist); then
        echo "fashion-mnist: download failed; running apt-get update and retrying"
        apt-get update
        (cd "$download_dir" && apt-get download dataset-fashion-mnist)
    fi

    local package
    package="$(ls "$download_dir"/dataset-fashion-mnist_*.deb)"
    echo "fashion-mnist: dpkg-deb -x $package"
    dpkg-deb -x "$package" "$work_dir/extracted"
    copy_fashion_from "$work_dir/extracted$debian_dir"
}

fetch_foolbox() {
    if [[ -d "$foolbox_dir" ]] && compgen -G "$foolbox_dir/cifar10_*.png" >/dev/null \
        && compgen -G "$foolbox_dir/cifar100_*.png" >/dev/null; then
        echo "foolbox: $foolbox_dir already holds the sample images"
        return
    fi

    echo "foolbox: python3 -m pip download --no-deps foolbox==$foolbox_version into $work_dir"
    python3 -m pip download --quiet --no-deps --only-binary=:all: \
        --dest "$work_dir" "foolbox==$foolbox_version"

    local wheel
    wheel="$(ls "$work_dir"/foolbox-"$foolbox_version"-*.whl)"
    echo "foolbox: unpacking foolbox/data/ from $wheel"
    python3 - "$wheel" "$work_dir/wheel" <<'PYTHON'
import sys
import zipfile

wheel, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as archive:
    members = [name for name in archive.namelist() if name.startswith("foolbox/data/")]
    archive.extractall(target, members)
PYTHON
    mkdir -p "$(dirname "$foolbox_dir")"
    rm -rf "$foolbox_dir.tmp"
    mv "$work_dir/wheel/foolbox/data" "$foolbox_dir.tmp"
    rm -rf "$foolbox_dir"
    mv "$foolbox_dir.tmp" "$foolbox_dir"
}

verify() {
    local missing=0 file
    for file in "${fashion_files[@]}"; do
        if [[ ! -s "$fashion_dir/$file" ]]; then
            echo "missing: $fashion_dir/$file" >&2
            missing=1
        fi
    done
    local cifar10 cifar100
    cifar10="$(find "$foolbox_dir" -maxdepth 1 -name 'cifar10_*.png' | wc -l)"
    cifar100="$(find "$foolbox_dir" -maxdepth 1 -name 'cifar100_*.png' | wc -l)"
    if [[ "$cifar10" -ne 20 || "$cifar100" -ne 20 ]]; then
        echo "expected 20 cifar10_*.png and 20 cifar100_*.png in $foolbox_dir," \
            "found $cifar10 and $cifar100" >&2
        missing=1
    fi
    if [[ "$missing" -ne 0 ]]; then
        echo "fetch-data: verification failed" >&2
        exit 1
    fi
    echo "verified: $fashion_dir (4 files), $foolbox_dir ($cifar10 CIFAR-10 and $cifar100 CIFAR-100 PNGs)"
}

fetch_fashion_mnist
fetch_foolbox
verify
