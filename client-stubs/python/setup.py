"""Builds convene-client, generating convene/v1 gRPC code from proto/ with grpcio-tools first.

Nothing generated is checked in. The protos are read from the repository
(`proto/src/main/proto`, or CONVENE_PROTO_DIR); their imports `buf/validate/validate.proto` and
`google/api/annotations.proto` are read from the imports the Maven build of the proto module
unpacks (`proto/target/proto-imports`, or CONVENE_PROTO_INCLUDE).

Those two imports only carry server-side options (validation rules, HTTP mappings), so they are
stripped from the descriptors before Python code is generated: the client then needs neither
protovalidate nor its CEL runtime, only grpcio and protobuf.
"""

import os
import shutil
import tempfile
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.egg_info import egg_info

HERE = Path(__file__).resolve().parent
PACKAGE_DIR = HERE / "src" / "convene" / "v1"
# Imports only the server needs: validation rules, HTTP annotations for Envoy, and Convene's own
# rules.proto (predefined validation rules and the access policy option, which extend them); and
# the provider callback service, which media providers call through Envoy, never a client.
SERVER_ONLY_IMPORTS = {"buf/validate/validate.proto", "google/api/annotations.proto", "google/api/http.proto",
                       "convene/v1/rules.proto", "convene/v1/provider_webhook_service.proto"}
def _proto_root() -> Path:
    root = Path(os.environ.get("CONVENE_PROTO_DIR", HERE.parent.parent / "proto" / "src" / "main" / "proto"))
    if not (root / "convene" / "v1").is_dir():
        raise SystemExit(f"convene-client: no convene/v1 protos under {root}; set CONVENE_PROTO_DIR")
    return root


def _includes() -> Path:
    include = Path(os.environ.get("CONVENE_PROTO_INCLUDE", HERE.parent.parent / "proto" / "target" / "proto-imports"))
    if not (include / "buf" / "validate").is_dir():
        raise SystemExit(
            f"convene-client: no unpacked imports in {include}; run the Maven build of proto/ once, or set CONVENE_PROTO_INCLUDE"
        )
    return include


def _strip_server_only(data: bytes) -> bytes:
    from google.protobuf import descriptor_pb2

    fds = descriptor_pb2.FileDescriptorSet.FromString(data)
    kept = descriptor_pb2.FileDescriptorSet()
    for file in fds.file:
        if not file.name.startswith(("convene/", "google/protobuf/")) or file.name in SERVER_ONLY_IMPORTS:
            continue
        clean = kept.file.add()
        clean.CopyFrom(file)
        deps = [d for d in file.dependency if d not in SERVER_ONLY_IMPORTS]
        del clean.dependency[:]
        clean.dependency.extend(deps)
        # The stripped imports defined only option extensions; with their files absent, any use of
        # them is an unknown field inside an *Options message, dropped here recursively.
        clean.DiscardUnknownFields()
        _clear_extensions(clean)
    return kept.SerializeToString()


def _clear_extensions(message) -> None:
    for field, value in message.ListFields():
        if field.is_extension:
            message.ClearExtension(field)
        elif field.message_type is not None:
            repeated = field.is_repeated if hasattr(field, "is_repeated") else field.label == field.LABEL_REPEATED
            for child in value if repeated else [value]:
                _clear_extensions(child)


def generate() -> None:
    """Writes src/convene/v1/*_pb2.py, *_pb2.pyi and *_pb2_grpc.py."""
    from grpc_tools import protoc

    root = _proto_root()
    sources = sorted(str(p.relative_to(root)) for p in (root / "convene" / "v1").glob("*.proto"))
    generated = [s for s in sources if s not in SERVER_ONLY_IMPORTS]
    wkt = Path(protoc.__file__).resolve().parent / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        include = _includes()
        full, stripped = work / "full.pb", work / "stripped.pb"
        args = ["protoc", f"-I{root}", f"-I{include}", f"-I{wkt}", "--include_imports", f"--descriptor_set_out={full}"]
        if protoc.main(args + sources) != 0:
            raise SystemExit("convene-client: protoc could not read the convene protos")
        stripped.write_bytes(_strip_server_only(full.read_bytes()))
        if PACKAGE_DIR.exists():
            shutil.rmtree(PACKAGE_DIR)
        PACKAGE_DIR.mkdir(parents=True)
        out = HERE / "src"
        args = ["protoc", f"--descriptor_set_in={stripped}", f"--python_out={out}", f"--pyi_out={out}", f"--grpc_python_out={out}"]
        if protoc.main(args + generated) != 0:
            raise SystemExit("convene-client: protoc could not generate the Python code")
    (PACKAGE_DIR / "__init__.py").write_text('"""Generated from proto/ by setup.py; do not edit."""\n')


class GenerateFirst:
    """Mixin: generate the code before the command runs, once per build."""

    def run(self):
        if not getattr(GenerateFirst, "_done", False):
            generate()
            GenerateFirst._done = True
        super().run()


class BuildPy(GenerateFirst, build_py):
    pass


class EggInfo(GenerateFirst, egg_info):
    pass


setup(
    # Listed, not discovered: convene.v1 only exists once generate() has run.
    packages=["convene", "convene.v1"],
    package_dir={"": "src"},
    package_data={"convene": ["py.typed"], "convene.v1": ["*.pyi"]},
    cmdclass={"build_py": BuildPy, "egg_info": EggInfo},
)
