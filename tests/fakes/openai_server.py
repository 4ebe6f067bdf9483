"""A fake OpenAI that speaks the wire format, so tests drive the real ``openai`` SDK.

A small threaded HTTP server on 127.0.0.1 (random port) implements the endpoints the
provider calls: file upload (multipart), job create/list/retrieve/cancel and job events.
It keeps state, records every call, and has switches for what real providers do to us:
rate limits, server errors, answers slower than the client's timeout, and a create that
succeeds on the server while its response is lost.
"""

import base64
import itertools
import json
import math
import threading
import time
from collections import defaultdict
from email.parser import BytesParser
from email.policy import HTTP
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.openai_chat import CHAT, FakeChatCompletions

# Operation names, as used by the switches and in ``calls``.
UPLOAD = "upload"
CREATE = "create"
LIST = "list"
RETRIEVE = "retrieve"
CANCEL = "cancel"
EVENTS = "events"
FILE_CONTENT = "file_content"
CHECKPOINTS = "checkpoints"

TERMINAL = {"succeeded", "failed", "cancelled"}


class _Fault:
    def __init__(
        self,
        kind: str,
        status: int | None = None,
        seconds: float = 0.0,
        retry_after: float | None = None,
    ):
        self.kind = kind  # "status", "delay" (answer too late), "lost" (do it, answer 500)
        self.status = status
        self.seconds = seconds
        self.retry_after = retry_after  # a 429's Retry-After, in seconds


