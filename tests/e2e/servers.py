"""The servers the harness's stand-ins are tested against: moto in a thread, the stand-in AWS
provider over gRPC, and the environment that points boto3 (and the provider) at one of them."""

import contextlib
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from moto.server import ThreadedMotoServer
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from e2e.aws_provider.server import AwsProvider
from e2e.aws_provider.wire import to_struct
from e2e.processes import free_port


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@contextlib.contextmanager
def aws_endpoint(url: str) -> Iterator[str]:
    """boto3 and the provider calling `url` with moto's fake keys, and no profile of the machine."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", url)
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")  # pragma: allowlist secret
        patch.delenv("AWS_PROFILE", raising=False)
        patch.delenv("AWS_SESSION_TOKEN", raising=False)
        yield url


@contextlib.contextmanager
def provider_stub() -> Iterator[provider_pb2_grpc.ResourceProviderStub]:
    """The stand-in provider served over gRPC, configured for us-east-1."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(AwsProvider(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = provider_pb2_grpc.ResourceProviderStub(channel)
    stub.Configure(provider_pb2.ConfigureRequest(args=to_struct({"region": "us-east-1"}), acceptSecrets=True, acceptResources=True))
    try:
        yield stub
    finally:
        channel.close()
        server.stop(grace=0)
