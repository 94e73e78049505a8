"""Prints how long the offline plan takes: `venv/bin/python -m tools.plan.benchmark`.

Numbers, not assertions: run it before and after a change and compare.
"""

import json
import statistics
import time

from tools.plan.engine import PlaceholderCloud, run_program
from stacks.loading import load_stack
from tools.plan.render import as_json, as_text, as_yaml
from tools.stack_files import read_stack_config, stack_file

REPEATS = 5


def synthetic_config(services: int, namespaces: int) -> dict[str, str]:
    config = read_stack_config(stack_file("dev"))
    config["eso-platform:services"] = json.dumps(
        [{"name": f"service-{i:04d}", "namespace": f"team-{i % namespaces:03d}"} for i in range(services)]
    )
    return config


def timed(action) -> tuple[float, object]:
    samples, result = [], None
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), result


def main() -> None:
    print(f"median of {REPEATS} runs")
    print(f"{'case':<38} {'resources':>9} {'run ms':>8} {'render ms':>9}")
    cases = [(name, read_stack_config(stack_file(name))) for name in ("dev", "prod")]
    cases += [(f"{n} services in {m} namespaces", synthetic_config(n, m)) for n, m in ((100, 10), (500, 50))]
    for name, config in cases:
        seconds, run = timed(lambda: run_program(config, "bench", PlaceholderCloud("us-east-1")))
        render, _ = timed(lambda: (as_text(run), as_json(run), as_yaml(run)))
        print(f"{name:<38} {len(run.resources):>9} {seconds * 1000:>8.0f} {render * 1000:>9.0f}")
    project = {k.removeprefix("eso-platform:"): v for k, v in synthetic_config(500, 50).items() if k.startswith("eso-platform:")}
    seconds, _ = timed(lambda: load_stack(project, "us-east-1"))
    print(f"{'validate 500 services':<38} {'':>9} {seconds * 1000:>8.1f}")


if __name__ == "__main__":
    main()
