"""The limits, and the checks of metadata, model parameters and the base model."""

import math
from collections import Counter

from django.conf import settings

from finetunings import hygiene

METADATA_MAX_KEYS = 16
METADATA_MAX_KEY_LENGTH = 64
METADATA_MAX_VALUE_LENGTH = 512
# A connection's schema goes into every training example; past this it would not fit any
# model's context anyway.
SCHEMA_MAX_LENGTH = 200_000
# Parsing SQL is the costliest thing a request can ask for (sqlglot reads some 20,000 to
# 50,000 characters a second, and a web process must answer within seconds): one golden
# record's SQL, and all the SQL of one request, are bounded before anything is parsed.
SQL_MAX_LENGTH = 20_000
SQL_MAX_TOTAL_LENGTH = 200_000
QUESTION_MAX_LENGTH = 5000
GOLDEN_RECORDS_MINIMUM = 10
# The most golden record ids one job may list (a job on every record of a connection has
# no such limit: it lists none and takes them all).
GOLDEN_RECORDS_MAXIMUM = 100_000
# Messages that name ids name at most this many, so a 400 stays readable.
IDS_SHOWN = 10

# Ranges the provider accepts (OpenAI's fine-tuning hyperparameters). Each parameter may
# also be "auto", and numbers may come as strings such as "3" (the seed documentation does).
MODEL_PARAMETER_RULES = {
    "n_epochs": {"type": int, "min": 1, "max": 50},
    "batch_size": {"type": int, "min": 1, "max": 256},
    "learning_rate_multiplier": {"type": float, "min_exclusive": 0, "max": 10},
}


def _short(value, length: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= length else f"{text[:length]}…"


def name_ids(ids: list[str]) -> str:
    """Ids for a message: the first few, and how many more there are."""
    shown = ", ".join(ids[:IDS_SHOWN])
    more = len(ids) - IDS_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def metadata_problems(metadata) -> list[str]:
    if metadata is None:
        return []
    if not isinstance(metadata, dict):
        return ["Must be an object whose keys and values are strings, or null."]
    problems = []
    if len(metadata) > METADATA_MAX_KEYS:
        problems.append(f"At most {METADATA_MAX_KEYS} keys are allowed; got {len(metadata)}.")
    for key, value in metadata.items():
        # The API's parser refuses these already; the admin's JSON field does not.
        if not isinstance(key, str) or hygiene.has_unsafe_text(key):
            problems.append(f"Keys must be strings. {hygiene.UNSAFE_KEY_MESSAGE}")
            continue
        if isinstance(value, str) and hygiene.has_unsafe_text(value):
            problems.append(f"The value of {key!r}: {hygiene.UNSAFE_TEXT_MESSAGE}")
        if len(key) > METADATA_MAX_KEY_LENGTH:
            problems.append(
                f"Key {key[:20]!r}… is longer than {METADATA_MAX_KEY_LENGTH} characters."
            )
        if not isinstance(value, str):
            problems.append(f"The value of {key!r} must be a string.")
        elif len(value) > METADATA_MAX_VALUE_LENGTH:
            problems.append(
                f"The value of {key!r} is longer than {METADATA_MAX_VALUE_LENGTH} characters."
            )
    return problems


def _as_number(value, kind):
    """The number a parameter value stands for, or None when it is not one of ``kind``."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, str):
            value = float(value.strip())
        if not isinstance(value, int | float) or not math.isfinite(value):
            return None
        if kind is int:
            return int(value) if float(value).is_integer() else None
        return float(value)
    except (ValueError, OverflowError):  # "abc", or an integer too large for a float
        return None


# The API's serializer refuses unknown names before a service sees them (it would drop them
# silently otherwise), so both say the same; callers in Python get the same check here.
UNKNOWN_MODEL_PARAMETER = "Unknown model parameter."


def unknown_model_parameters(names) -> list[str]:
    return sorted(set(names) - set(MODEL_PARAMETER_RULES))


def model_parameters_problems(parameters) -> dict[str, list[str]]:
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        return {"": ["Must be an object."]}
    problems = {name: [UNKNOWN_MODEL_PARAMETER] for name in unknown_model_parameters(parameters)}
    for name, value in parameters.items():
        rule = MODEL_PARAMETER_RULES.get(name)
        if rule is None:
            continue
        if isinstance(value, str) and value.strip() == "auto":
            continue
        number = _as_number(value, rule["type"])
        kind = "a whole number" if rule["type"] is int else "a number"
        if number is None:
            problems[name] = [f'Must be {kind} or "auto"; got {_short(value)}.']
        elif "min" in rule and not rule["min"] <= number <= rule["max"]:
            problems[name] = [
                f"Must be between {rule['min']} and {rule['max']}; got {_short(value)}."
            ]
        elif "min_exclusive" in rule and not rule["min_exclusive"] < number <= rule["max"]:
            problems[name] = [
                f"Must be greater than {rule['min_exclusive']} and at most {rule['max']}; "
                f"got {_short(value)}."
            ]
    return problems


SANDBOX_OFF_MESSAGE = (
    "The sandbox provider is turned off here (FINETUNING_SANDBOX_ENABLED); use a real provider."
)


def base_llm_problems(model_provider: str, model_name: str) -> dict[str, list[str]]:
    allowed_models = settings.FINETUNING_ALLOWED_MODELS
    if model_provider == "sandbox" and not settings.FINETUNING_SANDBOX_ENABLED:
        return {"model_provider": [SANDBOX_OFF_MESSAGE]}
    if model_provider not in allowed_models or model_provider not in settings.FINETUNING_PROVIDERS:
        supported = ", ".join(sorted(allowed_models))
        return {"model_provider": [f"Unsupported provider {model_provider!r}; use {supported}."]}
    if model_name not in allowed_models[model_provider]:
        return {
            "model_name": [
                f"Model {model_name!r} cannot be fine-tuned with {model_provider}; the supported "
                f"models are {', '.join(allowed_models[model_provider])}."
            ]
        }
    return {}


def total_sql_problem(records: list[dict]) -> str | None:
    """Why the SQL of these records is too much to parse in one request, if it is."""
    total = sum(len(record.get("sql") or "") for record in records)
    if total <= SQL_MAX_TOTAL_LENGTH:
        return None
    return (
        f"The request holds {total:,} characters of SQL; at most {SQL_MAX_TOTAL_LENGTH:,} "
        "can be checked in one request. Send the records in smaller batches."
    )


def repeated(ids: list[str]) -> list[str]:
    return sorted(value for value, count in Counter(ids).items() if count > 1)
