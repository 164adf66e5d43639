"""Build steps pyproject.toml cannot declare: the Cython core and the gRPC stubs.

The stubs (`*_pb2.py`, `*_pb2.pyi`, `*_pb2_grpc.py`) are generated from proto/nikgate/v1
by grpc_tools.protoc at build time, next to the .proto files, and never edited by hand.
engine/_constants.pxi (the core's compile-time numbers) is rendered from
engine/constants.py before cythonize reads the core; it is committed, rewritten only when
its text changes, and tests/test_one_source.py fails when it is out of date.

nikgate/synth's per-row modules are compiled a second time, from the same .py files, as
nikgate.synth._compiled.* (typed by the .pxd files there); after building, the digest of
those sources goes to nikgate/synth/_compiled/built-from.txt, so a twin older than its
source is never used (nikgate/synth/_compiled/__init__.py).

NIKGATE_CYTHON_TRACE=1 builds the core with line tracing and writes an annotated HTML
report beside the .pyx, for profiling; never for production.
"""

import importlib.util
import os
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PROTO_ROOT = ROOT / "proto"
TRACE = os.environ.get("NIKGATE_CYTHON_TRACE") == "1"


def generate_stubs() -> None:
    import grpc_tools
    from grpc_tools import protoc

    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    well_known = str(Path(grpc_tools.__file__).parent / "_proto")
    args = [
        "grpc_tools.protoc",
        f"--proto_path={PROTO_ROOT}",
        f"--proto_path={well_known}",
        f"--proto_path={googleapis_protos()}",
        f"--python_out={PROTO_ROOT}",
        f"--pyi_out={PROTO_ROOT}",
        f"--grpc_python_out={PROTO_ROOT}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed on " + " ".join(protos))


def googleapis_protos() -> str:
    """The directory holding google/api/annotations.proto and http.proto (the HTTP
    annotations of the JSON gateway): googleapis-common-protos ships them beside their
    generated modules, which the stubs import at runtime."""
    import google.api.annotations_pb2 as annotations

    return str(Path(annotations.__file__).resolve().parents[2])


def generate_constants() -> None:
    """Render engine/_constants.pxi from engine/constants.py (loaded by path: the package
    cannot be imported before its core is built)."""
    spec = importlib.util.spec_from_file_location("_nikgate_constants",
                                                  ROOT / "engine" / "constants.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    target = ROOT / "engine" / "_constants.pxi"
    text = module.render_pxi()
    if not target.exists() or target.read_text() != text:
        target.write_text(text)  # only on change: cythonize rebuilds when an include is newer


class BuildPy(build_py):
    def run(self):
        generate_stubs()
        super().run()


class BuildExt(build_ext):
    def run(self):
        generate_stubs()  # editable installs may skip build_py
        super().run()
        record_synth_digest(self)


def synth_compiled_module():
    """nikgate/synth/_compiled/__init__.py, loaded by path (as constants.py above): which
    modules are twinned, and the digest it compares."""
    spec = importlib.util.spec_from_file_location(
        "_nikgate_synth_compiled", ROOT / "nikgate" / "synth" / "_compiled" / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def synth_digest() -> str:
    return synth_compiled_module().sources_digest()


def synth_is_current() -> bool:
    try:
        recorded = (ROOT / "nikgate" / "synth" / "_compiled" / "built-from.txt").read_text()
    except OSError:
        return False
    return recorded.strip() == synth_digest()


def record_synth_digest(cmd: build_ext) -> None:
    """Write the digest of the sources the synth twins were built from (after the build:
    a failed build leaves the old record, which then no longer matches)."""
    digest = synth_digest() + "\n"
    targets = [ROOT / "nikgate" / "synth" / "_compiled"]
    if not cmd.inplace:
        targets.append(Path(cmd.build_lib) / "nikgate" / "synth" / "_compiled")
    for folder in targets:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "built-from.txt").write_text(digest)


core = Extension(
    "nikgate.engine._core",
    sources=["engine/_core.pyx"],
    libraries=["lmdb"],
    # xxh3 is used header-only (inlined), so only liblmdb is linked.
    define_macros=[("XXH_INLINE_ALL", "1")] + ([("CYTHON_TRACE_NOGIL", "1")] if TRACE else []),
    extra_compile_args=["-O3", "-fno-strict-aliasing"],
)

# The synth twins: plain Python sources, types from the .pxd beside the module name
# (annotations are not read as C types: they are written for mypy).
synth = [Extension(f"nikgate.synth._compiled.{name}", sources=[f"nikgate/synth/{name}.py"])
         for name in synth_compiled_module().COMPILED]

generate_constants()  # before cythonize() below reads the .pyx and its includes
setup(
    cmdclass={"build_py": BuildPy, "build_ext": BuildExt},
    ext_modules=cythonize(
        synth,
        language_level=3,
        build_dir="build/cython",   # the generated C stays out of nikgate/synth
        include_path=["nikgate/synth/_compiled"],
        # cythonize's timestamps do not follow a .pxd found by module name: recompile
        # whenever the sources differ from those the twins were last built from
        force=not synth_is_current(),
        compiler_directives={"annotation_typing": False, "binding": False},
    ) + cythonize(
        [core],
        language_level=3,
        annotate=TRACE,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
            "linetrace": TRACE,
            "embedsignature": True,
        },
    ),
)
