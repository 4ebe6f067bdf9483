"""The prompt an evaluation asks with: exactly the training example minus its answer."""

from collections.abc import Iterable

from finetunings.evaluation.run import Question
from finetunings.training_data import prompt_messages, system_message


def questions_for(connection, records: Iterable) -> list[Question]:
    """One ``Question`` per golden record, with the system message of ``connection``."""
    system = system_message(connection)
    return [
        Question(record_id=record.pk, messages=prompt_messages(system, record.question))
        for record in records
    ]
