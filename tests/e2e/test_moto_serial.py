"""The harness's moto: one request at a time, whole bodies, and the same answers as moto_server."""

import json
import threading
import time
from concurrent import futures

import boto3
import requests

from e2e import moto_serial
from e2e.processes import LOOPBACK, Process, free_port, wait_until


def test_requests_run_one_at_a_time_and_their_bodies_are_read_before_the_next_starts():
    in_flight, most = [0], [0]
    closed = []
    counter = threading.Lock()

    class Body:
        """A lazy body, as a streaming response is: its chunks run the app's code."""

        def __iter__(self):
            with counter:
                in_flight[0] += 1
                most[0] = max(most[0], in_flight[0])
            time.sleep(0.02)
            yield b"part one, "
            time.sleep(0.02)
            yield b"part two"
            with counter:
                in_flight[0] -= 1

        def close(self):
            closed.append(True)

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Body()

    served = moto_serial.OneRequestAtATime(app)
    with futures.ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(lambda _: served({}, lambda *a: None), range(8)))

    assert most[0] == 1
    assert bodies == [[b"part one, part two"]] * 8
    assert len(closed) == 8


def test_the_script_serves_moto(tmp_path):
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    server = Process("moto", moto_serial.command(LOOPBACK, port), tmp_path / "moto.log").start()
    try:
        wait_until(lambda: requests.get(f"{url}/moto-api/", timeout=2).ok, 30, "moto server", interval=0.1)
        iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")  # pragma: allowlist secret
        trust = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}

        def create(n: int) -> str:
            return iam.create_role(RoleName=f"role-{n}", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]

        with futures.ThreadPoolExecutor(4) as pool:
            arns = list(pool.map(create, range(20)))
        assert arns == [f"arn:aws:iam::123456789012:role/role-{n}" for n in range(20)]
        assert len(iam.list_roles()["Roles"]) == 20
    finally:
        server.stop()