class FakeOpenAI(FakeChatCompletions):
    """State and switches of the fake provider; ``base_url`` goes into OPENAI_BASE_URL."""

    def __init__(self):
        self._init_chat()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.files: dict[str, dict] = {}
        self.jobs: dict[str, dict] = {}  # insertion order = creation order
        self.events: dict[str, list[dict]] = defaultdict(list)
        # Every step a job trained, as OpenAI's result file lists them: {job id: [row, ...]}.
        self.steps: dict[str, list[dict]] = defaultdict(list)
        # Serve result files base64-encoded, as the real service is reported to.
        self.result_files_base64 = False
        self.checkpoints: dict[str, list[dict]] = defaultdict(list)  # newest first
        # ``train`` saves a checkpoint every this many steps (OpenAI: at each epoch's end).
        self.checkpoint_every = 25
        self.calls: list[tuple[str, str]] = []
        # The job ids each list call answered with, in order (which jobs a list call covered).
        self.listed: list[list[str]] = []
        # Every answer waits this long, as a real provider's round trip does (benchmarks).
        self.answer_delay = 0.0
        self.always_failing: dict[str, set[str]] = defaultdict(set)
        self.faults: dict[str, list[_Fault]] = defaultdict(list)
        self.hold: dict[str, threading.Event] = {}
        self.hold_before: dict[str, threading.Event] = {}
        self.arrived: dict[str, threading.Event] = defaultdict(threading.Event)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> "FakeOpenAI":
        self._thread.start()
        return self

    def stop(self) -> None:
        for event in (*self.hold.values(), *self.hold_before.values()):
            event.set()
        self._server.shutdown()
        self._server.server_close()

    # --- switches --------------------------------------------------------------------------
    def fail_next(
        self, operation: str, status: int, times: int = 1, retry_after: float | None = None
    ) -> None:
        """Answer the next ``times`` calls of ``operation`` with ``status`` (429, 500, 400...).

        ``retry_after`` (seconds) is sent as a 429's Retry-After header.
        """
        self.faults[operation].extend(
            _Fault("status", status, retry_after=retry_after) for _ in range(times)
        )

    def keep_failing(self, operation: str, arg: str) -> None:
        """Answer every call of ``operation`` about ``arg`` (a job id) with a 500."""
        self.always_failing[operation].add(arg)

    def delay_next(self, operation: str, seconds: float, times: int = 1) -> None:
        """Do the next calls of ``operation``, but answer only after ``seconds``."""
        self.faults[operation].extend(_Fault("delay", seconds=seconds) for _ in range(times))

    def lose_next_response(self, operation: str) -> None:
        """Do the next call of ``operation``, then answer 500 as if the answer was lost."""
        self.faults[operation].append(_Fault("lost", status=500))

    def pause(self, operation: str, *, before: bool = False) -> threading.Event:
        """Hold calls of ``operation`` after doing them, until the returned event is set.

        With ``before``, hold them before doing them (a call still on its way). Either way
        ``arrived[operation]`` is set when a call is being held.
        """
        holds = self.hold_before if before else self.hold
        holds[operation] = threading.Event()
        return holds[operation]

    # --- provider-side changes -------------------------------------------------------------
    def set_status(self, job_id: str, status: str, **fields) -> None:
        with self._lock:
            job = self.jobs[job_id]
            job["status"] = status
            if status in TERMINAL:
                job["finished_at"] = int(time.time())
            if status == "succeeded":
                job.setdefault("fine_tuned_model", None)
                job["fine_tuned_model"] = fields.pop(
                    "fine_tuned_model", f"ft:{job['model']}:acme::{job_id[-8:]}"
                )
            if status == "failed":
                message = fields.pop("error_message", "Training failed.")
                job["error"] = {
                    "code": fields.pop("error_code", "invalid_training_file"),
                    "message": message,
                    "param": fields.pop("error_param", None),
                }
            if status == "succeeded" and self.steps.get(job_id):
                job["result_files"] = [self._result_file(job_id)]
                job["estimated_finish"] = None
            job.update(fields)

    def train(
        self, job_id: str, steps: int, *, total_steps: int, skip_events: set[int] = frozenset()
    ) -> None:
        """The job trains ``steps`` more steps: a ``metrics`` event per step, as OpenAI sends.

        Steps in ``skip_events`` are trained (they are in the result file) but their event
        is never listed, as when the provider drops one.
        """
        with self._lock:
            job = self.jobs[job_id]
            job["status"] = "running"
            done = len(self.steps[job_id])
            for step in range(done + 1, min(done + steps, total_steps) + 1):
                row = {
                    "step": step,
                    "train_loss": round(2.5 * math.exp(-step / 30) + 0.1, 6),
                    "train_mean_token_accuracy": round(1 - 0.6 * math.exp(-step / 30), 6),
                    "total_steps": total_steps,
                }
                if job.get("validation_file"):
                    # Only a job given a validation file reports loss on it, as OpenAI does.
                    row["valid_loss"] = round(row["train_loss"] + 0.05, 6)
                    row["valid_mean_token_accuracy"] = round(
                        row["train_mean_token_accuracy"] - 0.02, 6
                    )
                if step == total_steps:
                    row["full_valid_loss"] = round(row["train_loss"] + 0.05, 6)
                    row["full_valid_mean_token_accuracy"] = row["train_mean_token_accuracy"]
                self.steps[job_id].append(row)
                if step % self.checkpoint_every == 0 or step == total_steps:
                    self._checkpoint(job, row)
                if step in skip_events:
                    continue
                self.events[job_id].insert(
                    0,
                    {
                        "id": f"ftevent-{next(self._ids):08d}",
                        "object": "fine_tuning.job.event",
                        "created_at": int(time.time()),
                        "level": "info",
                        "message": f"Step {step}/{total_steps}: training loss={row['train_loss']}",
                        "data": row,
                        "type": "metrics",
                    },
                )
            trained = len(self.steps[job_id])
            job["trained_tokens"] = trained * 1000
            job["estimated_finish"] = int(time.time()) + (total_steps - trained) * 6
            job["hyperparameters"] = {
                "n_epochs": 3,
                "batch_size": 1,
                "learning_rate_multiplier": 1.8,
            }

    def _checkpoint(self, job: dict, row: dict) -> None:
        step = row["step"]
        checkpoint = {
            "id": f"ftckpt-{next(self._ids):08d}",
            "object": "fine_tuning.job.checkpoint",
            "created_at": int(time.time()),
            "fine_tuned_model_checkpoint": (
                f"ft:{job['model']}:acme::{job['id'][-8:]}:ckpt-step-{step}"
            ),
            "fine_tuning_job_id": job["id"],
            "metrics": {
                "step": float(step),
                "train_loss": row["train_loss"],
                "train_mean_token_accuracy": row["train_mean_token_accuracy"],
            },
            "step_number": step,
        }
        self.checkpoints[job["id"]].insert(0, checkpoint)
        self.events[job["id"]].insert(
            0,
            {
                "id": f"ftevent-{next(self._ids):08d}",
                "object": "fine_tuning.job.event",
                "created_at": int(time.time()),
                "level": "info",
                "message": f"Checkpoint created at step {step}",
                "data": {},
                "type": "message",
            },
        )

    def _result_file(self, job_id: str) -> str:
        # OpenAI's result file columns (it names the training accuracy "train_accuracy").
        columns = [
            "step",
            "train_loss",
            "train_accuracy",
            "valid_loss",
            "valid_mean_token_accuracy",
            "full_valid_loss",
            "full_valid_mean_token_accuracy",
        ]
        lines = [",".join(columns)]
        for row in self.steps[job_id]:
            values = {**row, "train_accuracy": row["train_mean_token_accuracy"]}
            lines.append(",".join(str(values.get(column, "")) for column in columns))
        content = ("\n".join(lines) + "\n").encode()
        if self.result_files_base64:
            content = base64.b64encode(content)
        file = {
            "id": self._new_id("file"),
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": "step_metrics.csv",
            "purpose": "fine-tune-results",
            "status": "processed",
            "content": content,
        }
        self.files[file["id"]] = file
        return file["id"]

    def add_job(self, status: str = "running", metadata: dict | None = None) -> dict:
        """A job that exists at the provider already (seeded, not created through the API)."""
        with self._lock:
            job = {
                "id": self._new_id("ftjob"),
                "object": "fine_tuning.job",
                "created_at": int(time.time()),
                "error": None,
                "fine_tuned_model": None,
                "finished_at": None,
                "model": "gpt-4o-mini-2024-07-18",
                "organization_id": "org-test",
                "result_files": [],
                "seed": 42,
                "status": status,
                "trained_tokens": None,
                "training_file": "file-seeded",
                "validation_file": None,
                "metadata": metadata,
            }
            self.jobs[job["id"]] = job
            return job

    def add_event(
        self, job_id: str, message: str, level: str = "info", created_at: int | None = None
    ) -> dict:
        with self._lock:
            event = {
                "id": f"ftevent-{next(self._ids):08d}",
                "object": "fine_tuning.job.event",
                "created_at": int(time.time()) if created_at is None else created_at,
                "level": level,
                "message": message,
                "data": {},
                "type": "message",
            }
            self.events[job_id].insert(0, event)  # newest first, as OpenAI lists them
            return event

    def calls_to(self, operation: str) -> list[str]:
        with self._lock:
            return [arg for op, arg in self.calls if op == operation]

    def active_jobs(self) -> list[dict]:
        with self._lock:
            return [job for job in self.jobs.values() if job["status"] not in TERMINAL]

    def jobs_for(self, finetuning_id: str) -> list[dict]:
        with self._lock:
            return [
                job
                for job in self.jobs.values()
                if (job.get("metadata") or {}).get("finetuning_id") == finetuning_id
            ]

    # --- the endpoints ---------------------------------------------------------------------
    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids):08d}"

    def handle(self, method: str, path: str, query: dict, body: bytes, headers) -> tuple:
        parts = [part for part in path.split("/") if part]
        if parts[:1] != ["v1"]:
            return HTTPStatus.NOT_FOUND, _error("Unknown path", "invalid_request_error")
        parts = parts[1:]
        if headers.get("Authorization") != "Bearer test-key":
            return HTTPStatus.UNAUTHORIZED, _error("Incorrect API key provided.", "invalid_api_key")
        if method == "POST" and parts == ["files"]:
            return self._operation(UPLOAD, "", lambda: self._upload(body, headers))
        if method == "GET" and len(parts) == 3 and parts[0] == "files" and parts[2] == "content":
            return self._operation(FILE_CONTENT, parts[1], lambda: self._file_content(parts[1]))
        if method == "POST" and parts == ["chat", "completions"]:
            payload = json.loads(body or b"{}")
            return self._operation(CHAT, payload.get("model", ""), lambda: self._chat(payload))
        if parts[:2] != ["fine_tuning", "jobs"]:
            return HTTPStatus.NOT_FOUND, _error("Unknown path", "invalid_request_error")
        rest = parts[2:]
        if method == "POST" and not rest:
            payload = json.loads(body or b"{}")
            return self._operation(
                CREATE, payload.get("training_file", ""), lambda: self._create(payload)
            )
        if method == "GET" and not rest:
            return self._operation(LIST, query.get("after", ""), lambda: self._list(query))
        if method == "GET" and len(rest) == 1:
            return self._operation(RETRIEVE, rest[0], lambda: self._retrieve(rest[0]))
        if method == "POST" and len(rest) == 2 and rest[1] == "cancel":
            return self._operation(CANCEL, rest[0], lambda: self._cancel(rest[0]))
        if method == "GET" and len(rest) == 2 and rest[1] == "checkpoints":
            return self._operation(CHECKPOINTS, rest[0], lambda: self._checkpoints(rest[0]))
        if method == "GET" and len(rest) == 2 and rest[1] == "events":
            return self._operation(EVENTS, rest[0], lambda: self._events(rest[0], query))
        return HTTPStatus.NOT_FOUND, _error("Unknown path", "invalid_request_error")

    def _operation(self, operation: str, arg: str, action) -> tuple:
        if operation in self.hold_before:
            self.arrived[operation].set()
            self.hold_before[operation].wait(timeout=30)
        with self._lock:
            self.calls.append((operation, arg))
            fault = self.faults[operation].pop(0) if self.faults[operation] else None
            if fault is None and arg in self.always_failing[operation]:
                fault = _Fault("status", 500)
        if self.answer_delay:
            time.sleep(self.answer_delay)
        if fault is not None and fault.kind == "status" and fault.retry_after is not None:
            return (
                fault.status,
                _error("Rate limit reached for requests.", None),
                {"retry-after": f"{fault.retry_after:g}"},
            )
        if fault is not None and fault.kind == "status":
            message = {
                429: "Rate limit reached for requests.",
                500: "The server had an error while processing your request.",
            }.get(fault.status, "Invalid request.")
            return fault.status, _error(message, "server_error" if fault.status >= 500 else None)
        answer = action()
        if operation in self.hold:
            self.arrived[operation].set()
            self.hold[operation].wait(timeout=30)
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)
        if fault is not None and fault.kind == "lost":
            return fault.status, _error("The server had an error processing your request.", None)
        return answer

    def _upload(self, body: bytes, headers) -> tuple:
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + headers["Content-Type"].encode() + b"\r\n\r\n" + body
        )
        fields = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[name] = (part.get_filename(), part.get_payload(decode=True))
        filename, content = fields["file"]
        purpose = fields.get("purpose", (None, b""))[1].decode()
        if purpose != "fine-tune":
            return HTTPStatus.BAD_REQUEST, _error(f"Invalid purpose {purpose!r}.", None)
        with self._lock:
            file = {
                "id": self._new_id("file"),
                "object": "file",
                "bytes": len(content),
                "created_at": int(time.time()),
                "filename": filename,
                "purpose": purpose,
                "status": "processed",
                "content": content,
            }
            self.files[file["id"]] = file
        return HTTPStatus.OK, {k: v for k, v in file.items() if k != "content"}

    def _file_content(self, file_id: str) -> tuple:
        with self._lock:
            file = self.files.get(file_id)
        if file is None:
            return HTTPStatus.NOT_FOUND, _error(f"No such File object: {file_id}", None)
        return HTTPStatus.OK, file["content"]  # bytes: served as they are

    def _create(self, payload: dict) -> tuple:
        for key in ("training_file", "validation_file"):
            if (payload.get(key) or key == "training_file") and payload.get(key) not in self.files:
                return HTTPStatus.BAD_REQUEST, _error(
                    f"Invalid file ID: {payload.get(key)}.", "invalid_request_error"
                )
        with self._lock:
            hyperparameters = (
                ((payload.get("method") or {}).get("supervised") or {}).get("hyperparameters")
                or payload.get("hyperparameters")
                or {}
            )
            job = {
                "id": self._new_id("ftjob"),
                "object": "fine_tuning.job",
                "created_at": int(time.time()),
                "error": None,
                "fine_tuned_model": None,
                "finished_at": None,
                "hyperparameters": {
                    "n_epochs": hyperparameters.get("n_epochs", "auto"),
                    "batch_size": hyperparameters.get("batch_size", "auto"),
                    "learning_rate_multiplier": hyperparameters.get(
                        "learning_rate_multiplier", "auto"
                    ),
                },
                "model": payload["model"],
                "organization_id": "org-test",
                "result_files": [],
                "seed": 42,
                "status": "validating_files",
                "trained_tokens": None,
                "training_file": payload["training_file"],
                # As OpenAI does: the job keeps the validation file it was given (or null).
                "validation_file": payload.get("validation_file"),
                "metadata": payload.get("metadata"),
                "suffix": payload.get("suffix"),
            }
            self.jobs[job["id"]] = job
        return HTTPStatus.OK, job

    def _list(self, query: dict) -> tuple:
        limit = int(query.get("limit", 20))
        wanted = {key[9:-1]: value for key, value in query.items() if key.startswith("metadata[")}
        with self._lock:
            jobs = list(reversed(self.jobs.values()))  # newest first
        if "after" in query:
            ids = [job["id"] for job in jobs]
            start = ids.index(query["after"]) + 1 if query["after"] in ids else len(ids)
            jobs = jobs[start:]
        if wanted:
            jobs = [
                job
                for job in jobs
                if all((job.get("metadata") or {}).get(k) == v for k, v in wanted.items())
            ]
        page = jobs[:limit]
        if not wanted:
            with self._lock:
                self.listed.append([job["id"] for job in page])
        return HTTPStatus.OK, {"object": "list", "data": page, "has_more": len(jobs) > limit}

    def _retrieve(self, job_id: str) -> tuple:
        with self._lock:
            job = self.jobs.get(job_id)
        if job is None:
            return HTTPStatus.NOT_FOUND, _not_found(job_id)
        return HTTPStatus.OK, job

    def _cancel(self, job_id: str) -> tuple:
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None:
                return HTTPStatus.NOT_FOUND, _not_found(job_id)
            if job["status"] in TERMINAL:
                return HTTPStatus.BAD_REQUEST, _error(
                    f"Job {job_id} has already {job['status']}.", "invalid_request_error"
                )
            job["status"] = "cancelled"
            job["finished_at"] = int(time.time())
        return HTTPStatus.OK, job

    def _checkpoints(self, job_id: str) -> tuple:
        if job_id not in self.jobs:
            return HTTPStatus.NOT_FOUND, _not_found(job_id)
        with self._lock:
            data = list(self.checkpoints[job_id])
        return HTTPStatus.OK, {
            "object": "list",
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }

    def _events(self, job_id: str, query: dict) -> tuple:
        if job_id not in self.jobs:
            return HTTPStatus.NOT_FOUND, _not_found(job_id)
        limit = int(query.get("limit", 20))
        with self._lock:
            events = list(self.events[job_id])  # newest first
        if "after" in query:  # OpenAI's cursor pages towards older events
            ids = [event["id"] for event in events]
            events = events[ids.index(query["after"]) + 1 :] if query["after"] in ids else []
        return HTTPStatus.OK, {
            "object": "list",
            "data": events[:limit],
            "has_more": len(events) > limit,
        }


def _error(message: str, code: str | None) -> dict:
    return {"error": {"message": message, "type": "invalid_request_error", "code": code}}


def _not_found(job_id: str) -> dict:
    return _error(f"No fine-tuning job found with id {job_id}.", "fine_tune_not_found")


def _handler_for(fake: FakeOpenAI):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms stalls

        def log_message(self, format, *args):  # quiet: the tests read ``calls`` instead
            pass

        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            query = dict(parse_qsl(url.query, keep_blank_values=True))
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, payload, *extra = fake.handle(method, url.path, query, body, self.headers)
            headers = extra[0] if extra else {}
            raw = isinstance(payload, bytes)
            data = payload if raw else json.dumps(payload).encode()
            try:
                self.send_response(int(status))
                self.send_header(
                    "Content-Type", "application/octet-stream" if raw else "application/json"
                )
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                if int(status) in (429, 500) and not headers:
                    self.send_header("retry-after-ms", "10")  # keeps SDK retries quick in tests
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (a timeout test): nothing to answer

        def do_GET(self):
            self._serve("GET")

        def do_POST(self):
            self._serve("POST")

    return Handler
