"""One finding of the doctor: what was checked, on what, and what to do about a failure."""

from dataclasses import asdict, dataclass
from typing import Literal

# warn: nothing is broken, but an action the user may take next is not safe yet; it does not fail the run.
Status = Literal["pass", "fail", "warn", "skip"]


@dataclass(frozen=True)
class Check:
    check: str
    subject: str
    status: Status
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)
