"""Chat completions for the fake OpenAI: models answer from a table the test sets.

``FakeOpenAI`` mixes this in. A test says, per model, what it answers to each question
(the last user message): right SQL, wrong SQL, prose that is not SQL, an answer slower than
the client's timeout, or an HTTP error; every call is recorded (model, messages) so a test
can count the calls per model and record. The response is OpenAI's ``chat.completion``
object, usage included, so the real SDK parses it into its own ``ChatCompletion``.
"""

import itertools
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus

CHAT = "chat"
# The key of a model's table that answers every question the table does not name.
ANY_QUESTION = "*"


@dataclass(frozen=True)
class ChatAnswer:
    content: str = ""
    delay: float = 0.0  # seconds before the answer is sent
    status: int | None = None  # answer with this HTTP error instead
    finish_reason: str = "stop"

    @classmethod
    def sql(cls, sql: str, *, fenced: bool = True, delay: float = 0.0) -> "ChatAnswer":
        content = f"```sql\n{sql}\n```" if fenced else sql
        return cls(content=content, delay=delay)

    @classmethod
    def prose(cls, text: str = "I am not able to answer that question.") -> "ChatAnswer":
        return cls(content=text)

    @classmethod
    def slow(cls, seconds: float, sql: str = "SELECT 1") -> "ChatAnswer":
        return cls(content=sql, delay=seconds)

    @classmethod
    def failing(cls, status: int) -> "ChatAnswer":
        return cls(status=status)


def _as_answer(value) -> ChatAnswer:
    return value if isinstance(value, ChatAnswer) else ChatAnswer.sql(value)


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


class FakeChatCompletions:
    """State and endpoint of ``POST /v1/chat/completions``; needs ``_lock`` and ``calls``."""

    def _init_chat(self) -> None:
        self._chat_lock = threading.Lock()
        self._chat_ids = itertools.count(1)
        self.chat_answers: dict[str, dict[str, ChatAnswer]] = {}
        self.chat_calls: list[tuple[str, list[dict]]] = []
        # Every chat answer waits this long (a model's latency; benchmarks set it).
        self.chat_delay = 0.0

    def answer_chat(self, model: str, answers: dict, default=None) -> None:
        """What ``model`` answers: {question: ChatAnswer or SQL string}, ``default`` otherwise."""
        table = {question: _as_answer(answer) for question, answer in answers.items()}
        if default is not None:
            table[ANY_QUESTION] = _as_answer(default)
        with self._chat_lock:
            self.chat_answers[model] = table

    def chat_calls_for(self, model: str | None = None, question: str | None = None) -> int:
        with self._chat_lock:
            return sum(
                1
                for called_model, messages in self.chat_calls
                if (model is None or called_model == model)
                and (question is None or _question(messages) == question)
            )

    def _chat(self, payload: dict) -> tuple:
        model, messages = payload.get("model"), payload.get("messages") or []
        with self._chat_lock:
            self.chat_calls.append((model, messages))
            table = self.chat_answers.get(model)
        if table is None:
            return HTTPStatus.NOT_FOUND, _model_not_found(model)
        question = _question(messages)
        answer = table.get(question) or table.get(ANY_QUESTION) or ChatAnswer.prose()
        time.sleep(self.chat_delay + answer.delay)
        if answer.status is not None:
            return answer.status, {
                "error": {
                    "message": f"The model failed with status {answer.status}.",
                    "type": "server_error" if answer.status >= 500 else "invalid_request_error",
                    "code": None,
                }
            }
        return HTTPStatus.OK, self._completion(model, messages, answer, payload)

    def _completion(self, model: str, messages: list, answer: ChatAnswer, payload: dict) -> dict:
        content, finish_reason = answer.content, answer.finish_reason
        cap = payload.get("max_completion_tokens") or payload.get("max_tokens")
        if cap is not None and _tokens(content) > cap:
            content, finish_reason = content[: cap * 4], "length"
        prompt_tokens = sum(_tokens(m.get("content") or "") + 3 for m in messages) + 3
        completion_tokens = _tokens(content)
        return {
            "id": f"chatcmpl-{next(self._chat_ids):08d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "service_tier": "default",
        }


def _question(messages: list) -> str | None:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return message.get("content")
    return None


def _model_not_found(model) -> dict:
    return {
        "error": {
            "message": f"The model `{model}` does not exist or you do not have access to it.",
            "type": "invalid_request_error",
            "code": "model_not_found",
        }
    }
