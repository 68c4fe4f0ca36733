"""Build the Lambda deployment package: runtime dependencies as manylinux wheels, our code, bytecode.

    python scripts/lambda_zip.py [--python-version 3.13] [--arch x86_64|arm64]

Fills build/lambda (what template.yaml's CodeUri points at) and writes build/getServiceRequest.zip.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
PACKAGE_DIR = BUILD / "lambda"
ZIP_PATH = BUILD / "getServiceRequest.zip"
OUR_PACKAGES = ("service", "lambda_adapter")
ZIPPED_LIMIT = 50 * 1024 * 1024
UNZIPPED_LIMIT = 250 * 1024 * 1024
PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
# botocore ships the models of every AWS service (most of its size); the API calls DynamoDB only, the
# stream's function SNS only. The credential services stay for roles assumed through a profile.
BOTOCORE_MODELS_KEPT = {"dynamodb", "sns", "sts", "sso", "sso-oidc"}
# uvicorn's event loop and HTTP parser (about 18 MiB): Lambda runs no HTTP server.
SERVER_ONLY = ("uvloop", "httptools")


def _interpreter(version: str) -> str:
    """A Python of the runtime's version: the bytecode must match it, or Lambda ignores it."""
    candidates = [shutil.which(f"python{version}") or ""]
    candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")))
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version)"], capture_output=True, check=False
        )
        if probe.returncode == 0:
            return candidate
    raise SystemExit(f"no Python {version} found to compile bytecode for the python{version} runtime")


# The cold-start benchmark runs the package on a Python found as the one that compiled its bytecode was.
interpreter = _interpreter


def _prune(package_dir: Path) -> None:
    for model_dir in (package_dir / "botocore" / "data").iterdir():
        if model_dir.is_dir() and model_dir.name not in BOTOCORE_MODELS_KEPT:
            shutil.rmtree(model_dir)
    for name in SERVER_ONLY:
        for path in [package_dir / name, *package_dir.glob(f"{name}-*.dist-info")]:
            shutil.rmtree(path, ignore_errors=True)
    for cache in package_dir.rglob("__pycache__"):
        shutil.rmtree(cache)


def _check_initialises(python: str, package_dir: Path) -> None:
    """Import the handler and initialise it (build the app, open a client, send nothing) with the package
    alone on the path, as Lambda's runtime would: whatever the build left out must not be needed."""
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(package_dir),
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:9",
        "AWS_REGION": "us-east-1",
        "AUTH_MODE": "gateway",
        "LOG_LEVEL": "WARNING",
    }
    code = "from lambda_adapter.handler import LambdaAdapter; LambdaAdapter().prepare()"
    # -S: none of the interpreter's own site-packages, only the standard library and the package.
    done = subprocess.run(
        [python, "-S", "-P", "-c", code], env=environment, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"the packaged handler does not initialise:\n{done.stderr}")


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def build(python_version: str, arch: str) -> None:
    python = _interpreter(python_version)
    shutil.rmtree(PACKAGE_DIR, ignore_errors=True)
    PACKAGE_DIR.mkdir(parents=True)
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--no-deps",
            "--require-hashes", "--only-binary=:all:", "--implementation", "cp",
            "--platform", PLATFORMS[arch], "--python-version", python_version,
            "--target", str(PACKAGE_DIR), "-r", str(ROOT / "requirements" / "runtime.txt"),
        ],
        check=True,
    )  # fmt: skip
    for package in OUR_PACKAGES:
        shutil.copytree(ROOT / package, PACKAGE_DIR / package, ignore=shutil.ignore_patterns("__pycache__"))
    _prune(PACKAGE_DIR)
    # Read-only filesystem on Lambda: pyc files checked by hash, not by the files' timestamps.
    subprocess.run(
        [
            python,
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            str(PACKAGE_DIR),
        ],
        check=True,
    )
    _check_initialises(python, PACKAGE_DIR)
    ZIP_PATH.unlink(missing_ok=True)
    with zipfile.ZipFile(ZIP_PATH, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for file in sorted(p for p in PACKAGE_DIR.rglob("*") if p.is_file()):
            archive.write(file, file.relative_to(PACKAGE_DIR))

    zipped, unzipped = ZIP_PATH.stat().st_size, _size(PACKAGE_DIR)
    print(f"{ZIP_PATH.relative_to(ROOT)}: python{python_version} {arch}")
    print(f"  zipped   {zipped / 2**20:6.1f} MiB (Lambda's limit: 50 MiB)")
    print(f"  unzipped {unzipped / 2**20:6.1f} MiB (Lambda's limit: 250 MiB)")
    if zipped > ZIPPED_LIMIT or unzipped > UNZIPPED_LIMIT:
        raise SystemExit("the package is over Lambda's limits")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--python-version", default="3.13", help="the Lambda runtime's Python (default 3.13)")
    parser.add_argument("--arch", choices=sorted(PLATFORMS), default="x86_64")
    args = parser.parse_args()
    build(args.python_version, args.arch)


if __name__ == "__main__":
    main()
