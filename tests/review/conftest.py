# The worker tests' fixtures (run_pass, make_due), shared with the review tests.
from tests.worker.conftest import make_due, run_pass  # noqa: F401
